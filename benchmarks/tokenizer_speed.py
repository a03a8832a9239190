"""Tokenizer throughput: refalign's three tokenizers vs transformers' (Rust-backed) classes on the same files, lines/s
on the real-text corpus of benchmarks/textlines.py, padded to 64 with truncation (NumPy int64 out).

Three workers per tokenizer: refalign warm (one tokenizer reused: its word cache and character maps filled by the
previous runs), refalign cold (a new tokenizer per run, every refalign cache empty; construction untimed) and
transformers (one tokenizer reused, as users do). Before timing, each refalign worker's ids are compared with
transformers' once and the rows that differ are counted.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile

import numpy as np

import textlines
from harness import ROOT, Worker, alternate, fmt_ratio, ratio_stats

# name -> (what, files, about the files)
CASES = {
    "wordpiece": ("WordPiece: BertTokenizer", os.path.join(ROOT, "weights", "tiny"),
                  "bert-base-uncased's 30,522-token vocabulary, ALIGN's settings"),
    "bpe": ("byte-level BPE: RobertaTokenizer", os.path.join(ROOT, "tests", "data", "tokenizer", "bpe"),
            "the committed 5,000-token fixture in RoBERTa's layout (RoBERTa has 50,265)"),
    "unigram": ("SentencePiece unigram: XLMRobertaTokenizer",
                os.path.join(ROOT, "tests", "data", "tokenizer", "unigram"),
                "the committed 32,000-piece fixture in XLM-R's layout, nmt_nfkc charsmap (XLM-R has 250,002)"),
}


def differing_rows(ours: dict, theirs: dict) -> int:
    """Rows whose arrays differ in any key (every row when the keys or shapes do not match)."""
    n = len(next(iter(theirs.values())))
    if sorted(ours) != sorted(theirs) or any(ours[k].shape != theirs[k].shape for k in theirs):
        return n
    rows = np.zeros(n, dtype=bool)
    for k in theirs:
        rows |= (ours[k] != theirs[k]).any(1)
    return int(rows.sum())


def run(args, cases: list[str]) -> list[str]:
    lines, report = textlines.build(args.lines, extras=args.corpus_extras)
    print("  corpus: " + textlines.describe(lines, report).replace("\n", "\n  "), flush=True)
    n = len(lines)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lines.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(lines, f, ensure_ascii=False)
        for name in cases:
            what, directory, about = CASES[name]
            with Worker("refalign", "tokenizer", directory, path, "warm", threads=args.threads) as warm, \
                    Worker("refalign", "tokenizer", directory, path, "cold", threads=args.threads) as cold, \
                    Worker("transformers", "tokenizer", directory, path, "warm", threads=args.threads) as theirs:
                reference = theirs.dump()
                bad_warm, bad_cold = differing_rows(warm.dump(), reference), differing_rows(cold.dump(), reference)
                t = alternate({"warm": warm, "cold": cold, "transformers": theirs}, args.repeats, args.gap)
            speed = {k: n / statistics.median(v) for k, v in t.items()}
            r_warm, r_cold = ratio_stats(t["warm"], t["transformers"]), ratio_stats(t["cold"], t["transformers"])
            print(f"  {what:<44} refalign warm {speed['warm']:9,.0f}  cold {speed['cold']:9,.0f}  transformers "
                  f"{speed['transformers']:9,.0f} lines/s; time ratio warm {fmt_ratio(r_warm)}, cold "
                  f"{fmt_ratio(r_cold)}; rows differing: {bad_warm} warm, {bad_cold} cold", flush=True)
            rows.append(f"| {what} — {about} | {speed['warm']:,.0f} | {speed['cold']:,.0f} | "
                        f"{speed['transformers']:,.0f} | {fmt_ratio(r_warm)} | {fmt_ratio(r_cold)} | "
                        f"{bad_warm} / {bad_cold} |")
    if not rows:
        return []
    return [f"Tokenizers, lines/s on {n:,} real lines padded to 64 with truncation (median of {args.repeats} "
            f"alternating rounds; time ratio = refalign / transformers, median and interquartile range; warm: one "
            f"tokenizer reused, cold: a new one per run with refalign's caches empty, construction not timed):", "",
            "| tokenizer (files) | refalign warm | refalign cold | transformers | time ratio warm | time ratio cold | "
            f"rows ≠ transformers (warm / cold, of {n:,}) |", "|---|---|---|---|---|---|---|", *rows, ""]
