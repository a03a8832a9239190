"""Regenerate tests/data/tokenizer/bpe/: a small byte-level BPE tokenizer shaped like RoBERTa's, for the parity tests
of refalign/tokenizers/bpe.py against transformers' RobertaTokenizer.

A byte-level BPE is trained with HuggingFace `tokenizers` (models.BPE + the ByteLevel pre-tokenizer, RoBERTa's special
tokens <s> <pad> </s> <unk> <mask> first, so they get ids 0..4) on every third line of the real-text corpus
(tests/corpus.py: code, prose, Django translations in ~100 languages, emoji names). It is written in every format a
RoBERTa checkpoint on the hub may have:

    vocab.json, merges.txt       the BPE model ("#version: 0.2" header, one merge a line, rank = line order)
    tokenizer.json               the whole pipeline (vocabulary, merges as [a, b] pairs, added tokens with <mask>'s
                                 lstrip, ByteLevel pre-tokenizer and decoder, RobertaProcessing)
    tokenizer_config.json        tokenizer_class RobertaTokenizer, model_max_length 512, add_prefix_space false
    special_tokens_map.json      the roles, <mask> with lstrip true

Unlike a real RoBERTa vocabulary, the initial alphabet is *not* forced to all 256 bytes: only the bytes that occur in
the training text become symbols, so control bytes, bytes that never occur in UTF-8 (C0, C1, F5..FF) and the lead
bytes of the supplementary planes beyond the emoji are missing. That exercises what transformers does with a byte
whose symbol is missing (the BPE model has no unk token: the symbol is dropped before merging).

Training is deterministic for a given environment (corpus.py samples with fixed seeds). Run from the repository root:

    python tests/data/tokenizer/make_bpe_fixture.py            # rewrite tests/data/tokenizer/bpe/
    python tests/data/tokenizer/make_bpe_fixture.py OUT_DIR    # somewhere else
    python tests/data/tokenizer/make_bpe_fixture.py --tables   # rewrite refalign/tokenizers/bpe.py's Unicode tables

The Unicode tables: the GPT-2 pre-tokenizer regex splits on \\p{L}, \\p{N} and \\s, which tokenizers evaluates with the
Unicode tables of its Oniguruma build (older than those of the `regex` package: code points assigned since are no
letters or digits to it). ``--tables`` asks the installed tokenizers about every code point (one piece or three in
"a?a", "1?1", "!?!") and writes the three classes between the GENERATED markers of refalign/tokenizers/bpe.py.
"""
from __future__ import annotations

import json
import os
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

VOCAB_SIZE = 5000
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MASK = {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False}
ROLES = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
         "cls_token": "<s>", "mask_token": "<mask>"}
# as RoBERTa checkpoints on the hub have them: the roles as strings in the config, <mask>'s flags in the map
TOKENIZER_CONFIG = {"tokenizer_class": "RobertaTokenizer", "model_max_length": 512, "add_prefix_space": False,
                    "trim_offsets": True, "errors": "replace", **ROLES, "clean_up_tokenization_spaces": False}
SPECIAL_TOKENS_MAP = {**ROLES, "mask_token": MASK}


def training_lines() -> list[str]:
    import corpus
    return list(corpus.build_corpus()[::3])


def build() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=[], show_progress=False)
    tok.train_from_iterator(training_lines(), trainer=trainer)
    # the special tokens as a RoBERTa checkpoint declares them (<mask> absorbs the whitespace before it)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) if t != "<mask>" else
                            AddedToken("<mask>", special=True, normalized=False, lstrip=True) for t in SPECIALS])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=False)
    assert [tok.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3, 4]
    return tok


def write(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    tok = build()
    tok.model.save(out)  # vocab.json, merges.txt
    tok.save(os.path.join(out, "tokenizer.json"), pretty=False)
    for name, data in (("tokenizer_config.json", TOKENIZER_CONFIG), ("special_tokens_map.json", SPECIAL_TOKENS_MAP)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
    alphabet = {t for t in tok.get_vocab() if len(t) == 1}
    sizes = {n: os.path.getsize(os.path.join(out, n)) for n in sorted(os.listdir(out))}
    print(f"{out}: vocab {tok.get_vocab_size()}, {len(alphabet)} of 256 byte symbols, {sizes}")


# ------------------------------------------------------------------------------------------ Unicode tables
TARGET = os.path.join(ROOT, "refalign", "tokenizers", "bpe.py")
BEGIN = "# ---- BEGIN GENERATED UNICODE TABLES (tests/data/tokenizer/make_bpe_fixture.py --tables) ----\n"
END = "# ---- END GENERATED UNICODE TABLES ----\n"


def classify() -> dict[str, list[int]]:
    """Every code point (surrogates aside) as tokenizers' ByteLevel regex sees it: letter, number or whitespace (the
    rest is "other"). A letter keeps "a?a" one piece, a number "1?1"; "!?!" is one piece for the rest only."""
    rust = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)

    def pieces(text):
        return len(rust.pre_tokenize_str(text))

    out = {"letter": [], "number": [], "space": []}
    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if pieces(f"a{ch}a") == 1:
            out["letter"].append(c)
        elif pieces(f"1{ch}1") == 1:
            out["number"].append(c)
        elif pieces(f"!{ch}!") != 1:
            out["space"].append(c)
    return out


def _ranges(cps: list[int]) -> list[str]:
    runs: list[list[int]] = []
    for c in cps:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return [f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in runs]


def _table(name: str, cps: list[int], width: int = 110) -> str:
    lines, cur = [], ""
    for item in _ranges(cps):
        if cur and len(cur) + len(item) + 1 > width:
            lines.append(cur)
            cur = ""
        cur += item + " "
    lines.append(cur)
    return "\n".join([f"{name} = ("] + [f'    "{line}"' for line in lines] + [")"]) + "\n"


def tables_block() -> str:
    import tokenizers
    classes = classify()
    head = f"# tokenizers {tokenizers.__version__}: \\p{{L}}, \\p{{N}} and \\s of its ByteLevel pre-tokenizer\n"
    return (BEGIN + head + _table("_T_LETTER", classes["letter"]) + _table("_T_NUMBER", classes["number"])
            + _table("_T_SPACE", classes["space"]) + END)


def write_tables() -> None:
    with open(TARGET, encoding="utf-8") as f:
        source = f.read()
    head, _, rest = source.partition(BEGIN)
    _, found, tail = rest.partition(END)
    if not found:
        raise SystemExit(f"{TARGET} has no GENERATED markers")
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(head + tables_block() + tail)
    print(f"rewrote the Unicode tables of {TARGET}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--tables"]:
        write_tables()
    else:
        write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "bpe"))
