"""Where refalign's compiled Numba kernels are cached: a per-user folder, never inside the installed package.

Numba's `cache=True` writes `.nbi/.nbc` files into a `__pycache__` folder next to the source by default. For a
`pip install .` that is `site-packages/refalign/__pycache__`, and pip's uninstall (run by a later `pip install -e .`)
removes only the files in its RECORD: a `site-packages/refalign/` folder without `__init__.py` would survive and be
imported as an empty namespace package ahead of the editable install. So refalign points its kernels at

    $REFALIGN_CACHE_DIR                         (if set; an empty value turns the disk cache off)
    $NUMBA_CACHE_DIR                            (if set: the user has chosen where Numba caches go)
    $XDG_CACHE_HOME/refalign/numba  or  ~/.cache/refalign/numba
    <temp dir>/refalign-<uid>/numba             (when the above cannot be written)

and compiles without a disk cache when none of them is writable. Only refalign's own functions are redirected:
`numba.config.CACHE_DIR` is set while each of them is decorated (that is when Numba picks a function's cache
folder) and restored right after.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading

import numba

_lock = threading.Lock()
_UNSET = object()
_resolved: object = _UNSET


def _writable(folder: str) -> bool:
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
        return True
    except OSError:
        return False


def candidate_dirs() -> list[str]:
    """The cache folders refalign would use, in order of preference (see the module docstring)."""
    explicit = os.environ.get("REFALIGN_CACHE_DIR")
    if explicit is not None:
        return [os.path.expanduser(explicit)] if explicit else []
    out = []
    if os.environ.get("NUMBA_CACHE_DIR"):
        out.append(os.path.expanduser(os.environ["NUMBA_CACHE_DIR"]))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    out.append(os.path.join(xdg, "refalign", "numba"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    out.append(os.path.join(tempfile.gettempdir(), f"refalign-{uid}", "numba"))
    return out


def cache_dir() -> str | None:
    """The folder refalign's kernels are cached in, or None when no candidate is writable (no disk cache)."""
    global _resolved
    with _lock:
        if _resolved is _UNSET:
            _resolved = next((d for d in candidate_dirs() if _writable(d)), None)
        return _resolved  # type: ignore[return-value]


@contextlib.contextmanager
def _numba_cache_dir(folder: str):
    old = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = folder
    try:
        yield
    finally:
        numba.config.CACHE_DIR = old


def _decorate(decorator, options: dict, fn):
    folder = cache_dir()
    if folder is None:
        return decorator(cache=False, **options)(fn)
    with _lock, _numba_cache_dir(folder):
        return decorator(cache=True, **options)(fn)


def njit(**options):
    """numba.njit(cache=True, **options) with the cache in refalign's folder."""
    return lambda fn: _decorate(numba.njit, options, fn)


def vectorize(signatures, **options):
    """numba.vectorize(signatures, cache=True, **options) with the cache in refalign's folder."""
    return lambda fn: _decorate(lambda **kw: numba.vectorize(signatures, **kw), options, fn)
