"""The benchmark's full-size checkpoints: random weights (speed does not depend on the values), written once into
~/.cache/refalign-bench/ and reused.

    full          ALIGN (EfficientNet-B7 at 289 + BERT-base), by tools/make_checkpoint.py, with AlignProcessor's files
    vit-bert      VTDE: ViT-B/16 + BERT-base; tokenizer and processor files added: bert-base-uncased's vocabulary
                  (weights/tiny/vocab.txt) and google/vit-base-patch16-224's ViT processor settings
    clip-roberta  VTDE: CLIP ViT-B/32 + RoBERTa-base (towers only: no tokenizer or processor files)
    altclip       AltCLIP at BAAI/AltCLIP's dimensions (CLIP ViT-L/14 + XLM-R-large); files added as on the hub:
                  the committed unigram tokenizer (tests/data/tokenizer/unigram: ids < 32,002, inside the 250,002-row
                  embedding) and BAAI/AltCLIP's CLIP processor settings

VTDE and AltCLIP are written by transformers in a subprocess (the benchmark's own process never imports torch).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "refalign-bench")

WRITE_TRANSFORMERS = r"""
import sys, torch, transformers
kind, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
if kind == "vit-bert":
    vision, text = transformers.ViTConfig(), transformers.BertConfig()
elif kind == "clip-roberta":
    vision = transformers.CLIPVisionConfig(patch_size=32)
    text = transformers.RobertaConfig(max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5)
if kind == "altclip":   # BAAI/AltCLIP's dimensions (AltCLIPTextConfig's defaults are XLM-R-large's)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=14)
    cfg = transformers.AltCLIPConfig(text_config={}, vision_config=vision, projection_dim=768)
    transformers.AltCLIPModel(cfg).eval().save_pretrained(out)
else:
    cfg = transformers.VisionTextDualEncoderConfig.from_vision_text_configs(vision, text, projection_dim=512)
    transformers.VisionTextDualEncoderModel(cfg).eval().save_pretrained(out)
"""

CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
# BAAI/AltCLIP's preprocessor_config.json (in transformers' current spelling)
ALTCLIP_PROCESSOR = {
    "image_processor_type": "CLIPImageProcessor", "processor_class": "AltCLIPProcessor",
    "do_resize": True, "size": {"shortest_edge": 224}, "resample": 3,
    "do_center_crop": True, "crop_size": {"height": 224, "width": 224},
    "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": CLIP_MEAN,
    "image_std": CLIP_STD, "do_convert_rgb": True,
}
# google/vit-base-patch16-224's, as a VisionTextDualEncoderProcessor folder has it
VIT_PROCESSOR = {
    "image_processor_type": "ViTImageProcessor", "processor_class": "VisionTextDualEncoderProcessor",
    "do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2,
    "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}
# bert-base-uncased's tokenizer_config.json
BERT_TOKENIZER = {
    "tokenizer_class": "BertTokenizer", "do_lower_case": True, "tokenize_chinese_chars": True, "strip_accents": None,
    "model_max_length": 512, "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
    "mask_token": "[MASK]", "clean_up_tokenization_spaces": False,
}
UNIGRAM = os.path.join(ROOT, "tests", "data", "tokenizer", "unigram")


def checkpoint(kind: str) -> str:
    """The folder of a full-size checkpoint ("align", "vit-bert", "clip-roberta", "altclip"), written if missing."""
    out = os.path.join(CACHE, "full" if kind == "align" else kind)
    done = os.path.join(out, "DONE")
    if os.path.exists(done) or (kind == "align" and os.path.exists(os.path.join(out, "model.safetensors"))):
        return out
    print(f"writing a full-size random-weight {kind} checkpoint to {out} ...", flush=True)
    if kind == "align":
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import make_checkpoint
        make_checkpoint.write_checkpoint("full", out, seed=0)
    else:
        subprocess.run([sys.executable, "-c", WRITE_TRANSFORMERS, kind, out], check=True)
    open(done, "w").close()
    return out


def _write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def with_processor(kind: str) -> str:
    """A checkpoint folder that also holds its tokenizer and image processor files, as a hub folder does (added once:
    ALIGN's come with it, AltCLIP's and vit-bert's are added here)."""
    out = checkpoint(kind)
    if kind == "align" or os.path.exists(os.path.join(out, "preprocessor_config.json")):
        return out
    if kind == "altclip":
        for name in ("sentencepiece.bpe.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            shutil.copy(os.path.join(UNIGRAM, name), os.path.join(out, name))
        processor = ALTCLIP_PROCESSOR
    elif kind == "vit-bert":
        shutil.copy(os.path.join(ROOT, "weights", "tiny", "vocab.txt"), os.path.join(out, "vocab.txt"))
        _write_json(os.path.join(out, "tokenizer_config.json"), BERT_TOKENIZER)
        processor = VIT_PROCESSOR
    else:
        raise ValueError(f"no processor files for {kind!r}")
    _write_json(os.path.join(out, "preprocessor_config.json"), processor)  # last: marks the folder complete
    return out
