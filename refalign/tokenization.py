"""BERT WordPiece tokenizer, as transformers' BertTokenizer runs it for align-base.

transformers 5 builds BertTokenizer on the Rust `tokenizers` library: special tokens are cut out of the raw text
first, each remaining piece goes through BertNormalizer (drop control characters, whitespace -> " ", space out CJK
ideographs, NFD + drop non-spacing marks, lowercase), BertPreTokenizer (split on spaces, isolate punctuation), then
greedy longest-match-first WordPiece. The Rust crates carry their own Unicode tables (some from Unicode ~9, the
lowercasing from Unicode 16), which differ from Python's `unicodedata`; the character classes below were measured
from tokenizers 0.23.3 code point by code point, and tests/test_tokenizer.py re-checks every code point.
"""
from __future__ import annotations

import bisect
import json
import os
import unicodedata
import warnings

import numpy as np
import regex

from .errors import ConfigError, RefalignError

# ---- Unicode classes as the Rust side defines them (hex ranges, inclusive) ------------------------------------------
# Removed by text cleaning (Cc/Cf/Co in the Rust tables, U+0000 and U+FFFD); \t \n \r are whitespace instead.
_CONTROL = (
    "0000-0008 000B-000C 000E-001F 007F-009F 00AD 0600-0605 061C 06DD 070F 180E 200B-200F 202A-202E 2060-2064 "
    "2066-206F E000-F8FF FEFF FFF9-FFFB FFFD 110BD 1BCA0-1BCA3 1D173-1D17A E0001 E0020-E007F F0000-FFFFD "
    "100000-10FFFD "
)
_NONSPACING = (
    "0300-036F 0483-0487 0591-05BD 05BF 05C1-05C2 05C4-05C5 05C7 0610-061A 064B-065F 0670 06D6-06DC 06DF-06E4 "
    "06E7-06E8 06EA-06ED 0711 0730-074A 07A6-07B0 07EB-07F3 0816-0819 081B-0823 0825-0827 0829-082D 0859-085B "
    "08E3-0902 093A 093C 0941-0948 094D 0951-0957 0962-0963 0981 09BC 09C1-09C4 09CD 09E2-09E3 0A01-0A02 0A3C "
    "0A41-0A42 0A47-0A48 0A4B-0A4D 0A51 0A70-0A71 0A75 0A81-0A82 0ABC 0AC1-0AC5 0AC7-0AC8 0ACD 0AE2-0AE3 0B01 0B3C "
    "0B3F 0B41-0B44 0B4D 0B56 0B62-0B63 0B82 0BC0 0BCD 0C00 0C3E-0C40 0C46-0C48 0C4A-0C4D 0C55-0C56 0C62-0C63 0C81 "
    "0CBC 0CBF 0CC6 0CCC-0CCD 0CE2-0CE3 0D01 0D41-0D44 0D4D 0D62-0D63 0DCA 0DD2-0DD4 0DD6 0E31 0E34-0E3A 0E47-0E4E "
    "0EB1 0EB4-0EB9 0EBB-0EBC 0EC8-0ECD 0F18-0F19 0F35 0F37 0F39 0F71-0F7E 0F80-0F84 0F86-0F87 0F8D-0F97 0F99-0FBC "
    "0FC6 102D-1030 1032-1037 1039-103A 103D-103E 1058-1059 105E-1060 1071-1074 1082 1085-1086 108D 109D 135D-135F "
    "1712-1714 1732-1734 1752-1753 1772-1773 17B4-17B5 17B7-17BD 17C6 17C9-17D3 17DD 180B-180D 18A9 1920-1922 "
    "1927-1928 1932 1939-193B 1A17-1A18 1A1B 1A56 1A58-1A5E 1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F 1AB0-1ABD 1B00-1B03 "
    "1B34 1B36-1B3A 1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 1BA8-1BA9 1BAB-1BAD 1BE6 1BE8-1BE9 1BED 1BEF-1BF1 "
    "1C2C-1C33 1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 1CED 1CF4 1CF8-1CF9 1DC0-1DF5 1DFC-1DFF 20D0-20DC 20E1 "
    "20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302D 3099-309A A66F A674-A67D A69E-A69F A6F0-A6F1 A802 A806 A80B "
    "A825-A826 A8C4 A8E0-A8F1 A926-A92D A947-A951 A980-A982 A9B3 A9B6-A9B9 A9BC A9E5 AA29-AA2E AA31-AA32 AA35-AA36 "
    "AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 AAEC-AAED AAF6 ABE5 ABE8 ABED FB1E FE00-FE0F FE20-FE2F "
    "101FD 102E0 10376-1037A 10A01-10A03 10A05-10A06 10A0C-10A0F 10A38-10A3A 10A3F 10AE5-10AE6 11001 11038-11046 "
    "1107F-11081 110B3-110B6 110B9-110BA 11100-11102 11127-1112B 1112D-11134 11173 11180-11181 111B6-111BE "
    "111CA-111CC 1122F-11231 11234 11236-11237 112DF 112E3-112EA 11300-11301 1133C 11340 11366-1136C 11370-11374 "
    "114B3-114B8 114BA 114BF-114C0 114C2-114C3 115B2-115B5 115BC-115BD 115BF-115C0 115DC-115DD 11633-1163A 1163D "
    "1163F-11640 116AB 116AD 116B0-116B5 116B7 1171D-1171F 11722-11725 11727-1172B 16AF0-16AF4 16B30-16B36 "
    "16F8F-16F92 1BC9D-1BC9E 1D167-1D169 1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C "
    "1DA75 1DA84 1DA9B-1DA9F 1DAA1-1DAAF 1E8D0-1E8D6 E0100-E01EF "
)
_WHITESPACE = (
    "0009-000A 000D 00A0 1680 2000-200A 2028-2029 202F 205F 3000 "
)
_PUNCTUATION = (
    "0021-002F 003A-0040 005B-0060 007B-007E 00A1 00A7 00AB 00B6-00B7 00BB 00BF 037E 0387 055A-055F 0589-058A 05BE "
    "05C0 05C3 05C6 05F3-05F4 0609-060A 060C-060D 061B 061E-061F 066A-066D 06D4 0700-070D 07F7-07F9 0830-083E 085E "
    "0964-0965 0970 0AF0 0DF4 0E4F 0E5A-0E5B 0F04-0F12 0F14 0F3A-0F3D 0F85 0FD0-0FD4 0FD9-0FDA 104A-104F 10FB "
    "1360-1368 1400 166D-166E 169B-169C 16EB-16ED 1735-1736 17D4-17D6 17D8-17DA 1800-180A 1944-1945 1A1E-1A1F "
    "1AA0-1AA6 1AA8-1AAD 1B5A-1B60 1BFC-1BFF 1C3B-1C3F 1C7E-1C7F 1CC0-1CC7 1CD3 2010-2027 2030-2043 2045-2051 "
    "2053-205E 207D-207E 208D-208E 2308-230B 2329-232A 2768-2775 27C5-27C6 27E6-27EF 2983-2998 29D8-29DB 29FC-29FD "
    "2CF9-2CFC 2CFE-2CFF 2D70 2E00-2E2E 2E30-2E42 3001-3003 3008-3011 3014-301F 3030 303D 30A0 30FB A4FE-A4FF "
    "A60D-A60F A673 A67E A6F2-A6F7 A874-A877 A8CE-A8CF A8F8-A8FA A8FC A92E-A92F A95F A9C1-A9CD A9DE-A9DF AA5C-AA5F "
    "AADE-AADF AAF0-AAF1 ABEB FD3E-FD3F FE10-FE19 FE30-FE52 FE54-FE61 FE63 FE68 FE6A-FE6B FF01-FF03 FF05-FF0A "
    "FF0C-FF0F FF1A-FF1B FF1F-FF20 FF3B-FF3D FF3F FF5B FF5D FF5F-FF65 10100-10102 1039F 103D0 1056F 10857 1091F "
    "1093F 10A50-10A58 10A7F 10AF0-10AF6 10B39-10B3F 10B99-10B9C 11047-1104D 110BB-110BC 110BE-110C1 11140-11143 "
    "11174-11175 111C5-111C9 111CD 111DB 111DD-111DF 11238-1123D 112A9 114C6 115C1-115D7 11641-11643 1173C-1173E "
    "12470-12474 16A6E-16A6F 16AF5 16B37-16B3B 16B44 1BC9F 1DA87-1DA8B "
)
# Marks that the Rust CJK ranges include: note 2B920, not 2B820 as in the original Python BERT.
_CJK = "3400-4DBF 4E00-9FFF F900-FAFF 20000-2A6DF 2A700-2B73F 2B740-2B81F 2B920-2CEAF 2F800-2FA1F"
# Non-spacing marks with a non-zero combining class that survive accent stripping (the Rust tables are older than
# these marks' Mn category). NFD puts such marks in canonical order, so text holding them takes the exact path.
_RETAINED_NONSTARTERS = (
    "08D4-08E1 1B44 1BAA 1BF2-1BF3 1DFB 302E-302F A953 A9C0 111C0 11235 1134D 11442 11446 116B6 11C3F 1D165-1D166 "
    "1D16D-1D172 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E944-1E94A"
)
# Marks assigned after the Rust normalization tables: Python gives them a combining class, Rust treats them as starters.
_LATE_MARKS = (
    "07FD 0898-089F 08CA-08D3 09FE 0C3C 0D3B-0D3C 0EBA 1715 1ABF-1ACE 1DF6-1DFA A82C 10D24-10D27 10EAB-10EAC "
    "10F46-10F50 10F82-10F85 11070 1133B 1145E 11839-1183A 1193D-1193E 11943 119E0 11A34 11A47 11A99 11D42 11D44-11D45 "
    "11D97 16FF0-16FF1 1E130-1E136 1E2AE 1E2EC-1E2EF"
)
# Rust's NFD does not decompose this one (Python's does).
_NO_DECOMPOSE = {0x11938}
# Lowercase mappings Rust (Unicode 16) has and Python 3.11 (Unicode 14) lacks: (first, last, offset or target).
_LOWER_EXTRA = [(0x1C89, 0x1C89, 1), (0xA7CB, 0xA7CB, "\u0264"), (0xA7CC, 0xA7CC, 1), (0xA7CE, 0xA7CE, 1),
                (0xA7D2, 0xA7D2, 1), (0xA7D4, 0xA7D4, 1), (0xA7DA, 0xA7DA, 1), (0xA7DC, 0xA7DC, "\u019b"),
                (0x10D50, 0x10D65, 0x20), (0x16EA0, 0x16EB8, 0x1B)]

MAX_WORD_CHARS = 100  # longer words become [UNK] (tokenizers' max_input_chars_per_word)
MAX_POSITIONS = 512  # BERT-base max_position_embeddings


def _parse_ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split():
        first, _, last = part.partition("-")
        out.append((int(first, 16), int(last or first, 16)))
    return out


class _RangeSet:
    """Membership test for sorted, disjoint code point ranges."""

    def __init__(self, spec: str):
        ranges = _parse_ranges(spec)
        self.starts = [a for a, _ in ranges]
        self.ends = [b for _, b in ranges]

    def __contains__(self, cp: int) -> bool:
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ends[i]

    def regex_class(self) -> str:
        return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in zip(self.starts, self.ends))


CONTROL = _RangeSet(_CONTROL)
NONSPACING = _RangeSet(_NONSPACING)
WHITESPACE = _RangeSet(_WHITESPACE)
PUNCTUATION = _RangeSet(_PUNCTUATION)
CJK = _RangeSet(_CJK)
RETAINED_NONSTARTERS = _RangeSet(_RETAINED_NONSTARTERS)
LATE_MARKS = _RangeSet(_LATE_MARKS)


def _lower_char(ch: str) -> str:
    """Rust's char::to_lowercase (per character: no final-sigma rule, unlike str.lower on a word)."""
    cp = ord(ch)
    for first, last, how in _LOWER_EXTRA:
        if first <= cp <= last:
            return how if isinstance(how, str) else chr(cp + how)
    return ch.lower()


def _decompose(ch: str) -> str:
    return ch if ord(ch) in _NO_DECOMPOSE else unicodedata.normalize("NFD", ch)


def _combining_class(ch: str) -> int:
    return 0 if ord(ch) in LATE_MARKS else unicodedata.combining(ch)


class _Normalizer:
    """BertNormalizer(clean_text=True, handle_chinese_chars, strip_accents, lowercase) of the Rust tokenizers."""

    def __init__(self, lowercase: bool, strip_accents: bool, chinese_chars: bool):
        self.lowercase, self.strip_accents, self.chinese_chars = lowercase, strip_accents, chinese_chars
        # str.translate table for ASCII: drop control characters, \t \n \r -> " ".
        self.ascii_table = {c: None for c in range(128) if c in CONTROL}
        self.ascii_table.update({c: " " for c in range(128) if c in WHITESPACE})
        # Lazily filled per-character results for everything else (see _Lazy).
        self.table = _Lazy(self.char_result)
        self.nonstarter_re = regex.compile(f"[{RETAINED_NONSTARTERS.regex_class()}]")

    def char_result(self, cp: int) -> str:
        """What the normalizer makes of one character on its own."""
        if 0xD800 <= cp <= 0xDFFF:
            raise ValueError(f"text contains a lone surrogate U+{cp:04X}, which is not valid Unicode text")
        if cp in CONTROL:
            return ""
        if cp in WHITESPACE:
            return " "
        ch = chr(cp)
        if self.strip_accents:
            ch = "".join(c for c in _decompose(ch) if ord(c) not in NONSPACING)
        if self.lowercase:
            ch = "".join(_lower_char(c) for c in ch)
        if self.chinese_chars and cp in CJK:
            ch = f" {ch} "
        return ch

    def __call__(self, text: str) -> str:
        if text.isascii():
            text = text.translate(self.ascii_table)
            return text.lower() if self.lowercase else text
        out = text.translate(self.table)
        # Per-character results concatenate to the right answer unless NFD has to reorder combining marks.
        if self.strip_accents and self.nonstarter_re.search(out):
            out = self.exact(text)
        return out

    def exact(self, text: str) -> str:
        """The normalizer step by step on the whole string (slow; only for text with retained combining marks)."""
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp in CONTROL:
                continue
            if cp in WHITESPACE:
                chars.append(" ")
            elif self.chinese_chars and cp in CJK:
                chars += [" ", ch, " "]
            else:
                chars.append(ch)
        # NFD: decompose each character, then stable-sort every run of non-starters by combining class.
        decomposed = [c for ch in chars for c in _decompose(ch)]
        out, run = [], []
        for c in decomposed:
            if _combining_class(c):
                run.append(c)
                continue
            out += sorted(run, key=_combining_class)
            run = []
            out.append(c)
        out += sorted(run, key=_combining_class)
        out = [c for c in out if ord(c) not in NONSPACING]
        if self.lowercase:
            out = [_lower_char(c) for c in out]
        return "".join(out)


class _Lazy(dict):
    """A str.translate table that computes each character's entry on first use."""

    def __init__(self, fill):
        super().__init__()
        self.fill = fill

    def __missing__(self, cp: int) -> str:
        value = self[cp] = self.fill(cp)
        return value


def load_vocab(vocab_file: str) -> dict[str, int]:
    """vocab.txt: one token per line, id = line number (a repeated token keeps its last line, as in transformers)."""
    try:
        with open(vocab_file, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise RefalignError(f"cannot read the vocabulary file {vocab_file}: {e}") from e
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start another token
    if not lines:
        raise RefalignError(f"the vocabulary file {vocab_file} is empty")
    return {token: i for i, token in enumerate(lines)}


def _read_tokenizer_config(directory: str) -> dict:
    path = os.path.join(directory, "tokenizer_config.json")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return cfg


class BertTokenizer:
    """BERT uncased WordPiece tokenizer; ids, masks and decoding match transformers' BertTokenizer."""

    _CACHE_SIZE = 200_000  # words kept in the word -> ids cache (cleared when full)

    def __init__(self, vocab_file, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                 model_max_length=64, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                 cls_token="[CLS]", mask_token="[MASK]", clean_up_tokenization_spaces=False):
        self.vocab_file = str(vocab_file)
        self.vocab = load_vocab(self.vocab_file)
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.model_max_length = int(model_max_length)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        self.unk_token, self.sep_token, self.pad_token = unk_token, sep_token, pad_token
        self.cls_token, self.mask_token = cls_token, mask_token
        self.special_tokens = [unk_token, sep_token, pad_token, cls_token, mask_token]
        for name, token in zip(["unk", "sep", "pad", "cls", "mask"], self.special_tokens):
            if not isinstance(token, str) or token not in self.vocab:
                raise ConfigError(f"{name}_token {token!r} is not in the vocabulary {self.vocab_file}")
        self.special_ids = {self.vocab[t] for t in self.special_tokens}
        # strip_accents None follows do_lower_case (original BERT behaviour).
        strip = self.do_lower_case if strip_accents is None else bool(strip_accents)
        self._normalize = _Normalizer(self.do_lower_case, strip, self.tokenize_chinese_chars)
        # Special tokens are matched in the raw text, longest first, case-sensitive (added tokens with normalized=False).
        alternatives = "|".join(regex.escape(t) for t in sorted(set(self.special_tokens), key=len, reverse=True))
        self._special_re = regex.compile(f"({alternatives})")
        # After normalization the only whitespace left is " ": a word is a punctuation character or a run of others.
        punct = PUNCTUATION.regex_class()
        self._split_words = regex.compile(f"[{punct}]|[^ {punct}]+").findall
        self._cache: dict[str, list[int]] = {}
        self._longest_token = max(len(t) for t in self.vocab)

    @classmethod
    def from_pretrained(cls, directory) -> "BertTokenizer":
        """Read vocab.txt and tokenizer_config.json (align-base's settings when the json is absent)."""
        directory = os.fspath(directory)
        cfg = _read_tokenizer_config(directory)
        kwargs = {}
        for key, kind in [("do_lower_case", bool), ("strip_accents", (bool, type(None))),
                          ("tokenize_chinese_chars", bool), ("model_max_length", int),
                          ("clean_up_tokenization_spaces", bool), ("unk_token", str), ("sep_token", str),
                          ("pad_token", str), ("cls_token", str), ("mask_token", str)]:
            if key in cfg:
                value = cfg[key]
                if isinstance(value, dict) and "content" in value:  # AddedToken serialised as a dict
                    value = value["content"]
                if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                    raise ConfigError(f"tokenizer_config.json key {key!r} has an invalid value {value!r} in {directory}")
                kwargs[key] = value
        return cls(os.path.join(directory, "vocab.txt"), **kwargs)

    # ---- properties ----------------------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def pad_token_id(self) -> int:
        return self.vocab[self.pad_token]

    @property
    def cls_token_id(self) -> int:
        return self.vocab[self.cls_token]

    @property
    def sep_token_id(self) -> int:
        return self.vocab[self.sep_token]

    @property
    def unk_token_id(self) -> int:
        return self.vocab[self.unk_token]

    @property
    def mask_token_id(self) -> int:
        return self.vocab[self.mask_token]

    # ---- tokenizing ----------------------------------------------------------------------------------------------
    def _wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first; continuation pieces carry '##'; any unmatched rest -> [UNK] for the word."""
        if len(word) > MAX_WORD_CHARS:
            return [self.vocab[self.unk_token]]
        vocab, ids, start, n = self.vocab, [], 0, len(word)
        while start < n:
            end = min(n, start + self._longest_token)
            prefix = "##" if start else ""
            while end > start:
                i = vocab.get(prefix + word[start:end])
                if i is not None:
                    break
                end -= 1
            else:
                return [vocab[self.unk_token]]
            ids.append(i)
            start = end
        return ids

    def _piece_ids(self, piece: str, out: list[int]) -> None:
        """Append the ids of a piece of text that holds no special token."""
        cache = self._cache
        for word in self._split_words(self._normalize(piece)):
            ids = cache.get(word)
            if ids is None:
                if len(cache) >= self._CACHE_SIZE:
                    cache.clear()
                ids = cache[word] = self._wordpiece(word)
            out += ids

    def _text_ids(self, text: str) -> list[int]:
        """Token ids of one text, without [CLS]/[SEP]."""
        out: list[int] = []
        if self._special_re.search(text) is None:
            self._piece_ids(text, out)
            return out
        # split() with a group keeps the special tokens at odd positions
        for k, piece in enumerate(self._special_re.split(text)):
            if k % 2:
                out.append(self.vocab[piece])
            elif piece:
                self._piece_ids(piece, out)
        return out

    def tokenize(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [self.ids_to_tokens[i] for i in self._text_ids(text)]

    def convert_tokens_to_ids(self, tokens):
        """A token (str) -> its id; a list of tokens -> list of ids. Unknown tokens -> the [UNK] id."""
        unk = self.vocab[self.unk_token]
        if isinstance(tokens, str):
            return self.vocab.get(tokens, unk)
        return [self.vocab.get(t, unk) for t in tokens]

    def convert_ids_to_tokens(self, ids):
        """An id -> its token; a list of ids -> list of tokens. Ids outside the vocabulary raise ValueError."""
        if isinstance(ids, (int, np.integer)):
            return self._token(ids)
        return [self._token(i) for i in ids]

    def _token(self, i) -> str:
        token = self.ids_to_tokens.get(int(i)) if isinstance(i, (int, np.integer)) and not isinstance(i, bool) else None
        if token is None:
            raise ValueError(f"ids: {i!r} is not a token id of this vocabulary (0..{self.vocab_size - 1})")
        return token

    # ---- batch encoding ------------------------------------------------------------------------------------------
    def __call__(self, text, padding="max_length", max_length=None, truncation=False,
                 return_attention_mask=True, return_token_type_ids=True, max_positions=MAX_POSITIONS):
        """Encode a text or a list of texts into int64 arrays of shape (B, L).

        padding: "max_length" pads to max_length (default model_max_length = 64) — an untruncated text longer than
        that is kept whole, with a warning like transformers, and the batch is then padded to its longest text;
        "longest"/True pads to the longest text; "do_not_pad"/False pads nothing and so needs texts of equal token
        length (ValueError otherwise, where transformers would return ragged object arrays).
        truncation: False/"do_not_truncate" or True/"longest_first"/"only_first" (cut to max_length incl. [CLS]/[SEP]).
        A sequence longer than max_positions (the model's 512 positions) is refused with ValueError.
        """
        texts = self._check_texts(text)
        max_length = self.model_max_length if max_length is None else max_length
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
            raise ValueError(f"max_length must be a positive int, got {max_length!r}")
        truncate = self._check_truncation(truncation)
        if truncate and max_length < 2:
            raise ValueError(f"max_length={max_length} leaves no room for [CLS] and [SEP] with truncation")

        rows = [self._text_ids(t) for t in texts]
        if truncate:
            rows = [r[:max_length - 2] if len(r) > max_length - 2 else r for r in rows]
        n = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))  # (B,) content lengths
        lengths = n + 2  # with [CLS] and [SEP]
        longest = int(lengths.max())
        if longest > max_positions:
            raise ValueError(f"a text is {longest} tokens long, more than the model's {max_positions} positions; "
                             f"pass truncation=True (text index {int(lengths.argmax())})")
        if longest > self.model_max_length and not truncate:
            warnings.warn(f"token sequence length {longest} is longer than the model_max_length "
                          f"{self.model_max_length} of this tokenizer", stacklevel=2)
        width = self._width(padding, int(max_length), lengths, longest)

        # Vectorised fill: content ids go to positions 1..n of each row (row-major order matches the flat list).
        pos = np.arange(width)[None, :]  # (1, L)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)  # (B, L)
        input_ids[:, 0] = self.cls_token_id
        flat = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(n.sum()))
        input_ids[(pos >= 1) & (pos <= n[:, None])] = flat
        input_ids[np.arange(len(rows)), n + 1] = self.sep_token_id
        out = {"input_ids": input_ids}
        if return_token_type_ids:
            out["token_type_ids"] = np.zeros((len(rows), width), dtype=np.int64)
        if return_attention_mask:
            out["attention_mask"] = (pos < lengths[:, None]).astype(np.int64)
        return out

    @staticmethod
    def _check_texts(text) -> list[str]:
        if isinstance(text, str):
            return [text]
        if isinstance(text, (list, tuple)) and len(text) > 0 and all(isinstance(t, str) for t in text):
            return list(text)
        if isinstance(text, (list, tuple)) and len(text) == 0:
            raise ValueError("text is an empty list; give at least one string")
        raise TypeError(f"text must be a str or a list/tuple of str, got {_describe(text)}")

    @staticmethod
    def _check_truncation(truncation) -> bool:
        if truncation is True or truncation in ("longest_first", "only_first"):
            return True
        if truncation is False or truncation is None or truncation == "do_not_truncate":
            return False
        raise ValueError(f"truncation must be True, False, 'longest_first' or 'do_not_truncate', got {truncation!r}")

    @staticmethod
    def _width(padding, max_length: int, lengths: np.ndarray, longest: int) -> int:
        if padding == "max_length":
            return max(max_length, longest)
        if padding is True or padding == "longest":
            return longest
        if padding is False or padding is None or padding == "do_not_pad":
            if (lengths != longest).any():
                raise ValueError("padding='do_not_pad' needs texts of equal token length to build an array; "
                                 f"got lengths {sorted(set(lengths.tolist()))}; use padding='longest'")
            return longest
        raise ValueError(f"padding must be 'max_length', 'longest', 'do_not_pad', True or False, got {padding!r}")

    # ---- decoding ------------------------------------------------------------------------------------------------
    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=None) -> str:
        """Ids -> text like transformers: tokenizers' WordPiece decoder (joins '##' pieces, attaches . ? ! , to the
        word before), then, if clean_up_tokenization_spaces (None: the tokenizer's setting, False for align-base),
        transformers' clean-up of spaces before punctuation and contractions."""
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"ids must be one sequence (1-D), got shape {ids.shape}; use batch_decode")
            ids = ids.tolist()
        elif isinstance(ids, (int, np.integer)):
            ids = [ids]
        tokens = [self._token(i) for i in ids]
        if skip_special_tokens:
            tokens = [t for t, i in zip(tokens, ids) if int(i) not in self.special_ids]
        parts = []
        for k, token in enumerate(tokens):
            if k:
                token = token[2:] if token.startswith("##") else " " + token
            parts.append(_wordpiece_cleanup(token))
        text = "".join(parts)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = _clean_up_spaces(text)
        return text

    def batch_decode(self, sequences, **kw) -> list[str]:
        if isinstance(sequences, np.ndarray):
            if sequences.ndim != 2:
                raise ValueError(f"sequences must be 2-D (B, L), got shape {sequences.shape}")
            sequences = sequences.tolist()
        return [self.decode(s, **kw) for s in sequences]


def _describe(x) -> str:
    if isinstance(x, (list, tuple)):
        bad = next((t for t in x if not isinstance(t, str)), None)
        return f"a {type(x).__name__} holding {type(bad).__name__}"
    return type(x).__name__


def _wordpiece_cleanup(token: str) -> str:
    """tokenizers' WordPiece decoder cleanup, applied to each token (with its leading space) on its own."""
    for dirty, clean in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        token = token.replace(dirty, clean)
    return token


def _clean_up_spaces(text: str) -> str:
    """transformers' clean_up_tokenization on the joined text."""
    for dirty, clean in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(dirty, clean)
    return text
