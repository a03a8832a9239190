"""refalign vs transformers (torch) on this machine: towers, batch throughput, tokenizers, preprocessing and a
fresh-process similarity, each library in its own processes.

    python benchmarks/run.py [--only towers tokenizers preprocess fresh] [--cases NAME ...] [--repeats 9]
                             [--threads 2] [--no-throughput] [--lines 60000] [--corpus-extras]

Prints the machine (CPU, ISA, BLAS, versions, threads), a progress line per measurement, then one markdown table
per section, ready for the README. How it stays fair (benchmarks/harness.py): refalign's processes never import
torch or transformers (checked); both sides get the same thread settings and the same files; calls alternate, the
order flipping every round, with an idle gap before each; ratios are refalign / transformers time per round (below
1: refalign is faster), reported as the median and interquartile range over rounds.

Sections and their cases (--cases picks some; a development run should pick one):
  towers      towers.py: every family's image and text towers, one call; with batches of 8 and 32 (throughput)
  tokenizers  tokenizer_speed.py: WordPiece, byte-level BPE, unigram on >= 50,000 real lines (textlines.py)
  preprocess  preprocess_speed.py: one photo -> pixel_values with each family's image processor
  fresh       fresh_process.py: a new process scores 1 photo against 5 captions with a full-size model

Needs the parity extra (torch, transformers, sentencepiece) and nothing else: not Django, not emoji. Full-size
random-weight checkpoints are written once into ~/.cache/refalign-bench/ (checkpoints.py); a default run takes about
half an hour on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fresh_process  # noqa: E402
import harness  # noqa: E402
import preprocess_speed  # noqa: E402
import tokenizer_speed  # noqa: E402
import towers  # noqa: E402

SECTIONS = {"towers": towers, "tokenizers": tokenizer_speed, "preprocess": preprocess_speed, "fresh": fresh_process}


def main(argv=None) -> int:
    every_case = [c for module in SECTIONS.values() for c in module.CASES]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS), help="sections to run")
    ap.add_argument("--cases", nargs="+", choices=every_case, default=every_case, metavar="CASE",
                    help=f"cases to run (default: all): {', '.join(every_case)}")
    ap.add_argument("--repeats", type=int, default=9, help="rounds per measurement (towers, tokenizers, preprocess)")
    ap.add_argument("--throughput-repeats", type=int, default=3, help="rounds per batch of 8 and 32")
    ap.add_argument("--no-throughput", dest="throughput", action="store_false", help="skip batches of 8 and 32")
    ap.add_argument("--fresh-repeats", type=int, default=3, help="rounds of fresh processes")
    ap.add_argument("--gap", type=float, default=0.5, help="idle seconds before each call or process")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lines", type=int, default=60000, help="tokenizer corpus lines")
    ap.add_argument("--calls", type=int, default=10, help="preprocessing calls per run")
    ap.add_argument("--corpus-extras", action="store_true",
                    help="add Django's translations and emoji's names to the tokenizer corpus when installed")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    print("# refalign vs transformers, " + time.strftime("%Y-%m-%d %H:%M"), flush=True)
    for line in harness.machine_header(args.threads):
        print(line, flush=True)
    tables = []
    for name in args.only:
        cases = [c for c in SECTIONS[name].CASES if c in args.cases]
        if cases:
            print(f"\n## {name} (load average {os.getloadavg()[0]:.2f})", flush=True)
            tables += SECTIONS[name].run(args, cases)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nDone in {(time.perf_counter() - t0) / 60:.1f} min; load average {load} at the end.\n")
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
