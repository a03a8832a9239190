"""Tokenizer throughput: refalign's BertTokenizer vs transformers' (Rust-backed) BertTokenizer, side by side.

Both encode the test corpus (tests/corpus.py) padded to 64 with truncation into int64 arrays; runs alternate between
the two, and the medians are compared. Run: python benchmarks/bench_tokenizer.py [--lines N] [--repeats R]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_tokenizer(lines, repeats: int = 5, checkpoint_dir: str | None = None) -> dict:
    """Lines per second of both tokenizers on `lines` (median of `repeats` alternating runs each)."""
    from transformers import AutoTokenizer

    from refalign.tokenization import BertTokenizer

    checkpoint_dir = checkpoint_dir or os.path.join(ROOT, "weights", "tiny")
    ours = BertTokenizer.from_pretrained(checkpoint_dir)
    theirs = AutoTokenizer.from_pretrained(checkpoint_dir)
    kw = dict(padding="max_length", max_length=64, truncation=True)

    def run_ours():
        ours(lines, **kw)

    def run_theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs(lines, return_tensors="np", **kw)

    times = {"refalign": [], "transformers": []}
    for _ in range(repeats):
        times["transformers"].append(_time(run_theirs))
        times["refalign"].append(_time(run_ours))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "lines": len(lines),
        "repeats": repeats,
        "refalign_lines_per_s": len(lines) / med["refalign"],
        "transformers_lines_per_s": len(lines) / med["transformers"],
        "ratio_refalign_over_transformers": med["transformers"] / med["refalign"],
        "refalign_seconds": times["refalign"],
        "transformers_seconds": times["transformers"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from corpus import build_corpus

    lines = build_corpus(args.lines, seed=0)
    r = bench_tokenizer(lines, repeats=args.repeats)
    print(f"{r['lines']} lines, padded to 64, median of {r['repeats']} alternating runs")
    print(f"  refalign     {r['refalign_lines_per_s']:10.0f} lines/s")
    print(f"  transformers {r['transformers_lines_per_s']:10.0f} lines/s")
    print(f"  ratio refalign/transformers = {r['ratio_refalign_over_transformers']:.2f}")


if __name__ == "__main__":
    main()
