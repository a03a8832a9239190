"""Tower speed and batch throughput: get_image_features / get_text_features of every family's towers, refalign vs
transformers (torch), on full-size random-weight checkpoints (benchmarks/checkpoints.py).

Inputs: random pixels at the tower's image size, or random token ids with every token real (nothing for refalign to
skip: its worst case). Each case starts a refalign and a torch worker (benchmarks/worker.py), both load the same
checkpoint and warm up, then single calls alternate (harness.alternate). The throughput table adds batches of 8 and
32 (items/s), with fewer rounds.
"""
from __future__ import annotations

import statistics

from checkpoints import checkpoint
from harness import Worker, alternate, fmt_ratio, ratio_stats

# name -> (checkpoint, task, default batch, sequence length, what it is)
CASES = {
    "align-image": ("align", "image", 1, 0, "ALIGN image (EfficientNet-B7), 1×289²"),
    "align-text": ("align", "text", 8, 64, "ALIGN text (BERT-base), 8×64"),
    "vit-b16-image": ("vit-bert", "image", 1, 0, "VTDE image: ViT-B/16, 1×224²"),
    "clip-b32-image": ("clip-roberta", "image", 1, 0, "VTDE image: CLIP ViT-B/32, 1×224²"),
    "bert-base-text": ("vit-bert", "text", 8, 64, "VTDE text: BERT-base + pooler, 8×64"),
    "roberta-base-text": ("clip-roberta", "text", 8, 64, "VTDE text: RoBERTa-base + pooler, 8×64"),
    "altclip-image": ("altclip", "image", 1, 0, "AltCLIP image: CLIP ViT-L/14, 1×224²"),
    "altclip-text": ("altclip", "text", 8, 32, "AltCLIP text: XLM-R-large + pre_LN + transformation, 8×32"),
}


def measure(model_dir: str, task: str, batch: int, seq_len: int, repeats: int, gap: float, threads: int):
    with Worker("refalign", "tower", model_dir, task, batch, seq_len, threads=threads) as ours, \
            Worker("transformers", "tower", model_dir, task, batch, seq_len, threads=threads) as theirs:
        t = alternate({"refalign": ours, "torch": theirs}, repeats, gap)
    return statistics.median(t["refalign"]), statistics.median(t["torch"]), ratio_stats(t["refalign"], t["torch"])


def run(args, cases: list[str]) -> list[str]:
    """Measure the selected cases; -> the markdown tables."""
    single, batched = [], []
    for name in cases:
        kind, task, batch, seq_len, label = CASES[name]
        model_dir = checkpoint(kind)
        batches = [batch] + ([b for b in (8, 32) if b != batch] if args.throughput else [])
        for n in batches:
            repeats = args.repeats if n == batch else args.throughput_repeats
            ours, theirs, ratio = measure(model_dir, task, n, seq_len, repeats, args.gap, args.threads)
            unit = "images/s" if task == "image" else "texts/s"
            size = f"{n}×{seq_len}" if seq_len else f"batch {n}"
            what = label if n == batch else f"{label.split(',')[0]}, {size}"
            print(f"  {what:<62} refalign {ours * 1e3:8.1f} ms  torch {theirs * 1e3:8.1f} ms  ratio "
                  f"{fmt_ratio(ratio)}  ({repeats} rounds)", flush=True)
            if n == batch:
                single.append(f"| {label} | {ours * 1e3:,.0f} ms | {theirs * 1e3:,.0f} ms | {fmt_ratio(ratio)} |")
            if args.throughput and n in (8, 32):
                batched.append(f"| {label.split(',')[0]} | {n} | {n / ours:,.1f} | {n / theirs:,.1f} | "
                               f"{unit} | {fmt_ratio(ratio)} | {repeats} |")
    tables = []
    if single:
        tables += [f"Towers, one call (median of {args.repeats} alternating rounds; ratio = refalign / torch time, "
                   f"median and interquartile range of the per-round ratios):", "",
                   "| tower | refalign | torch | ratio |", "|---|---|---|---|", *single, ""]
    if batched:
        tables += ["Batch throughput, items/s (text batches at the tower's sequence length; a tower's own batch is "
                   "its row above):", "",
                   "| tower | batch | refalign | torch | unit | time ratio | rounds |", "|---|---|---|---|---|---|---|",
                   *batched, ""]
    return tables
