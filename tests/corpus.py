"""A deterministic corpus of real mixed text for the tokenizer parity tests and benchmark, built offline.

Sources (read from the installed Python and site-packages; nothing is downloaded):
  * code:  lines of the Python standard library's .py files (code, comments, docstrings, odd strings in tests)
  * docs:  documentation in site-packages: METADATA long descriptions (Markdown / reST), LICENSE texts and
           .md/.rst/.txt files
  * i18n:  human translations from Django's gettext catalogues (``django/**/locale/*/LC_MESSAGES/*.po``, ~100
           languages: Chinese, Japanese, Korean, Arabic, Hebrew, Cyrillic, Devanagari, Thai, accented Latin, ...)
  * emoji: every emoji sequence of the `emoji` package (ZWJ sequences, skin tones, flags, keycaps, VS16) with its
           names in 14 languages
  * long:  runs of consecutive doc / translation / code lines joined into one text (64 to 600+ tokens)

The i18n and emoji parts need the PyPI packages `django` and `emoji`.

File lists are sorted and sampling uses fixed seeds: the same environment always gives the same lines.
``python tests/corpus.py`` prints a summary.
"""
from __future__ import annotations

import functools
import glob
import json
import os
import random
import re
import sysconfig

DEFAULT_SIZES = {"code": 18000, "docs": 12000, "i18n": 22000, "emoji": 5000, "long": 3000}  # 60,000 lines
_SEED = 20240611


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _lines(text: str):
    return [line for line in text.splitlines() if line.strip()]


def _site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


def _package_dir(name: str) -> str:
    for sp in _site_packages():
        d = os.path.join(sp, name)
        if os.path.isdir(d):
            return d
    raise RuntimeError(f"the tokenizer corpus needs the `{name}` package (pip install {name})")


def code_lines() -> list[str]:
    stdlib = sysconfig.get_paths()["stdlib"]
    files = []
    for root, dirs, names in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__"))
        files.extend(os.path.join(root, n) for n in names if n.endswith(".py"))
    out = []
    for f in sorted(files)[::3]:  # every third file is plenty (~230k lines) and keeps the build fast
        text = _read(f)
        if text is not None:
            out.extend(_lines(text))
    return out


def doc_lines(skip=None) -> list[str]:
    """Documentation in site-packages; skip(path, site_packages) -> True leaves a file out (benchmarks/textlines.py
    leaves out Django's and emoji's, so that its corpus is the same with or without them)."""
    skip = skip or (lambda path, sp: False)
    out = []
    for sp in _site_packages():
        meta = sorted(glob.glob(os.path.join(sp, "*.dist-info", "METADATA")))
        lic = sorted(glob.glob(os.path.join(sp, "*.dist-info", "**", "LICEN[SC]E*"), recursive=True)
                     + glob.glob(os.path.join(sp, "*.dist-info", "**", "COPYING*"), recursive=True))
        docs = sorted(p for ext in ("md", "rst", "txt") for depth in ("*", "*/*", "*/*/*")
                      for p in glob.glob(os.path.join(sp, depth, f"*.{ext}")) if os.path.getsize(p) < 2_000_000)
        for f in meta:
            text = None if skip(f, sp) else _read(f)
            if text is not None:
                out.extend(_lines(text.partition("\n\n")[2]))  # the long description after the headers
        for f in lic + docs:
            text = None if skip(f, sp) else _read(f)
            if text is not None:
                out.extend(_lines(text))
    return out


def _unescape_po(s: str) -> str:
    if "\\" not in s:
        return s
    return re.sub(r'\\(["\\nt])', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def i18n_lines() -> list[str]:
    """The msgid / msgstr strings of Django's .po catalogues (multi-line strings joined, escapes undone)."""
    out = []

    def flush(parts):
        if parts:
            s = _unescape_po("".join(parts))
            if s.strip() and not s.startswith("Project-Id-Version"):
                out.append(s)

    for f in sorted(glob.glob(os.path.join(_package_dir("django"), "**", "*.po"), recursive=True)):
        text = _read(f)
        if text is None:
            continue
        cur = None
        for line in text.splitlines():
            if line.startswith('"') and cur is not None:
                cur.append(line.strip()[1:-1])
                continue
            flush(cur)
            cur = None
            if line.startswith("msg"):
                keyword, _, rest = line.partition(" ")
                rest = rest.strip()
                if keyword != "msgctxt" and len(rest) >= 2 and rest[0] == rest[-1] == '"':
                    cur = [rest[1:-1]]
        flush(cur)
    return out


def emoji_lines() -> list[str]:
    codes = os.path.join(_package_dir("emoji"), "unicode_codes")
    with open(os.path.join(codes, "emoji.json"), encoding="utf-8") as f:
        data = json.load(f)
    langs = {}
    for p in sorted(glob.glob(os.path.join(codes, "emoji_*.json"))):
        with open(p, encoding="utf-8") as f:
            langs[os.path.basename(p)[6:-5]] = json.load(f)
    out = []
    for e in sorted(data):
        names = [data[e]["en"]] + [langs[k][e] for k in sorted(langs) if e in langs[k]]
        out.append(f"{e} " + " | ".join(n.strip(":").replace("_", " ") for n in names))
    return out


def _sample(rng: random.Random, lines: list[str], k: int) -> list[str]:
    lines = list(dict.fromkeys(lines))  # no duplicates, order kept
    if k >= len(lines):
        return lines
    return [lines[i] for i in sorted(rng.sample(range(len(lines)), k))]


def _paragraphs(rng: random.Random, pools: list[list[str]], k: int) -> list[str]:
    out = []
    for i in range(k):
        pool = pools[i % len(pools)]
        n = rng.randint(60, 160) if i % 10 == 9 else rng.randint(5, 40)  # every 10th is long (often > 512 tokens)
        start = rng.randrange(max(1, len(pool) - n))
        out.append(" ".join(pool[start:start + n]))
    return out


@functools.lru_cache(maxsize=4)
def build_corpus(total: int | None = None) -> tuple[str, ...]:
    """The corpus lines (60,000 by default; `total` scales every part), kinds shuffled together."""
    sizes = dict(DEFAULT_SIZES)
    if total is not None:
        scale = total / sum(sizes.values())
        sizes = {k: max(1, round(v * scale)) for k, v in sizes.items()}
    rng = random.Random(_SEED)
    code, docs, i18n, emo = code_lines(), doc_lines(), i18n_lines(), emoji_lines()
    parts = [
        _sample(rng, code, sizes["code"]),
        _sample(rng, docs, sizes["docs"]),
        _sample(rng, i18n, sizes["i18n"]),
        _sample(rng, emo, sizes["emoji"]),
        _paragraphs(rng, [docs, i18n, code], sizes["long"]),
    ]
    lines = [line for part in parts for line in part]
    random.Random(_SEED + 1).shuffle(lines)  # any slice is a representative mix
    return tuple(lines)


def corpus_stats(lines) -> dict:
    def has(s, lo, hi):
        return any(lo <= ord(c) <= hi for c in s)

    non_ascii = [s for s in lines if not s.isascii()]
    return {
        "lines": len(lines),
        "chars": sum(map(len, lines)),
        "non_ascii": len(non_ascii),
        "cjk": sum(has(s, 0x3040, 0x9FFF) or has(s, 0xAC00, 0xD7A3) for s in non_ascii),
        "latin_accents": sum(has(s, 0xC0, 0x24F) for s in non_ascii),
        "cyrillic": sum(has(s, 0x400, 0x4FF) for s in non_ascii),
        "arabic_hebrew": sum(has(s, 0x590, 0x6FF) for s in non_ascii),
        "emoji": sum(has(s, 0x1F000, 0x1FAFF) or has(s, 0x2600, 0x27BF) for s in non_ascii),
        "max_chars": max(map(len, lines), default=0),
    }


if __name__ == "__main__":
    import time
    t0 = time.perf_counter()
    corpus = build_corpus()
    print(f"built in {time.perf_counter() - t0:.1f}s:", corpus_stats(corpus))
