"""Fresh-process similarity: what a one-off user script costs. A new Python process imports the library, loads the
full-size model and processor and scores one photo against five captions (benchmarks/worker.py `fresh`); measured:
the wall time of the whole process (interpreter start to exit) and its peak RSS (VmHWM, read at its end).
refalign runs the way its CLI does (`refalign similarity`: low_memory=True, so a tower's memory-mapped weight pages
leave the resident set once the tower has run and the peak is the larger tower, not both).

refalign runs with its Numba cache warm (the benchmark's own cache folder, filled by an untimed first run) and cold
(REFALIGN_CACHE_DIR = a new empty folder: every kernel compiled, as on a first install). One untimed run of each side
first puts the checkpoint in the OS page cache for both. Then rounds of refalign warm, refalign cold, transformers
alternate (order flipped every round, an idle gap before each process). The probabilities of refalign and
transformers are compared.

Peak RSS counts memory-mapped weights once touched: refalign's float32 weights are views of the mapped
safetensors file (file-backed pages, shared with the page cache), so the anonymous (private) resident set at the end
of the work is reported too.
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

from checkpoints import with_processor
from harness import fmt_ratio, one_shot, ratio_stats, worker_env
from preprocess_speed import PHOTO

TEXTS = ["a photo of a cat", "a photo of a dog", "a cup of coffee", "an astronaut", "a rocket on the launch pad"]
# name -> (checkpoint, what)
CASES = {
    "fresh-align": ("align", "ALIGN (EfficientNet-B7 + BERT-base)"),
    "fresh-altclip": ("altclip", "AltCLIP (CLIP ViT-L/14 + XLM-R-large)"),
    "fresh-vtde": ("vit-bert", "VTDE (ViT-B/16 + BERT-base)"),
}


def run(args, cases: list[str]) -> list[str]:
    rows = []
    env = worker_env(args.threads)
    for name in cases:
        kind, what = CASES[name]
        model_dir = with_processor(kind)
        what += f", {os.path.getsize(os.path.join(model_dir, 'model.safetensors')) / 1e9:.2f} GB float32"
        argv = [model_dir, PHOTO, *TEXTS]
        one_shot("refalign", argv, env)  # untimed: the Numba cache and the page cache
        one_shot("transformers", argv, env)
        runs: dict[str, list] = {"warm": [], "cold": [], "transformers": []}
        for r in range(args.fresh_repeats):
            for side in list(runs) if r % 2 == 0 else list(runs)[::-1]:
                time.sleep(args.gap)
                if side == "cold":
                    cache = tempfile.mkdtemp(prefix="refalign-cold-")
                    try:
                        runs[side].append(one_shot("refalign", argv, dict(env, REFALIGN_CACHE_DIR=cache)))
                    finally:
                        shutil.rmtree(cache, ignore_errors=True)
                else:
                    runs[side].append(one_shot("refalign" if side == "warm" else side, argv, env))
        wall = {k: [x[0] for x in v] for k, v in runs.items()}
        med = {k: statistics.median(v) for k, v in wall.items()}
        rss = {k: max(x[1]["peak_rss_kib"] for x in v) / 1024 for k, v in runs.items()}
        anon = {k: max(x[1]["anon_kib"] for x in v) / 1024 for k, v in runs.items()}
        dp = max(abs(p - q) for (_, a), (_, b) in zip(runs["warm"], runs["transformers"])
                 for p, q in zip(a["probabilities"], b["probabilities"]))
        ratio, cold_ratio = ratio_stats(wall["warm"], wall["transformers"]), ratio_stats(wall["cold"],
                                                                                          wall["transformers"])
        print(f"  {what:<52} refalign warm {med['warm']:5.2f} s, cold {med['cold']:5.2f} s, transformers "
              f"{med['transformers']:5.2f} s; ratio {fmt_ratio(ratio)}; peak RSS {rss['warm']:,.0f} / "
              f"{rss['cold']:,.0f} / {rss['transformers']:,.0f} MiB (anonymous at the end {anon['warm']:,.0f} / "
              f"{anon['cold']:,.0f} / {anon['transformers']:,.0f}); max |Δp| {dp:.1g}", flush=True)
        rows.append(f"| {what} | {med['warm']:.2f} s | {med['cold']:.2f} s | {med['transformers']:.2f} s | "
                    f"{fmt_ratio(ratio)} | {fmt_ratio(cold_ratio)} | {rss['warm']:,.0f} / {rss['cold']:,.0f} MiB | "
                    f"{rss['transformers']:,.0f} MiB | {anon['warm']:,.0f} / {anon['transformers']:,.0f} MiB | "
                    f"{dp:.1g} |")
    if not rows:
        return []
    return [f"Fresh-process similarity: a new process imports the library, loads model + processor, scores 1 photo "
            f"against 5 captions (wall time start to exit, median of {args.fresh_repeats} alternating rounds; peak "
            f"RSS = max VmHWM; ratio = refalign / transformers wall; Numba cache warm, or cold = every kernel "
            f"compiled):", "",
            "| checkpoint | refalign, cache warm | refalign, cache cold | transformers | ratio warm | ratio cold | "
            "peak RSS refalign (warm / cold) | peak RSS transformers | anonymous RSS at the end, refalign / "
            "transformers | max abs Δ probability |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
