"""Tokenizer throughput: refalign's BertTokenizer vs transformers' (Rust-backed) on the real test corpus.

    python benchmarks/bench_tokenizer.py [--lines 60000] [--repeats 3] [--batch 0] [--weights weights/tiny]

Both tokenizers encode the same lines padded to 64 with truncation (NumPy int64 output; transformers with
return_tensors="np"), in one process, runs alternating, medians reported; ratio = refalign lines/s over
transformers lines/s (above 1: refalign is faster). Three refalign variants are measured against the same
transformers runs:
  warm  - one tokenizer reused (its word cache and character map filled by the warm-up run)
  cold  - a new tokenizer with every cache emptied before each run
  batch - (with --batch N) the lines fed N at a time instead of in one call, warm
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)


def _median_runs(funcs: dict, repeats: int) -> dict:
    """Alternate the functions `repeats` times (after one warm-up each); median seconds of each."""
    for f in funcs.values():
        f()
    times = {k: [] for k in funcs}
    for _ in range(repeats):
        for k, f in funcs.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_tokenizer(lines, weights: str | None = None, repeats: int = 3, batch: int = 0) -> dict:
    """lines/s of refalign and transformers on `lines`, padded to 64 with truncation. Returns a dict of figures."""
    from transformers import AutoTokenizer

    import refalign.tokenizers.wordpiece as wordpiece
    from refalign.tokenizers import BertTokenizer

    weights = weights or os.path.join(ROOT, "weights", "tiny")
    lines = list(lines)
    n = len(lines)
    kw = dict(padding="max_length", max_length=64, truncation=True)
    theirs = AutoTokenizer.from_pretrained(weights)
    ours = BertTokenizer.from_pretrained(weights)

    def run_theirs():
        return theirs(lines, return_tensors="np", **kw)

    def run_warm():
        return ours(lines, **kw)

    def run_cold():
        wordpiece._Normalizer._instances.clear()
        fresh = BertTokenizer.from_pretrained(weights)
        t = time.perf_counter()
        fresh(lines, **kw)
        return time.perf_counter() - t

    # the outputs agree (checked once, outside the timings)
    a, b = run_theirs(), run_warm()
    mismatched_rows = int(sum((a[k] != b[k]).any(1).sum() for k in b))

    funcs = {"transformers": run_theirs, "refalign_warm": run_warm}
    if batch:
        def run_batched():
            for i in range(0, n, batch):
                ours(lines[i:i + batch], **kw)

        def run_theirs_batched():
            for i in range(0, n, batch):
                theirs(lines[i:i + batch], return_tensors="np", **kw)
        funcs.update(refalign_batched=run_batched, transformers_batched=run_theirs_batched)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secs = _median_runs(funcs, repeats)
        cold = statistics.median(run_cold() for _ in range(repeats))  # construction excluded, caches empty
    result = {
        "lines": n,
        "chars": sum(map(len, lines)),
        "repeats": repeats,
        "mismatched_rows": mismatched_rows,
        "transformers_lines_per_s": n / secs["transformers"],
        "refalign_warm_lines_per_s": n / secs["refalign_warm"],
        "refalign_cold_lines_per_s": n / cold,
        "ratio_warm": secs["transformers"] / secs["refalign_warm"],
        "ratio_cold": secs["transformers"] / cold,
    }
    if batch:
        result.update(batch=batch,
                      transformers_batched_lines_per_s=n / secs["transformers_batched"],
                      refalign_batched_lines_per_s=n / secs["refalign_batched"],
                      ratio_batched=secs["transformers_batched"] / secs["refalign_batched"])
    return result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=60000, help="corpus lines (default: the whole 60,000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0, help="also feed the lines N at a time (0: off)")
    ap.add_argument("--weights", default=None, help="directory with vocab.txt + tokenizer_config.json")
    args = ap.parse_args(argv)

    import corpus
    lines = corpus.build_corpus()[:args.lines]
    import tokenizers
    import transformers
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
          f"TOKENIZERS_PARALLELISM={os.environ.get('TOKENIZERS_PARALLELISM', '(unset)')}", flush=True)
    r = bench_tokenizer(lines, args.weights, args.repeats, args.batch)
    print(f"{r['lines']:,} lines ({r['chars']:,} chars) padded to 64 with truncation, median of {r['repeats']} "
          f"alternating runs; rows differing from transformers: {r['mismatched_rows']}")
    print(f"  transformers (Rust)     {r['transformers_lines_per_s']:>10,.0f} lines/s")
    print(f"  refalign, warm          {r['refalign_warm_lines_per_s']:>10,.0f} lines/s   "
          f"ratio {r['ratio_warm']:.2f}x")
    print(f"  refalign, cold caches   {r['refalign_cold_lines_per_s']:>10,.0f} lines/s   "
          f"ratio {r['ratio_cold']:.2f}x")
    if args.batch:
        print(f"  batches of {args.batch}: transformers {r['transformers_batched_lines_per_s']:,.0f} lines/s, "
              f"refalign {r['refalign_batched_lines_per_s']:,.0f} lines/s, ratio {r['ratio_batched']:.2f}x")
    return r


if __name__ == "__main__":
    main()
