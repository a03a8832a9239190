"""SentencePiece's precompiled charsmap: its normalisation rules, read without sentencepiece, applied as the Rust
``tokenizers`` library's ``Precompiled`` normalizer applies them (what transformers 5 runs for XLM-R).

The blob (``normalizer_spec.precompiled_charsmap`` of a SentencePiece model, base64 in a tokenizer.json) is

    u32 little-endian   trie_size: the size in bytes of the trie that follows
    trie_size // 4 u32  a darts-clone double array over the UTF-8 bytes of every rule's key ("ﬁ", "e\\u0301", ...)
    the rest            the replacement strings, UTF-8, each ended by a NUL byte; a key's leaf holds the offset of its
                        replacement in this blob

The double array. Each 32-bit unit is either an inner unit or a leaf unit:

    bits 0-7    label: the byte that leads to this unit (inner units)
    bit 8       has_leaf: a key ends here; its leaf unit is the child reached with byte 0
    bit 9       offset scale: the offset below is shifted left by 8 bits when set
    bits 10-30  offset: XOR-ed into the unit's position to give the base of its children
    bit 31      set on leaf units only, whose low 31 bits are the value (the replacement's offset)

Walking bytes: start with ``pos = offset(unit 0)``; for each byte c, ``pos ^= c``; the unit there must carry label c
(a leaf unit never does: bit 31 is part of the compared label) or the walk ends; then ``pos ^= offset(unit)``, and
if that unit has_leaf, the bytes read so far are a key whose value is in the unit at ``pos`` (the byte-0 child). A NUL
byte ends the walk. darts-clone shares the nodes of common key suffixes (a DAWG), so several paths may lead to one
unit and the trie is not enumerated here: it is walked, as tokenizers walks it. Loading checks that no walk can
leave the array and that every leaf points at the start of a character of the strings (else CheckpointError).

How tokenizers applies the rules (this is *not* SentencePiece's own algorithm): the text is cut into extended
grapheme clusters (Unicode UAX #29, the `regex` package's ``\\X``), and each cluster

- of fewer than 6 UTF-8 bytes is looked up whole: walking its bytes, the *first* key met (the shortest matching
  prefix, the first result of the trie's common-prefix search) replaces the *whole* cluster, so the rest of the
  cluster is dropped: "ﬁ\\u0301" -> "fi", "a\\u0301\\u0301" -> "á", "Ａ\\u0301" -> "A";
- otherwise (6 bytes or more, or no key starts the cluster) is mapped character by character, each character
  replaced by the first key met walking its own bytes, if any: "ｶﾞ" (6 bytes) -> "カ\\u3099", "\\u1100\\u1161"
  (conjoining jamo, 6 bytes) unchanged.

SentencePiece instead replaces the *longest* key at each position of the raw text (no clusters), so the two disagree
on those examples ("fí", "á\\u0301", "Á", "ガ", "가"); refalign follows tokenizers.
"""
from __future__ import annotations

import functools
import struct

import numpy as np
import regex

from ..errors import CheckpointError
from .wordpiece import _ranges  # "5C8-5C9 B53 ..." -> [(0x5C8, 0x5C9), (0xB53, 0xB53), ...]

__all__ = ["DoubleArray", "PrecompiledCharsmap", "graphemes"]

# ---- BEGIN GENERATED GRAPHEME TABLE (tests/data/tokenizer/make_unigram_fixture.py --tables) ----
# tokenizers 0.23.3: BMP code points that the `regex` package's \X joins to the character before them (grapheme
# Extend or SpacingMark in its newer Unicode) but tokenizers' segmenter does not (unassigned in its Unicode)
_T_NOT_JOINED = "5C8-5C9 B53-B54 1ADE-1ADF 1AEC-1AF0"
# ---- END GENERATED GRAPHEME TABLE ----

_GRAPHEMES = regex.compile(r"\X").findall
# a cluster is cut before each of those characters, which start a cluster of their own in tokenizers (only BMP code
# points matter: a cluster of fewer than 6 bytes whose first character is a key holds no 4-byte character but that
# first one, as no 1-byte key character, a control, ever joins a following one)
_NOT_JOINED = "".join(f"\\U{a:08X}-\\U{b:08X}" for a, b in _ranges(_T_NOT_JOINED))
_HAS_NOT_JOINED = regex.compile(f"[{_NOT_JOINED}]").search if _NOT_JOINED else None
_CUT_BEFORE_NOT_JOINED = regex.compile(f"(?<=.)(?=[{_NOT_JOINED}])", regex.DOTALL).split if _NOT_JOINED else None
_SHORT_CLUSTER_BYTES = 6  # clusters of fewer UTF-8 bytes are looked up whole (tokenizers' rule)
_CACHE_SIZE = 1 << 16  # distinct clusters remembered before the cache starts over
_LEAF_BIT = 1 << 31
_VALUE_MASK = _LEAF_BIT - 1


def _offset(unit):
    """Where a unit's children are, relative to it: bits 10-30, shifted left by 8 when bit 9 is set (ints or
    int64 arrays)."""
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)


class DoubleArray:
    """A darts-clone double array (the trie of a precompiled charsmap), searched as tokenizers searches it."""

    def __init__(self, units: np.ndarray, source: str):
        """units: the 32-bit units as int64. Checks that no walk can read outside them (CheckpointError naming
        `source` otherwise), so a search never fails on a bad index."""
        n = len(units)
        if n == 0:
            raise CheckpointError(f"{source}: the precompiled charsmap has an empty trie")
        inner = (units & _LEAF_BIT) == 0
        bases = np.arange(n, dtype=np.int64) ^ _offset(units)
        if ((bases | 0xFF) >= n)[inner].any() or not inner[0]:  # children lie at base ^ byte, byte < 256
            raise CheckpointError(f"{source}: the precompiled charsmap's trie is corrupt (a unit's children lie "
                                  f"outside its {n} units)")
        has_leaf = inner & ((units >> 8) & 1 == 1)
        if (units[bases[has_leaf]] & _LEAF_BIT == 0).any():
            raise CheckpointError(f"{source}: the precompiled charsmap's trie is corrupt (a key's leaf is no leaf "
                                  f"unit)")
        self.units = units
        self._list = units.tolist()  # Python ints: faster to index one at a time than the array
        self.leaf_values = np.unique(units[bases[has_leaf]] & _VALUE_MASK)

    def first_match(self, data: bytes) -> int | None:
        """The value of the shortest key that starts `data` (the first result of the common-prefix search), None
        when no key does. The search stops at a NUL byte."""
        units = self._list
        pos = _offset(units[0])
        for byte in data:
            if byte == 0:
                return None
            pos ^= byte
            unit = units[pos]
            if unit & (_LEAF_BIT | 0xFF) != byte:
                return None
            pos ^= _offset(unit)
            if (unit >> 8) & 1:
                return units[pos] & _VALUE_MASK
        return None

    def walk_all_characters(self) -> np.ndarray:
        """For every code point (surrogates included, as positions), walking its UTF-8 bytes alone: the value of
        the first key met, -1 if none."""
        units = self.units
        cps = np.arange(0x110000, dtype=np.int64)
        length = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)
        lead = np.select([length == 1, length == 2, length == 3], [cps, 0xC0 | (cps >> 6), 0xE0 | (cps >> 12)],
                         0xF0 | (cps >> 18))
        byte_at = [lead] + [0x80 | ((cps >> np.maximum(6 * (length - 1 - k), 0)) & 0x3F) for k in range(1, 4)]
        pos = np.full(len(cps), _offset(int(units[0])), dtype=np.int64)
        walking = cps > 0  # NUL ends a walk at once
        value = np.full(len(cps), -1, dtype=np.int64)
        for k in range(4):  # the k-th byte of every character that has one and is still walking
            step = walking & (k < length)
            here = np.where(step, pos ^ byte_at[k], 0)
            unit = units[here]
            ok = step & ((unit & (_LEAF_BIT | 0xFF)) == byte_at[k])
            walking &= ok
            pos = np.where(ok, here ^ _offset(unit), pos)
            leaf = ok & ((unit >> 8) & 1 == 1) & (value < 0)
            value[leaf] = units[pos[leaf]] & _VALUE_MASK
        return value


@functools.lru_cache(maxsize=None)
def _cluster_joiners() -> frozenset[str]:
    """The characters that can stand after the first character of a grapheme cluster (grapheme break properties
    Extend, SpacingMark, ZWJ, V, T, Regional_Indicator, and LF after CR), and those a following character joins
    (L, Prepend). A text holding none of them is cut into single-character clusters."""
    props = ("Extend", "SpacingMark", "ZWJ", "V", "T", "Regional_Indicator", "L", "Prepend")
    joiners = regex.compile("[" + "".join(f"\\p{{Grapheme_Cluster_Break={p}}}" for p in props) + "\n]")
    code_points = np.concatenate((np.arange(0xD800), np.arange(0xE000, 0x110000))).astype("<u4")
    every = code_points.tobytes().decode("utf-32-le")
    return frozenset(m.group() for m in joiners.finditer(every))


class _ClusterCache(dict):
    """cluster -> its normalised text, computed on first sight and forgotten all at once when the cache is full."""

    __slots__ = ("compute",)

    def __missing__(self, cluster: str) -> str:
        if len(self) >= _CACHE_SIZE:
            self.clear()
        out = self[cluster] = self.compute(cluster)
        return out


class PrecompiledCharsmap:
    """The Precompiled normalizer of tokenizers: ``normalize(text)`` (see the module docstring).

    Speed: a text whose clusters are all single characters without a rule (no character of it has a rule or can
    join another into a cluster) is returned as it is; pure-ASCII text is translated character by character with
    str.translate (exact: ASCII characters are clusters of their own, "\\r\\n" aside, which takes the general
    path); other text is cut into clusters, each normalised once and cached."""

    def __init__(self, blob: bytes, source: str):
        """blob: the precompiled charsmap's bytes; source: where they come from, for error messages."""
        blob = bytes(blob)
        if len(blob) < 4:
            raise CheckpointError(f"{source}: the precompiled charsmap is {len(blob)} bytes long, too short to hold "
                                  f"its trie size")
        (trie_size,) = struct.unpack_from("<I", blob, 0)
        n_units = trie_size // 4  # as tokenizers reads it: bytes past a multiple of 4 belong to the strings
        if 4 + 4 * n_units > len(blob):
            raise CheckpointError(f"{source}: the precompiled charsmap is truncated: its trie should take "
                                  f"{4 * n_units} bytes but only {len(blob) - 4} follow its size")
        self.trie = DoubleArray(np.frombuffer(blob, dtype="<u4", count=n_units, offset=4).astype(np.int64), source)
        strings = blob[4 + 4 * n_units:]
        try:
            strings.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CheckpointError(f"{source}: the precompiled charsmap's replacement strings are not UTF-8 "
                                  f"({e})") from None
        for value in self.trie.leaf_values.tolist():
            if value > len(strings) or (value < len(strings) and strings[value] & 0xC0 == 0x80):
                raise CheckpointError(f"{source}: a rule of the precompiled charsmap points at byte {value} of its "
                                      f"{len(strings)}-byte replacement strings, which starts no character")
        self._strings = strings
        self._replacements: dict[int, str] = {}

        values = self.trie.walk_all_characters()
        surrogate = (np.arange(0x110000) >= 0xD800) & (np.arange(0x110000) <= 0xDFFF)
        #: character -> its replacement when mapped alone (the first key met walking its bytes)
        self.char_rules = {chr(c): self._replacement(int(values[c]))
                           for c in np.flatnonzero((values >= 0) & ~surrogate).tolist()}
        # a text holding none of these is left unchanged: its clusters are single characters without a rule
        self._triggers = _cluster_joiners() | frozenset(self.char_rules)
        # ASCII characters are clusters of their own ("\r\n" aside): their rules make a str.translate table
        self._ascii_table = {ord(c): r for c, r in self.char_rules.items() if c.isascii()}
        self._clusters = _ClusterCache()
        self._clusters.compute = self._normalize_cluster

    def __repr__(self) -> str:
        return f"PrecompiledCharsmap({len(self.trie.units)} trie units, {len(self.char_rules)} single characters)"

    def _replacement(self, value: int) -> str:
        """The replacement string at `value`: up to the next NUL byte or the end of the strings."""
        out = self._replacements.get(value)
        if out is None:
            end = self._strings.find(b"\0", value)
            out = self._replacements[value] = self._strings[value:len(self._strings) if end < 0 else end].decode()
        return out

    def transform(self, text: str) -> str | None:
        """The replacement of the shortest key that starts `text`, None when no key does (tokenizers'
        Precompiled.transform)."""
        value = self.trie.first_match(text.encode("utf-8"))
        return None if value is None else self._replacement(value)

    def _normalize_cluster(self, cluster: str) -> str:
        if len(cluster) > 1 and len(cluster.encode("utf-8")) < _SHORT_CLUSTER_BYTES:
            whole = self.transform(cluster)
            if whole is not None:
                return whole
        rules = self.char_rules
        return "".join([rules.get(c, c) for c in cluster])

    def normalize(self, text: str) -> str:
        """`text` normalised as tokenizers' Precompiled normalizer does it."""
        if self._triggers.isdisjoint(text):
            return text
        if text.isascii() and "\r\n" not in text:
            return text.translate(self._ascii_table)
        return "".join(map(self._clusters.__getitem__, graphemes(text)))

    def normalize_clusters(self, clusters: list[str]) -> str:
        """The normalised text of a run of whole clusters (as ``graphemes`` cuts them from a longer text)."""
        return "".join(map(self._clusters.__getitem__, clusters))

    def may_output(self, char: str) -> bool:
        """Whether a normalised text can hold `char` (in a replacement, or kept because it has no rule)."""
        return char not in self.char_rules or char in self._strings.decode("utf-8")


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of a text as tokenizers cuts them: UAX #29 as the `regex` package's \\X cuts
    them, then cut again before the characters tokenizers' older Unicode does not join (_T_NOT_JOINED)."""
    clusters = _GRAPHEMES(text)
    if _HAS_NOT_JOINED is not None and _HAS_NOT_JOINED(text):
        clusters = [part for cluster in clusters for part in _CUT_BEFORE_NOT_JOINED(cluster)]
    return clusters
