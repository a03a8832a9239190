"""Regenerate the Unicode tables embedded in refalign/tokenizers/wordpiece.py from the installed `tokenizers` (Rust).

The BERT normalizer and pre-tokenizer of HuggingFace `tokenizers` do not use Python's `unicodedata`: they use Rust's
`char` methods (White_Space, lowercase mapping of the Rust toolchain's Unicode version), the `unicode_categories`
crate (an old Unicode version: control/format/private-use/non-spacing-mark/punctuation classes) and the
`unicode-normalization-alignments` crate (NFD, canonical combining classes). This script asks the installed
tokenizers about every code point and writes the resulting tables between the GENERATED markers of
refalign/tokenizers/wordpiece.py, so refalign reproduces them exactly without needing tokenizers at run time.

    python tests/data/tokenizer/make_unicode_tables.py            # print the block
    python tests/data/tokenizer/make_unicode_tables.py --write    # rewrite refalign/tokenizers/wordpiece.py in place

tests/test_tokenizer.py::test_unicode_tables_match_tokenizers checks every code point against tokenizers in CI.
"""
from __future__ import annotations

import os
import sys
import unicodedata

from tokenizers import normalizers, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TARGET = os.path.join(ROOT, "refalign", "tokenizers", "wordpiece.py")
BEGIN = "# ---- BEGIN GENERATED UNICODE TABLES (tests/data/tokenizer/make_unicode_tables.py) ----\n"
END = "# ---- END GENERATED UNICODE TABLES ----\n"

ALL = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def ranges(cps):
    out = []
    for c in sorted(cps):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def _pack(items, width=110):
    lines, cur = [], ""
    for it in items:
        if cur and len(cur) + len(it) + 1 > width:
            lines.append(cur)
            cur = ""
        cur += it + " "
    if cur:
        lines.append(cur)
    return [f'    "{line}"' for line in lines]


def fmt_ranges(name, cps):
    items = [f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in ranges(cps)]
    return "\n".join([f"{name} = ("] + _pack(items) + [")"]) + "\n"


def lower_runs(mapping):
    """Single-char lowercase mappings as runs 'start-end:delta/step' (every step-th code point maps to cp+delta)."""
    singles = sorted((c, ord(v) - c) for c, v in mapping.items() if len(v) == 1)
    runs = []  # [start, end, delta, step]
    for c, d in singles:
        if runs:
            s, e, dd, st = runs[-1]
            if dd == d and (st == 0 and c - e in (1, 2)):
                runs[-1] = [s, c, d, c - e]
                continue
            if dd == d and st and c - e == st:
                runs[-1][1] = c
                continue
        runs.append([c, c, d, 0])
    items = []
    for s, e, d, st in runs:
        items.append(f"{s:X}:{d:+d}" if s == e else f"{s:X}-{e:X}/{st}:{d:+d}")
    multi = {c: v for c, v in mapping.items() if len(v) != 1}
    return items, multi


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    nfd = normalizers.NFD()
    lower = normalizers.Lowercase()
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                       lowercase=False)
    cjk = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                                     lowercase=False)
    pre = pre_tokenizers.BertPreTokenizer()

    clean_remove, clean_space, cjk_set, decomp, mn, punct, pre_ws = [], [], [], [], [], [], []
    low = {}
    for c in ALL:
        ch = chr(c)
        k = clean.normalize_str(ch)
        if k == "":
            clean_remove.append(c)
        elif k == " " and ch != " ":
            clean_space.append(c)
        elif k != ch:
            raise SystemExit(f"unexpected clean_text output for U+{c:04X}: {k!r}")
        if cjk.normalize_str(ch) == f" {ch} ":
            cjk_set.append(c)
        d = nfd.normalize_str(ch)
        if d != ch:
            decomp.append(c)
            if unicodedata.normalize("NFD", ch) != d:
                raise SystemExit(f"Python's unicodedata ({unicodedata.unidata_version}) decomposes U+{c:04X} "
                                 f"differently from tokenizers: regenerate on another Python or add a table")
        elif strip.normalize_str(ch) == "":
            mn.append(c)
        lw = lower.normalize_str(ch)
        if lw != ch:
            low[c] = lw
        p = pre.pre_tokenize_str("a" + ch + "a")
        if len(p) == 3 and p[1][0] == ch:
            punct.append(c)
        elif len(p) == 2:
            pre_ws.append(c)
        elif len(p) != 1:
            raise SystemExit(f"unexpected pre-tokenization of U+{c:04X}: {p}")

    # Canonical combining classes known to the Rust NFD (new marks are ccc 0 there): a char x with Python ccc v > 0
    # is known when it reorders against U+0334 (ccc 1) or, for v == 1, when U+0301 (ccc 230) reorders behind it.
    def reorders(x, y):
        return nfd.normalize_str(chr(x) + chr(y)) == chr(y) + chr(x)

    ccc_known = []
    for c in ALL:
        v = unicodedata.combining(chr(c))
        if not v or c in decomp:
            continue
        if (v > 1 and reorders(c, 0x0334)) or (v == 1 and reorders(0x0301, c)):
            ccc_known.append(c)
    # check the values agree with unicodedata against one reference per class
    refs = {}
    for c in ccc_known:
        refs.setdefault(unicodedata.combining(chr(c)), c)
    for c in ccc_known:
        v = unicodedata.combining(chr(c))
        for w, r in refs.items():
            if r != c and reorders(c, r) != (v > w):
                raise SystemExit(f"ccc of U+{c:04X} differs between unicodedata and tokenizers")

    items, multi = lower_runs(low)
    out = [BEGIN]
    out.append(f"# tokenizers {__import__('tokenizers').__version__}; unicodedata {unicodedata.unidata_version} "
               "(decompositions checked equal)\n")
    out.append("# clean_text: removed (NUL, U+FFFD, control/format/private-use per tokenizers), mapped to ' '\n")
    out.append(fmt_ranges("_T_CLEAN_REMOVE", clean_remove))
    out.append(fmt_ranges("_T_CLEAN_SPACE", clean_space))
    out.append("# tokenize_chinese_chars: padded with spaces\n")
    out.append(fmt_ranges("_T_CJK", cjk_set))
    out.append("# strip_accents: code points with a canonical decomposition; non-spacing marks removed after NFD\n")
    out.append(fmt_ranges("_T_DECOMP", decomp))
    out.append(fmt_ranges("_T_MN", mn))
    out.append("# canonical combining classes the Rust NFD knows (values from unicodedata, checked equal)\n")
    out.append(fmt_ranges("_T_CCC_KNOWN", ccc_known))
    out.append("# lowercase (Rust char::to_lowercase, no final-sigma rule): 'start-end/step:delta' runs\n")
    out.append("\n".join(["_T_LOWER = ("] + _pack(items) + [")"]) + "\n")
    out.append(f"_T_LOWER_MULTI = {{{', '.join(f'0x{c:X}: {v!r}' for c, v in sorted(multi.items()))}}}\n")
    out.append("# BertPreTokenizer: punctuation (isolated) and whitespace (split) after normalization\n")
    out.append(fmt_ranges("_T_PUNCT", punct))
    out.append(fmt_ranges("_T_PRE_WS", pre_ws))
    out.append(END)
    block = "".join(out)
    if "--write" in argv:
        with open(TARGET, encoding="utf-8") as f:
            src = f.read()
        a, b = src.index(BEGIN), src.index(END) + len(END)
        with open(TARGET, "w", encoding="utf-8") as f:
            f.write(src[:a] + block + src[b:])
        print(f"wrote {TARGET}")
    else:
        sys.stdout.write(block)


if __name__ == "__main__":
    main()
