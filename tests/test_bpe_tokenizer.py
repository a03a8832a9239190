"""refalign.tokenizers.bpe (byte-level BPE) against transformers' RobertaTokenizer (Rust tokenizers backend,
transformers 5), and text pairs of the base class against transformers' RobertaTokenizer and BertTokenizer.

The reference is what transformers' AutoTokenizer builds from the committed fixture tests/data/tokenizer/bpe (a
5,000-token byte-level BPE trained on the corpus by make_bpe_fixture.py, RoBERTa's special tokens, <mask> lstrip,
55 byte symbols missing from its vocabulary). Parity tests need transformers/tokenizers (the `parity` extra); the
corpus needs `django` and `emoji` (the `test` extra). In CI a missing package is a failure (conftest.require).
"""
from __future__ import annotations

import json
import os
import random
import warnings

import numpy as np
import pytest

from conftest import ROOT, require
from tokenizer_helpers import differing_rows, fixture_variant
from refalign.errors import CheckpointError, ConfigError, UnsupportedModelError, WeightsNotFoundError
from refalign.tokenizers import BertTokenizer, RobertaTokenizer
from refalign.tokenizers.bpe import _splitter, bytes_to_unicode, split_words

FIXTURE = os.path.join(ROOT, "tests", "data", "tokenizer", "bpe")
ALL_CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tok() -> RobertaTokenizer:
    return RobertaTokenizer.from_pretrained(FIXTURE)


@pytest.fixture(scope="module")
def hf():
    transformers = require("transformers")
    t = transformers.AutoTokenizer.from_pretrained(FIXTURE)
    assert type(t).__name__ == "RobertaTokenizer" and t.backend_tokenizer is not None
    return t




@pytest.fixture(scope="module")
def bert(tiny_dir) -> BertTokenizer:
    return BertTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def hf_bert(tiny_dir):
    t = require("transformers").AutoTokenizer.from_pretrained(tiny_dir)
    assert type(t).__name__ == "BertTokenizer"
    return t


def _variant(tmp_path, name: str, files, edit_config=None) -> str:
    return fixture_variant(FIXTURE, tmp_path, name, files, edit_config)


_compare = differing_rows


# ---------------------------------------------------------------------------------------------------- the fixture
def test_fixture_is_small_and_shaped_like_roberta(tok, hf):
    sizes = {f: os.path.getsize(os.path.join(FIXTURE, f)) for f in os.listdir(FIXTURE)}
    assert set(sizes) == {"vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                          "special_tokens_map.json"}
    assert sum(sizes.values()) < 300_000
    assert [tok.convert_tokens_to_ids(t) for t in SPECIALS] == [hf.convert_tokens_to_ids(t) for t in SPECIALS] \
        == [0, 1, 2, 3, 4]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id) == \
        (hf.bos_token_id, hf.pad_token_id, hf.eos_token_id, hf.unk_token_id, hf.mask_token_id)
    assert tok.vocab_size == hf.vocab_size == len(tok) == len(hf) == 5000
    assert tok.model_max_length == hf.model_max_length == 512
    assert tok.add_prefix_space is False and tok._special_strip == {"<mask>": (True, False)}
    missing = [s for s in bytes_to_unicode().values() if s not in tok.vocab]
    assert len(missing) >= 40  # bytes whose symbol is missing: what transformers does with them is tested below


# ---------------------------------------------------------------------------------------------------- corpus
def test_corpus_full_token_sequences(backend, tok, corpus):
    """Every token of every line (60,000 real lines, up to thousands of tokens each), no special tokens added."""
    enc = backend.encode_batch(list(corpus), add_special_tokens=False)
    bad = [s for s, e in zip(corpus, enc) if tok._encode(s) != e.ids]
    assert not bad, f"{len(bad)} lines differ, e.g. {bad[:3]!r}"
    assert [tok.tokenize(s) for s in corpus[:3000]] == [e.tokens for e in enc[:3000]]


def test_corpus_batches_padded_and_truncated(hf, tok, corpus):
    """input_ids and attention_mask identical on the whole corpus padded to 64 with truncation, and on part of it
    padded to the longest / to 7."""
    bad = _compare(hf, tok, corpus, padding="max_length", max_length=64, truncation=True)
    assert not bad, f"{len(bad)} lines differ, e.g. {bad[:3]!r}"
    assert not _compare(hf, tok, corpus[:8000], padding=True, max_length=128, truncation=True)
    assert not _compare(hf, tok, corpus[8000:12000], padding="max_length", max_length=7, truncation=True)
    assert not _compare(hf, tok, corpus[12000:16000], padding=True, truncation=True, return_token_type_ids=True)


def test_corpus_pairs(hf, tok, corpus):
    """<s> A </s></s> B </s>: longest_first truncation splits the budget as the Rust tokenizers does."""
    firsts, seconds = corpus[:12000], corpus[12000:24000]
    assert not _compare(hf, tok, firsts, seconds, padding=True, truncation=True, max_length=96)
    assert not _compare(hf, tok, firsts[:4000], seconds[:4000], padding="max_length", max_length=33, truncation=True,
                        return_token_type_ids=True)
    got = tok(firsts[:50], seconds[:50], padding=True, truncation=True, max_length=40, return_token_type_ids=True)
    assert not got["token_type_ids"].any()  # RobertaProcessing: type 0 everywhere
    assert (got["input_ids"] == 2).sum(1).min() == 3  # </s> </s> between, </s> at the end


def test_only_first_only_second(hf, tok, bert, hf_bert, corpus):
    """Cutting one text of the pair only; a text too short to absorb the excess is an error in both. "Short" is
    counted in tokens of both tokenizers: a 39-character line of a script the small BPE spells byte by byte can be
    over 64 tokens (which lines the corpus holds depends on the installed packages)."""
    long = [s for s in corpus if len(s) > 600][:400]
    short = [s for s in corpus if 5 < len(s) < 40 and max(len(tok._encode(s)), len(bert._encode(s))) <= 20][:400]
    assert len(long) == len(short) == 400
    for ref, mine in ((hf, tok), (hf_bert, bert)):
        assert not _compare(ref, mine, long, short, padding="max_length", max_length=64, truncation="only_first")
        assert not _compare(ref, mine, short, long, padding="max_length", max_length=64, truncation="only_second")
        with pytest.raises(Exception, match="too short"):
            ref(short, long, truncation="only_first", max_length=64)
        with pytest.raises(ValueError, match="too few"):
            mine(short, long, truncation="only_first", max_length=64)
        with pytest.raises(Exception, match="Second sequence not provided"):
            ref(long, truncation="only_second", max_length=64)
        with pytest.raises(ValueError, match="no text_pair"):
            mine(long, truncation="only_second", max_length=64)
        assert not _compare(ref, mine, short, truncation="only_second", max_length=512, padding=True)  # no cut needed


# ---------------------------------------------------------------------------------------------------- code points
def test_pretokenizer_every_code_point():
    """The GPT-2 regex against tokenizers' ByteLevel pre-tokenizer, which classifies code points with older Unicode
    tables than the regex package: every code point between "!" (where an "other" character joins them and any other
    class is cut out), then every letter, number and whitespace between "a" and "1" (which tells the three apart)
    and after a space. Both patterns: the one split_words picks, and the exact one (the tables) on every chunk."""
    pre = require("tokenizers").pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    table = str.maketrans({chr(b): s for b, s in bytes_to_unicode().items()})
    splitter = _splitter()
    assert splitter.disputed is not None  # this regex package is newer than tokenizers' Unicode tables

    def check(context, code_points, chunk=2048):
        bad, disputed = [], 0
        for i in range(0, len(code_points), chunk):
            text = "".join(context.format(chr(c)) for c in code_points[i:i + chunk])
            expected = [w for w, _ in pre.pre_tokenize_str(text)]
            disputed += splitter.disputed(text) is not None
            for words in (split_words(text), splitter.exact(text)):
                if [w.encode("utf-8").decode("latin-1").translate(table) for w in words] != expected:
                    bad.append((context, f"U+{code_points[i]:04X}.."))
        assert not bad, f"{len(bad)} chunks differ, e.g. {bad[:5]}"
        return disputed

    assert check("!{}!", ALL_CODE_POINTS) > 0  # the exact pattern ran on the chunks holding disputed code points
    not_other = [c for c in ALL_CODE_POINTS if split_words(f"!{chr(c)}!") != [f"!{chr(c)}!"]]
    assert len(not_other) > 140_000
    for context in ("a{}1", " {} "):
        check(context, not_other)


def test_every_code_point_ids(backend, tok, hf):
    """Every code point as a word of its own (after a newline, a non-space code point is the word it is as a whole
    text), every code point run together with its neighbours (chunks of 512: long words, the heap merge), and one
    in 97 as a text of its own in a padded batch."""
    for context, size in (("\n{}", 4096), ("{}", 512)):
        texts = ["".join(context.format(chr(c)) for c in ALL_CODE_POINTS[i:i + size])
                 for i in range(0, len(ALL_CODE_POINTS), size)]
        enc = backend.encode_batch(texts, add_special_tokens=False)
        bad = [t[:20] for t, e in zip(texts, enc) if tok._encode(t) != e.ids]
        assert not bad, f"{context!r}: {len(bad)} chunks differ, e.g. {bad[:3]!r}"
    assert tok._encode("\n\u4e00\n") == [*tok._encode("\n"), *tok._encode("\u4e00"), *tok._encode("\n")]
    assert not _compare(hf, tok, [chr(c) for c in ALL_CODE_POINTS[::97]], padding=True)


def test_missing_bytes_are_dropped(tok, hf, backend):
    """A byte whose symbol is not in the vocabulary disappears (no <unk>: the BPE model has no unk token), and the
    symbols around it may then merge."""
    missing = [b for b, s in bytes_to_unicode().items() if s not in tok.vocab]
    assert 0x00 in missing and 0x7F in missing
    # two punctuation symbols that merge, with DEL (same "other" class: one word) between them
    a, b = next((a, b) for a, b in tok._ranks if len(a) == len(b) == 1 and a + b in tok.vocab
                and not a.isalnum() and not b.isalnum() and a.isascii() and b.isascii() and a not in "'<")
    text = f"{a}\x7f{b}"
    assert tok._encode(text) == backend.encode(text, add_special_tokens=False).ids == [tok.vocab[a + b]]
    texts = [text, "\x00", "a\x01\x02b", "x\x7f\x7f", "\U00100000", "\U000fffff a", "a\U00040000b", "\x1b[0m"]
    for text in texts:
        assert tok._encode(text) == backend.encode(text, add_special_tokens=False).ids, repr(text)
        assert tok.unk_token_id not in tok._encode(text)
    assert tok._encode("\x00\x01\x7f") == []
    assert tok("\x00")["input_ids"].tolist() == [hf("\x00")["input_ids"]] == [[0, 2]]
    assert not _compare(hf, tok, texts, padding=True)


# ---------------------------------------------------------------------------------------------------- hypothesis
def _text_strategy():
    from hypothesis import strategies as st
    specials = st.sampled_from(SPECIALS + [" <mask>", "  <mask>", "\t<mask>", "\u3000<mask>", "\n <mask> ", "<mask",
                                           "mask>", "<<s>>", "<s", "</s", "<MASK>", "< s>", "<mask><mask>"])
    interesting = st.sampled_from(
        list("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000")  # spaces
        + list("\x00\x01\x7f\x9f\u00ad\u200b\u200d\u2060\ufeff\ufffd")  # controls, format
        + list("\u0300\u0301\u0308\u0327\u0345\u0670\u093c\u0e31\u1ab0\u20dd\ufe0f\ufe20\U0001D165")  # marks
        + list("日本語中文한국어가\u4e00\u3400\U00020000\u3005\u3007")
        + list("😀👍🏽👩\u200d💻🇯🇵#️⃣🫠\U0001FAE8")  # emoji, ZWJ, skin tone, flags, keycaps
        + list("«»¿¡§¶·–—‘’“”…\u0589\u060c\u061f\u0964\u3001\u3002")
        + list("$+<=>^`|~@#%&*_\\/\"'{}[]()0123456789²³½٣\u0660\u2167")
        + list("\ue000\U000f0000\U0010fffd\u0378\U0001ffff\ufdd0\u1c89\ua7cb\U000105c0\U00011de0")  # PUA, new
    )
    words = st.sampled_from(["hello", "Hello", "don't", "I'm", "we'll", "they've", "'S", "''s", "naïve", "café",
                             "x" * 300, "1.5", "2024", "e-mail", "straße", "Ünïcödé", "ﬁnance", "Ⅻ", "①",
                             "   ", "  a", "a  ", "\n\n", " \n ", "http://example.com/a?b=c"])
    any_char = st.characters(exclude_categories=("Cs",))
    piece = st.one_of(specials, interesting, words, any_char, st.text(any_char, max_size=5))
    return st.lists(piece, max_size=40).map("".join)


def _hypothesis(check, strategy, examples: int) -> None:
    """Run check on `examples` derandomized (reproducible) examples of strategy."""
    from hypothesis import HealthCheck, given, settings
    settings(max_examples=examples, derandomize=True, deadline=None, database=None,
             suppress_health_check=list(HealthCheck))(given(strategy)(check))()


def test_hypothesis_arbitrary_text(tok, backend):
    require("hypothesis")

    def check(text):
        assert tok._encode(text) == backend.encode(text, add_special_tokens=False).ids, repr(text)

    _hypothesis(check, _text_strategy(), 3000)


def test_hypothesis_batches_and_pairs(tok, hf):
    from hypothesis import strategies as st

    def check(pairs, max_length):
        firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
        assert not _compare(hf, tok, firsts, padding="max_length", max_length=max_length, truncation=True)
        assert not _compare(hf, tok, firsts, seconds, padding=True, max_length=max_length, truncation=True)

    texts = st.lists(st.tuples(_text_strategy(), _text_strategy()), min_size=1, max_size=6)
    _hypothesis(lambda args: check(*args), st.tuples(texts, st.sampled_from([5, 16, 64])), 200)


# ---------------------------------------------------------------------------------------------------- files
def test_vocab_merges_and_tokenizer_json_give_the_same_ids(tmp_path, tok, hf, corpus):
    """vocab.json + merges.txt (+ special_tokens_map.json for <mask>'s lstrip) and tokenizer.json alone (what
    transformers 5's save_pretrained writes: merges as [a, b] pairs, no added_tokens_decoder) read the same."""
    legacy = _variant(tmp_path, "legacy", ["vocab.json", "merges.txt", "tokenizer_config.json",
                                           "special_tokens_map.json"])
    saved = tmp_path / "saved"
    hf.save_pretrained(saved)
    assert sorted(os.listdir(saved)) == ["tokenizer.json", "tokenizer_config.json"]
    strings = _variant(tmp_path, "strings", ["tokenizer.json", "tokenizer_config.json"])
    with open(os.path.join(strings, "tokenizer.json"), encoding="utf-8") as f:
        data = json.load(f)
    data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]  # the older "a b" form
    with open(os.path.join(strings, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(data, f)
    lines = list(corpus[::6]) + ["a <mask> b", "x\u3000 <mask>", "<s>q</s>"]
    reference = [tok._encode(s) for s in lines]
    for directory in (legacy, saved, strings):
        other = RobertaTokenizer.from_pretrained(directory)
        assert other._special_strip == {"<mask>": (True, False)}, directory
        assert (other.tokenizer_file is None) == (directory == legacy)  # tokenizer.json is read when present
        assert [other._encode(s) for s in lines] == reference, directory
    transformers = require("transformers")
    for directory in (legacy, saved):
        assert not _compare(transformers.AutoTokenizer.from_pretrained(directory), RobertaTokenizer.from_pretrained(
            directory), lines[-400:], padding=True, truncation=True)


@pytest.mark.parametrize("name", ["no_special_tokens_map", "mask_object_in_config", "rstrip_decoder",
                                  "tokenizer_json_only"])
def test_special_token_flags_read_as_transformers(tmp_path, name):
    """Where <mask>'s lstrip / rstrip come from: without special_tokens_map.json a plain vocab.json + merges.txt
    has none; a token object in tokenizer_config.json; added_tokens_decoder wins over everything."""
    transformers = require("transformers")
    with open(os.path.join(FIXTURE, "tokenizer.json"), encoding="utf-8") as f:
        added = json.load(f)["added_tokens"]

    def mask_object(config):
        config["mask_token"] = {"__type": "AddedToken", "content": "<mask>", "lstrip": True, "rstrip": True,
                                "single_word": False, "normalized": False}

    def rstrip_decoder(config):
        config["added_tokens_decoder"] = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added}
        config["added_tokens_decoder"]["4"].update(lstrip=False, rstrip=True)
        mask_object(config)  # loses to added_tokens_decoder

    variants = {
        "no_special_tokens_map": (["vocab.json", "merges.txt", "tokenizer_config.json"], None, {}),
        "mask_object_in_config": (["vocab.json", "merges.txt", "tokenizer_config.json"], mask_object,
                                  {"<mask>": (True, True)}),
        "rstrip_decoder": (["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"], rstrip_decoder,
                           {"<mask>": (False, True)}),
        "tokenizer_json_only": (["tokenizer.json"], None, {"<mask>": (True, False)}),
    }
    files, edit, strip = variants[name]
    directory = _variant(tmp_path, name, files, edit)
    mine = RobertaTokenizer.from_pretrained(directory)
    assert mine._special_strip == strip
    texts = ["a <mask> b", "a  <mask>  b", "x\u3000<mask>\u3000y", "<mask>", " <mask> ", "a\x1c<mask>\x1cb",
             "<mask> <mask>", "a\n<mask>\n", "q <s> r </s>s"]
    ref = transformers.AutoTokenizer.from_pretrained(directory)
    assert [mine(t)["input_ids"][0].tolist() for t in texts] == [ref(t)["input_ids"] for t in texts]


def test_add_prefix_space(tmp_path, tok, hf, corpus):
    """add_prefix_space=True (keyword or tokenizer_config.json): a space before every piece between special tokens
    that does not start with one; the empty text stays empty."""
    transformers = require("transformers")
    assert tok._encode("Hello") != tok._encode(" Hello")
    on = RobertaTokenizer.from_pretrained(FIXTURE, add_prefix_space=True)
    ref = transformers.AutoTokenizer.from_pretrained(FIXTURE, add_prefix_space=True)
    assert on._encode("Hello") == on._encode(" Hello") == tok._encode(" Hello")
    texts = list(corpus[:5000]) + ["", " ", "x<s>y", "<mask>z", "a <mask>", "\n", "<s>", "</s> </s>"]
    assert not _compare(ref, on, texts, padding=True, truncation=True, max_length=64)
    configured = _variant(tmp_path, "prefix", ["vocab.json", "merges.txt", "tokenizer_config.json",
                                               "special_tokens_map.json"], lambda c: c.update(add_prefix_space=True))
    assert RobertaTokenizer.from_pretrained(configured).add_prefix_space is True
    assert not _compare(transformers.AutoTokenizer.from_pretrained(configured),
                        RobertaTokenizer.from_pretrained(configured), texts[-300:], padding=True, truncation=True)
    assert on("", padding=True)["input_ids"].tolist() == [[0, 2]]


# ---------------------------------------------------------------------------------------------------- decoding
def test_decode_like_transformers(tok, hf, corpus):
    sample = list(corpus[::40])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = hf(sample, padding="max_length", max_length=64, truncation=True, return_tensors="np")["input_ids"]
    for skip in (False, True):
        assert tok.batch_decode(enc, skip_special_tokens=skip) == hf.batch_decode(enc, skip_special_tokens=skip)
    # round trip: a text without special tokens comes back whole
    texts = [s for s in sample if "<" not in s][:500]
    ids = [tok._encode(s) for s in texts]
    assert [tok.decode(i) for i in ids] == [hf.decode(i) for i in ids]
    assert sum(tok.decode(i) == s for i, s in zip(ids, texts)) >= 0.98 * len(texts)  # a dropped byte is lost
    assert tok.decode(tok._encode("Hello <mask> wörld 😀")) == "Hello<mask> wörld 😀"  # <mask> took the space
    assert tok.decode(enc[:3]) == hf.decode(enc[:3])  # 2-D: a list


def test_decode_invalid_bytes_and_every_token(tok, hf):
    """Random id sequences (bytes that are no valid UTF-8 -> U+FFFD), ids past the vocabulary, each token after
    another one."""
    rng = random.Random(0)
    ids = [[rng.randrange(len(tok) + 3) for _ in range(rng.randrange(12))] for _ in range(5000)]
    ids += [[120, i, 300] for i in range(len(tok))]
    for skip in (False, True):
        assert tok.batch_decode(ids, skip_special_tokens=skip) == hf.batch_decode(ids, skip_special_tokens=skip)
    assert "\ufffd" in "".join(tok.batch_decode(ids[:500]))


def test_decode_clean_up_is_ignored_for_bpe(tok, hf):
    ids = tok._encode("Hello , world . It 's fine")
    with pytest.warns(UserWarning, match="Ignoring clean_up_tokenization_spaces"):
        got = tok.decode(ids, clean_up_tokenization_spaces=True)
    assert got == hf.decode(ids, clean_up_tokenization_spaces=True) == "Hello , world . It 's fine"
    forced = RobertaTokenizer.from_pretrained(
        FIXTURE, clean_up_tokenization_spaces=True,
        clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output=True)
    ref = require("transformers").AutoTokenizer.from_pretrained(
        FIXTURE, clean_up_tokenization_spaces=True,
        clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output=True)
    assert forced.decode(ids) == ref.decode(ids) == "Hello, world. It's fine"


# ---------------------------------------------------------------------------------------------------- pairs (BERT)
def test_bert_pairs_like_transformers(bert, hf_bert, corpus):
    """[CLS] A [SEP] B [SEP] with token types 0 then 1, on real pairs and every small max_length."""
    firsts, seconds = corpus[30000:36000], corpus[36000:42000]
    assert not _compare(hf_bert, bert, firsts, seconds, padding="max_length", max_length=64, truncation=True)
    assert not _compare(hf_bert, bert, firsts[:2000], seconds[:2000], padding=True, truncation="longest_first",
                        max_length=17)
    out = bert("a cat", "two dogs")
    assert out["input_ids"].tolist() == [[101, 1037, 4937, 102, 2048, 6077, 102]]
    assert out["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1]]
    for max_length in range(9):
        for a, b in (("a b c d e f g", "h i j k"), ("one", "two three four five six")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = hf_bert(a, b, truncation=True, max_length=max_length, return_tensors="np")
                got = bert(a, b, truncation=True, max_length=max_length)
            for key in ref:
                np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{max_length} {key}")


def test_pair_arguments(tok, hf, bert):
    # as in transformers, a str text with an empty pair is a single text; an empty pair in a batch is a pair
    np.testing.assert_array_equal(tok("hello", "")["input_ids"], tok("hello")["input_ids"])
    expected = [[0, *tok._encode("hello"), 2, 2, 2]]
    assert tok(["hello"], [""])["input_ids"].tolist() == [hf(["hello"], [""])["input_ids"][0]] == expected
    with pytest.raises(TypeError, match="text_pair"):
        tok(["a", "b"], "c")
    with pytest.raises(TypeError, match="text_pair"):
        bert("a", ["b"])
    with pytest.raises(ValueError, match="2 texts but text_pair has 1"):
        tok(["a", "b"], ["c"], padding=True)
    with pytest.raises(TypeError, match="text"):
        tok(["a"], [None])
    with pytest.warns(UserWarning, match="no room for <s> and </s> and </s> and </s>"):
        out = tok("a b", "c", truncation=True, max_length=3)
    assert out["input_ids"].tolist() == [[0, *tok._encode("a b"), 2, 2, *tok._encode("c"), 2]]
    with pytest.raises(ValueError, match="truncation"):
        tok("a", "b", truncation="only_third")


# ---------------------------------------------------------------------------------------------------- API
def test_call_api(tok, hf):
    out = tok(["a photo of a cat", "a <mask> on the mat"], padding=True)
    assert list(out) == ["input_ids", "attention_mask"]  # RoBERTa has no token type ids unless asked
    ref = hf(["a photo of a cat", "a <mask> on the mat"], padding=True, return_tensors="np")
    for key in ref:
        np.testing.assert_array_equal(out[key], ref[key])
    assert tok("x", return_token_type_ids=True)["token_type_ids"].tolist() == [[0, 0, 0]]
    assert tok.tokenize("a <mask> b") == ["a", "<mask>", "Ġb"]
    # (transformers' tokens are the matched text, here with the space <mask> swallowed; the ids are the same)
    assert hf.tokenize("a <mask> b") == ["a", " <mask>", "Ġb"]
    assert tok.tokenize("a b<s>") == hf.tokenize("a b<s>") == ["a", "Ġb", "<s>"]
    assert tok.convert_ids_to_tokens([0, 237, 4, 99999]) == hf.convert_ids_to_tokens([0, 237, 4, 99999])
    assert tok.convert_tokens_to_ids(["Ġb", "<mask>", "nope"]) == hf.convert_tokens_to_ids(["Ġb", "<mask>", "nope"])
    with pytest.raises(ValueError, match="512 positions"):
        tok("word " * 600, padding=True)
    assert tok("word " * 600, truncation=True)["input_ids"].shape == (1, 512)
    assert "RobertaTokenizer(" in repr(tok) and "vocab_size=5000" in repr(tok)


def test_auto_tokenizer_picks_roberta(tmp_path, hf, hf_bert):
    import refalign
    assert type(refalign.AutoTokenizer.from_pretrained(FIXTURE)) is RobertaTokenizer
    saved = tmp_path / "saved"
    hf.save_pretrained(saved)
    assert type(refalign.AutoTokenizer.from_pretrained(saved)) is RobertaTokenizer
    # no tokenizer_config.json: the files decide (transformers cannot load the first at all)
    plain = _variant(tmp_path, "plain", ["vocab.json", "merges.txt"])
    assert type(refalign.AutoTokenizer.from_pretrained(plain)) is RobertaTokenizer
    only_json = _variant(tmp_path, "only_json", ["tokenizer.json"])
    mine = refalign.AutoTokenizer.from_pretrained(only_json)
    ref = require("transformers").AutoTokenizer.from_pretrained(only_json)  # runs tokenizer.json as it is
    texts = ["a <mask> b", "Hello world", "日本語"]
    assert [mine(t)["input_ids"][0].tolist() for t in texts] == [ref(t)["input_ids"] for t in texts]
    # a tokenizer.json with another pipeline and no tokenizer_class is refused, naming the file
    bert_json = tmp_path / "bert_json"
    hf_bert.save_pretrained(bert_json)
    for name in os.listdir(bert_json):
        if name != "tokenizer.json":
            os.remove(bert_json / name)
    with pytest.raises(UnsupportedModelError, match=r"tokenizer.json.*'WordPiece'"):
        refalign.AutoTokenizer.from_pretrained(bert_json)
    prefix = _variant(tmp_path, "prefix_json", ["tokenizer.json"])
    path = os.path.join(prefix, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data["pre_tokenizer"]["add_prefix_space"] = True
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    assert RobertaTokenizer.from_pretrained(prefix).add_prefix_space is True  # honoured without tokenizer_class
    data["post_processor"] = None
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    with pytest.raises(UnsupportedModelError, match="post_processor None"):
        RobertaTokenizer.from_pretrained(prefix)


def _write(directory, name, content):
    with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
        f.write(content)


@pytest.mark.parametrize("name,content,error,match", [
    ("vocab.json", "{not json", CheckpointError, "vocab.json"),
    ("vocab.json", "[1, 2]", CheckpointError, r"vocab.json: the vocabulary must be a JSON object"),
    ("vocab.json", '{"a": "0"}', CheckpointError, r"vocab.json: the id of token 'a'"),
    ("vocab.json", '{"a": 0, "b": 0}', CheckpointError, r"vocab.json: two tokens share an id"),
    ("vocab.json", "{}", CheckpointError, r"vocab.json: the vocabulary is empty"),
    ("merges.txt", "#version: 0.2\nĠ Ġ x\n", CheckpointError, r"merges.txt line 2: a merge is two symbols"),
    ("merges.txt", "#version: 0.2\nĠ Ġ\n\n", CheckpointError, r"merges.txt line 3"),
    ("merges.txt", "#version: 0.2\nĠ Ġ\nzz q\n", CheckpointError, r"merges.txt: merge 1 \('zz' 'q'\) uses 'zz'"),
    ("merges.txt", b"\xff\xfe", CheckpointError, "merges.txt"),
])
def test_bad_vocab_and_merges_files(tmp_path, name, content, error, match):
    directory = _variant(tmp_path, "bad", ["vocab.json", "merges.txt", "tokenizer_config.json"])
    if isinstance(content, bytes):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(content)
    else:
        _write(directory, name, content)
    with pytest.raises(error, match=match):
        RobertaTokenizer.from_pretrained(directory)
    with pytest.raises(Exception):  # transformers refuses them too
        require("transformers").AutoTokenizer.from_pretrained(directory)


@pytest.mark.parametrize("edit,error,match", [
    (lambda d: "{oops", CheckpointError, "tokenizer.json"),
    (lambda d: json.dumps({**d, "model": {**d["model"], "type": "WordPiece"}}), UnsupportedModelError,
     r"tokenizer.json: the model is 'WordPiece'"),
    (lambda d: json.dumps({**d, "model": {**d["model"], "merges": [["a", "b", "c"]]}}), CheckpointError,
     r"tokenizer.json: model.merges\[0\]"),
    (lambda d: json.dumps({**d, "model": {k: v for k, v in d["model"].items() if k != "merges"}}), CheckpointError,
     "tokenizer.json: the BPE model has no merges"),
    (lambda d: json.dumps({**d, "model": {**d["model"], "merges": ["zz q"]}}), CheckpointError,
     r"tokenizer.json: merge 0 \('zz' 'q'\)"),
    (lambda d: json.dumps({**d, "added_tokens": [*d["added_tokens"], {"id": 5000, "content": "<extra>"}]}),
     UnsupportedModelError, r"tokenizer.json: added token '<extra>'"),
])
def test_bad_tokenizer_json(tmp_path, edit, error, match):
    directory = _variant(tmp_path, "bad", ["tokenizer.json", "tokenizer_config.json"])
    with open(os.path.join(FIXTURE, "tokenizer.json"), encoding="utf-8") as f:
        data = json.load(f)
    _write(directory, "tokenizer.json", edit(data))
    with pytest.raises(error, match=match):
        RobertaTokenizer.from_pretrained(directory)


def test_missing_files_and_bad_config(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="vocab.json"):
        RobertaTokenizer.from_pretrained(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="nowhere"):
        RobertaTokenizer.from_pretrained(tmp_path / "nowhere")
    directory = _variant(tmp_path, "cfg", ["tokenizer.json", "tokenizer_config.json"],
                         lambda c: c.update(add_prefix_space="yes"))
    with pytest.raises(ConfigError, match="add_prefix_space"):
        RobertaTokenizer.from_pretrained(directory)
    directory = _variant(tmp_path, "split", ["tokenizer.json", "tokenizer_config.json"],
                         lambda c: c.update(split_special_tokens=True))
    with pytest.raises(UnsupportedModelError, match="split_special_tokens"):
        RobertaTokenizer.from_pretrained(directory)


def test_word_cache_is_bounded(tok, monkeypatch):
    import refalign.tokenizers.files as files
    t = RobertaTokenizer.from_pretrained(FIXTURE)
    monkeypatch.setattr(files, "WORD_CACHE_SIZE", 50)
    words = [f" zq{i}xv" for i in range(400)]
    first = [t._encode(w) for w in words]
    assert len(t._cache) <= 50
    assert [t._encode(w) for w in words] == first == [tok._encode(w) for w in words]
