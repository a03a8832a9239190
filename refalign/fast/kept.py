"""Arrays derived from weights (a transposed copy, batch-norm vectors), made once and kept while the weights live.

    kept(sources, make, tag)   make()'s result, computed on the first call and returned again while each of the
                               `sources` arrays is the very object it was made from; dropped when the first of
                               them is freed

refalign treats loaded weights as read-only (as refalign.fast.gemm's packed copies do): an array edited in place is
not seen by what was derived from it; an array replaced by another one is (the next call makes it anew).
"""
from __future__ import annotations

import threading
import weakref
from typing import Callable, Hashable, Sequence, TypeVar

from numpy.typing import NDArray

T = TypeVar("T")

_lock = threading.Lock()
_kept: dict[tuple, tuple[list[weakref.ref], object]] = {}


def kept(sources: Sequence[NDArray], make: Callable[[], T], tag: Hashable) -> T:
    """make(), kept for the next calls with the same source arrays (identity, not values) and tag."""
    key = (tag, tuple(id(a) for a in sources))
    with _lock:
        entry = _kept.get(key)
    if entry is not None and all(ref() is a for ref, a in zip(entry[0], sources)):
        return entry[1]  # type: ignore[return-value]
    value = make()
    with _lock:
        _kept[key] = ([weakref.ref(a) for a in sources], value)
    weakref.finalize(sources[0], _forget, key, value)   # (every source's id is in the key: any one would do)
    return value


def _forget(key: tuple, value: object) -> None:
    with _lock:
        if key in _kept and _kept[key][1] is value:
            del _kept[key]


def count() -> int:
    """How many derived values are kept (for tests)."""
    with _lock:
        return len(_kept)
