"""Write the bundled tiny AltCLIP checkpoint (weights/tiny-altclip) with transformers (torch needed; tools only).

    python tools/make_tiny_altclip.py [OUT_DIR]          # default: weights/tiny-altclip

BAAI/AltCLIP's architecture shrunk: a 2-layer CLIP vision tower (hidden 64, patch 32, 224 px, quick_gelu) and a 2-layer
XLM-R text tower (hidden 64) with pre_LN + transformation (64 -> 48), projections to 40. Weights are transformers'
random init from a fixed seed, then every LayerNorm, bias, class/position embedding and logit_scale is moved off its
init value (so the parity tests exercise every formula that reads them); random weights, so scores mean nothing.
Files, in the hub layout of BAAI/AltCLIP:
  config.json, model.safetensors             AltCLIPModel.save_pretrained
  sentencepiece.bpe.model, tokenizer.json,   a 4,000-piece SentencePiece unigram tokenizer (nmt_nfkc), trained by
  tokenizer_config.json, special_tokens_map.json   tests/data/tokenizer/make_unigram_fixture.py on real multilingual
                                             text (the test fixture's recipe at a smaller size)
  preprocessor_config.json                   BAAI/AltCLIP's CLIPImageProcessor settings
  MADE_BY.json                               this tool, the seed, the versions
"""
from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "data", "tokenizer"))
TOKENIZER_PIECES = 4000    # a small vocabulary keeps the checkpoint ~3 MB
SEED = 7

# BAAI/AltCLIP's preprocessor_config.json (see ../shared/NOTES-altclip.md, section 1)
PREPROCESSOR_CONFIG = {
    "crop_size": {"height": 224, "width": 224},
    "do_center_crop": True,
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "processor_class": "AltCLIPProcessor",
    "resample": 3,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 224},
}


def config() -> dict:
    return dict(
        projection_dim=40,
        # the vocabulary: the SentencePiece pieces + <pad> and <mask>
        text_config=dict(vocab_size=TOKENIZER_PIECES + 2, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=128, project_dim=48),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           patch_size=32, image_size=224),
    )


def build_model(seed: int = SEED):
    import torch
    from transformers import AltCLIPConfig, AltCLIPModel
    torch.manual_seed(seed)
    model = AltCLIPModel(AltCLIPConfig(**config())).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64).float()
            if ("norm" in name.lower() or "pre_LN" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)                       # LayerNorm gains off 1
            elif name.endswith("bias") or "embedding" in name:
                p.copy_(0.1 * noise)                             # biases, class / position embeddings off 0
        model.logit_scale.fill_(2.3)                             # off its init 2.6592
    return model


def write_checkpoint(out_dir: str, seed: int = SEED) -> str:
    import torch
    import transformers
    import make_unigram_fixture
    os.makedirs(out_dir, exist_ok=True)
    build_model(seed).save_pretrained(out_dir)
    make_unigram_fixture.write(out_dir, vocab_size=TOKENIZER_PIECES)
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "MADE_BY.json"), "w") as f:
        json.dump({"tool": "tools/make_tiny_altclip.py", "kind": "tiny-altclip", "seed": seed,
                   "torch": torch.__version__, "transformers": transformers.__version__,
                   "note": "random weights: smoke tests and parity only, not a trained model"}, f, indent=2)
    return out_dir


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "weights", "tiny-altclip")
    print(f"wrote {write_checkpoint(out)}")
