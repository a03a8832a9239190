"""refalign vs transformers, side by side in one process, on this machine (torch + transformers needed).

    python benchmarks/bench.py [--weights DIR] [--threads 2] [--repeats 7] [--markdown]

DIR is a full-size (align-base-shaped) checkpoint; by default one is written with tools/make_checkpoint.py into
~/.cache/refalign-bench/full (random weights: speed does not depend on the values). Timings alternate refalign and
torch runs and report medians; ratio = refalign / torch (below 1 means refalign is faster).

Measured:
- image tower, 1 x 3 x 289 x 289, float32 (get_image_features)
- text tower, 8 x 64 tokens, float32 (get_text_features)
- tokenizer, lines/s on the test corpus padded to 64
- preprocessing, one real photo -> pixel_values
- fresh-process similarity (1 photo, 5 texts, full weights): wall time and peak RSS of a new Python process, with the
  Numba cache warm, and once with a cold cache (first-ever run: JIT compilation included)
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
PHOTO = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")
TEXTS5 = ["a photo of a cat", "a photo of a dog", "a cup of coffee", "an astronaut", "a rocket on the launch pad"]


def side_by_side(f_ours, f_torch, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median seconds of each, alternating runs so that both see the same machine state."""
    for _ in range(warmup):
        f_ours()
        f_torch()
    ours, theirs = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        f_ours()
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        f_torch()
        theirs.append(time.perf_counter() - t)
    return statistics.median(ours), statistics.median(theirs)


def ensure_weights(path: str | None) -> str:
    if path:
        return path
    out = os.path.join(os.path.expanduser("~"), ".cache", "refalign-bench", "full")
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        import make_checkpoint
        print(f"writing a full-size random-weight checkpoint to {out} ...", flush=True)
        make_checkpoint.write_checkpoint("full", out, seed=0)
    return out


OURS_SIMILARITY = r"""
import sys, time
t = time.perf_counter()
import refalign
p = refalign.similarity(sys.argv[1], sys.argv[3:], model=sys.argv[2])
# peak RSS of this process image: VmHWM (ru_maxrss would carry over the parent's peak across fork + exec)
hwm = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
print("WALL", time.perf_counter() - t, "RSS_KB", hwm, p.round(4))
"""

TORCH_SIMILARITY = r"""
import sys, time
t = time.perf_counter()
import torch
torch.set_num_threads(int(sys.argv[4]))
from transformers import AlignModel, AlignProcessor
from transformers.image_utils import load_image
model = AlignModel.from_pretrained(sys.argv[2]).eval()
proc = AlignProcessor.from_pretrained(sys.argv[2])
texts = sys.argv[5:]
inputs = proc(text=texts, images=[load_image(sys.argv[1])], return_tensors="pt")
with torch.no_grad():
    p = model(**inputs).logits_per_image.softmax(-1)[0]
# peak RSS of this process image: VmHWM (ru_maxrss would carry over the parent's peak across fork + exec)
hwm = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
print("WALL", time.perf_counter() - t, "RSS_KB", hwm, p.numpy().round(4))
"""


def fresh_process(code: str, args: list[str], env: dict) -> tuple[float, float]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    outer = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    line = [x for x in r.stdout.splitlines() if x.startswith("WALL")][-1].split()
    return outer, int(line[3]) / 1024.0   # wall seconds of the whole process, peak RSS in MiB


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--fresh-repeats", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=["image", "text", "tokenizer", "preprocess", "fresh"])
    args = ap.parse_args(argv)

    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    import torch
    import transformers
    torch.set_num_threads(args.threads)
    import numba
    import refalign
    from refalign import AlignModel, AlignProcessor
    from transformers import AlignModel as TAlignModel, AlignProcessor as TAlignProcessor

    weights = ensure_weights(args.weights)
    rows = []

    def row(name, ours, theirs, unit="s"):
        ratio = ours / theirs
        rows.append((name, ours, theirs, ratio, unit))
        print(f"{name:<44} refalign {ours:9.4f} {unit:<6} torch {theirs:9.4f} {unit:<6} ratio {ratio:5.2f}",
              flush=True)

    model = AlignModel.from_pretrained(weights)
    proc = AlignProcessor.from_pretrained(weights)
    tmodel = TAlignModel.from_pretrained(weights).eval()
    tproc = TAlignProcessor.from_pretrained(weights)

    if "image" not in args.skip:
        px = proc(images=[PHOTO])["pixel_values"]
        tpx = torch.from_numpy(px)
        with torch.no_grad():
            row("image tower 1x289^2 (float32)", *side_by_side(lambda: model.get_image_features(px),
                                                               lambda: tmodel.get_image_features(pixel_values=tpx),
                                                               args.repeats))
    if "text" not in args.skip:
        # (a) what users run: 8 captions, AlignProcessor's padding to 64 (refalign skips all-padding columns);
        # (b) the worst case for refalign: 8 texts of 64 real tokens each, nothing to skip.
        captions = [f"{t} number {i}" for i, t in enumerate(TEXTS5 + TEXTS5[:3])]
        long_texts = [" ".join([c] * 20) for c in captions]
        for label, texts in (("text tower 8 captions padded to 64 (float32)", captions),
                             ("text tower 8x64 real tokens (float32)", long_texts)):
            enc = proc(text=texts, truncation=True)
            assert enc["input_ids"].shape == (8, 64)
            tenc = {k: torch.from_numpy(v) for k, v in enc.items()}
            with torch.no_grad():
                row(label, *side_by_side(
                    lambda: model.get_text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]),
                    lambda: tmodel.get_text_features(**tenc), args.repeats))
    if "tokenizer" not in args.skip:
        import corpus
        lines = list(corpus.build_corpus()[:50000])
        ours_s, theirs_s = side_by_side(lambda: proc.tokenizer(lines, padding="max_length", max_length=64,
                                                                truncation=True),
                                        lambda: tproc.tokenizer(lines, padding="max_length", max_length=64,
                                                                truncation=True, return_tensors="np"),
                                        max(3, args.repeats // 2))
        n = len(lines)
        rows.append((f"tokenizer ({n} real lines, pad 64)", n / ours_s, n / theirs_s, (n / theirs_s) / (n / ours_s),
                     "lines/s"))
        print(f"tokenizer: refalign {n / ours_s:,.0f} lines/s, transformers {n / theirs_s:,.0f} lines/s, "
              f"time ratio {ours_s / theirs_s:.2f}", flush=True)
    if "preprocess" not in args.skip:
        from transformers.image_utils import load_image as t_load
        row("preprocessing 1 photo -> pixel_values", *side_by_side(
            lambda: proc(images=[PHOTO]), lambda: tproc.image_processor(images=[t_load(PHOTO)], return_tensors="np"),
            args.repeats))
    del model, tmodel
    if "fresh" not in args.skip:
        env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        ours_args = [PHOTO, weights, *TEXTS5]
        torch_args = [PHOTO, weights, "", str(args.threads), *TEXTS5]
        fresh_process(OURS_SIMILARITY, ours_args, env)            # warm the Numba cache
        o = [fresh_process(OURS_SIMILARITY, ours_args, env) for _ in range(args.fresh_repeats)]
        t = [fresh_process(TORCH_SIMILARITY, torch_args, env) for _ in range(args.fresh_repeats)]
        ow, orss = statistics.median(x[0] for x in o), max(x[1] for x in o)
        tw, trss = statistics.median(x[0] for x in t), max(x[1] for x in t)
        row("fresh-process similarity, wall (cache warm)", ow, tw)
        row("fresh-process similarity, peak RSS", orss, trss, "MiB")
        with tempfile.TemporaryDirectory() as cold:
            cw, _ = fresh_process(OURS_SIMILARITY, ours_args, dict(env, REFALIGN_CACHE_DIR=cold))
        print(f"first-ever run (empty Numba cache, compilation included): {cw:.2f} s", flush=True)
        rows.append(("fresh-process similarity, first run (cold JIT cache)", cw, tw, cw / tw, "s"))

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print()
    print(f"Machine: {cpu}, {os.cpu_count()} cores, {args.threads} threads; refalign {refalign.__version__}, "
          f"numpy {np.__version__}, numba {numba.__version__}, torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print()
    print("| measurement | refalign | transformers (torch) | ratio |")
    print("|---|---|---|---|")
    for name, ours, theirs, ratio, unit in rows:
        fmt = (lambda v: f"{v:,.0f} {unit}") if unit == "lines/s" else (lambda v: f"{v:.3f} {unit}") \
            if unit == "s" else (lambda v: f"{v:,.0f} {unit}")
        print(f"| {name} | {fmt(ours)} | {fmt(theirs)} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
