"""Regenerate tests/data/tokenizer/unigram/: a SentencePiece unigram tokenizer shaped like XLM-R's (32,000 pieces), for the
parity tests of refalign/tokenizers/unigram.py against transformers' XLMRobertaTokenizer.

A unigram model is trained with the `sentencepiece` package on every second line of the real-text corpus
(tests/corpus.py: code, prose, Django translations in ~100 languages, emoji names) with XLM-R's settings: the
``nmt_nfkc`` normalisation rule (NFKC plus SentencePiece's NMT rules, stored in the model as a precompiled charsmap),
``<unk>`` = 0, ``<s>`` = 1, ``</s>`` = 2, no ``<pad>`` piece, no byte fallback, a dummy "▁" prefix. Character
coverage 0.9995 leaves the rarest characters out of the vocabulary, so the fixture meets unknown characters (fused
``<unk>`` tokens) on real text. It is written in the layout of an XLM-R / AltCLIP checkpoint on the hub:

    sentencepiece.bpe.model   the SentencePiece model (a protobuf: pieces, scores, types, normalizer spec)
    tokenizer.json            what transformers 5's XLMRobertaTokenizer.save_pretrained writes for it: the fairseq
                              vocabulary (<s> <pad> </s> <unk>, the pieces after SentencePiece's three specials, <mask>
                              last), the Precompiled normalizer (the charsmap in base64), WhitespaceSplit + Metaspace,
                              TemplateProcessing, <mask> declared lstrip
    tokenizer_config.json     as BAAI/AltCLIP's (written by transformers 4): the roles, <mask> an AddedToken with
                              lstrip (normalized true), model_max_length 512, tokenizer_class XLMRobertaTokenizer
    special_tokens_map.json   as BAAI/AltCLIP's: the roles, <mask> with lstrip (normalized false)

transformers 5 itself writes only tokenizer.json and tokenizer_config.json, so the two hub-era json files are
written here as the hub has them. Training is deterministic for a given environment (one thread, no input
shuffling, corpus.py samples with fixed seeds). Run from the repository root:

    python tests/data/tokenizer/make_unigram_fixture.py            # rewrite tests/data/tokenizer/unigram/
    python tests/data/tokenizer/make_unigram_fixture.py OUT_DIR    # somewhere else
    python tests/data/tokenizer/make_unigram_fixture.py --tables   # rewrite refalign/tokenizers/charsmap.py's table

The table: tokenizers cuts text into grapheme clusters with the unicode-segmentation crate, whose Unicode is older
than the `regex` package's, so \\X joins a few newly assigned marks to the character before them where tokenizers
does not. ``--tables`` asks the installed tokenizers about every BMP code point c (is "²c" normalised as one cluster,
"²" -> "2" dropping c, or as two?) and writes those c between the GENERATED markers of refalign/tokenizers/charsmap.py.
Only BMP code points can matter: a cluster is looked up whole only below 6 UTF-8 bytes, and the only 1-byte characters
with a rule are controls, which never join another character.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

VOCAB_SIZE = 32000  # SentencePiece pieces (XLM-R-like scale); the transformers vocabulary has two more: <pad>, <mask>
ROLES = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "sep_token": "</s>",
         "unk_token": "<unk>"}
TOKENIZER_CONFIG = {**ROLES,
                    "mask_token": {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "normalized": True,
                                   "rstrip": False, "single_word": False},
                    "model_max_length": 512, "sp_model_kwargs": {}, "tokenizer_class": "XLMRobertaTokenizer"}
SPECIAL_TOKENS_MAP = {**ROLES, "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                                              "rstrip": False, "single_word": False}}


def training_lines() -> list[str]:
    import corpus
    return list(corpus.build_corpus()[::2])


def train(vocab_size: int = VOCAB_SIZE) -> bytes:
    """The serialized SentencePiece model."""
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_lines()), model_writer=model, model_type="unigram", vocab_size=vocab_size,
        normalization_rule_name="nmt_nfkc", character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1, shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2)
    return model.getvalue()


def write(out: str, vocab_size: int = VOCAB_SIZE) -> None:
    from transformers import AddedToken, XLMRobertaTokenizer
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source, saved = os.path.join(tmp, "source"), os.path.join(tmp, "saved")
        os.makedirs(source)
        with open(os.path.join(source, "sentencepiece.bpe.model"), "wb") as f:
            f.write(train(vocab_size))
        # transformers converts the SentencePiece model (nothing else in the folder) and saves tokenizer.json
        mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
        tok = XLMRobertaTokenizer.from_pretrained(source, mask_token=mask, model_max_length=512)
        tok.save_pretrained(saved)
        shutil.copy(os.path.join(source, "sentencepiece.bpe.model"), out)
        shutil.copy(os.path.join(saved, "tokenizer.json"), out)
    for name, data in (("tokenizer_config.json", TOKENIZER_CONFIG), ("special_tokens_map.json", SPECIAL_TOKENS_MAP)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False)
            f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(out, n)) for n in sorted(os.listdir(out))}
    print(f"{out}: {len(tok)} tokens, {sizes}, {sum(sizes.values())} bytes in all")


# ------------------------------------------------------------------------------------------ grapheme table
TARGET = os.path.join(ROOT, "refalign", "tokenizers", "charsmap.py")
BEGIN = "# ---- BEGIN GENERATED GRAPHEME TABLE (tests/data/tokenizer/make_unigram_fixture.py --tables) ----\n"
END = "# ---- END GENERATED GRAPHEME TABLE ----\n"


def not_joined_code_points(tokenizer_json: str = os.path.join(HERE, "unigram", "tokenizer.json")) -> list[int]:
    """BMP code points that the `regex` package's \\X joins to a preceding "²" but tokenizers' Precompiled
    normalizer does not (it maps "²c" to "2" + c's own normalisation instead of "2")."""
    import regex
    from tokenizers import Tokenizer
    normalize = Tokenizer.from_file(tokenizer_json).normalizer.normalize_str
    base = normalize("²")
    assert base == "2", "the probe needs a charsmap with the rule ² -> 2"
    out = []
    for c in range(0x10000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        own = normalize(ch)
        if own == "":  # joined or not, "²c" normalises to "2": nothing to tell (and nothing to fix)
            continue
        joined_by_regex = len(regex.findall(r"\X", "²" + ch)) == 1
        joined_by_tokenizers = normalize("²" + ch) == base
        if joined_by_tokenizers and not joined_by_regex:
            raise SystemExit(f"U+{c:04X}: tokenizers joins it to the character before, the regex package does not; "
                             f"refalign/tokenizers/charsmap.py only corrects the other way round")
        if joined_by_regex and not joined_by_tokenizers:
            out.append(c)
    return out


def _ranges(cps: list[int]) -> str:
    runs: list[list[int]] = []
    for c in cps:
        if runs and runs[-1][1] == c - 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return " ".join(f"{a:X}" if a == b else f"{a:X}-{b:X}" for a, b in runs)


def write_tables() -> None:
    import tokenizers
    block = (BEGIN + f"# tokenizers {tokenizers.__version__}: BMP code points that the `regex` package's \\X joins to "
             f"the character before them (grapheme\n# Extend or SpacingMark in its newer Unicode) but tokenizers' "
             f"segmenter does not (unassigned in its Unicode)\n"
             f'_T_NOT_JOINED = "{_ranges(not_joined_code_points())}"\n' + END)
    with open(TARGET, encoding="utf-8") as f:
        source = f.read()
    head, _, rest = source.partition(BEGIN)
    _, found, tail = rest.partition(END)
    if not found:
        raise SystemExit(f"{TARGET} has no GENERATED markers")
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(head + block + tail)
    print(f"rewrote the grapheme table of {TARGET}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(HERE, "unigram"))
    ap.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="SentencePiece pieces (default %(default)s)")
    ap.add_argument("--tables", action="store_true", help="rewrite charsmap.py's grapheme table instead")
    args = ap.parse_args()
    if args.tables:
        write_tables()
    else:
        write(args.out, args.vocab_size)
