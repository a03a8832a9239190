"""The tokenizer benchmark's corpus: >= 50,000 distinct lines of real text found offline on any install, without the
test-only packages Django and emoji (tests/corpus.py, which the parity tests use, needs both).

Sources, read from disk (nothing is downloaded; file lists are sorted, sampling uses fixed seeds, so the same machine
always gives the same lines):
  code     lines of the Python standard library's .py files (tests/corpus.code_lines: code, comments, docstrings,
           the odd strings of CPython's own tests)
  docs     site-packages documentation (METADATA long descriptions, LICENSE texts, .md / .rst / .txt files) of every
           distribution but Django's and emoji's, and this repository's prose (README files, the notebooks' cells)
  i18n     human translations: the msgstr strings of the compiled gettext catalogues (*.mo) under the system's and
           Python's share/locale and in site-packages (Django's excepted) -- on a Debian-like system a few thousand
           catalogues in ~200 languages -- and CPython's CJK codec test texts (test/cjkencodings/*-utf8.txt)
  unicode  one line per symbol character (emoji among them) with its Unicode name, from `unicodedata`
  long     runs of consecutive docs / i18n / code lines joined into one text (64 to 600+ tokens)

A part whose sources hold fewer lines than its share (a slim image without /usr/share/locale, say) leaves the rest to
the standard library's code, which always has enough. extras=True adds Django's translations and emoji's names
(tests/corpus.py) when those packages are installed; the benchmark does not by default, so its corpus is the same
with or without them.

    python benchmarks/textlines.py          # prints the summary
"""
from __future__ import annotations

import gettext
import glob
import importlib.util
import json
import os
import random
import sys
import sysconfig
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import corpus as _tests_corpus  # noqa: E402  (stdlib only: the Python source and file helpers)

SIZES = {"code": 18000, "docs": 12000, "i18n": 22000, "unicode": 5000, "long": 3000}  # 60,000 lines
SEED = 20240611
MAX_CATALOGUES = 300  # gettext catalogues read (spread evenly over the sorted list): ~100,000 strings, < 1 s
SKIPPED_DISTRIBUTIONS = ("django", "emoji")  # test-only packages: the corpus must not depend on them


def _skipped(path: str, site_packages: str) -> bool:
    top = os.path.relpath(path, site_packages).split(os.sep)[0].lower()
    return any(top == name or top.startswith(name + "-") for name in SKIPPED_DISTRIBUTIONS)


def code_lines() -> list[str]:
    return _tests_corpus.code_lines()


def _notebook_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            cells = json.load(f).get("cells", [])
    except (OSError, ValueError):
        return []
    return [line for cell in cells for line in _tests_corpus._lines("".join(cell.get("source", [])))]


def _repository_readmes() -> list[str]:
    """README.md files of the checkout (not of build/, virtual environments or other hidden folders)."""
    out = []
    for root, dirs, names in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "build" and not d.endswith(".egg-info"))
        out.extend(os.path.join(root, n) for n in names if n == "README.md")
    return sorted(out)


def doc_lines() -> list[str]:
    """site-packages documentation (Django's and emoji's excepted) and the repository's own prose."""
    read, lines = _tests_corpus._read, _tests_corpus._lines
    out = _tests_corpus.doc_lines(skip=_skipped)
    for f in _repository_readmes():
        out.extend(lines(read(f) or ""))
    for f in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        out.extend(_notebook_lines(f))
    return out


def catalogue_files() -> list[str]:
    """Compiled gettext catalogues on this machine, sorted: share/locale of the system and of Python, and any in
    site-packages (Django's excepted)."""
    roots = sorted({os.path.join(p, "share", "locale") for p in (sys.base_prefix, sys.prefix, "/usr", "/usr/local")})
    files = [f for r in roots for f in glob.glob(os.path.join(r, "*", "LC_MESSAGES", "*.mo"))]
    for sp in _tests_corpus._site_packages():
        for root, dirs, names in os.walk(sp):
            dirs[:] = sorted(d for d in dirs if not (root == sp and _skipped(os.path.join(root, d), sp)))
            files.extend(os.path.join(root, n) for n in names if n.endswith(".mo"))
    return sorted(set(files))


def i18n_lines() -> tuple[list[str], dict]:
    """Translated strings (msgstr) of up to MAX_CATALOGUES catalogues, and CPython's CJK test texts; with what was
    read (catalogues, languages)."""
    files = catalogue_files()
    chosen = files[::max(1, -(-len(files) // MAX_CATALOGUES))]
    out, languages = [], set()
    for f in chosen:
        try:
            with open(f, "rb") as fh:
                catalogue = gettext.GNUTranslations(fh)._catalog
        except Exception:  # a catalogue in a legacy charset, or damaged: skipped
            continue
        strings = [v for k, v in catalogue.items() if (k[0] if isinstance(k, tuple) else k) and v.strip()]
        out.extend(strings)
        if strings:
            languages.add(f.split(os.sep)[-3].split("_")[0])
    cjk = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "test", "cjkencodings", "*-utf8.txt")))
    for f in cjk:
        out.extend(_tests_corpus._lines(_tests_corpus._read(f) or ""))
    return out, {"catalogues": len(chosen), "of": len(files), "languages": len(languages), "cjk_files": len(cjk)}


def unicode_lines() -> list[str]:
    """Every symbol character (category So: emoji, dingbats, signs of many scripts) with its name in lower case."""
    out = []
    for c in range(0x110000):
        ch = chr(c)
        if unicodedata.category(ch) == "So":
            out.append(f"{ch} {unicodedata.name(ch, '').lower()}")
    return out


def _extras() -> dict[str, list[str]]:
    """Django's translations and emoji's names (tests/corpus.py), for those of the two that are installed."""
    out = {}
    if importlib.util.find_spec("django") is not None:
        out["i18n"] = _tests_corpus.i18n_lines()
    if importlib.util.find_spec("emoji") is not None:
        out["unicode"] = _tests_corpus.emoji_lines()
    return out


def build(total: int = sum(SIZES.values()), extras: bool = False) -> tuple[list[str], dict]:
    """(lines, report): `total` distinct non-empty lines (every part scaled), kinds shuffled together, and per part
    the lines used, the pool they were drawn from and where it came from."""
    scale = total / sum(SIZES.values())
    sizes = {k: max(1, round(v * scale)) for k, v in SIZES.items()}
    sizes["code"] += total - sum(sizes.values())
    i18n, i18n_info = i18n_lines()
    pools = {"code": code_lines(), "docs": doc_lines(), "i18n": i18n, "unicode": unicode_lines()}
    sources = {"code": "Python standard library .py files (every third)",
               "docs": "site-packages docs (Django, emoji excepted) + this repository's READMEs and notebooks",
               "i18n": f"gettext catalogues: {i18n_info['catalogues']} of {i18n_info['of']} *.mo, "
                       f"{i18n_info['languages']} languages; {i18n_info['cjk_files']} CPython CJK test texts",
               "unicode": "unicodedata: symbol characters (So) and their names"}
    if extras:
        for part, lines in _extras().items():
            pools[part] = pools[part] + lines
            sources[part] += "; + " + ("Django's .po translations" if part == "i18n" else "emoji's names")
    pools = {k: list(dict.fromkeys(v)) for k, v in pools.items()}  # distinct, first occurrence kept
    rng = random.Random(SEED)
    seen: set[str] = set()
    parts: dict[str, list[str]] = {}

    def take(part: str, pool: list[str], k: int) -> list[str]:
        fresh = [line for line in pool if line not in seen]
        picked = fresh if k >= len(fresh) else [fresh[i] for i in sorted(rng.sample(range(len(fresh)), k))]
        seen.update(picked)
        parts[part] = parts.get(part, []) + picked
        return picked

    for part in ("docs", "i18n", "unicode"):
        short = sizes[part] - len(take(part, pools[part], sizes[part]))
        sizes["code"] += short  # what a part's sources lack comes from the standard library
    long_lines = []
    for i in range(sizes["long"]):
        pool = [pools["docs"], pools["i18n"] or pools["docs"], pools["code"]][i % 3]
        n = rng.randint(60, 160) if i % 10 == 9 else rng.randint(5, 40)  # every 10th is long (often > 512 tokens)
        start = rng.randrange(max(1, len(pool) - n))
        line = " ".join(pool[start:start + n])
        if line not in seen:
            seen.add(line)
            long_lines.append(line)
    parts["long"] = long_lines
    take("code", pools["code"], total - len(seen))
    lines = [line for part in parts.values() for line in part]
    random.Random(SEED + 1).shuffle(lines)  # any slice is a representative mix
    sources["long"] = "runs of 5-160 consecutive docs / i18n / code lines joined with spaces"
    report = {part: {"lines": len(parts[part]), "pool": len(pools.get(part, [])), "source": sources[part]}
              for part in ("code", "docs", "i18n", "unicode", "long")}
    return lines, report


def describe(lines: list[str], report: dict) -> str:
    """A few lines for the benchmark's printout: size, scripts, and what each part holds."""
    stats = _tests_corpus.corpus_stats(lines)
    head = (f"{stats['lines']:,} distinct lines, {stats['chars']:,} characters; {stats['non_ascii']:,} with non-ASCII "
            f"(CJK {stats['cjk']:,}, Cyrillic {stats['cyrillic']:,}, Arabic/Hebrew {stats['arabic_hebrew']:,}, "
            f"accented Latin {stats['latin_accents']:,}, emoji {stats['emoji']:,})")
    rows = [f"  {part:<8}{r['lines']:>7,} lines (of {r['pool']:,}): {r['source']}" if part != "long" else
            f"  {part:<8}{r['lines']:>7,} lines: {r['source']}" for part, r in report.items()]
    return "\n".join([head, *rows])


if __name__ == "__main__":
    import time
    t0 = time.perf_counter()
    corpus_lines, corpus_report = build(extras="--extras" in sys.argv)
    print(f"built in {time.perf_counter() - t0:.1f} s: " + describe(corpus_lines, corpus_report))
