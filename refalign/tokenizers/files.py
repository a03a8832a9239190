"""What the tokenizers that read JSON files and remember words share: a JSON reader whose parse is reused while one
from_pretrained runs (it reads tokenizer.json more than once), and a bounded word -> ids cache.
"""
from __future__ import annotations

import functools
import json
import os

from ..errors import CheckpointError, WeightsNotFoundError

WORD_CACHE_SIZE = 1 << 18  # distinct words remembered before the cache starts over


def read_json(path: str, what: str):
    """A JSON file, parsed once per version of it (size and modification time) until `forget_parsed_json()`;
    WeightsNotFoundError / CheckpointError naming `what` and the path."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise WeightsNotFoundError(f"{what} {path!r} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"cannot read {what} {path!r}: {e}") from e
    return _parse_json(path, what, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=2)
def _parse_json(path: str, what: str, mtime_ns: int, size: int):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"cannot read {what} {path!r}: {e}") from e


def forget_parsed_json() -> None:
    """Drop the parsed files (a tokenizer calls it when its from_pretrained is done: tokenizer.json can be 17 MB)."""
    _parse_json.cache_clear()


class WordCache(dict):
    """word -> ids, computed on first sight by `compute` and forgotten all at once when it grows too large."""

    __slots__ = ("compute",)

    def __init__(self, compute):
        super().__init__()
        self.compute = compute

    def __missing__(self, word: str):
        if len(self) >= WORD_CACHE_SIZE:
            self.clear()
        ids = self[word] = self.compute(word)
        return ids
