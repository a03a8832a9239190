"""Byte-level BPE tokenizer: transformers' ``RobertaTokenizer`` (Rust-backed in transformers 5), without transformers.

RoBERTa (and GPT-2 before it) never meets an unknown character: text is cut into words, each word is written as
UTF-8 bytes, each byte as one printable symbol, and learned merges glue symbols back into larger tokens. Step by step:

1. Special tokens written in the text (``<s>``, ``</s>``, ``<mask>``, ...) are cut out of the raw text first and kept
   whole (the base class, tokenizers/base.py). ``<mask>`` is declared ``lstrip``: it swallows the whitespace on its
   left, so ``"a <mask>"`` is ``a`` ``<mask>`` with no lone space token. The text between them is handled piece by
   piece.
2. ``add_prefix_space`` (tokenizer_config.json; RoBERTa's default is False): a piece that does not start with a space
   gets one, so that its first word is encoded like a word in the middle of a sentence.
3. Pre-tokenizer: GPT-2's regular expression splits a piece into words,

       's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

   English contractions, then runs of letters, of digits or of other characters (each may take one space in front:
   the space belongs to the next word), then whitespace; a run of spaces before a word leaves its last space to the
   word. The Rust tokenizers evaluates it with its own Unicode tables (Oniguruma's, older than those of the `regex`
   package), so the letter / number / whitespace classes are tables read off tokenizers (below); the `regex`
   package's ``\\p{L}`` / ``\\p{N}`` are used where they agree, which is every code point but the ~17,000 assigned
   since.
4. Bytes to symbols: each word is encoded as UTF-8 and each byte mapped to one character: the printable bytes
   ``!``..``~``, ``¡``..``¬`` and ``®``..``ÿ`` to themselves, the 68 others (controls, space, DEL, NBSP, soft hyphen)
   in byte order to U+0100, U+0101, ... (space -> ``Ġ``, newline -> ``Ċ``). ``" world"`` becomes ``Ġworld``.
5. BPE: the word starts as one symbol per byte. A symbol missing from the vocabulary is *dropped*, silently: the
   BPE model has no unknown token (transformers builds it without one; tokenizers' BPE.merge_word only substitutes
   an unk token when it has one), so ``<unk>`` is never produced and the neighbours of a dropped byte may merge.
   Then, repeatedly, of all adjacent pairs found in merges.txt the one with the lowest rank (the earliest line) is
   merged, the leftmost if it occurs several times, until no pair can be merged (tokenizers' Word.merge_all, a
   priority queue on (rank, position)). The symbols left are looked up in vocab.json.
6. Template: ``<s> A </s>``, and for a pair ``<s> A </s></s> B </s>`` (RobertaProcessing; token type ids all 0,
   and not returned unless asked: RoBERTa's model_input_names are input_ids and attention_mask). Truncation and
   padding are the base class's (``<pad>``'s id from the vocabulary).

Decoding maps every symbol of a token back to its byte (a token with a character outside the table, such as an added
token, contributes its own UTF-8 bytes) and decodes the bytes as UTF-8, an invalid sequence becoming U+FFFD (Rust's
``from_utf8_lossy``, as Python's ``errors="replace"``). transformers 5 ignores clean_up_tokenization_spaces for a BPE
tokenizer (with a warning) unless ``clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output`` is set;
so does this class.

Files: ``vocab.json`` + ``merges.txt``, or ``tokenizer.json`` alone (what transformers 5's save_pretrained writes;
its merges are "a b" strings or [a, b] pairs); when both are present tokenizer.json is read, as transformers does.
tokenizer_config.json gives add_prefix_space, model_max_length and the special tokens; their lstrip / rstrip flags
come, as in transformers, from tokenizer_config.json's added_tokens_decoder, else from tokenizer.json's added_tokens
and special_tokens_map.json.

Speed: ASCII text is split by the standard library's ``re`` with ASCII classes; every word's ids are remembered in a
bounded cache (most words of a corpus repeat), so the UTF-8 mapping and the merge loop run once per distinct word;
with truncation only a prefix of a long text is split; batches are padded with vectorised NumPy (tokenizers/base.py).
"""
from __future__ import annotations

import functools
import os
import re
import warnings
from heapq import heapify, heappop, heappush
from itertools import chain
from typing import Any

import numpy as np
import regex

from ..errors import CheckpointError, ConfigError, UnsupportedModelError, WeightsNotFoundError
from .base import Tokenizer
from .files import WORD_CACHE_SIZE, WordCache, forget_parsed_json, read_json
from .wordpiece import _ranges  # "41-5A 61-7A ..." -> [(0x41, 0x5A), (0x61, 0x7A), ...]

__all__ = ["RobertaTokenizer", "ROBERTA_TOKENIZER_CONFIG", "bytes_to_unicode", "load_merges_txt", "load_tokenizer_json",
           "load_vocab_json", "split_words"]

# ---- BEGIN GENERATED UNICODE TABLES (tests/data/tokenizer/make_bpe_fixture.py --tables) ----
# tokenizers 0.23.3: \p{L}, \p{N} and \s of its ByteLevel pre-tokenizer
_T_LETTER = (
    "41-5A 61-7A AA B5 BA C0-D6 D8-F6 F8-2C1 2C6-2D1 2E0-2E4 2EC 2EE 370-374 376-377 37A-37D 37F 386 388-38A 38C "
    "38E-3A1 3A3-3F5 3F7-481 48A-52F 531-556 559 560-588 5D0-5EA 5EF-5F2 620-64A 66E-66F 671-6D3 6D5 6E5-6E6 "
    "6EE-6EF 6FA-6FC 6FF 710 712-72F 74D-7A5 7B1 7CA-7EA 7F4-7F5 7FA 800-815 81A 824 828 840-858 860-86A 870-887 "
    "889-88E 8A0-8C9 904-939 93D 950 958-961 971-980 985-98C 98F-990 993-9A8 9AA-9B0 9B2 9B6-9B9 9BD 9CE 9DC-9DD "
    "9DF-9E1 9F0-9F1 9FC A05-A0A A0F-A10 A13-A28 A2A-A30 A32-A33 A35-A36 A38-A39 A59-A5C A5E A72-A74 A85-A8D "
    "A8F-A91 A93-AA8 AAA-AB0 AB2-AB3 AB5-AB9 ABD AD0 AE0-AE1 AF9 B05-B0C B0F-B10 B13-B28 B2A-B30 B32-B33 B35-B39 "
    "B3D B5C-B5D B5F-B61 B71 B83 B85-B8A B8E-B90 B92-B95 B99-B9A B9C B9E-B9F BA3-BA4 BA8-BAA BAE-BB9 BD0 C05-C0C "
    "C0E-C10 C12-C28 C2A-C39 C3D C58-C5A C5D C60-C61 C80 C85-C8C C8E-C90 C92-CA8 CAA-CB3 CB5-CB9 CBD CDD-CDE "
    "CE0-CE1 CF1-CF2 D04-D0C D0E-D10 D12-D3A D3D D4E D54-D56 D5F-D61 D7A-D7F D85-D96 D9A-DB1 DB3-DBB DBD DC0-DC6 "
    "E01-E30 E32-E33 E40-E46 E81-E82 E84 E86-E8A E8C-EA3 EA5 EA7-EB0 EB2-EB3 EBD EC0-EC4 EC6 EDC-EDF F00 F40-F47 "
    "F49-F6C F88-F8C 1000-102A 103F 1050-1055 105A-105D 1061 1065-1066 106E-1070 1075-1081 108E 10A0-10C5 10C7 "
    "10CD 10D0-10FA 10FC-1248 124A-124D 1250-1256 1258 125A-125D 1260-1288 128A-128D 1290-12B0 12B2-12B5 12B8-12BE "
    "12C0 12C2-12C5 12C8-12D6 12D8-1310 1312-1315 1318-135A 1380-138F 13A0-13F5 13F8-13FD 1401-166C 166F-167F "
    "1681-169A 16A0-16EA 16F1-16F8 1700-1711 171F-1731 1740-1751 1760-176C 176E-1770 1780-17B3 17D7 17DC 1820-1878 "
    "1880-1884 1887-18A8 18AA 18B0-18F5 1900-191E 1950-196D 1970-1974 1980-19AB 19B0-19C9 1A00-1A16 1A20-1A54 1AA7 "
    "1B05-1B33 1B45-1B4C 1B83-1BA0 1BAE-1BAF 1BBA-1BE5 1C00-1C23 1C4D-1C4F 1C5A-1C7D 1C80-1C8A 1C90-1CBA 1CBD-1CBF "
    "1CE9-1CEC 1CEE-1CF3 1CF5-1CF6 1CFA 1D00-1DBF 1E00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 1F5B 1F5D "
    "1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC2-1FC4 1FC6-1FCC 1FD0-1FD3 1FD6-1FDB 1FE0-1FEC 1FF2-1FF4 1FF6-1FFC 2071 "
    "207F 2090-209C 2102 2107 210A-2113 2115 2119-211D 2124 2126 2128 212A-212D 212F-2139 213C-213F 2145-2149 214E "
    "2183-2184 2C00-2CE4 2CEB-2CEE 2CF2-2CF3 2D00-2D25 2D27 2D2D 2D30-2D67 2D6F 2D80-2D96 2DA0-2DA6 2DA8-2DAE "
    "2DB0-2DB6 2DB8-2DBE 2DC0-2DC6 2DC8-2DCE 2DD0-2DD6 2DD8-2DDE 2E2F 3005-3006 3031-3035 303B-303C 3041-3096 "
    "309D-309F 30A1-30FA 30FC-30FF 3105-312F 3131-318E 31A0-31BF 31F0-31FF 3400-4DBF 4E00-A48C A4D0-A4FD A500-A60C "
    "A610-A61F A62A-A62B A640-A66E A67F-A69D A6A0-A6E5 A717-A71F A722-A788 A78B-A7CD A7D0-A7D1 A7D3 A7D5-A7DC "
    "A7F2-A801 A803-A805 A807-A80A A80C-A822 A840-A873 A882-A8B3 A8F2-A8F7 A8FB A8FD-A8FE A90A-A925 A930-A946 "
    "A960-A97C A984-A9B2 A9CF A9E0-A9E4 A9E6-A9EF A9FA-A9FE AA00-AA28 AA40-AA42 AA44-AA4B AA60-AA76 AA7A AA7E-AAAF "
    "AAB1 AAB5-AAB6 AAB9-AABD AAC0 AAC2 AADB-AADD AAE0-AAEA AAF2-AAF4 AB01-AB06 AB09-AB0E AB11-AB16 AB20-AB26 "
    "AB28-AB2E AB30-AB5A AB5C-AB69 AB70-ABE2 AC00-D7A3 D7B0-D7C6 D7CB-D7FB F900-FA6D FA70-FAD9 FB00-FB06 FB13-FB17 "
    "FB1D FB1F-FB28 FB2A-FB36 FB38-FB3C FB3E FB40-FB41 FB43-FB44 FB46-FBB1 FBD3-FD3D FD50-FD8F FD92-FDC7 FDF0-FDFB "
    "FE70-FE74 FE76-FEFC FF21-FF3A FF41-FF5A FF66-FFBE FFC2-FFC7 FFCA-FFCF FFD2-FFD7 FFDA-FFDC 10000-1000B "
    "1000D-10026 10028-1003A 1003C-1003D 1003F-1004D 10050-1005D 10080-100FA 10280-1029C 102A0-102D0 10300-1031F "
    "1032D-10340 10342-10349 10350-10375 10380-1039D 103A0-103C3 103C8-103CF 10400-1049D 104B0-104D3 104D8-104FB "
    "10500-10527 10530-10563 10570-1057A 1057C-1058A 1058C-10592 10594-10595 10597-105A1 105A3-105B1 105B3-105B9 "
    "105BB-105BC 105C0-105F3 10600-10736 10740-10755 10760-10767 10780-10785 10787-107B0 107B2-107BA 10800-10805 "
    "10808 1080A-10835 10837-10838 1083C 1083F-10855 10860-10876 10880-1089E 108E0-108F2 108F4-108F5 10900-10915 "
    "10920-10939 10980-109B7 109BE-109BF 10A00 10A10-10A13 10A15-10A17 10A19-10A35 10A60-10A7C 10A80-10A9C "
    "10AC0-10AC7 10AC9-10AE4 10B00-10B35 10B40-10B55 10B60-10B72 10B80-10B91 10C00-10C48 10C80-10CB2 10CC0-10CF2 "
    "10D00-10D23 10D4A-10D65 10D6F-10D85 10E80-10EA9 10EB0-10EB1 10EC2-10EC4 10F00-10F1C 10F27 10F30-10F45 "
    "10F70-10F81 10FB0-10FC4 10FE0-10FF6 11003-11037 11071-11072 11075 11083-110AF 110D0-110E8 11103-11126 11144 "
    "11147 11150-11172 11176 11183-111B2 111C1-111C4 111DA 111DC 11200-11211 11213-1122B 1123F-11240 11280-11286 "
    "11288 1128A-1128D 1128F-1129D 1129F-112A8 112B0-112DE 11305-1130C 1130F-11310 11313-11328 1132A-11330 "
    "11332-11333 11335-11339 1133D 11350 1135D-11361 11380-11389 1138B 1138E 11390-113B5 113B7 113D1 113D3 "
    "11400-11434 11447-1144A 1145F-11461 11480-114AF 114C4-114C5 114C7 11580-115AE 115D8-115DB 11600-1162F 11644 "
    "11680-116AA 116B8 11700-1171A 11740-11746 11800-1182B 118A0-118DF 118FF-11906 11909 1190C-11913 11915-11916 "
    "11918-1192F 1193F 11941 119A0-119A7 119AA-119D0 119E1 119E3 11A00 11A0B-11A32 11A3A 11A50 11A5C-11A89 11A9D "
    "11AB0-11AF8 11BC0-11BE0 11C00-11C08 11C0A-11C2E 11C40 11C72-11C8F 11D00-11D06 11D08-11D09 11D0B-11D30 11D46 "
    "11D60-11D65 11D67-11D68 11D6A-11D89 11D98 11EE0-11EF2 11F02 11F04-11F10 11F12-11F33 11FB0 12000-12399 "
    "12480-12543 12F90-12FF0 13000-1342F 13441-13446 13460-143FA 14400-14646 16100-1611D 16800-16A38 16A40-16A5E "
    "16A70-16ABE 16AD0-16AED 16B00-16B2F 16B40-16B43 16B63-16B77 16B7D-16B8F 16D40-16D6C 16E40-16E7F 16F00-16F4A "
    "16F50 16F93-16F9F 16FE0-16FE1 16FE3 17000-187F7 18800-18CD5 18CFF-18D08 1AFF0-1AFF3 1AFF5-1AFFB 1AFFD-1AFFE "
    "1B000-1B122 1B132 1B150-1B152 1B155 1B164-1B167 1B170-1B2FB 1BC00-1BC6A 1BC70-1BC7C 1BC80-1BC88 1BC90-1BC99 "
    "1D400-1D454 1D456-1D49C 1D49E-1D49F 1D4A2 1D4A5-1D4A6 1D4A9-1D4AC 1D4AE-1D4B9 1D4BB 1D4BD-1D4C3 1D4C5-1D505 "
    "1D507-1D50A 1D50D-1D514 1D516-1D51C 1D51E-1D539 1D53B-1D53E 1D540-1D544 1D546 1D54A-1D550 1D552-1D6A5 "
    "1D6A8-1D6C0 1D6C2-1D6DA 1D6DC-1D6FA 1D6FC-1D714 1D716-1D734 1D736-1D74E 1D750-1D76E 1D770-1D788 1D78A-1D7A8 "
    "1D7AA-1D7C2 1D7C4-1D7CB 1DF00-1DF1E 1DF25-1DF2A 1E030-1E06D 1E100-1E12C 1E137-1E13D 1E14E 1E290-1E2AD "
    "1E2C0-1E2EB 1E4D0-1E4EB 1E5D0-1E5ED 1E5F0 1E7E0-1E7E6 1E7E8-1E7EB 1E7ED-1E7EE 1E7F0-1E7FE 1E800-1E8C4 "
    "1E900-1E943 1E94B 1EE00-1EE03 1EE05-1EE1F 1EE21-1EE22 1EE24 1EE27 1EE29-1EE32 1EE34-1EE37 1EE39 1EE3B 1EE42 "
    "1EE47 1EE49 1EE4B 1EE4D-1EE4F 1EE51-1EE52 1EE54 1EE57 1EE59 1EE5B 1EE5D 1EE5F 1EE61-1EE62 1EE64 1EE67-1EE6A "
    "1EE6C-1EE72 1EE74-1EE77 1EE79-1EE7C 1EE7E 1EE80-1EE89 1EE8B-1EE9B 1EEA1-1EEA3 1EEA5-1EEA9 1EEAB-1EEBB "
    "20000-2A6DF 2A700-2B739 2B740-2B81D 2B820-2CEA1 2CEB0-2EBE0 2EBF0-2EE5D 2F800-2FA1D 30000-3134A 31350-323AF "
)
_T_NUMBER = (
    "30-39 B2-B3 B9 BC-BE 660-669 6F0-6F9 7C0-7C9 966-96F 9E6-9EF 9F4-9F9 A66-A6F AE6-AEF B66-B6F B72-B77 BE6-BF2 "
    "C66-C6F C78-C7E CE6-CEF D58-D5E D66-D78 DE6-DEF E50-E59 ED0-ED9 F20-F33 1040-1049 1090-1099 1369-137C "
    "16EE-16F0 17E0-17E9 17F0-17F9 1810-1819 1946-194F 19D0-19DA 1A80-1A89 1A90-1A99 1B50-1B59 1BB0-1BB9 1C40-1C49 "
    "1C50-1C59 2070 2074-2079 2080-2089 2150-2182 2185-2189 2460-249B 24EA-24FF 2776-2793 2CFD 3007 3021-3029 "
    "3038-303A 3192-3195 3220-3229 3248-324F 3251-325F 3280-3289 32B1-32BF A620-A629 A6E6-A6EF A830-A835 A8D0-A8D9 "
    "A900-A909 A9D0-A9D9 A9F0-A9F9 AA50-AA59 ABF0-ABF9 FF10-FF19 10107-10133 10140-10178 1018A-1018B 102E1-102FB "
    "10320-10323 10341 1034A 103D1-103D5 104A0-104A9 10858-1085F 10879-1087F 108A7-108AF 108FB-108FF 10916-1091B "
    "109BC-109BD 109C0-109CF 109D2-109FF 10A40-10A48 10A7D-10A7E 10A9D-10A9F 10AEB-10AEF 10B58-10B5F 10B78-10B7F "
    "10BA9-10BAF 10CFA-10CFF 10D30-10D39 10D40-10D49 10E60-10E7E 10F1D-10F26 10F51-10F54 10FC5-10FCB 11052-1106F "
    "110F0-110F9 11136-1113F 111D0-111D9 111E1-111F4 112F0-112F9 11450-11459 114D0-114D9 11650-11659 116C0-116C9 "
    "116D0-116E3 11730-1173B 118E0-118F2 11950-11959 11BF0-11BF9 11C50-11C6C 11D50-11D59 11DA0-11DA9 11F50-11F59 "
    "11FC0-11FD4 12400-1246E 16130-16139 16A60-16A69 16AC0-16AC9 16B50-16B59 16B5B-16B61 16D70-16D79 16E80-16E96 "
    "1CCF0-1CCF9 1D2C0-1D2D3 1D2E0-1D2F3 1D360-1D378 1D7CE-1D7FF 1E140-1E149 1E2F0-1E2F9 1E4F0-1E4F9 1E5F1-1E5FA "
    "1E8C7-1E8CF 1E950-1E959 1EC71-1ECAB 1ECAD-1ECAF 1ECB1-1ECB4 1ED01-1ED2D 1ED2F-1ED3D 1F100-1F10C 1FBF0-1FBF9 "
)
_T_SPACE = (
    "9-D 20 85 A0 1680 2000-200A 2028-2029 202F 205F 3000 "
)
# ---- END GENERATED UNICODE TABLES ----

# transformers' RobertaTokenizer defaults (model_max_length: transformers' VERY_LARGE_INTEGER when not configured)
ROBERTA_TOKENIZER_CONFIG: dict[str, Any] = {
    "add_prefix_space": False,
    "trim_offsets": True,
    "model_max_length": int(1e30),
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "clean_up_tokenization_spaces": False,
    "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output": False,
}


# ------------------------------------------------------------------------------------------------ bytes <-> symbols
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> symbol table: printable Latin-1 bytes stand for themselves, the 68 others (controls, space,
    DEL, NBSP, soft hyphen) for U+0100, U+0101, ... in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    for n, b in enumerate(b for b in range(256) if b not in table):
        table[b] = chr(0x100 + n)
    return dict(sorted(table.items()))


_BYTE_SYMBOL = bytes_to_unicode()
# str.translate table for a word decoded as Latin-1 (one character per byte): byte -> symbol
_LATIN1_TO_SYMBOL = {b: s for b, s in _BYTE_SYMBOL.items() if chr(b) != s}
_SYMBOL_BYTE = {s: b for b, s in _BYTE_SYMBOL.items()}


# ------------------------------------------------------------------------------------------------ pre-tokenizer
def _class(ranges: list[tuple[int, int]]) -> str:
    """The inside of a regex character class for code point ranges."""
    return "".join(f"\\U{a:08X}" if a == b else f"\\U{a:08X}-\\U{b:08X}" for a, b in ranges)


def _gpt2_pattern(letter: str, number: str, space: str) -> str:
    """GPT-2's pre-tokenizer regex with explicit classes (the insides of [...]) for \\p{L}, \\p{N} and \\s."""
    return (f"'s|'t|'re|'ve|'m|'ll|'d| ?[{letter}]+| ?[{number}]+| ?[^{space}{letter}{number}]+"
            f"|[{space}]+(?![^{space}])|[{space}]+")


# ASCII text: letters, digits and whitespace are the same in every Unicode version, and `re` is faster than `regex`
_ASCII_WORDS = re.compile(_gpt2_pattern("A-Za-z", "0-9", "\\t-\\r "), re.ASCII).findall


def _code_point_mask(ranges: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros(0x110000, dtype=bool)
    for a, b in ranges:
        mask[a:b + 1] = True
    return mask


def _ranges_of(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


class _Splitter:
    """The pre-tokenizer for any text. tokenizers' letters / numbers are the `regex` package's \\p{L} / \\p{N} but for
    a few thousand code points (assigned in a Unicode version one of them does not know yet); a text holding none of
    those is split with \\p{L} / \\p{N}, one holding some with the tables (set operations on \\p{L} / \\p{N}: what the
    `regex` package counts and tokenizers does not is taken out, what tokenizers counts and it does not is added)."""

    def __init__(self):
        code_points = np.concatenate((np.arange(0xD800), np.arange(0xE000, 0x110000))).astype("<u4")
        every = code_points.tobytes().decode("utf-32-le")
        space = _class(_ranges(_T_SPACE))
        classes, disputed = [], np.zeros(0x110000, dtype=bool)
        for spec, prop in ((_T_LETTER, "\\p{L}"), (_T_NUMBER, "\\p{N}")):
            table = _code_point_mask(_ranges(spec))
            mine = np.zeros(0x110000, dtype=bool)  # what this `regex` (its own Unicode version) calls the same
            for m in regex.finditer(prop + "+", every):
                mine[code_points[m.start()]:code_points[m.end() - 1] + 1] = True
            extra, missing = _ranges_of(mine & ~table), _ranges_of(table & ~mine)
            cls = f"[{prop}--[{_class(extra)}]]" if extra else prop
            classes.append(f"{cls}{_class(missing)}")
            disputed |= mine != table
        self.fast = regex.compile(_gpt2_pattern("\\p{L}", "\\p{N}", space)).findall
        self.exact = regex.compile("(?V1)" + _gpt2_pattern(*classes, space)).findall
        self.disputed = regex.compile(f"[{_class(_ranges_of(disputed))}]").search if disputed.any() else None

    def __call__(self, text: str) -> list[str]:
        if self.disputed is not None and self.disputed(text):
            return self.exact(text)
        return self.fast(text)


@functools.lru_cache(maxsize=None)
def _splitter() -> _Splitter:
    return _Splitter()


def split_words(text: str) -> list[str]:
    """The words of a text (no special tokens in it) as tokenizers' ByteLevel pre-tokenizer cuts them, before the
    byte mapping."""
    return _ASCII_WORDS(text) if text.isascii() else _splitter()(text)


# ------------------------------------------------------------------------------------------------ files
def _check_vocab(vocab, path: str) -> dict[str, int]:
    if not isinstance(vocab, dict):
        raise CheckpointError(f"{path}: the vocabulary must be a JSON object token -> id, got {type(vocab).__name__}")
    if not vocab:
        raise CheckpointError(f"{path}: the vocabulary is empty")
    for token, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise CheckpointError(f"{path}: the id of token {token!r} must be a non-negative integer, got {i!r}")
    if len(set(vocab.values())) != len(vocab):
        raise CheckpointError(f"{path}: two tokens share an id")
    return dict(vocab)


def load_vocab_json(path) -> dict[str, int]:
    """vocab.json -> {token: id}."""
    path = os.fspath(path)
    return _check_vocab(read_json(path, "vocabulary file"), path)


def load_merges_txt(path) -> list[tuple[str, str]]:
    """merges.txt -> [(a, b), ...] in rank order: one merge a line, the two symbols separated by one space; lines
    starting with "#version" are skipped (read as tokenizers reads it: "\\n" or "\\r\\n" line ends, no blank line)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise WeightsNotFoundError(f"merges file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read merges file {path!r}: {e}") from e
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    merges = []
    for n, line in enumerate(lines, 1):
        line = line[:-1] if line.endswith("\r") else line
        if line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise CheckpointError(f"{path} line {n}: a merge is two symbols separated by one space, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges


def load_tokenizer_json(path) -> tuple[dict[str, int], list[tuple[str, str]], list[dict]]:
    """tokenizer.json -> (vocabulary, merges, added tokens): the BPE model's vocab and merges ("a b" strings or [a, b]
    pairs) and the added_tokens entries (content, id, lstrip, rstrip, ...)."""
    path = os.fspath(path)
    data = read_json(path, "tokenizer file")
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: no 'model' object (not a tokenizers tokenizer.json)")
    if model.get("type", "BPE") != "BPE":
        raise UnsupportedModelError(f"{path}: the model is {model.get('type')!r}, not the byte-level 'BPE' a "
                                    f"RobertaTokenizer reads")
    if "vocab" not in model or "merges" not in model:
        raise CheckpointError(f"{path}: the BPE model has no {'vocab' if 'vocab' not in model else 'merges'}")
    vocab = _check_vocab(model["vocab"], path)
    raw = model["merges"]
    if not isinstance(raw, list):
        raise CheckpointError(f"{path}: model.merges must be a list, got {type(raw).__name__}")
    merges = []
    for n, m in enumerate(raw):
        pair = m.split(" ") if isinstance(m, str) else m
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise CheckpointError(f"{path}: model.merges[{n}] must be \"a b\" or [\"a\", \"b\"], got {m!r}")
        merges.append((pair[0], pair[1]))
    added = data.get("added_tokens") or []
    if not isinstance(added, list) or not all(isinstance(t, dict) and isinstance(t.get("content"), str)
                                              for t in added):
        raise CheckpointError(f"{path}: added_tokens must be a list of objects with a 'content' string")
    return vocab, merges, added


# ------------------------------------------------------------------------------------------------ the tokenizer
class RobertaTokenizer(Tokenizer):
    """transformers' RobertaTokenizer (byte-level BPE, Rust-backed in transformers 5); see the module docstring.

    ``tokenizer(texts, padding=..., truncation=..., max_length=...)`` returns int64 arrays ``input_ids`` and
    ``attention_mask`` of shape (B, L) (``token_type_ids`` too when asked: all 0), ``tokenizer(texts, pairs)`` encodes
    ``<s> A </s></s> B </s>``; ``decode`` / ``batch_decode`` map ids back to text. ``tokenize`` gives vocabulary
    tokens (transformers' gives the matched text for a special token that swallowed whitespace, " <mask>"; the ids are
    the same).
    """

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": "tokenizer.json"}
    # transformers' SPECIAL_TOKENS_ATTRIBUTES order (the order special tokens missing from the vocabulary are added)
    special_token_roles = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
    default_settings = ROBERTA_TOKENIZER_CONFIG
    bool_settings = ("add_prefix_space", "trim_offsets",
                     "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output")
    model_input_names = ("input_ids", "attention_mask")
    pair_type_id = 0

    def __init__(self, vocab_file: str | os.PathLike | None = None, merges_file: str | os.PathLike | None = None,
                 tokenizer_file: str | os.PathLike | None = None, *, add_prefix_space: bool = False,
                 trim_offsets: bool = True, model_max_length: int = int(1e30), bos_token: str = "<s>",
                 eos_token: str = "</s>", sep_token: str = "</s>", cls_token: str = "<s>", unk_token: str = "<unk>",
                 pad_token: str = "<pad>", mask_token: str = "<mask>", clean_up_tokenization_spaces: bool = False,
                 clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output: bool = False,
                 special_token_strip: dict[str, tuple[bool, bool]] | None = None, max_positions: int = 512):
        """From tokenizer.json when `tokenizer_file` names an existing file, else from vocab.json + merges.txt.
        special_token_strip: token -> (lstrip, rstrip); None takes them from tokenizer.json's added_tokens (when it
        is read) and leaves the others unstripped (from_pretrained reads them as transformers does)."""
        added: list[dict] = []
        if tokenizer_file is not None and os.path.isfile(tokenizer_file):
            self.tokenizer_file = os.fspath(tokenizer_file)
            source = self.tokenizer_file
            vocab, merges, added = load_tokenizer_json(self.tokenizer_file)
        elif vocab_file is None or merges_file is None:
            raise WeightsNotFoundError(f"a RobertaTokenizer needs vocab.json and merges.txt, or tokenizer.json "
                                       f"(got vocab_file={vocab_file!r}, merges_file={merges_file!r}, "
                                       f"tokenizer_file={tokenizer_file!r})")
        else:
            self.tokenizer_file = None
            source = os.fspath(merges_file)
            vocab, merges = load_vocab_json(vocab_file), load_merges_txt(merges_file)
        self.vocab_file = None if vocab_file is None else os.fspath(vocab_file)
        self.merges_file = None if merges_file is None else os.fspath(merges_file)
        if special_token_strip is None:
            special_token_strip = {t["content"]: (bool(t.get("lstrip")), bool(t.get("rstrip"))) for t in added}
        super().__init__(vocab, {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token,
                                 "sep_token": sep_token, "pad_token": pad_token, "cls_token": cls_token,
                                 "mask_token": mask_token},
                         model_max_length=model_max_length, max_positions=max_positions,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                         special_token_strip=special_token_strip)
        self.add_prefix_space = bool(add_prefix_space)
        self.trim_offsets = bool(trim_offsets)  # offsets only: no effect on ids
        self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output = \
            bool(clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output)

        # (a, b) -> rank; as in tokenizers, both symbols and what they make must be in the vocabulary, and a pair
        # listed twice keeps its later rank
        self._ranks: dict[tuple[str, str], int] = {}
        for rank, (a, b) in enumerate(merges):
            for token in (a, b, a + b):
                if token not in vocab:
                    raise CheckpointError(f"{source}: merge {rank} ({a!r} {b!r}) uses {token!r}, which is not in "
                                          f"the vocabulary")
            self._ranks[a, b] = rank
        self._around = ((self.cls_token_id,), (self.sep_token_id,))
        self._pair = ((self.cls_token_id,), (self.sep_token_id, self.sep_token_id), (self.sep_token_id,))
        self._split = split_words
        _splitter()  # build the Unicode pre-tokenizer now rather than on the first non-ASCII text
        self._cache = WordCache(self._bpe)
        self._token_bytes: dict[str, bytes] = {}

    @classmethod
    def from_pretrained(cls, directory, **overrides) -> RobertaTokenizer:
        """Read tokenizer.json (or vocab.json + merges.txt), tokenizer_config.json and special_tokens_map.json from
        a directory as transformers does. Keyword arguments override the files' settings."""
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise WeightsNotFoundError(f"tokenizer directory {directory!r} does not exist")
        try:
            settings = cls._read_tokenizer_config(directory)
            roles, strip, named = _special_token_settings(directory, cls.special_token_roles, overrides)
            settings.update(roles)
            tokenizer_json = os.path.join(directory, cls.vocab_files_names["tokenizer_file"])
            if not named and os.path.isfile(tokenizer_json):
                # no tokenizer_class: transformers runs tokenizer.json's own pipeline, which must then be RoBERTa's
                settings["add_prefix_space"] = _roberta_pipeline_prefix_space(tokenizer_json)
            settings.update(overrides)
            settings.setdefault("special_token_strip", strip)
            files = {arg: os.path.join(directory, name) for arg, name in cls.vocab_files_names.items()}
            return cls(**files, **settings)
        finally:
            forget_parsed_json()

    def __repr__(self) -> str:
        files = self.tokenizer_file or f"{self.vocab_file}, {self.merges_file}"
        return (f"RobertaTokenizer({files!r}, vocab_size={self.vocab_size}, merges={len(self._ranks)}, "
                f"add_prefix_space={self.add_prefix_space}, model_max_length={self.model_max_length})")

    # ------------------------------------------------------------------------------------------ encoding
    def _bpe(self, word: str) -> tuple[int, ...]:
        """The ids of one pre-tokenized word: its UTF-8 bytes as symbols, merged by rank."""
        vocab = self.vocab
        # one symbol per byte; a symbol missing from the vocabulary is dropped (the BPE model has no unk token)
        parts = [*filter(vocab.__contains__, word.encode("utf-8").decode("latin-1").translate(_LATIN1_TO_SYMBOL))]
        if len(parts) > 1:
            parts = self._merge(parts)
        return tuple(map(vocab.__getitem__, parts))

    def _merge(self, parts: list[str]) -> list[str]:
        """Merge adjacent symbols, the pair of lowest rank first and the leftmost of equal ones, until no pair is in
        merges.txt; as tokenizers' Word.merge_all does it: a heap of (rank, position) over a linked list.

        parts[i] is the symbol that starts at position i ("" once merged into the one on its left); nxt / prv link
        the live ones. A heap entry whose pair has changed since it was pushed (its rank no longer matches) is
        stale and skipped."""
        rank_of = self._ranks.get
        n = len(parts)
        nxt = [*range(1, n), -1]
        prv = list(range(-1, n - 1))
        heap = [(r, i) for i, r in enumerate(map(rank_of, zip(parts, parts[1:]))) if r is not None]
        heapify(heap)
        while heap:
            rank, i = heappop(heap)
            j = nxt[i]
            if j < 0 or not parts[i] or rank_of((parts[i], parts[j])) != rank:
                continue
            merged = parts[i] = parts[i] + parts[j]
            parts[j] = ""
            k = nxt[i] = nxt[j]
            if k >= 0:  # the new pair on the right, then the one on the left
                prv[k] = i
                r = rank_of((merged, parts[k]))
                if r is not None:
                    heappush(heap, (r, i))
            h = prv[i]
            if h >= 0:
                r = rank_of((parts[h], merged))
                if r is not None:
                    heappush(heap, (r, h))
        return [p for p in parts if p]

    def _encode_piece(self, piece: str, limit: int | None) -> list[int]:
        """Ids of a piece of text without special tokens. With `limit`, at least the first `limit` ids.

        For a long piece only a growing prefix is split: every word of a prefix but its last (which the cut may have
        shortened, or left as whitespace that a following word would have shared) is a word of the whole piece."""
        if not piece:
            return []
        if self.add_prefix_space and piece[0] != " ":
            piece = " " + piece
        words_of, cache = self._split, self._cache
        if limit is not None:
            size = 8 * (limit + 8)
            while size < len(piece):
                words = words_of(piece[:size])
                del words[-1]
                ids = list(chain.from_iterable(map(cache.__getitem__, words)))
                if len(ids) >= limit:
                    return ids
                size *= 4
        return list(chain.from_iterable(map(cache.__getitem__, words_of(piece))))

    def _special_ids_around(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``<s> tokens </s>``."""
        return self._around

    def _special_ids_pair(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``<s> A </s></s> B </s>``."""
        return self._pair

    # ------------------------------------------------------------------------------------------ decoding
    def _bytes_of(self, token: str) -> bytes:
        b = self._token_bytes.get(token)
        if b is None:
            if all(c in _SYMBOL_BYTE for c in token):
                b = bytes(_SYMBOL_BYTE[c] for c in token)
            else:  # not a byte-level token (an added token written with other characters): its own UTF-8
                b = token.encode("utf-8")
            if len(self._token_bytes) < WORD_CACHE_SIZE:
                self._token_bytes[token] = b
        return b

    def _join_tokens(self, tokens: list[str]) -> str:
        """The ByteLevel decoder: the tokens' bytes, decoded as UTF-8 (invalid bytes -> U+FFFD)."""
        return b"".join(map(self._bytes_of, tokens)).decode("utf-8", errors="replace")

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None):
        """Ids back to text (see Tokenizer.decode). As in transformers 5, clean_up_tokenization_spaces is ignored
        (with a warning) for this BPE tokenizer unless
        clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output is set."""
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None \
            else clean_up_tokenization_spaces
        if clean and not self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output:
            warnings.warn("Ignoring clean_up_tokenization_spaces=True for the BPE tokenizer RobertaTokenizer, as "
                          "transformers does (it would strip spaces before punctuation)", stacklevel=2)
            clean = False
        return super().decode(ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=clean)


# ------------------------------------------------------------------------------------------------ special tokens
def _roberta_pipeline_prefix_space(path: str) -> bool:
    """add_prefix_space of a tokenizer.json whose pipeline must be RoBERTa's (UnsupportedModelError naming what is
    not): no normalizer, the ByteLevel pre-tokenizer with GPT-2's regex, RobertaProcessing, a BPE model without
    unk token, byte fallback, dropout, subword affixes or ignore_merges."""
    data = read_json(path, "tokenizer file")
    model, pre, post = data.get("model") or {}, data.get("pre_tokenizer") or {}, data.get("post_processor") or {}
    problems = []
    if data.get("normalizer") is not None:
        problems.append(f"normalizer {data['normalizer'].get('type')!r}")
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
        problems.append(f"pre_tokenizer {pre.get('type')!r} (not ByteLevel with its regex)")
    if post.get("type") != "RobertaProcessing":
        problems.append(f"post_processor {post.get('type')!r} (not RobertaProcessing)")
    for key in ("unk_token", "dropout", "continuing_subword_prefix", "end_of_word_suffix", "byte_fallback",
                "ignore_merges"):
        if model.get(key):
            problems.append(f"model.{key} {model[key]!r}")
    if problems:
        raise UnsupportedModelError(f"{path}: without a tokenizer_class in tokenizer_config.json transformers runs "
                                    f"this file's own pipeline, which is not RoBERTa's byte-level BPE: "
                                    f"{', '.join(problems)}")
    return bool(pre.get("add_prefix_space", False))


def _special_token_settings(directory: str, roles: tuple[str, ...],
                            overrides: dict) -> tuple[dict[str, str], dict[str, tuple[bool, bool]], bool]:
    """The special tokens of each role, their (lstrip, rstrip) flags and whether tokenizer_config.json names a
    tokenizer_class, read as transformers 5 reads them:

    - tokenizer_config.json's ``added_tokens_decoder`` (id -> token object), when present, declares the added tokens
      and their flags; otherwise special_tokens_map.json's roles replace tokenizer_config.json's, and tokenizer.json's
      ``added_tokens`` (when the directory has one) declare the added tokens;
    - a role whose token is no declared added token takes the flags of its own entry (an object with lstrip /
      rstrip), else none.

    Added tokens that fill no role, and single_word tokens, are not supported (UnsupportedModelError)."""
    config_path = os.path.join(directory, "tokenizer_config.json")
    config = read_json(config_path, "tokenizer config") if os.path.isfile(config_path) else {}
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
    if config.get("split_special_tokens"):
        raise UnsupportedModelError(f"{config_path}: split_special_tokens=true is not supported by refalign")
    values = {role: config[role] for role in roles if config.get(role) is not None}
    declared: list[tuple[dict, str]] = []  # (token object, the file it comes from)
    decoder = config.get("added_tokens_decoder")
    if decoder is not None:
        if not isinstance(decoder, dict):
            raise ConfigError(f"{config_path}: added_tokens_decoder must be an object id -> token")
        try:
            items = sorted(decoder.items(), key=lambda kv: int(kv[0]))
        except ValueError:
            raise ConfigError(f"{config_path}: added_tokens_decoder's keys must be token ids") from None
        declared = [(token, config_path) for _, token in items]
    else:
        map_path = os.path.join(directory, "special_tokens_map.json")
        if os.path.isfile(map_path):
            special_map = read_json(map_path, "special tokens map")
            if not isinstance(special_map, dict):
                raise ConfigError(f"{map_path} must hold a JSON object, got {type(special_map).__name__}")
            values.update({role: v for role, v in special_map.items()
                           if role in roles and v is not None and not overrides.get(role)})
        tokenizer_json = os.path.join(directory, "tokenizer.json")
        if os.path.isfile(tokenizer_json):
            declared = [(token, tokenizer_json) for token in load_tokenizer_json(tokenizer_json)[2]]
    contents: dict[str, str] = {}
    strip: dict[str, tuple[bool, bool]] = {}
    for role, value in values.items():
        content = value.get("content") if isinstance(value, dict) else value
        if not isinstance(content, str) or not content:
            raise ConfigError(f"{directory}: {role} must be a non-empty string or token object, got {value!r}")
        contents[role] = content
        if isinstance(value, dict):
            strip[content] = (bool(value.get("lstrip")), bool(value.get("rstrip")))
    role_tokens = {overrides.get(role) or contents.get(role) or ROBERTA_TOKENIZER_CONFIG[role] for role in roles}
    for token, source in declared:
        content = token.get("content") if isinstance(token, dict) else None
        if not isinstance(content, str):
            raise ConfigError(f"{source}: an added token must be an object with a 'content' string, got {token!r}")
        if content not in role_tokens:
            raise UnsupportedModelError(f"{source}: added token {content!r} is none of the special tokens "
                                        f"({', '.join(sorted(role_tokens))}); refalign does not support other added "
                                        f"tokens")
        strip[content] = (bool(token.get("lstrip")), bool(token.get("rstrip")))
    for token in [*values.values(), *(t for t, _ in declared)]:
        if isinstance(token, dict) and token.get("single_word"):
            raise UnsupportedModelError(f"{directory}: special token {token.get('content')!r} is single_word, which "
                                        f"refalign does not support")
    return contents, strip, config.get("tokenizer_class") is not None

