"""A deterministic corpus of real mixed text, built offline from installed packages.

Sources (sorted file lists, fixed-seed sampling):
- code and docstrings: the Python standard library's .py files;
- prose and markdown: METADATA / LICENSE / README files of the installed distributions;
- non-English text (CJK, Arabic, Cyrillic, accents, ...): the msgstr translations of Django's .po catalogues
  (pip package `Django`);
- emoji with their names in a dozen languages: the `emoji` package.
About 5% of the lines are several consecutive lines joined with their newlines, so that some texts run past 64
tokens and exercise truncation.
"""
from __future__ import annotations

import ast
import glob
import importlib
import os
import random
import sysconfig

SHARES = {"stdlib": 0.38, "metadata": 0.22, "po": 0.30, "emoji": 0.10}


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError):
        return []


def _stdlib_files() -> list[str]:
    root = sysconfig.get_paths()["stdlib"]
    return sorted(p for p in glob.glob(os.path.join(root, "*.py")) + glob.glob(os.path.join(root, "*", "*.py"))
                  if "site-packages" not in p)


def _metadata_files() -> list[str]:
    root = sysconfig.get_paths()["purelib"]
    names = ("METADATA", "LICENSE*", "README*", "AUTHORS*")
    return sorted(p for n in names for p in glob.glob(os.path.join(root, "*.dist-info", "**", n), recursive=True))


def _po_messages() -> list[str]:
    django = importlib.import_module("django")  # ImportError if missing: the corpus needs it
    root = os.path.dirname(django.__file__)
    out = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.po"), recursive=True)):
        for line in _read_lines(path):
            if line.startswith(("msgstr ", "msgstr[")):
                try:
                    text = ast.literal_eval(line.split(" ", 1)[1])
                except (ValueError, SyntaxError):
                    continue
                if text.strip():
                    out.append(text)
    return out


def _emoji_lines() -> list[str]:
    emoji = importlib.import_module("emoji")
    out = []
    for char in sorted(emoji.EMOJI_DATA):
        data = emoji.EMOJI_DATA[char]
        for lang in sorted(k for k, v in data.items() if isinstance(v, str) and len(k) == 2):
            out.append(f"{char} {data[lang].strip(':').replace('_', ' ')} {char}{char}")
    return out


def _pool_lines(files: list[str]) -> list[str]:
    return [line for path in files for line in _read_lines(path) if line.strip()]


def _sample(rng: random.Random, pool: list[str], k: int, join_share: float = 0.05) -> list[str]:
    """k lines from pool; a join_share of them are 2-12 consecutive lines joined with newlines."""
    if not pool:
        raise RuntimeError("an empty corpus source")
    out = []
    for _ in range(k):
        i = rng.randrange(len(pool))
        if rng.random() < join_share:
            out.append("\n".join(pool[i:i + rng.randint(2, 12)]))
        else:
            out.append(pool[i])
    return out


def build_corpus(n_lines: int = 50_000, seed: int = 0) -> list[str]:
    """n_lines texts mixed from the sources above, shuffled with a fixed seed."""
    rng = random.Random(seed)
    pools = {"stdlib": _pool_lines(_stdlib_files()), "metadata": _pool_lines(_metadata_files()),
             "po": _po_messages(), "emoji": _emoji_lines()}
    lines = []
    for name, share in SHARES.items():
        k = round(n_lines * share) if name != "emoji" else n_lines - len(lines)
        lines += _sample(rng, pools[name], k)
    rng.shuffle(lines)
    return lines


if __name__ == "__main__":
    corpus = build_corpus()
    print(len(corpus), "lines;", sum(not t.isascii() for t in corpus), "non-ASCII")
    for t in corpus[:20]:
        print(repr(t[:100]))
