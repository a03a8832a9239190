"""Preprocessing speed: one real photo (decoded from its JPEG file on every call) -> pixel_values, per family's image
processor, refalign vs transformers' PIL-backend processors (AutoImageProcessor.from_pretrained(dir, backend="pil")),
the settings read from the same preprocessor_config.json. A run is the mean of --calls calls; the pixels are compared
once, untimed.
"""
from __future__ import annotations

import os
import statistics

import numpy as np

from checkpoints import with_processor
from harness import ROOT, Worker, alternate, fmt_ratio, ratio_stats

PHOTO = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")
# name -> (checkpoint, what)
CASES = {
    "preprocess-align": ("align", "ALIGN: EfficientNet processor (resize 346², crop 289²)"),
    "preprocess-altclip": ("altclip", "AltCLIP: CLIP processor (shortest edge 224, crop 224²)"),
    "preprocess-vtde": ("vit-bert", "VTDE: ViT processor (resize 224²)"),
}


def run(args, cases: list[str]) -> list[str]:
    rows = []
    for name in cases:
        kind, what = CASES[name]
        model_dir = with_processor(kind)
        with Worker("refalign", "preprocess", model_dir, PHOTO, args.calls, threads=args.threads) as ours, \
                Worker("transformers", "preprocess", model_dir, PHOTO, args.calls, threads=args.threads) as theirs:
            a, b = ours.dump()["pixel_values"], theirs.dump()["pixel_values"]
            diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
            t = alternate({"refalign": ours, "transformers": theirs}, args.repeats, args.gap)
        ms = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        ratio = ratio_stats(t["refalign"], t["transformers"])
        print(f"  {what:<58} refalign {ms['refalign']:6.2f} ms  transformers {ms['transformers']:6.2f} ms  ratio "
              f"{fmt_ratio(ratio)}  max |Δ| {diff:.2g}", flush=True)
        rows.append(f"| {what} | {a.shape[-2]}×{a.shape[-1]} | {ms['refalign']:.2f} ms | "
                    f"{ms['transformers']:.2f} ms | {fmt_ratio(ratio)} | {diff:.2g} |")
    if not rows:
        return []
    return [f"Preprocessing, one photo ({os.path.basename(PHOTO)}, decoded on every call) -> pixel_values (median of "
            f"{args.repeats} alternating rounds of {args.calls} calls; transformers with its PIL backend):", "",
            "| image processor | output | refalign | transformers | time ratio | max abs difference |",
            "|---|---|---|---|---|---|", *rows, ""]
