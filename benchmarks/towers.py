"""Tower speed, refalign vs transformers (torch), each in its own process, on this machine.

    python benchmarks/towers.py [--only NAME ...] [--repeats 9] [--gap 0.5] [--threads 2] [--throughput]

Every measurement starts two worker processes (benchmarks/tower_worker.py): refalign's, which never imports torch
(as a user's would not), and transformers'. Both load the same checkpoint and warm up; then calls alternate between
them (the order flips every round) with an idle gap after each call, so both see the same machine state and neither
runs while the other does. Reported: the median seconds of each and the interquartile range of the
per-round ratios refalign / torch (below 1: refalign is faster; a single round hit by a hiccup of the machine does
not move it). --throughput adds batches of 8 and 32 (items/s).

Checkpoints are full-size, random weights (speed does not depend on the values), written once into
~/.cache/refalign-bench/ (ALIGN by tools/make_checkpoint.py; VTDE and AltCLIP by transformers, in a subprocess).
Needs torch and transformers (`pip install -e ".[parity]"`), nothing else.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "refalign-bench")

# name -> (checkpoint, task, default batch, sequence length, what it is)
CASES = {
    "align-image": ("align", "image", 1, 0, "ALIGN image tower (EfficientNet-B7), 1×289²"),
    "align-text": ("align", "text", 8, 64, "ALIGN text tower (BERT-base), 8×64"),
    "vit-b16-image": ("vit-bert", "image", 1, 0, "VTDE image tower (ViT-B/16), 1×224²"),
    "clip-b32-image": ("clip-roberta", "image", 1, 0, "VTDE image tower (CLIP ViT-B/32), 1×224²"),
    "bert-base-text": ("vit-bert", "text", 8, 64, "VTDE text tower (BERT-base + pooler), 8×64"),
    "roberta-base-text": ("clip-roberta", "text", 8, 64, "VTDE text tower (RoBERTa-base + pooler), 8×64"),
    "altclip-image": ("altclip", "image", 1, 0, "AltCLIP image tower (CLIP ViT-L/14), 1×224²"),
    "altclip-text": ("altclip", "text", 8, 32, "AltCLIP text tower (XLM-R-large + pre_LN + transformation), 8×32"),
}

WRITE_TRANSFORMERS = r"""
import sys, torch, transformers
kind, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
if kind == "vit-bert":
    vision, text = transformers.ViTConfig(), transformers.BertConfig()
elif kind == "clip-roberta":
    vision = transformers.CLIPVisionConfig(patch_size=32)
    text = transformers.RobertaConfig(max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5)
if kind == "altclip":   # BAAI/AltCLIP's dimensions (AltCLIPTextConfig's defaults are XLM-R-large's)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=14)
    cfg = transformers.AltCLIPConfig(text_config={}, vision_config=vision, projection_dim=768)
    transformers.AltCLIPModel(cfg).eval().save_pretrained(out)
else:
    cfg = transformers.VisionTextDualEncoderConfig.from_vision_text_configs(vision, text, projection_dim=512)
    transformers.VisionTextDualEncoderModel(cfg).eval().save_pretrained(out)
"""


def checkpoint(kind: str) -> str:
    out = os.path.join(CACHE, "full" if kind == "align" else kind)
    done = os.path.join(out, "DONE")
    if os.path.exists(done) or (kind == "align" and os.path.exists(os.path.join(out, "model.safetensors"))):
        return out
    print(f"writing a full-size random-weight {kind} checkpoint to {out} ...", flush=True)
    if kind == "align":
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import make_checkpoint
        make_checkpoint.write_checkpoint("full", out, seed=0)
    else:
        subprocess.run([sys.executable, "-c", WRITE_TRANSFORMERS, kind, out], check=True)
    open(done, "w").close()
    return out


def machine() -> str:
    """CPU model, vector ISA, BLAS and thread settings: ratios measured on one CPU need not hold on another."""
    cpu, flags = platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cpu = next(l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith("model name"))
        flags = set(next(l.split(":", 1)[1] for l in info.splitlines() if l.startswith("flags")).split())
    except (OSError, StopIteration):
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:          # numpy builds differ in what they report
        blas = "unknown"
    return f"{cpu}, {isa}, {os.cpu_count()} CPUs; numpy {np.__version__} with {blas}"


class Worker:
    def __init__(self, impl: str, model_dir: str, task: str, batch: int, seq_len: int, threads: int):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   BENCH_THREADS=str(threads), PYTHONPATH=ROOT, TRANSFORMERS_VERBOSITY="error",
                   HF_HUB_DISABLE_PROGRESS_BARS="1", TQDM_DISABLE="1")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "tower_worker.py"), impl, model_dir, task, str(batch), str(seq_len)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if line.strip() != "READY":
            self.proc.kill()
            raise RuntimeError(f"{impl} worker for {model_dir} did not start (see its error above)")

    def run(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def measure(model_dir: str, task: str, batch: int, seq_len: int, repeats: int, gap: float, threads: int):
    ours = Worker("refalign", model_dir, task, batch, seq_len, threads)
    theirs = Worker("torch", model_dir, task, batch, seq_len, threads)
    a, b = [], []
    try:
        for r in range(repeats):
            order = ((ours, a), (theirs, b)) if r % 2 == 0 else ((theirs, b), (ours, a))
            for worker, times in order:
                time.sleep(gap)
                times.append(worker.run())
    finally:
        ours.close()
        theirs.close()
    ratios = sorted(x / y for x, y in zip(a, b))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return statistics.median(a), statistics.median(b), (q1, q3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", choices=sorted(CASES), default=sorted(CASES, key=list(CASES).index))
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--gap", type=float, default=0.5, help="idle seconds before each call")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--throughput", action="store_true", help="also batches of 8 and 32 (items per second)")
    args = ap.parse_args(argv)

    print(f"Machine: {machine()}; {args.threads} threads each", flush=True)
    rows = []
    for name in args.only:
        kind, task, batch, seq_len, label = CASES[name]
        model_dir = checkpoint(kind)
        batches = [batch] + ([b for b in (8, 32) if b != batch] if args.throughput else [])
        for n in batches:
            ours, theirs, ratios = measure(model_dir, task, n, seq_len, args.repeats, args.gap, args.threads)
            what = label if n == batch else f"{label.split(',')[0]}, batch {n}" + (f"×{seq_len}" if seq_len else "")
            unit = "images/s" if task == "image" else "texts/s"
            rows.append((what, ours, theirs, ratios, n, unit))
            print(f"{what:<58} refalign {ours * 1e3:8.1f} ms  torch {theirs * 1e3:8.1f} ms  "
                  f"ratio {ours / theirs:.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f})", flush=True)
    print()
    print("| tower | refalign | torch | ratio (median; interquartile range over rounds) | throughput refalign / torch |")
    print("|---|---|---|---|---|")
    for what, ours, theirs, ratios, n, unit in rows:
        print(f"| {what} | {ours * 1e3:,.0f} ms | {theirs * 1e3:,.0f} ms | {ours / theirs:.2f} "
              f"({ratios[0]:.2f}–{ratios[-1]:.2f}) | {n / ours:,.1f} / {n / theirs:,.1f} {unit} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
