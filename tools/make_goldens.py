"""Write the committed golden files from transformers (torch + transformers needed; tools only).

    python tools/make_goldens.py            # (re)write tests/golden/{tiny,tiny-altclip,tiny-vtde}-{float64,float32}...
    python tools/make_goldens.py --check    # regenerate in a temp dir, compare with the committed files; exit 1
                                            # on any difference (CI runs this where torch is installed)

One pair of files per bundled tiny checkpoint: "tiny" (ALIGN, described below), "tiny-altclip" (AltCLIP: the same
three photos, captions in English, French and Chinese padded to the longest, transformers' AltCLIPModel with its
default sdpa attention -- float64 throughout in the float64 run -- and its processor with the PIL backend) and
"tiny-vtde" (VisionTextDualEncoder, ViT + RoBERTa with a byte-level BPE: the same photos, English captions padded
to the longest, sdpa, the PIL-backend ViT processor).

ALIGN:

Inputs (fixed): three real photos from scikit-image's data directory and one real caption for each, text i
describing image i, so the contrastive loss (which pairs text i with image i) is defined:
    chelsea.png   <-> "a photo of a cat"
    coffee.png    <-> "Une tasse de café ☕"       (accents stripped by lowercasing; the emoji becomes [UNK])
    astronaut.png <-> "宇宙飛行士の写真"           (CJK characters split one per token; kana kept whole)
Model: transformers' AlignModel from weights/tiny; processor: transformers' AutoProcessor on weights/tiny (PIL
image backend, EfficientNetImageProcessorPil - checked; text padded to max_length 64).

Image size: the tiny checkpoint's preprocessor resizes to 346 and crops 289, as align-base does. At 289 the
vision hidden states of three photos take ~24 MB in float64, so the goldens use the same processor with
size 116 / crop 97 instead (both a third of align-base's, so the crop offset is again a .5 that gets floored, and
the maps go 97 -> 48 -> 24 -> 12 -> 6 -> 3, the same parity pattern as 289 -> 144 -> ... -> 9). The overrides are
recorded in the metadata ("preprocessing"); the model itself does not depend on the input size.

float64: transformers' eager attention computes its softmax in float32 even for a float64 model (~1e-7 relative
error), so the float64 run sets the text config's attention to "sdpa" (torch's scaled_dot_product_attention, which
keeps float64). AlignModel does not list sdpa as supported, so it is set on the loaded config rather than through
from_pretrained; every run checks each layer's attention output against a float64 NumPy attention (< 1e-13).
float32: transformers' default (eager) path, float32 throughout.
Pixel values: transformers' processor always returns float32; the float64 run casts them to float64 (what a
transformers user does with .double()), so both files hold the same float32-representable pixel values.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from refalign.golden import (GOLDEN_FORMAT, compare, file_sha256, read_golden, suggested_tolerances,  # noqa: E402
                             write_golden)
from refalign.models.align import tensors_from_outputs  # noqa: E402
from refalign.models.projected import tensors_from_outputs as projected_tensors  # noqa: E402

TINY_DIR = os.path.join(ROOT, "weights", "tiny")
ALTCLIP_DIR = os.path.join(ROOT, "weights", "tiny-altclip")
ALTCLIP_TEXTS = ("a photo of a cat", "Une tasse de café ☕", "一张宇航员的照片")   # en, fr, zh
VTDE_DIR = os.path.join(ROOT, "weights", "tiny-vtde")
VTDE_TEXTS = ("a photo of a cat", "a cup of coffee", "an astronaut")
GOLDEN_DIR = os.path.join(ROOT, "tests", "golden")
IMAGES = ("chelsea.png", "coffee.png", "astronaut.png")
TEXTS = ("a photo of a cat", "Une tasse de café ☕", "宇宙飛行士の写真")
IMAGE_OVERRIDES = {"size": {"height": 116, "width": 116}, "crop_size": {"height": 97, "width": 97}}
DTYPES = ("float64", "float32")
# --check: regenerating on another machine may change float summation order (other SIMD paths), never more than
# rounding; these levels (rtol, and atol relative to the tensor's max) are 100x tighter than a port's tolerance.
CHECK_LEVEL = {"float64": 1e-12, "float32": 1e-6}
# metadata keys that must be identical between the committed and the regenerated file
CHECKED_METADATA = ("format", "order", "dtype", "weights", "weights_sha256", "config", "preprocessing", "inputs",
                    "seed", "attention")


def golden_path(directory: str, dtype: str, family: str = "tiny") -> str:
    return os.path.join(directory, f"{family}-{dtype}.safetensors")


def photo_paths() -> list[str]:
    import skimage
    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    return [os.path.join(data, name) for name in IMAGES]


def load_processor():
    from transformers import AutoProcessor
    processor = AutoProcessor.from_pretrained(TINY_DIR)
    backend = type(processor.image_processor).__name__
    if backend != "EfficientNetImageProcessorPil":
        raise SystemExit(f"expected transformers' PIL image backend (EfficientNetImageProcessorPil), got {backend}")
    return processor


def load_model(dtype: str):
    import torch
    from transformers import AlignModel
    model = AlignModel.from_pretrained(TINY_DIR, dtype=getattr(torch, dtype)).eval()
    if dtype == "float64":
        model.config.text_config._attn_implementation = "sdpa"   # a float64 softmax (see the module docstring)
    return model


def check_attention_float64(model, hidden_in: dict, attn_out: dict, attention_mask: np.ndarray) -> float:
    """Largest relative error of each layer's attention output against a float64 NumPy attention."""
    worst = 0.0
    heads = model.config.text_config.num_attention_heads
    for i, layer in enumerate(model.text_model.encoder.layer):
        sa = layer.attention.self
        x = hidden_in[i]
        b, n, d = x.shape

        def proj(lin):  # [B, L, D] -> [B, heads, L, D/heads]
            w, bias = lin.weight.detach().numpy(), lin.bias.detach().numpy()
            return (x @ w.T + bias).reshape(b, n, heads, d // heads).transpose(0, 2, 1, 3)

        q, k, v = proj(sa.query), proj(sa.key), proj(sa.value)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // heads)
        scores = np.where(attention_mask[:, None, None, :] == 1, scores, -np.inf)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        ref = ((p / p.sum(-1, keepdims=True)) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        worst = max(worst, float(np.abs(attn_out[i] - ref).max() / np.abs(ref).max()))
    return worst


def run_transformers(dtype: str) -> tuple[dict, dict]:
    """Every intermediate of transformers' AlignModel on the fixed inputs, and the golden's metadata."""
    import torch
    import transformers
    from PIL import Image
    torch.set_num_threads(2)
    processor, model = load_processor(), load_model(dtype)
    images = [Image.open(p) for p in photo_paths()]
    for path, im in zip(photo_paths(), images):
        if im.mode != "RGB":
            raise SystemExit(f"{path}: expected an RGB photo, got mode {im.mode}")
    inputs = processor(text=list(TEXTS), images=images, padding="max_length", max_length=64, return_tensors="pt",
                       images_kwargs=IMAGE_OVERRIDES)
    if inputs["pixel_values"].dtype != torch.float32:
        raise SystemExit(f"transformers' processor returned {inputs['pixel_values'].dtype} pixels, expected float32")
    inputs["pixel_values"] = inputs["pixel_values"].to(getattr(torch, dtype))

    hidden_in, attn_out, hooks = {}, {}, []
    for i, layer in enumerate(model.text_model.encoder.layer):
        def hook(module, args, kwargs, output, i=i):
            hidden_in[i] = (args[0] if args else kwargs["hidden_states"]).detach().numpy()
            attn_out[i] = output[0].detach().numpy()
        hooks.append(layer.attention.self.register_forward_hook(hook, with_kwargs=True))
    with torch.no_grad():
        out = model(**inputs, return_loss=True, output_hidden_states=True)
        feats = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                        token_type_ids=inputs["token_type_ids"]).pooler_output
    for h in hooks:
        h.remove()
    attention_note = "eager (transformers' default; float32 throughout)"
    if dtype == "float64":
        err = check_attention_float64(model, hidden_in, attn_out, inputs["attention_mask"].numpy())
        if err > 1e-13:
            raise SystemExit(f"float64 attention is not float64: {err:.2e} relative error against NumPy float64")
        attention_note = ("sdpa (torch scaled_dot_product_attention, float64 softmax; each layer checked against a "
                          "float64 NumPy attention)")

    tensors = tensors_from_outputs(out, feats, {k: v.numpy() for k, v in inputs.items()}, np.dtype(dtype))
    ip, tok = processor.image_processor, processor.tokenizer
    with open(os.path.join(TINY_DIR, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(TINY_DIR, "MADE_BY.json"), encoding="utf-8") as f:
        made_by = json.load(f)
    import skimage
    metadata = {
        "producer": f"transformers {transformers.__version__} / torch {torch.__version__}",
        "tool": "tools/make_goldens.py",
        "dtype": dtype,
        "weights": "tiny",
        "weights_sha256": file_sha256(os.path.join(TINY_DIR, "model.safetensors")),
        "config": config,
        "preprocessing": {
            "image_processor_backend": type(ip).__name__,
            "image_processor": {**json.loads(ip.to_json_string()), **IMAGE_OVERRIDES},   # the settings used
            "overrides": IMAGE_OVERRIDES,   # passed at call time; weights/tiny/preprocessor_config.json has 346/289
            "pixel_values_from_processor": "float32 (cast to the golden dtype for the model)",
            "tokenizer_class": type(tok).__name__,
            "tokenizer_backend": "tokenizers (fast)" if tok.is_fast else "python",
            "tokenizer": {k: getattr(tok, k, None) for k in ("do_lower_case", "model_max_length", "strip_accents",
                                                            "tokenize_chinese_chars")},
            "padding": "max_length",
            "max_length": 64,
        },
        "inputs": {"images": list(IMAGES), "image_source": "scikit-image data directory",
                   "texts": list(TEXTS), "pairs": "text i describes image i (the loss's targets)"},
        "seed": f"{made_by['seed']} (weights/tiny made by {made_by['tool']}; the forward pass is deterministic)",
        "attention": attention_note,
        "tolerances": suggested_tolerances(tensors, dtype),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "scikit_image_version": skimage.__version__,
    }
    return tensors, metadata


# the CLIP-style families: golden prefix -> (model_type, checkpoint folder, captions, and the names of transformers'
# model, processor, PIL image processor and tokenizer classes that read it)
PROJECTED = {
    "tiny-altclip": ("altclip", ALTCLIP_DIR, ALTCLIP_TEXTS,
                     ("AltCLIPModel", "AltCLIPProcessor", "CLIPImageProcessorPil", "XLMRobertaTokenizer")),
    "tiny-vtde": ("vision-text-dual-encoder", VTDE_DIR, VTDE_TEXTS,
                  ("VisionTextDualEncoderModel", "VisionTextDualEncoderProcessor", "ViTImageProcessorPil",
                   "RobertaTokenizer")),
}


def _projected_parts(family: str, dtype: str):
    """transformers' processor (PIL image backend) and model (sdpa: a float64 softmax) for one CLIP-style family."""
    import torch
    import transformers
    _, folder, _, (model_cls, processor_cls, image_cls, tokenizer_cls) = PROJECTED[family]
    processor = getattr(transformers, processor_cls)(
        image_processor=getattr(transformers, image_cls).from_pretrained(folder),
        tokenizer=getattr(transformers, tokenizer_cls).from_pretrained(folder))
    model = getattr(transformers, model_cls).from_pretrained(folder, dtype=getattr(torch, dtype),
                                                             attn_implementation="sdpa")
    return processor, model


def run_transformers_projected(family: str, dtype: str) -> tuple[dict, dict]:
    """Every intermediate of transformers' AltCLIPModel or VisionTextDualEncoderModel on one bundled tiny
    checkpoint, fed the three photos and the family's captions (padded to the longest), and the metadata."""
    import skimage
    import torch
    import transformers
    from PIL import Image
    torch.set_num_threads(2)
    model_type, folder, texts, _ = PROJECTED[family]
    processor, model = _projected_parts(family, dtype)
    model.eval()
    images = [Image.open(p).convert("RGB") for p in photo_paths()]
    inputs = processor(text=list(texts), images=images, padding=True, return_tensors="pt")
    if inputs["pixel_values"].dtype != torch.float32:
        raise SystemExit(f"transformers' processor returned {inputs['pixel_values'].dtype} pixels, expected float32")
    inputs["pixel_values"] = inputs["pixel_values"].to(getattr(torch, dtype))
    with torch.no_grad():
        out = model(**inputs, return_loss=True, output_hidden_states=True)
    tensors = projected_tensors(out, None, {k: v.numpy() for k, v in inputs.items()}, np.dtype(dtype))
    ip, tok = processor.image_processor, processor.tokenizer
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(folder, "MADE_BY.json"), encoding="utf-8") as f:
        made_by = json.load(f)
    metadata = {
        "producer": f"transformers {transformers.__version__} / torch {torch.__version__}",
        "tool": "tools/make_goldens.py",
        "model_type": model_type,
        "dtype": dtype,
        "weights": family,
        "weights_sha256": file_sha256(os.path.join(folder, "model.safetensors")),
        "config": config,
        "preprocessing": {
            "image_processor_backend": type(ip).__name__,
            "image_processor": json.loads(ip.to_json_string()),
            "pixel_values_from_processor": "float32 (cast to the golden dtype for the model)",
            "tokenizer_class": type(tok).__name__,
            "tokenizer_backend": "tokenizers (fast)" if tok.is_fast else "python",
            "padding": "longest",
        },
        "inputs": {"images": list(IMAGES), "image_source": "scikit-image data directory",
                   "texts": list(texts), "pairs": "text i describes image i (the loss's targets)"},
        "seed": f"{made_by['seed']} (weights/{family} made by {made_by['tool']}; the forward pass is deterministic)",
        "attention": "sdpa (torch scaled_dot_product_attention; float64 softmax in the float64 run)",
        "tolerances": suggested_tolerances(tensors, dtype),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "scikit_image_version": skimage.__version__,
    }
    return tensors, metadata


# family (the golden files' prefix) -> the function that runs transformers on its bundled checkpoint
FAMILIES = {"tiny": run_transformers,
            "tiny-altclip": lambda dtype: run_transformers_projected("tiny-altclip", dtype),
            "tiny-vtde": lambda dtype: run_transformers_projected("tiny-vtde", dtype)}


def generate(out_dir: str = GOLDEN_DIR) -> list[str]:
    paths = []
    for family, run in FAMILIES.items():
        for dtype in DTYPES:
            tensors, metadata = run(dtype)
            path = golden_path(out_dir, dtype, family)
            write_golden(path, tensors, metadata)
            paths.append(path)
    return paths


def _tight_table(tensors: dict, dtype: str) -> dict:
    level = CHECK_LEVEL[dtype]
    table = {}
    for name, g in tensors.items():
        scale = float(np.abs(g).max()) if g.size and g.dtype.kind == "f" else 0.0
        table[name] = [0.0, 0.0] if g.dtype.kind != "f" else [level * (scale or 1.0), level]
    return {dtype: table}


def check(committed_dir: str = GOLDEN_DIR, regenerated_dir: str | None = None) -> tuple[bool, str]:
    """Regenerate into a temp dir (or use the files already regenerated into `regenerated_dir`) and compare with the
    committed files: integer inputs exactly, values at CHECK_LEVEL, provenance metadata exactly.
    Returns (ok, report)."""
    ok, lines = True, []
    with tempfile.TemporaryDirectory() as tmp:
        if regenerated_dir is None:
            generate(tmp)
        else:
            tmp = regenerated_dir
        for family, dtype in ((f, d) for f in FAMILIES for d in DTYPES):
            committed, fresh = golden_path(committed_dir, dtype, family), golden_path(tmp, dtype, family)
            old_t, old_m = read_golden(committed)
            new_t, new_m = read_golden(fresh)
            if old_m.get("producer") != new_m.get("producer"):
                lines.append(f"note: {committed} was made by {old_m.get('producer')}, this run by "
                             f"{new_m.get('producer')}; if the check fails, regenerate with the pinned versions "
                             "(pyproject's parity extra)")
            for key in CHECKED_METADATA:
                if old_m.get(key) != new_m.get(key):
                    ok = False
                    lines.append(f"{committed}: metadata {key!r} differs:\n  committed:   {old_m.get(key)}\n"
                                 f"  regenerated: {new_m.get(key)}")
            tight = {"tolerances": json.dumps(_tight_table(old_t, dtype))}
            result = compare((old_t, {**old_m, **tight}), new_t)
            result.golden, result.candidate = f"{committed} (tolerance: CHECK_LEVEL)", f"regenerated {fresh}"
            identical = all(old_t[n].tobytes() == new_t[n].tobytes() for n in old_t if n in new_t)
            lines.append(result.format())
            lines.append(f"{os.path.basename(committed)}: regenerated file is "
                         f"{'bit-identical' if identical else 'not bit-identical'} to the committed one")
            ok = ok and result.ok
    lines.append("check: OK" if ok else "check: FAILED - regenerate with `python tools/make_goldens.py` only if "
                 "the change is understood")
    return ok, "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="regenerate in a temp dir and compare with the committed "
                    "files; exit 1 on difference")
    ap.add_argument("--out-dir", default=GOLDEN_DIR, help="where to write (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.check:
        ok, report = check(args.out_dir)
        print(report)
        return 0 if ok else 1
    for path in generate(args.out_dir):
        print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, {GOLDEN_FORMAT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
