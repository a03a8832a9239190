"""What the benchmark sections share: worker processes (benchmarks/worker.py), alternating measurement, statistics
and the machine header.

Fairness rules, the same for every section: refalign and transformers run in separate processes (refalign's never
imports torch or transformers: its worker checks and exits with status 3 if it did); both get the same thread
settings; their calls alternate, the order flipping every round, with an idle gap before each call, so both see the
same machine state and neither runs while the other does; a round's ratio is refalign / transformers (below 1:
refalign is faster), and the interquartile range of those ratios says how much one round can be trusted.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "worker.py")
# refalign's compiled kernels for the benchmark: its own folder, warmed by the workers' first calls
NUMBA_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "refalign-bench", "numba")


def worker_env(threads: int, **extra: str) -> dict[str, str]:
    """The environment of every worker: `threads` for Numba, OpenMP / OpenBLAS / MKL, torch and the Rust tokenizers."""
    n = str(threads)
    env = dict(os.environ, NUMBA_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, RAYON_NUM_THREADS=n,
               BENCH_THREADS=n, REFALIGN_CACHE_DIR=NUMBA_CACHE, PYTHONPATH=ROOT, TRANSFORMERS_VERBOSITY="error",
               HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TQDM_DISABLE="1")
    env.update(extra)
    return env


class Worker:
    """A worker process: started, loaded and warmed up (READY); run() -> seconds of one call; dump() -> one call's
    arrays; close() -> its exit status."""

    def __init__(self, impl: str, task: str, *args, threads: int = 2):
        self.what = f"{impl} {task} {' '.join(map(str, args))}"
        self.proc = subprocess.Popen([sys.executable, WORKER, impl, task, *map(str, args)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=worker_env(threads))
        if self._ask(None) != "READY":
            status = self.proc.wait(timeout=60)
            raise RuntimeError(f"worker '{self.what}' did not start (exit status {status}; its error is above)")

    def _ask(self, command: str | None) -> str:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def run(self) -> float:
        answer = self._ask("run")
        try:
            return float(answer)
        except ValueError:
            raise RuntimeError(f"worker '{self.what}' answered {answer!r} to run") from None

    def dump(self) -> dict:
        """The arrays of one (untimed) call."""
        import numpy as np
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "out.npz")
            if self._ask(f"dump {path}") != "ok":
                raise RuntimeError(f"worker '{self.what}' failed to dump its output")
            with np.load(path) as f:
                return {k: f[k] for k in f.files}

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        status = self.proc.wait(timeout=120)
        if status:
            raise RuntimeError(f"worker '{self.what}' exited with status {status}")
        return status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self.proc.kill()
            self.proc.wait()


def alternate(workers: dict[str, Worker], repeats: int, gap: float) -> dict[str, list[float]]:
    """`repeats` rounds of one call per worker, the order reversed every other round, `gap` idle seconds before
    each call. -> name -> seconds per round."""
    times: dict[str, list[float]] = {name: [] for name in workers}
    names = list(workers)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            time.sleep(gap)
            times[name].append(workers[name].run())
    return times


def ratio_stats(ours: list[float], theirs: list[float]) -> tuple[float, float, float]:
    """(median, first quartile, third quartile) of the per-round ratios ours / theirs."""
    ratios = sorted(a / b for a, b in zip(ours, theirs))
    if len(ratios) == 1:
        return ratios[0], ratios[0], ratios[0]
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return statistics.median(ratios), q1, q3


def fmt_ratio(stats: tuple[float, float, float]) -> str:
    return f"{stats[0]:.2f} ({stats[1]:.2f}–{stats[2]:.2f})"


def one_shot(impl: str, args: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """A whole `worker.py IMPL fresh ...` process: (wall seconds from start to exit, what it printed: probabilities,
    peak_rss_kib, anon_kib, file_kib)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, WORKER, impl, "fresh", *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"fresh {impl} process failed (status {r.returncode}):\n{r.stderr[-3000:]}")
    return wall, json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ the header
def _cpu() -> tuple[str, str]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1] for line in info if line.startswith("flags")).split())
    except (OSError, StopIteration):
        pass
    if "avx512f" in flags:
        isa = f"AVX-512 ({', '.join(sorted(f for f in flags if f.startswith('avx512')))})"
    else:
        isa = "AVX2" if "avx2" in flags else "no AVX2"
    return model, isa + (" + FMA" if "fma" in flags else "")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def numpy_blas() -> str:
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # numpy builds differ in what they report
        return "unknown BLAS"


def transformers_probe(threads: int) -> dict | None:
    r = subprocess.run([sys.executable, WORKER, "transformers", "probe"], capture_output=True, text=True,
                       env=worker_env(threads))
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None


def machine_header(threads: int) -> list[str]:
    """CPU, ISA, BLAS, library versions and thread settings: ratios measured on one machine need not hold on
    another."""
    model, isa = _cpu()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    t = transformers_probe(threads)
    parallelism = os.environ.get("TOKENIZERS_PARALLELISM", "unset: on")
    lines = [
        f"Machine: {model}; {isa}; {cpus} CPUs usable ({os.cpu_count()} online); {platform.system()} "
        f"{platform.release()}; load average {load} (1/5/15 min) at start",
        f"refalign {_version('refalign')}: Python {platform.python_version()}, numpy {_version('numpy')} with "
        f"{numpy_blas()}, numba {_version('numba')} (llvmlite {_version('llvmlite')}), pillow {_version('pillow')}, "
        f"regex {_version('regex')}",
    ]
    if t is None:
        lines.append("transformers side: torch / transformers not importable")
    else:
        lines.append(f"transformers {t['transformers']}: torch {t['torch']} with {t['blas']}, {t['onednn']}, CPU "
                     f"capability {t['capability']}; tokenizers {t['tokenizers']}")
    lines.append(
        f"Threads: refalign NUMBA_NUM_THREADS={threads} (its own pool; OpenBLAS OMP_NUM_THREADS={threads}); torch "
        f"set_num_threads({threads}) (get_num_threads() = {t['threads'] if t else '?'}); Rust tokenizers "
        f"TOKENIZERS_PARALLELISM={parallelism}, RAYON_NUM_THREADS={threads}; refalign's tokenizers and image "
        f"processors are single-threaded Python, and so are transformers' PIL image processors")
    return lines
