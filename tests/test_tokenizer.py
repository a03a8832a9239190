"""refalign.tokenizers (BERT WordPiece) against transformers' BertTokenizer (Rust tokenizers backend, transformers 5).

The reference is what AutoTokenizer builds from align-base's vocab.txt + tokenizer_config.json (the bundled tiny
checkpoint holds both). Parity tests need transformers/tokenizers (the `parity` extra); the corpus needs the
`django` and `emoji` packages (the `test` extra). In CI a missing package is a failure (conftest.require).
"""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from conftest import require
from refalign.errors import CheckpointError, ConfigError, RefalignError, WeightsNotFoundError
from refalign.tokenizers import BertTokenizer
from refalign.tokenizers.wordpiece import _Normalizer

ALL_CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
CORPUS_LINES = 60_000  # >= 50,000 real lines required


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tok(tiny_dir) -> BertTokenizer:
    return BertTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def hf(tiny_dir):
    """transformers' tokenizer, loaded the way AlignProcessor loads it."""
    transformers = require("transformers")
    t = transformers.AutoTokenizer.from_pretrained(tiny_dir)
    assert type(t).__name__ == "BertTokenizer" and t.backend_tokenizer is not None
    return t




# (tokenize_chinese_chars, strip_accents, do_lower_case); align-base's first
CONFIGS = [(True, None, True), (True, False, True), (False, None, False)]


# ---------------------------------------------------------------------------------------------------- every code point
@pytest.mark.parametrize("chinese,strip_accents,lower", CONFIGS)
def test_normalizer_every_code_point(chinese, strip_accents, lower):
    """What the normalizer makes of each single code point, for all 1,112,064 of them."""
    normalizers = require("tokenizers").normalizers
    rust = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=chinese, strip_accents=strip_accents,
                                      lowercase=lower)
    sep = "\U0001F600"  # unchanged by the normalizer, combining class 0: a safe separator
    code_points = [c for c in ALL_CODE_POINTS if c != ord(sep)]
    expected = rust.normalize_str(sep.join(map(chr, code_points))).split(sep)
    assert len(expected) == len(code_points)
    norm = _Normalizer.get(chinese, lower if strip_accents is None else strip_accents, lower)
    bad = [(f"U+{c:04X}", exp, got) for c, exp, got in zip(code_points, expected, map(norm._chars, code_points))
           if (got or "") != exp]
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:10]}"


@pytest.mark.parametrize("chinese,strip_accents,lower", CONFIGS[:2])
def test_normalize_and_pretokenize_every_code_point(chinese, strip_accents, lower):
    """Normalizer + pre-tokenizer on every code point between letters ("a?b"), 256 code points a text: both the
    per-character map and (for texts holding two reorderable marks) the exact path."""
    tokenizers = require("tokenizers")
    rust_norm = tokenizers.normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=chinese,
                                                      strip_accents=strip_accents, lowercase=lower)
    rust_pre = tokenizers.pre_tokenizers.BertPreTokenizer()
    norm = _Normalizer.get(chinese, lower if strip_accents is None else strip_accents, lower)
    bad, exact = [], 0
    for i in range(0, len(ALL_CODE_POINTS), 256):
        text = " ".join(f"a{chr(c)}b" for c in ALL_CODE_POINTS[i:i + 256])
        expected = [w for w, _ in rust_pre.pre_tokenize_str(rust_norm.normalize_str(text))]
        exact += sum(ord(ch) in norm.trigger for ch in text) > 1
        got = norm.split(text)
        if got != expected:
            bad.append((f"U+{ALL_CODE_POINTS[i]:04X}..", next(((e, g) for e, g in zip(expected, got) if e != g),
                                                             (len(expected), len(got)))))
    assert not bad, f"{len(bad)} chunks differ, e.g. {bad[:5]}"
    if norm.strip:
        assert exact > 0  # the exact path was exercised too


def test_reordering_of_surviving_marks(tok, backend):
    """Combining marks that survive the accent stripping are reordered by NFD as the Rust NFD does it (it knows
    the classes of Unicode ~12: newer marks stay in place). Compared on words, since with bert-base-uncased's
    vocabulary any word holding such a mark is [UNK] whatever its order."""
    tokenizers = require("tokenizers")
    rust_norm = tokenizers.normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=None, lowercase=True)
    rust_pre = tokenizers.pre_tokenizers.BertPreTokenizer()
    cases = ["x\U0001D16D\U0001D165y", "a\u0301\U0001D16D\u0316\U0001D165b", "\U0001D160\U0001D16D",
             "q\u1ac1\u1ac3\u08d4\u0c3cz", "e\u1b44\u08d4\u1dfb\u0301o", "\u302e\u302f\u0334\u302e",
             "\U0001E000\U0001E944\U0001E94A", "\U0001D1BB\U0001D16E\U0001D165 x", "A\u0E31\U0001D16D\U0001D165",
             "Ἀ\U0001D16D\u0345\U0001D165!"]
    norm = tok._norm
    for text in cases:
        expected = rust_norm.normalize_str(text)
        assert norm.normalize(text) == expected, repr(text)
        assert norm.split(text) == [w for w, _ in rust_pre.pre_tokenize_str(expected)], repr(text)
        assert tok._encode(text) == backend.encode(text, add_special_tokens=False).ids, repr(text)
    assert norm.split("x\U0001D16D\U0001D165y") == ["x\U0001D165\U0001D16Dy"]  # reordered (ccc 216 < 226)


# ---------------------------------------------------------------------------------------------------- corpus
def test_corpus_is_real_mixed_text(corpus):
    import corpus as corpus_mod
    stats = corpus_mod.corpus_stats(corpus)
    assert stats["lines"] >= 50_000
    for key in ("cjk", "latin_accents", "cyrillic", "arabic_hebrew", "emoji"):
        assert stats[key] >= 1000, stats
    assert any("def " in s for s in corpus) and any(s.lstrip().startswith("#") for s in corpus)
    assert sum(s.isascii() for s in corpus) >= 25_000
    assert corpus == corpus_mod.build_corpus.__wrapped__()  # deterministic


def _compare_batches(hf, tok, lines, **kw):
    bad = []
    for i in range(0, len(lines), 4000):
        chunk = list(lines[i:i + 4000])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = hf(chunk, return_tensors="np", **kw)
            got = tok(chunk, **kw)
        assert list(got) == ["input_ids", "token_type_ids", "attention_mask"]
        for key in got:
            assert got[key].dtype == np.int64
            assert got[key].shape == ref[key].shape, (key, got[key].shape, ref[key].shape)
        rows = (got["input_ids"] != ref["input_ids"]).any(1) | (got["attention_mask"] != ref["attention_mask"]).any(1) \
            | (got["token_type_ids"] != ref["token_type_ids"]).any(1)
        bad += [chunk[r] for r in np.nonzero(rows)[0]]
    return bad


def test_corpus_ids_pad64_truncated(hf, tok, corpus):
    """input_ids, attention_mask and token_type_ids identical on the 60,000-line corpus, padded to 64 with
    truncation."""
    bad = _compare_batches(hf, tok, corpus, padding="max_length", max_length=64, truncation=True)
    assert not bad, f"{len(bad)} lines differ, e.g. {bad[:3]!r}"


def test_corpus_full_token_sequences(backend, tok, corpus):
    """Untruncated: every token of every line (up to 4,000+ tokens a line) identical."""
    enc = backend.encode_batch(list(corpus), add_special_tokens=False)
    bad = [s for s, e in zip(corpus, enc) if tok._encode(s) != e.ids]
    assert not bad, f"{len(bad)} lines differ, e.g. {bad[:3]!r}"
    sample = corpus[:3000]
    assert [tok.tokenize(s) for s in sample] == [e.tokens for e in enc[:3000]]


def test_corpus_padding_longest_and_other_lengths(hf, tok, corpus):
    short = [s for s in corpus[:20000] if len(s) < 300]
    assert not _compare_batches(hf, tok, short[:6000], padding="longest", max_length=40, truncation=True)
    assert not _compare_batches(hf, tok, short[:6000], padding="max_length", max_length=128, truncation=True)
    assert not _compare_batches(hf, tok, short[:6000], padding="max_length", max_length=7, truncation=True)


# ---------------------------------------------------------------------------------------------------- hypothesis
def _text_strategy():
    from hypothesis import strategies as st
    specials = st.sampled_from(["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "[cls]", "[Sep]", "[MASK", "CLS]",
                                "[[CLS]]", "##", "##ing", "[unused3]", " "])
    interesting = st.sampled_from(
        list("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000")  # spaces
        + list("\x00\x01\x7f\x9f\u00ad\u200b\u200c\u200d\u200e\u2060\ufeff\ufffd\ufff9\U000e0001\U000e007f")  # ctrl
        + list("\u0300\u0301\u0308\u0327\u034f\u0345\u0670\u093c\u0e31\u1ab0\u1ac1\u1dfb\u20dd\ufe0f\ufe20")  # marks
        + list("\U0001D165\U0001D16D\U0001D15F\U0001D160\U0001D1BB\u302e\u08d4\u1b44")  # reorderable survivors
        + list("ΣσςİıẞßǅǄǆÅÅKΩ\u1c89\ua7cb\ua7dc\U00010d50\U00016ea0\u0130\u212a\u2126")  # case oddities
        + list("ＡＢｃ０１！？，．（）～￥\uff61")  # full width
        + list("日本語中文한국어가각\u4e00\u9fff\u3400\U00020000\U0002B920\U0002CEAF\U0002F800\uf900\ufa0e\u3005\u3007")
        + list("😀👍🏽👩\u200d💻🇯🇵#️⃣🫠🥰\U0001FAE8")  # emoji, ZWJ, skin tone, flags, keycaps
        + list("«»¿¡§¶·‐–—‘’“”…‹›\u055a\u0589\u05be\u060c\u061f\u0964\u104a\u2e42\u3001\u3002\u30fb\U00016b44")  # punct
        + list("$+<=>^`|~@#%&*_\\/\"'{}[]()")
        + list("\ue000\U000f0000\U0010fffd\U000e01ef\u0378\U0001ffff\U0010ffff\U000e0100\ufdd0")  # PUA, unassigned
        + list("é\u00e9e\u0301ñÖøœæåçşğ\u1e9e\u1ea0\u01c4\u1f80\u0390\u03d3\u0344\u0f73\u0958\u2adc\u0129")
    )
    words = st.sampled_from(["hello", "Hello", "WORLD", "don't", "naïve", "café", "unaffable", "x" * 101, "1.5",
                             "e-mail", "O'Neil", "co-op", "straße", "Ünïcödé", "ﬁnance", "Ⅻ", "①"])
    any_char = st.characters(exclude_categories=("Cs",))
    piece = st.one_of(specials, interesting, words, any_char, st.text(any_char, max_size=5))
    return st.lists(piece, max_size=40).map("".join)


def test_hypothesis_arbitrary_unicode(tok, backend):
    from hypothesis import HealthCheck, given, settings
    require("hypothesis")

    @settings(max_examples=4000, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_text_strategy())
    def check(text):
        assert tok._encode(text) == backend.encode(text, add_special_tokens=False).ids, repr(text)

    check()


def test_hypothesis_batches_pad64(tok, hf):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(_text_strategy(), min_size=1, max_size=8))
    def check(texts):
        assert not _compare_batches(hf, tok, texts, padding="max_length", max_length=64, truncation=True)

    check()


# ---------------------------------------------------------------------------------------------------- decoding
def test_decode_like_transformers_on_corpus(hf, tok, corpus):
    sample = list(corpus[::40])  # 1,500 lines
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = hf(sample, padding="max_length", max_length=64, truncation=True, return_tensors="np")["input_ids"]
    for skip in (False, True):
        for clean in (None, True, False):
            ref = hf.batch_decode(enc, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
            got = tok.batch_decode(enc, skip_special_tokens=skip, clean_up_tokenization_spaces=clean)
            diff = [(s, r, g) for s, r, g in zip(sample, ref, got) if r != g]
            assert not diff, f"skip={skip} clean={clean}: {len(diff)} differ, e.g. {diff[:2]}"
    ids = list(enc[7])
    assert tok.decode(ids) == hf.decode(ids)
    assert tok.decode(np.asarray(ids)) == hf.decode(ids)
    assert tok.decode(enc[:3]) == hf.decode(enc[:3])  # 2-D: a list, like transformers


def test_decode_every_vocabulary_token(hf, tok):
    """The decoder's treatment of each token after another one (## glue, no space before . , ? !, ...)."""
    n = tok.vocab_size
    ids = [[2023, i] for i in range(n)] + [[i, 1012, i, 1005, 1055] for i in range(0, n, 7)]
    for clean in (False, True):
        assert tok.batch_decode(ids, clean_up_tokenization_spaces=clean) == \
            hf.batch_decode(ids, clean_up_tokenization_spaces=clean)


def test_decode_edge_cases(hf, tok):
    for ids in ([], [101], [5, 99999, 7], [101, 102, 0, 0], [2123, 1005, 1056, 2009, 1005, 1055], [1012, 1029]):
        for skip in (False, True):
            assert tok.decode(ids, skip_special_tokens=skip) == hf.decode(ids, skip_special_tokens=skip), ids
            assert tok.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=True) == \
                hf.decode(ids, skip_special_tokens=skip, clean_up_tokenization_spaces=True), ids
    assert tok.decode(7592) == hf.decode(7592) == "hello"
    with pytest.raises(ValueError):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok.decode(["hello"])


def test_round_trip_text(tok):
    text = "a photo of a cat sitting on a mat, isn't it?"
    ids = tok(text, padding="longest")["input_ids"][0]
    assert tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True) == \
        "a photo of a cat sitting on a mat, isn't it?"
    assert tok.decode(ids) == "[CLS] a photo of a cat sitting on a mat, isn ' t it? [SEP]"


# ---------------------------------------------------------------------------------------------------- API
def test_special_tokens_and_ids(tok, hf):
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == \
        (hf.pad_token_id, hf.unk_token_id, hf.cls_token_id, hf.sep_token_id, hf.mask_token_id) == \
        (0, 100, 101, 102, 103)
    assert tok.vocab_size == hf.vocab_size == len(tok) == 30522
    text = "a [MASK] on [CLS]the[SEP] mat [cls] [UNK][PAD]x"
    assert tok.tokenize(text) == hf.tokenize(text)
    assert tok.tokenize("[CLS]") == ["[CLS]"]
    tokens = ["hello", "[CLS]", "zzzqqq", "##ing"]
    assert tok.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
    assert tok.convert_tokens_to_ids("nope-nope") == 100
    assert tok.convert_ids_to_tokens([101, 7592, 2075, 99999]) == hf.convert_ids_to_tokens([101, 7592, 2075, 99999])
    assert tok.convert_ids_to_tokens(7592) == "hello"
    assert tok.convert_ids_to_tokens(np.int64(102)) == "[SEP]"
    assert tok.convert_ids_to_tokens([101, 7592, 102], skip_special_tokens=True) == ["hello"]


def test_wordpiece_rules(tok, hf):
    for text in ["unaffable", "x" * 100, "x" * 101, "a" * 100 + "é", "é" * 101, "##abc", "untokenizable\u2603word",
                 "Straße", "ΑΣ", "ǅ", ""]:
        assert tok.tokenize(text) == hf.tokenize(text), text
    assert tok.tokenize("x" * 101) == ["[UNK]"]
    assert tok.tokenize("unaffable") == ["una", "##ffa", "##ble"]


def test_empty_string(tok, hf):
    out = tok("", padding="max_length")
    assert out["input_ids"].shape == (1, 64)
    assert out["input_ids"][0, :3].tolist() == [101, 102, 0]
    assert out["attention_mask"][0].sum() == 2
    ref = hf("", padding="max_length", max_length=64, return_tensors="np")
    for k in out:
        np.testing.assert_array_equal(out[k], ref[k])
    assert tok(["", " \t\n", "\u200b\x00"], padding="longest")["input_ids"].tolist() == [[101, 102]] * 3
    assert tok.tokenize("") == []


def test_defaults_mirror_align_processor(tok, hf):
    """AlignProcessor's defaults: padding to max_length 64, no truncation; a single str gives shape (1, 64)."""
    from refalign import AlignProcessor
    proc = AlignProcessor(None, tok)
    out = proc(text="a photo of a cat")
    assert {k: v.shape for k, v in out.items()} == {k: (1, 64) for k in ("input_ids", "token_type_ids",
                                                                         "attention_mask")}
    ref = hf("a photo of a cat", padding="max_length", max_length=64, return_tensors="np")
    for k in out:
        np.testing.assert_array_equal(out[k], ref[k])
    two = proc(text=("a cat", "two dogs"))
    assert two["input_ids"].shape == (2, 64)
    assert tok(["x"], padding="max_length", return_attention_mask=False, return_token_type_ids=False).keys() == \
        {"input_ids"}


def test_call_defaults_are_transformers(tok, hf):
    """Without padding / truncation / max_length the tokenizer does what transformers' does with return_tensors="np":
    no padding, no truncation; max_length=None means model_max_length where it is used."""
    def assert_same(out, ref):
        assert list(out) == list(ref)
        for k in out:
            assert out[k].dtype == np.int64
            np.testing.assert_array_equal(out[k], ref[k])

    for texts in (["a cat", "two dogs"], "a photo of a cat"):  # equal lengths; a single text
        assert_same(tok(texts), hf(texts, return_tensors="np"))
    unequal = ["a cat", "a photo of two dogs on the grass"]
    with pytest.raises(ValueError, match=r"same length.*padding=True.*'longest'.*'max_length'"):
        tok(unequal)
    try:
        ragged = hf(unequal, return_tensors="np")["input_ids"]
    except ValueError:  # older transformers refuse as well
        pass
    else:
        assert ragged.dtype == object  # transformers 5: one array per row, not a (B, L) array
    assert_same(tok(unequal, padding=True), hf(unequal, padding=True, return_tensors="np"))
    assert_same(tok(unequal, padding="max_length"), hf(unequal, padding="max_length", return_tensors="np"))
    long = ["word " * 100]
    out = tok(long, truncation=True)
    assert out["input_ids"].shape == (1, 64)
    assert_same(out, hf(long, truncation=True, return_tensors="np"))


def test_padding_modes(tok, hf):
    texts = ["a cat", "a photo of two dogs on the grass", "hi"]
    for padding in ("longest", True):
        out = tok(texts, padding=padding)
        assert out["input_ids"].shape == (3, 10)
        ref = hf(texts, padding=padding, return_tensors="np")
        for k in out:
            np.testing.assert_array_equal(out[k], ref[k])
    for padding in ("do_not_pad", False):
        out = tok(["a cat", "two dogs"], padding=padding)
        assert out["input_ids"].tolist() == [[101, 1037, 4937, 102], [101, 2048, 6077, 102]]
        with pytest.raises(ValueError, match="same length"):
            tok(texts, padding=padding)
    out = tok(texts, padding="max_length", max_length=16)
    assert out["input_ids"].shape == (3, 16)
    with pytest.raises(ValueError, match="padding"):
        tok(texts, padding="maximum")
    with pytest.raises(ValueError, match="truncation"):
        tok(texts, padding="max_length", truncation="yes")
    with pytest.raises(ValueError, match="max_length"):
        tok(texts, padding="max_length", max_length=-1)
    assert tok([], padding="max_length")["input_ids"].shape == (0, 64)
    assert tok([], padding="longest")["input_ids"].shape == (0, 0)


def test_truncation(tok, hf):
    long = "word " * 100
    for max_length in (64, 10, 3, 2):
        out = tok([long, "short one"], padding="max_length", max_length=max_length, truncation=True)
        assert out["input_ids"].shape == (2, max_length)
        ref = hf([long, "short one"], padding="max_length", max_length=max_length, truncation=True,
                 return_tensors="np")
        for k in out:
            np.testing.assert_array_equal(out[k], ref[k])
        assert out["input_ids"][0, -1] == 102
    np.testing.assert_array_equal(tok([long], padding="max_length", truncation="longest_first")["input_ids"],
                                  tok([long], padding="max_length", truncation=True)["input_ids"])
    # special tokens in the text count like any token
    text = "[MASK] " * 70
    np.testing.assert_array_equal(tok(text, padding="max_length", truncation=True)["input_ids"],
                                  hf(text, padding="max_length", max_length=64, truncation=True,
                                     return_tensors="np")["input_ids"])
    with pytest.warns(UserWarning, match="no room"):
        out = tok("a b c", padding="max_length", max_length=1, truncation=True)
    assert out["input_ids"].tolist() == [[101, 1037, 1038, 1039, 102]]  # transformers does not truncate either


def test_untruncated_longer_than_max_length(tok, hf):
    """Like transformers: the long sequence comes back whole, with the same warning; the batch is padded to it."""
    long = "word " * 100
    with pytest.warns(UserWarning, match=r"longer than the specified maximum sequence length .*\(102 > 64\)"):
        out = tok([long], padding="max_length")
    ref = hf([long], padding="max_length", max_length=64, return_tensors="np")
    assert out["input_ids"].shape == ref["input_ids"].shape == (1, 102)
    for k in out:
        np.testing.assert_array_equal(out[k], ref[k])
    with pytest.warns(UserWarning):
        out = tok(["hi", long], padding="max_length")
    assert out["input_ids"].shape == (2, 102)
    assert out["attention_mask"].sum(1).tolist() == [3, 102]


def test_more_than_512_positions_refused(tok):
    text = "word " * 600
    with pytest.raises(ValueError, match=r"text\[1\] is 602 tokens .* 512 positions"):
        tok(["ok", text], padding="max_length")
    with pytest.raises(ValueError, match="512 positions"):
        tok(text, padding="longest")
    out = tok(text, padding="max_length", truncation=True)
    assert out["input_ids"].shape == (1, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert tok("word " * 510, padding="max_length")["input_ids"].shape == (1, 512)  # exactly 512 positions is fine
        with pytest.raises(ValueError, match="20 positions"):
            tok("word " * 30, padding="max_length", max_positions=20)
    with pytest.raises(ValueError, match="max_length=600 .* 512"):
        tok("a", padding="max_length", max_length=600)
    small = BertTokenizer(tok.vocab_file, max_positions=16)
    with pytest.raises(ValueError, match="16 positions"):
        small("word " * 20, padding="longest")


@pytest.mark.parametrize("bad", [None, 5, b"bytes", ["ok", 5], ("ok", None), [["nested"]], {"a": 1}, 3.5])
def test_type_errors_name_text(tok, bad):
    with pytest.raises(TypeError, match="text"):
        tok(bad, padding="max_length")


def test_tokenize_type_error(tok):
    with pytest.raises(TypeError, match="text"):
        tok.tokenize(["a"])


def test_from_pretrained_without_tokenizer_config(tmp_path, tiny_dir):
    shutil.copy(os.path.join(tiny_dir, "vocab.txt"), tmp_path / "vocab.txt")
    t = BertTokenizer.from_pretrained(tmp_path)
    assert (t.do_lower_case, t.strip_accents, t.tokenize_chinese_chars, t.model_max_length) == (True, None, True, 64)
    ref = BertTokenizer.from_pretrained(tiny_dir)
    text = "Héllo WORLD, 日本 [MASK]!"
    np.testing.assert_array_equal(t(text, padding="max_length")["input_ids"],
                                  ref(text, padding="max_length")["input_ids"])
    assert t.tokenize(text) == ["hello", "world", ",", "日", "本", "[MASK]", "!"]


def test_from_pretrained_reads_settings(tmp_path, tiny_dir, hf):
    shutil.copy(os.path.join(tiny_dir, "vocab.txt"), tmp_path / "vocab.txt")
    cfg = {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "model_max_length": 16,
           "strip_accents": None, "tokenize_chinese_chars": False,
           "mask_token": "[MASK]", "clean_up_tokenization_spaces": True}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(cfg))
    t = BertTokenizer.from_pretrained(tmp_path)
    assert (t.do_lower_case, t.tokenize_chinese_chars, t.model_max_length, t.clean_up_tokenization_spaces) == \
        (False, False, 16, True)
    text = "Héllo WORLD 日本語"
    transformers = require("transformers")
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    assert t.tokenize(text) == ref.tokenize(text)
    assert t(text, padding="max_length")["input_ids"].shape == (1, 16)
    ids = t(text, padding="max_length")["input_ids"][0]
    assert t.decode(ids) == ref.decode(ids)
    # keyword arguments override the file
    assert BertTokenizer.from_pretrained(tmp_path, model_max_length=8).model_max_length == 8


def test_file_errors(tmp_path, tiny_dir):
    with pytest.raises(WeightsNotFoundError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    with pytest.raises(WeightsNotFoundError, match="nowhere"):
        BertTokenizer.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="missing.txt"):  # WeightsNotFoundError is a FileNotFoundError
        BertTokenizer(tmp_path / "missing.txt")
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe broken\n")
    with pytest.raises(CheckpointError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        BertTokenizer.from_pretrained(tmp_path)
    shutil.copy(os.path.join(tiny_dir, "vocab.txt"), tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="tokenizer_config.json"):
        BertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": "yes"}')
    with pytest.raises(ConfigError, match="do_lower_case"):
        BertTokenizer.from_pretrained(tmp_path)
    for err in (WeightsNotFoundError, CheckpointError, ConfigError):
        assert issubclass(err, RefalignError)
    if os.geteuid() != 0:  # root reads anything
        (tmp_path / "vocab.txt").chmod(0)
        with pytest.raises(CheckpointError, match="vocab.txt"):
            BertTokenizer.from_pretrained(tmp_path)


def test_word_cache_is_bounded(tok, monkeypatch):
    import refalign.tokenizers.wordpiece as wordpiece
    t = BertTokenizer(tok.vocab_file)
    monkeypatch.setattr(wordpiece, "WORD_CACHE_SIZE", 50)
    words = [f"zq{i}xv" for i in range(400)]
    first = [t._encode(w) for w in words]
    assert len(t._cache) <= len(t._seed) + 50 + 10
    assert [t._encode(w) for w in words] == first == [tok._encode(w) for w in words]
