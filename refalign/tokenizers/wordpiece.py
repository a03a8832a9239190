"""BERT WordPiece tokenizer for ALIGN's text tower (kakaobrain/align-base: bert-base-uncased's vocab.txt).

Reproduces transformers' ``BertTokenizer`` (in transformers 5 the Rust-backed one built on HuggingFace
``tokenizers``) without needing tokenizers or transformers at run time:

1. Special tokens written in the text ([CLS], [SEP], [PAD], [MASK], [UNK]; matched case-sensitively on the raw text)
   are cut out first and kept whole (the base class, tokenizers/base.py); the text between them is processed piece
   by piece.
2. ``BertNormalizer``: clean_text drops NUL, U+FFFD and control / format / private-use characters and maps
   whitespace to a space; CJK ideographs get a space on each side; with strip_accents (``None`` follows
   do_lower_case) the text is NFD-decomposed and non-spacing marks are dropped; then it is lowercased (per
   character, like Rust's ``char::to_lowercase``: no final-sigma rule).
3. ``BertPreTokenizer``: split on whitespace, every punctuation character (ASCII punctuation plus Unicode P*)
   becomes a word of its own.
4. ``WordPiece``: greedy longest-match-first with ``##`` continuations; a word that cannot be covered, or that is
   longer than 100 characters, becomes [UNK].

The character classes are *not* Python's ``unicodedata`` ones: tokenizers uses Rust's tables and an old Unicode
version for some of them (only the non-spacing marks, controls and punctuation known to Unicode ~9 count as such,
unassigned code points are kept, case pairs up to Unicode 16 are lowercased). The tables below were read off
tokenizers for every code point by tests/data/tokenizer/make_unicode_tables.py; the tests check every code point.

Speed: ASCII text takes a short path (lowercase, one regular-expression pass to split); other text is normalized
and spaced for the pre-tokenizer by a single ``str.translate`` through a per-character map filled on first sight,
then split; words are mapped to ids through a bounded cache seeded with the vocabulary; with truncation only a
prefix of a long text is normalized and only the words that can fit are looked up; batches are padded with
vectorised NumPy into preallocated int64 arrays (tokenizers/base.py).
"""
from __future__ import annotations

import bisect
import os
import re
import threading
import unicodedata
from itertools import chain

from ..errors import CheckpointError, WeightsNotFoundError
from .base import Tokenizer, _cleanup

__all__ = ["BertTokenizer", "load_vocab", "ALIGN_BASE_TOKENIZER_CONFIG"]

# ---- BEGIN GENERATED UNICODE TABLES (tests/data/tokenizer/make_unicode_tables.py) ----
# tokenizers 0.23.3; unicodedata 14.0.0 (decompositions checked equal)
# clean_text: removed (NUL, U+FFFD, control/format/private-use per tokenizers), mapped to ' '
_T_CLEAN_REMOVE = (
    "0-8 B-C E-1F 7F-9F AD 600-605 61C 6DD 70F 180E 200B-200F 202A-202E 2060-2064 2066-206F E000-F8FF FEFF "
    "FFF9-FFFB FFFD 110BD 1BCA0-1BCA3 1D173-1D17A E0001 E0020-E007F F0000-FFFFD 100000-10FFFD "
)
_T_CLEAN_SPACE = (
    "9-A D A0 1680 2000-200A 2028-2029 202F 205F 3000 "
)
# tokenize_chinese_chars: padded with spaces
_T_CJK = (
    "3400-4DBF 4E00-9FFF F900-FAFF 20000-2A6DF 2A700-2B81F 2B920-2CEAF 2F800-2FA1F "
)
# strip_accents: code points with a canonical decomposition; non-spacing marks removed after NFD
_T_DECOMP = (
    "C0-C5 C7-CF D1-D6 D9-DD E0-E5 E7-EF F1-F6 F9-FD FF-10F 112-125 128-130 134-137 139-13E 143-148 14C-151 "
    "154-165 168-17E 1A0-1A1 1AF-1B0 1CD-1DC 1DE-1E3 1E6-1F0 1F4-1F5 1F8-21B 21E-21F 226-233 340-341 343-344 374 "
    "37E 385-38A 38C 38E-390 3AA-3B0 3CA-3CE 3D3-3D4 400-401 403 407 40C-40E 419 439 450-451 453 457 45C-45E "
    "476-477 4C1-4C2 4D0-4D3 4D6-4D7 4DA-4DF 4E2-4E7 4EA-4F5 4F8-4F9 622-626 6C0 6C2 6D3 929 931 934 958-95F "
    "9CB-9CC 9DC-9DD 9DF A33 A36 A59-A5B A5E B48 B4B-B4C B5C-B5D B94 BCA-BCC C48 CC0 CC7-CC8 CCA-CCB D4A-D4C DDA "
    "DDC-DDE F43 F4D F52 F57 F5C F69 F73 F75-F76 F78 F81 F93 F9D FA2 FA7 FAC FB9 1026 1B06 1B08 1B0A 1B0C 1B0E "
    "1B12 1B3B 1B3D 1B40-1B41 1B43 1E00-1E99 1E9B 1EA0-1EF9 1F00-1F15 1F18-1F1D 1F20-1F45 1F48-1F4D 1F50-1F57 1F59 "
    "1F5B 1F5D 1F5F-1F7D 1F80-1FB4 1FB6-1FBC 1FBE 1FC1-1FC4 1FC6-1FD3 1FD6-1FDB 1FDD-1FEF 1FF2-1FF4 1FF6-1FFD "
    "2000-2001 2126 212A-212B 219A-219B 21AE 21CD-21CF 2204 2209 220C 2224 2226 2241 2244 2247 2249 2260 2262 "
    "226D-2271 2274-2275 2278-2279 2280-2281 2284-2285 2288-2289 22AC-22AF 22E0-22E3 22EA-22ED 2329-232A 2ADC 304C "
    "304E 3050 3052 3054 3056 3058 305A 305C 305E 3060 3062 3065 3067 3069 3070-3071 3073-3074 3076-3077 3079-307A "
    "307C-307D 3094 309E 30AC 30AE 30B0 30B2 30B4 30B6 30B8 30BA 30BC 30BE 30C0 30C2 30C5 30C7 30C9 30D0-30D1 "
    "30D3-30D4 30D6-30D7 30D9-30DA 30DC-30DD 30F4 30F7-30FA 30FE AC00-D7A3 F900-FA0D FA10 FA12 FA15-FA1E FA20 FA22 "
    "FA25-FA26 FA2A-FA6D FA70-FAD9 FB1D FB1F FB2A-FB36 FB38-FB3C FB3E FB40-FB41 FB43-FB44 FB46-FB4E 1109A 1109C "
    "110AB 1112E-1112F 1134B-1134C 114BB-114BC 114BE 115BA-115BB 1D15E-1D164 1D1BB-1D1C0 2F800-2FA1D "
)
_T_MN = (
    "300-33F 342 345-36F 483-487 591-5BD 5BF 5C1-5C2 5C4-5C5 5C7 610-61A 64B-65F 670 6D6-6DC 6DF-6E4 6E7-6E8 "
    "6EA-6ED 711 730-74A 7A6-7B0 7EB-7F3 816-819 81B-823 825-827 829-82D 859-85B 8E3-902 93A 93C 941-948 94D "
    "951-957 962-963 981 9BC 9C1-9C4 9CD 9E2-9E3 A01-A02 A3C A41-A42 A47-A48 A4B-A4D A51 A70-A71 A75 A81-A82 ABC "
    "AC1-AC5 AC7-AC8 ACD AE2-AE3 B01 B3C B3F B41-B44 B4D B56 B62-B63 B82 BC0 BCD C00 C3E-C40 C46-C47 C4A-C4D "
    "C55-C56 C62-C63 C81 CBC CBF CC6 CCC-CCD CE2-CE3 D01 D41-D44 D4D D62-D63 DCA DD2-DD4 DD6 E31 E34-E3A E47-E4E "
    "EB1 EB4-EB9 EBB-EBC EC8-ECD F18-F19 F35 F37 F39 F71-F72 F74 F77 F79-F7E F80 F82-F84 F86-F87 F8D-F92 F94-F97 "
    "F99-F9C F9E-FA1 FA3-FA6 FA8-FAB FAD-FB8 FBA-FBC FC6 102D-1030 1032-1037 1039-103A 103D-103E 1058-1059 "
    "105E-1060 1071-1074 1082 1085-1086 108D 109D 135D-135F 1712-1714 1732-1734 1752-1753 1772-1773 17B4-17B5 "
    "17B7-17BD 17C6 17C9-17D3 17DD 180B-180D 18A9 1920-1922 1927-1928 1932 1939-193B 1A17-1A18 1A1B 1A56 1A58-1A5E "
    "1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F 1AB0-1ABD 1B00-1B03 1B34 1B36-1B3A 1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 "
    "1BA8-1BA9 1BAB-1BAD 1BE6 1BE8-1BE9 1BED 1BEF-1BF1 1C2C-1C33 1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 1CED 1CF4 "
    "1CF8-1CF9 1DC0-1DF5 1DFC-1DFF 20D0-20DC 20E1 20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302D 3099-309A A66F "
    "A674-A67D A69E-A69F A6F0-A6F1 A802 A806 A80B A825-A826 A8C4 A8E0-A8F1 A926-A92D A947-A951 A980-A982 A9B3 "
    "A9B6-A9B9 A9BC A9E5 AA29-AA2E AA31-AA32 AA35-AA36 AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 "
    "AAEC-AAED AAF6 ABE5 ABE8 ABED FB1E FE00-FE0F FE20-FE2F 101FD 102E0 10376-1037A 10A01-10A03 10A05-10A06 "
    "10A0C-10A0F 10A38-10A3A 10A3F 10AE5-10AE6 11001 11038-11046 1107F-11081 110B3-110B6 110B9-110BA 11100-11102 "
    "11127-1112B 1112D 11130-11134 11173 11180-11181 111B6-111BE 111CA-111CC 1122F-11231 11234 11236-11237 112DF "
    "112E3-112EA 11300-11301 1133C 11340 11366-1136C 11370-11374 114B3-114B8 114BA 114BF-114C0 114C2-114C3 "
    "115B2-115B5 115BC-115BD 115BF-115C0 115DC-115DD 11633-1163A 1163D 1163F-11640 116AB 116AD 116B0-116B5 116B7 "
    "1171D-1171F 11722-11725 11727-1172B 16AF0-16AF4 16B30-16B36 16F8F-16F92 1BC9D-1BC9E 1D167-1D169 1D17B-1D182 "
    "1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C 1DA75 1DA84 1DA9B-1DA9F 1DAA1-1DAAF 1E8D0-1E8D6 "
    "E0100-E01EF "
)
# canonical combining classes the Rust NFD knows (values from unicodedata, checked equal)
_T_CCC_KNOWN = (
    "300-33F 342 345-34E 350-36F 483-487 591-5BD 5BF 5C1-5C2 5C4-5C5 5C7 610-61A 64B-65F 670 6D6-6DC 6DF-6E4 "
    "6E7-6E8 6EA-6ED 711 730-74A 7EB-7F3 816-819 81B-823 825-827 829-82D 859-85B 8D4-8E1 8E3-8FF 93C 94D 951-954 "
    "9BC 9CD A3C A4D ABC ACD B3C B4D BCD C4D C55-C56 CBC CCD D4D DCA E38-E3A E48-E4B EB8-EB9 EC8-ECB F18-F19 F35 "
    "F37 F39 F71-F72 F74 F7A-F7D F80 F82-F84 F86-F87 FC6 1037 1039-103A 108D 135D-135F 1714 1734 17D2 17DD 18A9 "
    "1939-193B 1A17-1A18 1A60 1A75-1A7C 1A7F 1AB0-1ABD 1B34 1B44 1B6B-1B73 1BAA-1BAB 1BE6 1BF2-1BF3 1C37 1CD0-1CD2 "
    "1CD4-1CE0 1CE2-1CE8 1CED 1CF4 1CF8-1CF9 1DC0-1DF5 1DFB-1DFF 20D0-20DC 20E1 20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF "
    "302A-302F 3099-309A A66F A674-A67D A69E-A69F A6F0-A6F1 A806 A8C4 A8E0-A8F1 A92B-A92D A953 A9B3 A9C0 AAB0 "
    "AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 AAF6 ABED FB1E FE20-FE2F 101FD 102E0 10376-1037A 10A0D 10A0F 10A38-10A3A "
    "10A3F 10AE5-10AE6 11046 1107F 110B9-110BA 11100-11102 11133-11134 11173 111C0 111CA 11235-11236 112E9-112EA "
    "1133C 1134D 11366-1136C 11370-11374 11442 11446 114C2-114C3 115BF-115C0 1163F 116B6-116B7 1172B 11C3F "
    "16AF0-16AF4 16B30-16B36 1BC9E 1D165-1D169 1D16D-1D172 1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 "
    "1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E8D0-1E8D6 1E944-1E94A "
)
# lowercase (Rust char::to_lowercase, no final-sigma rule): 'start-end/step:delta' runs
_T_LOWER = (
    "41-5A/1:+32 C0-D6/1:+32 D8-DE/1:+32 100-12E/2:+1 132-136/2:+1 139-147/2:+1 14A-176/2:+1 178:-121 179-17D/2:+1 "
    "181:+210 182-184/2:+1 186:+206 187:+1 189-18A/1:+205 18B:+1 18E:+79 18F:+202 190:+203 191:+1 193:+205 "
    "194:+207 196:+211 197:+209 198:+1 19C:+211 19D:+213 19F:+214 1A0-1A4/2:+1 1A6:+218 1A7:+1 1A9:+218 1AC:+1 "
    "1AE:+218 1AF:+1 1B1-1B2/1:+217 1B3-1B5/2:+1 1B7:+219 1B8:+1 1BC:+1 1C4:+2 1C5:+1 1C7:+2 1C8:+1 1CA:+2 "
    "1CB-1DB/2:+1 1DE-1EE/2:+1 1F1:+2 1F2-1F4/2:+1 1F6:-97 1F7:-56 1F8-21E/2:+1 220:-130 222-232/2:+1 23A:+10795 "
    "23B:+1 23D:-163 23E:+10792 241:+1 243:-195 244:+69 245:+71 246-24E/2:+1 370-372/2:+1 376:+1 37F:+116 386:+38 "
    "388-38A/1:+37 38C:+64 38E-38F/1:+63 391-3A1/1:+32 3A3-3AB/1:+32 3CF:+8 3D8-3EE/2:+1 3F4:-60 3F7:+1 3F9:-7 "
    "3FA:+1 3FD-3FF/1:-130 400-40F/1:+80 410-42F/1:+32 460-480/2:+1 48A-4BE/2:+1 4C0:+15 4C1-4CD/2:+1 4D0-52E/2:+1 "
    "531-556/1:+48 10A0-10C5/1:+7264 10C7:+7264 10CD:+7264 13A0-13EF/1:+38864 13F0-13F5/1:+8 1C89:+1 "
    "1C90-1CBA/1:-3008 1CBD-1CBF/1:-3008 1E00-1E94/2:+1 1E9E:-7615 1EA0-1EFE/2:+1 1F08-1F0F/1:-8 1F18-1F1D/1:-8 "
    "1F28-1F2F/1:-8 1F38-1F3F/1:-8 1F48-1F4D/1:-8 1F59-1F5F/2:-8 1F68-1F6F/1:-8 1F88-1F8F/1:-8 1F98-1F9F/1:-8 "
    "1FA8-1FAF/1:-8 1FB8-1FB9/1:-8 1FBA-1FBB/1:-74 1FBC:-9 1FC8-1FCB/1:-86 1FCC:-9 1FD8-1FD9/1:-8 1FDA-1FDB/1:-100 "
    "1FE8-1FE9/1:-8 1FEA-1FEB/1:-112 1FEC:-7 1FF8-1FF9/1:-128 1FFA-1FFB/1:-126 1FFC:-9 2126:-7517 212A:-8383 "
    "212B:-8262 2132:+28 2160-216F/1:+16 2183:+1 24B6-24CF/1:+26 2C00-2C2F/1:+48 2C60:+1 2C62:-10743 2C63:-3814 "
    "2C64:-10727 2C67-2C6B/2:+1 2C6D:-10780 2C6E:-10749 2C6F:-10783 2C70:-10782 2C72:+1 2C75:+1 2C7E-2C7F/1:-10815 "
    "2C80-2CE2/2:+1 2CEB-2CED/2:+1 2CF2:+1 A640-A66C/2:+1 A680-A69A/2:+1 A722-A72E/2:+1 A732-A76E/2:+1 "
    "A779-A77B/2:+1 A77D:-35332 A77E-A786/2:+1 A78B:+1 A78D:-42280 A790-A792/2:+1 A796-A7A8/2:+1 A7AA:-42308 "
    "A7AB:-42319 A7AC:-42315 A7AD:-42305 A7AE:-42308 A7B0:-42258 A7B1:-42282 A7B2:-42261 A7B3:+928 A7B4-A7C2/2:+1 "
    "A7C4:-48 A7C5:-42307 A7C6:-35384 A7C7-A7C9/2:+1 A7CB:-42343 A7CC-A7DA/2:+1 A7DC:-42561 A7F5:+1 "
    "FF21-FF3A/1:+32 10400-10427/1:+40 104B0-104D3/1:+40 10570-1057A/1:+39 1057C-1058A/1:+39 1058C-10592/1:+39 "
    "10594-10595/1:+39 10C80-10CB2/1:+64 10D50-10D65/1:+32 118A0-118BF/1:+32 16E40-16E5F/1:+32 16EA0-16EB8/1:+27 "
    "1E900-1E921/1:+34 "
)
_T_LOWER_MULTI = {0x130: 'i̇'}
# BertPreTokenizer: punctuation (isolated) and whitespace (split) after normalization
_T_PUNCT = (
    "21-2F 3A-40 5B-60 7B-7E A1 A7 AB B6-B7 BB BF 37E 387 55A-55F 589-58A 5BE 5C0 5C3 5C6 5F3-5F4 609-60A 60C-60D "
    "61B 61E-61F 66A-66D 6D4 700-70D 7F7-7F9 830-83E 85E 964-965 970 AF0 DF4 E4F E5A-E5B F04-F12 F14 F3A-F3D F85 "
    "FD0-FD4 FD9-FDA 104A-104F 10FB 1360-1368 1400 166D-166E 169B-169C 16EB-16ED 1735-1736 17D4-17D6 17D8-17DA "
    "1800-180A 1944-1945 1A1E-1A1F 1AA0-1AA6 1AA8-1AAD 1B5A-1B60 1BFC-1BFF 1C3B-1C3F 1C7E-1C7F 1CC0-1CC7 1CD3 "
    "2010-2027 2030-2043 2045-2051 2053-205E 207D-207E 208D-208E 2308-230B 2329-232A 2768-2775 27C5-27C6 27E6-27EF "
    "2983-2998 29D8-29DB 29FC-29FD 2CF9-2CFC 2CFE-2CFF 2D70 2E00-2E2E 2E30-2E42 3001-3003 3008-3011 3014-301F 3030 "
    "303D 30A0 30FB A4FE-A4FF A60D-A60F A673 A67E A6F2-A6F7 A874-A877 A8CE-A8CF A8F8-A8FA A8FC A92E-A92F A95F "
    "A9C1-A9CD A9DE-A9DF AA5C-AA5F AADE-AADF AAF0-AAF1 ABEB FD3E-FD3F FE10-FE19 FE30-FE52 FE54-FE61 FE63 FE68 "
    "FE6A-FE6B FF01-FF03 FF05-FF0A FF0C-FF0F FF1A-FF1B FF1F-FF20 FF3B-FF3D FF3F FF5B FF5D FF5F-FF65 10100-10102 "
    "1039F 103D0 1056F 10857 1091F 1093F 10A50-10A58 10A7F 10AF0-10AF6 10B39-10B3F 10B99-10B9C 11047-1104D "
    "110BB-110BC 110BE-110C1 11140-11143 11174-11175 111C5-111C9 111CD 111DB 111DD-111DF 11238-1123D 112A9 114C6 "
    "115C1-115D7 11641-11643 1173C-1173E 12470-12474 16A6E-16A6F 16AF5 16B37-16B3B 16B44 1BC9F 1DA87-1DA8B "
)
_T_PRE_WS = (
    "9-D 20 85 A0 1680 2000-200A 2028-2029 202F 205F 3000 "
)
# ---- END GENERATED UNICODE TABLES ----

# align-base's tokenizer_config.json (used when a directory has none)
ALIGN_BASE_TOKENIZER_CONFIG = {
    "do_lower_case": True,
    "strip_accents": None,
    "tokenize_chinese_chars": True,
    "model_max_length": 64,
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}

MAX_INPUT_CHARS_PER_WORD = 100
WORD_CACHE_SIZE = 1 << 18  # words outside the vocabulary remembered before the cache starts over

# ASCII: controls removed by clean_text (\t \n \r are whitespace), whitespace and punctuation of the pre-tokenizer
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+").sub
_ASCII_PUNCT = r"!-/:-@\[-`{-~"
_ASCII_WORDS = re.compile(rf"[^\t-\r {_ASCII_PUNCT}]+|[{_ASCII_PUNCT}]").findall

# the WordPiece decoder's per-token cleanup (Rust, always on); transformers' optional clean_up_tokenization is in base
_CLEANUP_DECODER = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                    (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


# ------------------------------------------------------------------------------------------------ Unicode tables
def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for item in spec.split():
        a, _, b = item.partition("-")
        out.append((int(a, 16), int(b or a, 16)))
    return out


def _lower_table() -> dict[int, str]:
    table = {}
    for item in _T_LOWER.split():
        span, _, delta = item.partition(":")
        first, _, rest = span.partition("-")
        if rest:
            last, _, step = rest.partition("/")
            cps = range(int(first, 16), int(last, 16) + 1, int(step))
        else:
            cps = (int(first, 16),)
        for c in cps:
            table[c] = chr(c + int(delta))
    table.update(_T_LOWER_MULTI)
    return table


class _RangeSet:
    """Membership in a set of code point ranges (binary search)."""

    def __init__(self, *specs: str):
        rs = sorted(r for spec in specs for r in _ranges(spec))
        self.starts = [a for a, _ in rs]
        self.ends = [b for _, b in rs]

    def __contains__(self, c: int) -> bool:
        i = bisect.bisect_right(self.starts, c) - 1
        return i >= 0 and c <= self.ends[i]


class _CharMap(dict):
    """code point -> its normalized, pre-tokenizer-spaced text, for ``str.translate``; filled on first sight."""

    __slots__ = ("compute",)

    def __missing__(self, c: int):
        return self.compute(c)


_CHARMAP_LIMIT = 1 << 17  # distinct characters remembered per configuration before starting over


class _Normalizer:
    """BertNormalizer followed by BertPreTokenizer, for one configuration (built once, shared by tokenizers).

    Every step but NFD's reordering of combining marks works character by character, so a piece of text is
    normalized by one ``str.translate`` through a lazily filled map whose value for a character is what the
    normalizer makes of it (None when dropped), with spaces around punctuation and CJK ideographs; ``split()``
    then gives the pre-tokenizer's words (after clean_text the only whitespace left is " ").

    Reordering changes the result only when two combining marks that survive the accent stripping (their class
    known to the Rust NFD) meet. Such characters ("triggers", or characters decomposing to them) are never
    stored in the map, so each occurrence is counted; a text with two of them is normalized step by step
    instead (``normalize_exact``).
    """

    _instances: dict = {}

    @classmethod
    def get(cls, chinese: bool, strip: bool, lower: bool) -> "_Normalizer":
        key = (chinese, strip, lower)
        if key not in cls._instances:
            cls._instances[key] = cls(*key)
        return cls._instances[key]

    def __init__(self, chinese: bool, strip: bool, lower: bool):
        self.chinese, self.strip, self.lower = chinese, strip, lower
        self.removed = _RangeSet(_T_CLEAN_REMOVE, _T_MN) if strip else _RangeSet(_T_CLEAN_REMOVE)
        self.clean_removed = _RangeSet(_T_CLEAN_REMOVE)
        self.space = _RangeSet(_T_CLEAN_SPACE)
        self.cjk = _RangeSet(_T_CJK)
        self.punct = _RangeSet(_T_PUNCT)
        self.mn = _RangeSet(_T_MN)
        self.decomp = _RangeSet(_T_DECOMP)
        self.ccc_known = _RangeSet(_T_CCC_KNOWN)
        self.lower_table = _lower_table()
        self.map = _CharMap()
        self.map.compute = self._compute
        self.punct_map = _CharMap()  # pre-tokenizer spacing alone, for normalize_exact's output
        self.punct_map.compute = self._compute_punct
        self.trigger = self._triggers() if strip else frozenset()
        self._local = threading.local()

    def _triggers(self) -> frozenset:
        survivors = {c for a, b in _ranges(_T_CCC_KNOWN) for c in range(a, b + 1)
                     if c not in self.mn and c not in self.clean_removed}
        trigger = set(survivors)
        for a, b in _ranges(_T_DECOMP):
            for c in range(a, b + 1):
                if any(ord(x) in survivors for x in unicodedata.normalize("NFD", chr(c))):
                    trigger.add(c)
        return frozenset(trigger)

    def _chars(self, c: int) -> str | None:
        """What BertNormalizer makes of the single character c (None: dropped)."""
        if c in self.removed:
            return None
        if c in self.space:
            return " "
        x = chr(c)
        if self.strip and c in self.decomp:
            x = "".join(y for y in unicodedata.normalize("NFD", x) if ord(y) not in self.mn)
        if self.lower:
            x = "".join(self.lower_table.get(ord(y), y) for y in x)
        if self.chinese and c in self.cjk:
            x = f" {x} "
        return x

    def _compute(self, c: int):
        x = self._chars(c)
        if x is not None and not (self.chinese and c in self.cjk):
            x = "".join(f" {y} " if ord(y) in self.punct else y for y in x)
        if c in self.trigger:
            self._local.triggers = getattr(self._local, "triggers", 0) + 1
            return x
        if len(self.map) > _CHARMAP_LIMIT:
            self.map.clear()
        self.map[c] = x
        return x

    def _compute_punct(self, c: int):
        x = f" {chr(c)} " if c in self.punct else chr(c)
        if len(self.punct_map) > _CHARMAP_LIMIT:
            self.punct_map.clear()
        self.punct_map[c] = x
        return x

    def split(self, s: str) -> list[str]:
        """Normalize and pre-tokenize: the words of s."""
        if self.trigger:
            local = self._local
            local.triggers = 0
            out = s.translate(self.map)
            if local.triggers > 1:
                out = self.normalize_exact(s).translate(self.punct_map)
            return out.split()
        return s.translate(self.map).split()

    def normalize(self, s: str) -> str:
        """BertNormalizer alone (no pre-tokenizer spacing): for tests and inspection."""
        if sum(ord(ch) in self.trigger for ch in s) > 1:
            return self.normalize_exact(s)
        return "".join(x for x in map(self._chars, map(ord, s)) if x is not None)

    def normalize_exact(self, s: str) -> str:
        """BertNormalizer step by step as tokenizers runs it, canonical reordering included."""
        s = "".join(" " if ord(ch) in self.space else ch for ch in s if ord(ch) not in self.clean_removed)
        if self.chinese:
            s = "".join(f" {ch} " if ord(ch) in self.cjk else ch for ch in s)
        if self.strip:
            chars: list[str] = []
            for ch in s:
                if ord(ch) in self.decomp:
                    chars.extend(unicodedata.normalize("NFD", ch))
                else:
                    chars.append(ch)
            ccc = [unicodedata.combining(ch) if ord(ch) in self.ccc_known else 0 for ch in chars]
            out, i, n = [], 0, len(chars)
            while i < n:
                if ccc[i] == 0:
                    out.append(chars[i])
                    i += 1
                    continue
                j = i
                while j < n and ccc[j]:
                    j += 1
                out.extend(chars[k] for k in sorted(range(i, j), key=ccc.__getitem__))  # sorted() is stable
                i = j
            s = "".join(ch for ch in out if ord(ch) not in self.mn)
        if self.lower:
            s = s.translate(self.lower_table)
        return s


# ------------------------------------------------------------------------------------------------ files
def load_vocab(vocab_file: str) -> dict[str, int]:
    """vocab.txt -> {token: id}, read like transformers' load_vocab (one token a line; a later duplicate wins)."""
    try:
        with open(vocab_file, "r", encoding="utf-8") as f:
            tokens = f.readlines()
    except FileNotFoundError:
        raise WeightsNotFoundError(f"vocabulary file {vocab_file!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"cannot read vocabulary file {vocab_file!r}: {e}") from e
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        vocab[token.rstrip("\n")] = index
    if not vocab:
        raise CheckpointError(f"vocabulary file {vocab_file!r} is empty")
    return vocab


# ------------------------------------------------------------------------------------------------ the tokenizer
class BertTokenizer(Tokenizer):
    """transformers' BertTokenizer (Rust-backed, v5); see the module docstring for the pipeline.

    ``tokenizer(texts, padding=..., truncation=..., max_length=...)`` returns int64 arrays ``input_ids``,
    ``token_type_ids`` and ``attention_mask`` of shape (B, L), as transformers' does with return_tensors="np"
    (by default no padding and no truncation; AlignProcessor pads to 64).
    """

    vocab_files_names = {"vocab_file": "vocab.txt"}
    special_token_roles = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
    default_settings = ALIGN_BASE_TOKENIZER_CONFIG
    bool_settings = ("do_lower_case", "tokenize_chinese_chars")
    optional_bool_settings = ("strip_accents",)

    def __init__(self, vocab_file: str | os.PathLike, do_lower_case: bool = True, strip_accents: bool | None = None,
                 tokenize_chinese_chars: bool = True, model_max_length: int = 64, unk_token: str = "[UNK]",
                 sep_token: str = "[SEP]", pad_token: str = "[PAD]", cls_token: str = "[CLS]",
                 mask_token: str = "[MASK]", *, clean_up_tokenization_spaces: bool = False, max_positions: int = 512):
        self.vocab_file = os.fspath(vocab_file)
        super().__init__(load_vocab(self.vocab_file),
                         {"unk_token": unk_token, "sep_token": sep_token, "pad_token": pad_token,
                          "cls_token": cls_token, "mask_token": mask_token},
                         model_max_length=model_max_length, max_positions=max_positions,
                         clean_up_tokenization_spaces=clean_up_tokenization_spaces)
        self.do_lower_case = bool(do_lower_case)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)

        strip = self.do_lower_case if strip_accents is None else bool(strip_accents)
        self._norm = _Normalizer.get(self.tokenize_chinese_chars, strip, self.do_lower_case)
        self._unk = (self.unk_token_id,)
        self._around = ((self.cls_token_id,), (self.sep_token_id,))
        self._max_token_len = max(map(len, self.vocab))

        # word -> ids; seeded with the vocabulary's whole words (such a word is always a single piece)
        self._seed = {w: (i,) for w, i in self.vocab.items()
                      if not w.startswith("##") and len(w) <= MAX_INPUT_CHARS_PER_WORD}
        self._cache = dict(self._seed)

    def __repr__(self) -> str:
        return (f"BertTokenizer(vocab_file={self.vocab_file!r}, vocab_size={self.vocab_size}, "
                f"do_lower_case={self.do_lower_case}, strip_accents={self.strip_accents}, "
                f"tokenize_chinese_chars={self.tokenize_chinese_chars}, model_max_length={self.model_max_length})")

    # ------------------------------------------------------------------------------------------ encoding
    def _wordpiece(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match-first WordPiece of one pre-tokenized word."""
        n = len(word)
        if n > MAX_INPUT_CHARS_PER_WORD:
            return self._unk
        vocab, longest = self.vocab, self._max_token_len
        out, start = [], 0
        while start < n:
            end = min(n, start + longest)
            while start < end:
                i = vocab.get(word[start:end] if start == 0 else "##" + word[start:end])
                if i is not None:
                    out.append(i)
                    break
                end -= 1
            else:
                return self._unk
            start = end
        return tuple(out)

    def _split(self, piece: str) -> list[str]:
        """Normalize and pre-tokenize a piece of text that holds no special token: its words."""
        if piece.isascii():
            if not piece.isprintable():
                piece = _ASCII_CONTROL("", piece)
            return _ASCII_WORDS(piece.lower() if self.do_lower_case else piece)
        return self._norm.split(piece)

    def _words(self, piece: str, limit: int | None = None) -> list[str]:
        """The words of a piece; with `limit`, only (at least) the first `limit` of them.

        For a long piece only a growing prefix is normalized: every word of a prefix but the last (which the
        cut may have shortened) is a word of the whole piece, since nothing a character becomes depends on what
        follows it beyond the combining marks that attach to it."""
        if limit is not None:
            size = 16 * (limit + 2)
            while size < len(piece):
                words = self._split(piece[:size])
                if len(words) > limit:
                    del words[limit:]
                    return words
                size *= 4
            words = self._split(piece)
            del words[limit:]
            return words
        return self._split(piece)

    def _word_ids(self, words: list[str]) -> list[int]:
        cache = self._cache
        try:
            return list(chain.from_iterable(map(cache.__getitem__, words)))
        except KeyError:
            pass
        if len(cache) > len(self._seed) + WORD_CACHE_SIZE:
            cache.clear()
            cache.update(self._seed)
        for w in words:
            if w not in cache:
                cache[w] = self._wordpiece(w)
        return list(chain.from_iterable(map(cache.__getitem__, words)))

    def _encode_piece(self, piece: str, limit: int | None) -> list[int]:
        """Ids of a piece of text without special tokens. With `limit`, at least the first `limit` ids."""
        return self._word_ids(self._words(piece, limit))

    def _special_ids_around(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``[CLS] tokens [SEP]``."""
        return self._around

    # ------------------------------------------------------------------------------------------ decoding
    def _join_tokens(self, tokens: list[str]) -> str:
        """The WordPiece decoder: ``##`` pieces glued to the token before, a space before other tokens and none
        before . ? ! , (its per-token cleanup)."""
        parts = []
        for k, tok in enumerate(tokens):
            if k:
                tok = tok[2:] if tok.startswith("##") else " " + tok
            parts.append(_cleanup(tok, _CLEANUP_DECODER))
        return "".join(parts)
