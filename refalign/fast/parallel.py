"""refalign's threads: every parallel loop of the fast paths runs here, on the calling thread plus helper threads.

    run_bands(kernel, n, values, *args)   kernel(*args, r0, r1) over bands [r0, r1) of range(n), one per thread
                                          (the calling thread and refalign.fast.workers' helpers)
    apply_epilogue(y, epilogue)           epilogue(y, r0, r1, 0, N) over a whole [M, N] array, in row bands
    matmul_wt(x, w, epilogue)             x @ w.T in bands (OpenBLAS single-threaded, or refalign.fast.gemm's kernel
                                          on packed float32 weights), each band's epilogue after it
    with single_threaded_blas(): ...      OpenBLAS's own thread pool kept idle
    with forward_threads(): ...           around a forward: single_threaded_blas, and refalign's threads each on a
                                          CPU of its own (refalign.fast.workers.placed)

The kernels (refalign.fast.kernels) are serial Numba functions compiled with nogil=True, so bands run truly in parallel
from plain Python threads.  Why not Numba's parallel=True: its "workqueue" threading layer aborts the process when
two Python threads launch kernels at once, and its caller thread polls while the workers run (three busy threads on
two cores); GNU OpenMP spin-waits, and is not fork-safe.  Measured on the 2-core benchmark machine, the depthwise
kernel ran 10-35% faster banded here than under Numba's prange.

Why OpenBLAS single-threaded: after each multi-threaded product, OpenBLAS's workers keep spinning for a while
(OPENBLAS_THREAD_TIMEOUT, read once when NumPy loads), competing with the kernels that follow (measured: ~25% slower
kernels; with refalign's helper pinned to a CPU, 20% on the whole ViT-B/16 tower when only its patch embedding ran
outside).  So forward_threads spans a whole forward, embeddings to heads (refalign.models.base.runs_as_forward for
the models' methods, each tower's function for itself).  Here a product is cut into bands of rows (or of columns,
for a short, wide product), each band a single-threaded OpenBLAS call on its own thread (NumPy releases the GIL),
followed on that thread by its epilogue (batch norm, swish, residual) while the block is still in cache: 25-35%
faster than a product then a separate pass.

refalign uses NUMBA_NUM_THREADS threads (Numba's default: the CPUs this process may use).  When NumPy's BLAS is not
an OpenBLAS whose thread count can be set (MKL, Accelerate, ...) products run whole, multi-threaded by the BLAS, and
only their epilogues are banded.  Safe to call from several Python threads at once, and after fork (the helpers
are re-created in the child).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import os
import threading

from typing import Callable

import numba
import numpy as np
from numpy.typing import NDArray

from . import gemm
from .workers import placed, run_parts

# (get, set) thread-count functions, by the names the OpenBLAS builds in NumPy wheels and in distributions export
_NAMES = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
          ("openblas_get_num_threads", "openblas_set_num_threads")]
_MIN_SPLIT_FLOPS = 4e6     # below this a product runs whole on the calling thread (a hand-off costs ~10-70 us)
_MIN_SPLIT_VALUES = 50_000  # ... and below this many values a kernel


def _openblas_libraries() -> list[str]:
    """OpenBLAS shared libraries: those this process has mapped (Linux), then the one bundled beside NumPy."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    root = os.path.dirname(os.path.dirname(np.__file__))
    for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
        paths += [p for p in sorted(glob.glob(os.path.join(root, pattern))) if p not in paths]
    return paths


def _bind_thread_control():
    if os.environ.get("REFALIGN_SPLIT_GEMM", "1") == "0":
        return None
    for path in _openblas_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for get_name, set_name in _NAMES:
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                return get, set_
    return None


_CONTROL = _bind_thread_control()
AVAILABLE = _CONTROL is not None  # REFALIGN_SPLIT_GEMM=0 turns the split off (plain NumPy products)
PACKED_GEMM = os.environ.get("REFALIGN_PACKED_GEMM", "1") != "0"  # "0": float32 products on OpenBLAS only

_state_lock = threading.Lock()
_users = 0            # forwards currently inside single_threaded_blas
_saved_threads = 1    # OpenBLAS's thread count before the first of them entered


def _after_fork_in_child() -> None:
    # no forward is running in a forked child (refalign.fast.workers re-creates its helpers there)
    global _state_lock, _users
    _state_lock, _users = threading.Lock(), 0


if hasattr(os, "register_at_fork"):  # POSIX only; there is no fork elsewhere
    os.register_at_fork(after_in_child=_after_fork_in_child)


class single_threaded_blas:
    """OpenBLAS single-threaded while at least one user is inside; the previous count restored when the last
    leaves.  NumPy products made meanwhile elsewhere in the process are still right, only single-threaded."""
    def __enter__(self):
        global _users, _saved_threads
        if AVAILABLE:
            with _state_lock:
                if _users == 0:
                    _saved_threads = _CONTROL[0]()
                    _CONTROL[1](1)
                _users += 1
        return self

    def __exit__(self, *exc):
        global _users
        if AVAILABLE:
            with _state_lock:
                _users -= 1
                if _users == 0:
                    _CONTROL[1](_saved_threads)


@contextlib.contextmanager
def forward_threads():
    """What a tower's forward runs inside: OpenBLAS single-threaded, the calling thread and the helpers placed."""
    with single_threaded_blas(), placed(num_threads()):
        yield


def num_threads() -> int:
    """The threads a parallel loop uses: NUMBA_NUM_THREADS (read without starting Numba's own thread pool)."""
    return max(1, int(numba.config.NUMBA_NUM_THREADS))


def _bands(n: int, parts: int) -> list[tuple[int, int]]:
    cuts = [n * i // parts for i in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def run_bands(kernel: Callable, n: int, values: int, *args) -> None:
    """kernel(*args, r0, r1) for r0, r1 bands covering range(n), one band per thread; a single call when the work
    (`values` touched in all) is too small to be worth a hand-off, or there is one thread."""
    parts = min(n, num_threads()) if values >= _MIN_SPLIT_VALUES else 1
    if parts <= 1:
        kernel(*args, 0, n)
        return
    run_parts([functools.partial(kernel, *args, r0, r1) for r0, r1 in _bands(n, parts)])


def apply_epilogue(y: NDArray, epilogue: Callable[[NDArray, int, int, int, int], None]) -> NDArray:
    """epilogue(y, r0, r1, 0, N) over a whole C-contiguous [M, N] array, in bands of rows; returns y."""
    m, n = y.shape
    run_bands(lambda r0, r1: epilogue(y, r0, r1, 0, n), m, m * n)
    return y


def matmul_wt(x: NDArray, w: NDArray | tuple[NDArray, ...],
              epilogue: Callable[[NDArray, int, int, int, int], None] | None = None) -> NDArray:
    """x @ w.T as a C-contiguous [M, N] (x [M, K], w [N, K]), then epilogue(out, r0, r1, c0, c1) over all of it.

    Inside single_threaded_blas, a product of at least _MIN_SPLIT_FLOPS is cut into num_threads() parts:
    bands of rows when M >= N, else bands of columns (each part then reads only its share of the weights).  Each
    part's epilogue runs on the part's thread right after its product, while the block is still in cache.
    Otherwise the product is one NumPy call and the epilogue is split by rows.  float32 products with at least
    gemm.MIN_ROWS rows and N, K >= gemm.MIN_SIDE run on refalign.fast.gemm's kernel instead (see _matmul_packed).
    w may be a tuple of weights [N_i, K]: the product with them stacked along N, [M, sum N_i] (made without a
    stacked copy on the packed path)."""
    parts = num_threads()
    stacked = w if isinstance(w, tuple) else (w,)
    if all(packs(x, part) for part in stacked):
        return _matmul_packed(x, stacked, parts, epilogue)
    w = stacked[0] if len(stacked) == 1 else np.concatenate(stacked)
    m, n = x.shape[0], w.shape[0]
    if not (AVAILABLE and _users > 0 and parts > 1 and min(m, n) >= 2 * parts
            and 2.0 * m * n * x.shape[1] >= _MIN_SPLIT_FLOPS):
        out = x @ w.T
        return out if epilogue is None else apply_epilogue(out, epilogue)
    out = np.empty((m, n), dtype=np.result_type(x, w))

    def rows(r0: int, r1: int) -> None:
        np.matmul(x[r0:r1], w.T, out=out[r0:r1])
        if epilogue is not None:
            epilogue(out, r0, r1, 0, n)

    def cols(c0: int, c1: int) -> None:
        np.matmul(x, w[c0:c1].T, out=out[:, c0:c1])
        if epilogue is not None:
            epilogue(out, 0, m, c0, c1)

    band = rows if m >= n else cols
    run_parts([functools.partial(band, a, b) for a, b in _bands(max(m, n), parts)])
    return out


def packs(x: NDArray, w: NDArray) -> bool:
    """Whether matmul_wt(x, w) runs on refalign.fast.gemm's kernel against w packed (float32, where it wins)."""
    return (PACKED_GEMM and x.dtype == np.float32 and w.dtype == np.float32 and x.ndim == 2 and w.ndim == 2
            and x.shape[0] >= gemm.MIN_ROWS and min(w.shape) >= gemm.MIN_SIDE)


def _matmul_packed(x: NDArray, weights: tuple[NDArray, ...], parts: int,
                   epilogue: Callable[[NDArray, int, int, int, int], None] | None) -> NDArray:
    """x @ w.T on refalign.fast.gemm's kernel (w: the weights stacked along N) from their kept panels, or else (their
    first product) straight from the weights, each slice packed as it is used: cut into bands of rows when M >= N,
    else of whole panels (columns)."""
    m, k = x.shape
    sizes = [part.shape[0] for part in weights]
    n = sum(sizes)
    out = np.empty((m, n), np.float32)
    panels = gemm.kept_panels(*weights)
    if panels is None and any(size % gemm.PANEL for size in sizes[:-1]):   # parts that share a panel: one array
        weights, sizes = (np.concatenate(weights),), [n]
    starts = np.cumsum([0] + sizes)                     # each part's first column (a multiple of PANEL)
    if 2.0 * m * n * k < _MIN_SPLIT_FLOPS:
        parts = 1

    def product(xs: NDArray, ys: NDArray, c0: int, c1: int) -> None:
        """ys[:, c0:c1] = xs @ (stacked weights)[c0:c1].T"""
        if panels is not None:
            gemm.product(xs, panels, ys, c0, c1)
            return
        for part, first in zip(weights, starts):         # each part's share of [c0, c1), in its own columns
            lo, hi = max(c0, first), min(c1, first + part.shape[0])
            if lo < hi:
                gemm.product(xs, None, ys, lo - first, hi - first, w=part, o_col=int(first))

    def rows(r0: int, r1: int) -> None:
        product(x[r0:r1], out[r0:r1], 0, n)
        if epilogue is not None:
            epilogue(out, r0, r1, 0, n)

    def cols(p0: int, p1: int) -> None:
        c0, c1 = p0 * gemm.PANEL, min(n, p1 * gemm.PANEL)
        product(x, out, c0, c1)
        if epilogue is not None:
            epilogue(out, 0, m, c0, c1)

    if m >= n:
        bands = [functools.partial(rows, a, b) for a, b in _bands(m, min(parts, m))]
    else:
        count = -(-n // gemm.PANEL)
        bands = [functools.partial(cols, a, b) for a, b in _bands(count, min(parts, count))]
    run_parts(bands)
    return out
