"""Memory-mapped weights and the resident set: what a tower can give back once it has run.

    map_file(f)             a mapping of an open file (private copy-on-write by default), known to release_pages
    release_pages(arrays)   drop the resident pages of the file-mapped arrays among `arrays` (madvise)

Weights read from .safetensors are views of a private read-only-by-convention file mapping
(loading.checkpoint.read_safetensors_raw); their pages can be dropped at any time and come back from the file on the
next read.
"""
from __future__ import annotations

import mmap
import weakref

import numpy as np

_file_mappings: weakref.WeakSet = weakref.WeakSet()   # map_file's mappings (anonymous ones must never be released:
                                                       # their pages hold the only copy of their data)


def map_file(f, access: int = mmap.ACCESS_COPY) -> mmap.mmap:
    """The whole of the open file f mapped (ACCESS_COPY: private pages, so a writable array never touches the
    file; ACCESS_READ: read-only)."""
    mm = mmap.mmap(f.fileno(), 0, access=access)
    _file_mappings.add(mm)
    return mm


def _file_mapping(arr: np.ndarray) -> mmap.mmap | None:
    """The file mapping (map_file's) an array views, or None for an array in other memory."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):   # np.frombuffer's base: a memoryview of the mmap
        base = base.obj
    return base if isinstance(base, mmap.mmap) and base in _file_mappings else None


def release_pages(arrays) -> int:
    """Drop the resident pages of memory-mapped weights from this process (madvise MADV_DONTNEED on the whole
    pages inside each array's bytes); returns the bytes released. Nothing is lost: the mapping is private and
    refalign never writes into weights, so a later read brings the same bytes back from the file (from the OS page
    cache, without disk reads while it holds them). Arrays in ordinary memory are skipped. For one-shot processes
    (refalign's CLI): a tower's weights leave the resident set once the tower has run, so the peak is the larger
    tower rather than both."""
    if not hasattr(mmap, "MADV_DONTNEED"):       # not on this OS
        return 0
    spans: dict[int, tuple[mmap.mmap, list[tuple[int, int]]]] = {}
    for arr in arrays:
        mm = _file_mapping(arr) if isinstance(arr, np.ndarray) and arr.size else None
        if mm is None:
            continue
        if id(mm) not in spans:
            spans[id(mm)] = (mm, [])
        spans[id(mm)][1].append((arr.ctypes.data, arr.ctypes.data + arr.nbytes))
    released = 0
    for mm, ranges in spans.values():
        start_address = np.frombuffer(mm, np.uint8, 1).ctypes.data
        page = mmap.PAGESIZE
        for lo, hi in ranges:
            first = -(-(lo - start_address) // page) * page     # whole pages only: a page shared with another
            last = (hi - start_address) // page * page          # tensor of the file stays
            if last > first:
                mm.madvise(mmap.MADV_DONTNEED, first, last - first)
                released += last - first
    return released
