"""x @ w.T for the fast paths: split across refalign's own threads while OpenBLAS runs single-threaded.

Why: after each multi-threaded product, OpenBLAS's worker threads keep spinning for a while (OPENBLAS_THREAD_TIMEOUT,
read once when NumPy loads, so refalign cannot shorten it).  The Numba kernels that run between two products
(batch norm, swish, depthwise) then share the cores with those spinners: measured on the 2-core benchmark machine,
the image tower's kernels took ~25% longer than with a short timeout.  Here the product is cut into one part per
thread (bands of rows, or of columns for a short, wide product), the parts run as single-threaded OpenBLAS calls on the
calling thread and on helper threads (NumPy releases the GIL), and OpenBLAS's own pool stays asleep.

    with single_threaded_blas():      # around a whole forward; nests, and is safe from several Python threads
        y = matmul_wt(x, w)           # == x @ w.T, C-contiguous

When NumPy's BLAS is not an OpenBLAS whose thread count can be set (MKL, Accelerate, ...), or only one thread is
asked for (numba.get_num_threads()), matmul_wt is the plain NumPy product and single_threaded_blas does nothing.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import glob
import os
import threading

import numba
import numpy as np
from numpy.typing import NDArray

# (get, set) thread-count functions, by the names the OpenBLAS builds in NumPy wheels and in distributions export
_NAMES = [("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
          ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
          ("openblas_get_num_threads", "openblas_set_num_threads")]
_MIN_SPLIT_FLOPS = 4e6  # below this a product runs whole on the calling thread (a hand-off costs ~30 us)


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

_state_lock = threading.Lock()
_users = 0            # forwards currently inside single_threaded_blas
_saved_threads = 1    # OpenBLAS's thread count before the first of them entered
_pool: concurrent.futures.ThreadPoolExecutor | None = None


def _after_fork_in_child() -> None:
    # the pool's threads do not exist in a forked child, and no forward is running there
    global _state_lock, _users, _pool
    _state_lock, _users, _pool = threading.Lock(), 0, None


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


def _helpers(n: int) -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _state_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="refalign-gemm")
        return _pool


def _run_parts(calls: list) -> None:
    """Run np.matmul(*args, out=out) for each (args, out): the first on this thread, the rest on helper threads."""
    futures = [_helpers(len(calls) - 1).submit(np.matmul, *args, out=out) for args, out in calls[1:]]
    args, out = calls[0]
    np.matmul(*args, out=out)
    for f in futures:
        f.result()


def matmul_wt(x: NDArray, w: NDArray) -> NDArray:
    """x @ w.T as a C-contiguous [M, N] (x [M, K], w [N, K]).

    Inside single_threaded_blas, a product of at least _MIN_SPLIT_FLOPS is cut into numba.get_num_threads() parts:
    bands of rows when M >= N, else bands of columns (each part then reads only its share of the weights)."""
    m, n = x.shape[0], w.shape[0]
    parts = numba.get_num_threads()
    if not (AVAILABLE and _users > 0 and parts > 1 and min(m, n) >= 2 * parts
            and 2.0 * m * n * x.shape[1] >= _MIN_SPLIT_FLOPS):
        return x @ w.T
    out = np.empty((m, n), dtype=np.result_type(x, w))
    if m >= n:
        cuts = [m * i // parts for i in range(parts + 1)]
        _run_parts([((x[a:b], w.T), out[a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    else:
        cuts = [n * i // parts for i in range(parts + 1)]
        _run_parts([((x, w[a:b].T), out[:, a:b]) for a, b in zip(cuts[:-1], cuts[1:])])
    return out
