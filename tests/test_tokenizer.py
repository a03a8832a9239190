"""refalign.tokenization.BertTokenizer against transformers' BertTokenizer (Rust tokenizers backend) for align-base.

The reference is transformers' tokenizer loaded from the bundled tiny checkpoint directory, which holds
align-base's vocab.txt (bert-base-uncased) and tokenizer_config.json.
"""
from __future__ import annotations

import os
import shutil
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refalign.errors import ConfigError, RefalignError
from refalign.tokenization import BertTokenizer, CJK, LATE_MARKS, NONSPACING, RETAINED_NONSTARTERS

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import build_corpus  # noqa: E402

CORPUS_LINES = 50_000
SPECIALS = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"]


@pytest.fixture(scope="module")
def ref(torch, tiny_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert type(tok).__name__ == "BertTokenizer" and tok.is_fast  # the Rust-backed one
    return tok


@pytest.fixture(scope="module")
def tok(tiny_dir):
    return BertTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def corpus(torch):  # django + emoji come with the test environment, like torch
    return build_corpus(CORPUS_LINES, seed=0)


def _ref_encode(ref, texts, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref(texts, return_tensors="np", **kw)


def _first_mismatches(a: np.ndarray, b: np.ndarray, lines, n=5):
    rows = np.nonzero((a != b).any(axis=1))[0]
    return len(rows), [lines[i][:120] for i in rows[:n]]


# ---- the corpus ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_corpus_is_real_mixed_text(corpus):
    assert len(corpus) >= CORPUS_LINES
    assert sum(not t.isascii() for t in corpus) > 0.15 * len(corpus)
    assert sum(any(ord(c) in CJK for c in t) for t in corpus) > 200  # Chinese / Japanese
    assert sum(any(0x1F300 <= ord(c) <= 0x1FAFF for c in t) for t in corpus) > 1000  # emoji
    assert sum(any(0x0600 <= ord(c) <= 0x06FF for c in t) for t in corpus) > 200  # Arabic script


@pytest.mark.slow
def test_corpus_ids_match_transformers(ref, tok, corpus):
    """Pad to 64 with truncation, as the model is fed: every id, mask and token type equal."""
    want = _ref_encode(ref, corpus, padding="max_length", max_length=64, truncation=True)
    got = tok(corpus, padding="max_length", max_length=64, truncation=True)
    assert got["input_ids"].shape == want["input_ids"].shape == (len(corpus), 64)
    assert (want["attention_mask"][:, -1] == 1).sum() > 500  # truncation really happened on many lines
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert got[key].dtype == np.int64
        n_bad, examples = _first_mismatches(got[key], want[key], corpus)
        assert n_bad == 0, f"{key}: {n_bad} mismatching lines, e.g. {examples}"


@pytest.mark.slow
def test_corpus_untruncated_tokens_match(ref, tok, corpus):
    """Without truncation (padding to the longest of each chunk), so long texts are compared in full."""
    sample = corpus[:10_000]
    for start in range(0, len(sample), 500):
        chunk = sample[start:start + 500]
        want = _ref_encode(ref, chunk, padding="longest")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = tok(chunk, padding="longest", max_positions=10**6)  # some lines run past 512 tokens
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert got[key].shape == want[key].shape
            n_bad, examples = _first_mismatches(got[key], want[key], chunk)
            assert n_bad == 0, f"{key}: {n_bad} mismatching lines, e.g. {examples}"


def test_fast_paths_equal_exact_normalizer(tok, corpus):
    """The ASCII / per-character-table fast paths against the step-by-step normalizer (the algorithmic reference)."""
    norm = tok._normalize
    sample = corpus[::10]
    bad = [t for t in sample if norm(t) != norm.exact(t)]
    assert not bad, bad[:5]


@pytest.mark.slow
@pytest.mark.parametrize("skip_special_tokens", [False, True])
@pytest.mark.parametrize("clean_up", [None, False, True])
def test_corpus_decode_matches_transformers(ref, tok, corpus, skip_special_tokens, clean_up):
    sample = corpus[:5000]
    ids = tok(sample, padding="max_length", max_length=64, truncation=True)["input_ids"]
    kw = {"skip_special_tokens": skip_special_tokens}
    if clean_up is not None:
        kw["clean_up_tokenization_spaces"] = clean_up
    want = ref.batch_decode(ids.tolist(), **kw)
    got = tok.batch_decode(ids, **kw)
    bad = [(w, g) for w, g in zip(want, got) if w != g]
    assert not bad, f"{len(bad)} decodes differ, e.g. {bad[:3]}"
    if skip_special_tokens:
        assert not any("[PAD]" in g for g in got)


# ---- every code point ------------------------------------------------------------------------------------------------
def _rust_normalizer(lowercase, strip_accents):
    from tokenizers import normalizers
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents,
                                      lowercase=lowercase)


@pytest.mark.slow
@pytest.mark.parametrize("lower, strip", [(True, None), (False, None), (True, False), (False, True)])
def test_every_code_point_normalizes_like_tokenizers(ref, tmp_path, vocab_file, lower, strip):
    """Each code point alone, for the align-base settings and the other lowercase/accent combinations."""
    rust = _rust_normalizer(lower, strip)
    mine = BertTokenizer(vocab_file, do_lower_case=lower, strip_accents=strip)._normalize
    if lower and strip is None:  # align-base: the loaded reference must use exactly this normalizer
        assert ref.backend_tokenizer.normalizer.normalize_str("ÀΣ\u0301中\x00") == rust.normalize_str("ÀΣ\u0301中\x00")
    bad = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        if mine(ch) != rust.normalize_str(ch):
            bad.append(hex(cp))
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:20]}"


@pytest.mark.slow
def test_every_code_point_splits_like_tokenizers(ref, tok):
    """Each code point between two letters: normalization + pre-tokenization give the same words. The probes
    "a?b" are batched 4096 to a text, separated by spaces (nothing the normalizer does crosses the letters)."""
    backend = ref.backend_tokenizer
    cps = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    bad = []
    for start in range(0, len(cps), 4096):
        chunk = cps[start:start + 4096]
        text = " ".join(f"a{chr(cp)}b" for cp in chunk)
        want = [w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text))]
        if tok._split_words(tok._normalize(text)) != want:
            bad += [hex(cp) for cp in chunk if tok._split_words(tok._normalize(f"a{chr(cp)}b")) != [
                w for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(f"a{chr(cp)}b"))]]
            assert bad, f"chunk from U+{chunk[0]:04X} differs only in context"
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:20]}"


# ---- arbitrary Unicode -----------------------------------------------------------------------------------------------
def _pick(rangeset, limit=4000):
    return [chr(c) for a, b in zip(rangeset.starts, rangeset.ends) for c in range(a, b + 1)][:limit]


_TRICKY = (
    [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2007", "\u200b", "\u200d",
     "\u2028", "\u202f", "\u3000", "\ufeff", "\x00", "\x7f", "\ufffd", "\ue000", "\U000F0000", "\u00ad"]
    + ["\u0301", "\u0308", "\u0345", "\u0327", "\u1734", "\u0e31", "\u0900", "\u093c"]
    + _pick(RETAINED_NONSTARTERS) + _pick(LATE_MARKS) + _pick(NONSPACING, 200)
    + ["Σ", "ς", "İ", "ẞ", "ß", "ǅ", "Å", "Ω", "K", "ﬁ", "Ａ", "ｚ", "１", "！", "\uff0c", "ｶ", "ﾞ"]
    + ["中", "文", "日", "本", "語", "한", "글", "\uf900", "\ufa6e", "\U00020000", "\U0002b820", "\U0002b920",
       "\U0002f800", "\u3400", "ぁ", "カ"]
    + ["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "\u20e3", "🥰", "🫠", "#️⃣"]
    + list(".,;:!?'\"()[]{}<>-_/\\|@#$%^&*+=~`") + ["¿", "¡", "«", "»", "—", "…", "·", "・", "、", "。", "\u166d"]
    + ["\u1c89", "\ua7cb", "\U00010d50", "\U00016ea0", "\U00011938", "\u1e9e", "\u2126"]
)
_SPECIAL_TEXT = st.sampled_from(SPECIALS + ["[cls]", "[CLS", "CLS]", "[[SEP]]", "[MASK]]", "[UNK][UNK]"])
_WORDS = st.sampled_from(["the", "cat", "unaffable", "don't", "naïve", "Café", "HELLO", "x" * 101, "y" * 100,
                          "ﬁnance", "Ångström", "東京", "Привет", "مرحبا", "नमस्ते"])
_PIECE = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=8),
    st.lists(st.sampled_from(_TRICKY), max_size=8).map("".join),
    _SPECIAL_TEXT,
    _WORDS,
)
_TEXT = st.lists(_PIECE, max_size=12).map("".join)


@pytest.mark.slow
@settings(max_examples=4000, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_TEXT)
def test_arbitrary_unicode_matches_transformers(ref, tok, text):
    want = _ref_encode(ref, [text], padding="longest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # texts past 64 tokens warn, as in transformers
        got = tok(text, padding="longest")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=f"{key} for {text!r}")
    ids = want["input_ids"][0].tolist()
    for skip in (False, True):
        assert tok.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), repr(text)
    assert tok.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)


def test_canonical_reordering_of_retained_marks(ref, tok):
    """Marks that survive accent stripping are put in canonical order by NFD (the slow exact path)."""
    texts = ["a\U0001d16d\U0001d165b", "x\U0001d16d\u0301\U0001d165", "q\u302e\U0001e94a\u302f",
             "\U0001d15f\U0001d16d", "a\U0001d16d\x00\U0001d165", "a\U0001d16d\u0900\U0001d165",
             "e\u1dfb\u1dfa\U0001e000\u08d4 z", "A\u0301\U0001D172\U0001D16D"]
    for text in texts:
        assert tok.tokenize(text) == ref.tokenize(text), repr(text)
        assert tok(text)["input_ids"].tolist() == _ref_encode(ref, [text], padding="max_length",
                                                               max_length=64)["input_ids"].tolist()


# ---- behaviours ------------------------------------------------------------------------------------------------------
def test_special_tokens_and_vocab_match(ref, tok):
    assert tok.vocab_size == ref.vocab_size == 30522
    for name in ("pad", "cls", "sep", "unk", "mask"):
        assert getattr(tok, f"{name}_token_id") == getattr(ref, f"{name}_token_id")
    tokens = ["hello", "##ing", "[CLS]", "not-a-token", "[unused5]"]
    assert tok.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    assert tok.convert_tokens_to_ids("hello") == ref.convert_tokens_to_ids("hello")
    assert tok.convert_ids_to_tokens([0, 100, 2000, 30521]) == ref.convert_ids_to_tokens([0, 100, 2000, 30521])
    assert tok.convert_ids_to_tokens(2000) == ref.convert_ids_to_tokens(2000)


def test_special_token_text_is_kept_whole(ref, tok):
    for text in ["a[CLS]b", "[MASK] is [PAD][SEP]", "[cls] lower is not special", "[[UNK]]", "x [MASK]y"]:
        assert tok.tokenize(text) == ref.tokenize(text), text
    assert tok.tokenize("[MASK][SEP]") == ["[MASK]", "[SEP]"]


def test_long_words_become_unk(ref, tok):
    for n in (99, 100, 101, 250):
        text = "ab" * (n // 2) + "c" * (n % 2)
        assert tok.tokenize(text) == ref.tokenize(text)
    assert tok.tokenize("a" * 101) == ["[UNK]"]
    assert tok.tokenize("a" * 100) != ["[UNK]"]


def test_empty_string(ref, tok):
    for padding in ("max_length", "longest"):
        got = tok("", padding=padding)
        want = _ref_encode(ref, [""], padding=padding, max_length=64)
        for key in got:
            np.testing.assert_array_equal(got[key], want[key])
    assert tok("", padding="longest")["input_ids"].tolist() == [[tok.cls_token_id, tok.sep_token_id]]
    assert tok.tokenize("") == [] and tok.tokenize(" \t\n\x00 ") == []


@pytest.mark.parametrize("padding", ["max_length", "longest", True])
@pytest.mark.parametrize("truncation", [False, True, "longest_first"])
@pytest.mark.parametrize("max_length", [None, 8, 64, 100])
def test_padding_and_truncation_modes(ref, tok, padding, truncation, max_length):
    texts = ["a photo of a cat", "two dogs", "the quick brown fox jumps over the lazy dog " * 3, ""]
    want = _ref_encode(ref, texts, padding=padding, truncation=truncation,
                       max_length=64 if max_length is None else max_length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = tok(texts, padding=padding, truncation=truncation, max_length=max_length)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        if want[key].dtype == object:  # transformers' rows are ragged here; refalign pads them on to the longest
            pad = tok.pad_token_id if key == "input_ids" else 0
            want_rows = [np.asarray(r) for r in want[key]]
            want_padded = np.stack([np.pad(r, (0, got[key].shape[1] - len(r)), constant_values=pad) for r in want_rows])
            assert got[key].shape[1] == max(len(r) for r in want_rows)
            np.testing.assert_array_equal(got[key], want_padded, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_max_length_padding_keeps_long_texts(ref, tok):
    """Untruncated and longer than max_length: kept whole with a warning like transformers; a batch then pads to its
    longest text (transformers would return ragged object arrays there)."""
    long = "word " * 80  # 82 tokens
    with pytest.warns(UserWarning, match="82"):
        got = tok(long)
    want = _ref_encode(ref, [long], padding="max_length", max_length=64)
    np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
    with pytest.warns(UserWarning):
        batch = tok([long, "a cat"])
    assert batch["input_ids"].shape == (2, 82)
    np.testing.assert_array_equal(batch["input_ids"][0], want["input_ids"][0])
    short = _ref_encode(ref, ["a cat"], padding="max_length", max_length=82)
    np.testing.assert_array_equal(batch["input_ids"][1], short["input_ids"][0])
    np.testing.assert_array_equal(batch["attention_mask"][1], short["attention_mask"][0])


def test_do_not_pad(ref, tok):
    got = tok(["a b", "c d"], padding="do_not_pad")
    want = _ref_encode(ref, ["a b", "c d"], padding="do_not_pad")
    np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
    assert tok("one two three", padding=False)["input_ids"].shape == (1, 5)
    with pytest.raises(ValueError, match="padding"):
        tok(["a b c", "d"], padding=False)


def test_more_than_512_positions_is_refused(ref, tok):
    text = "word " * 600
    with pytest.raises(ValueError, match="512"):
        tok(text)
    with pytest.raises(ValueError, match="512"):
        tok(["a", text], padding="longest")
    got = tok(text, truncation=True)
    want = _ref_encode(ref, [text], padding="max_length", truncation=True, max_length=64)
    np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
    with pytest.warns(UserWarning, match="512"):
        assert tok("word " * 510, padding="longest")["input_ids"].shape == (1, 512)  # exactly at the limit
    with pytest.raises(ValueError, match="100"):
        tok("word " * 120, max_positions=100)


@pytest.mark.parametrize("bad", [None, 5, b"bytes", ["a", None], [1, 2], ("a", 3.0), {"a": 1}, np.array(["a"])])
def test_non_text_raises_type_error(tok, bad):
    with pytest.raises(TypeError, match="text"):
        tok(bad)


def test_bad_arguments_raise(tok):
    with pytest.raises(ValueError, match="padding"):
        tok("a", padding="sideways")
    with pytest.raises(ValueError, match="truncation"):
        tok("a", truncation="only_second")
    with pytest.raises(ValueError, match="max_length"):
        tok("a", max_length=0)
    with pytest.raises(ValueError, match="max_length"):
        tok("a", max_length=1, truncation=True)
    with pytest.raises(ValueError, match="text"):
        tok([])
    with pytest.raises(TypeError, match="text"):
        tok.tokenize(7)
    with pytest.raises(ValueError, match="ids"):
        tok.decode([101, 10**6])
    with pytest.raises(ValueError, match="surrogate"):
        tok("abc \ud800 def")


def test_optional_outputs_can_be_left_out(tok):
    out = tok(["a", "b c"], return_attention_mask=False, return_token_type_ids=False)
    assert set(out) == {"input_ids"}
    assert out["input_ids"].shape == (2, 64)


def test_from_pretrained_without_config_uses_align_base_settings(ref, tok, tmp_path, tiny_dir):
    shutil.copy(os.path.join(tiny_dir, "vocab.txt"), tmp_path / "vocab.txt")
    bare = BertTokenizer.from_pretrained(tmp_path)
    assert (bare.do_lower_case, bare.strip_accents, bare.tokenize_chinese_chars, bare.model_max_length) == \
        (True, None, True, 64)
    text = ["Ärger über 東京 [MASK] résumé", "a cat"]
    np.testing.assert_array_equal(bare(text)["input_ids"], _ref_encode(ref, text, padding="max_length",
                                                                        max_length=64)["input_ids"])


def test_config_settings_are_read(tmp_path, tiny_dir):
    shutil.copy(os.path.join(tiny_dir, "vocab.txt"), tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false, "model_max_length": 16}')
    cased = BertTokenizer.from_pretrained(tmp_path)
    assert cased.tokenize("Hello")[0] != "hello" and cased("a")["input_ids"].shape == (1, 16)
    (tmp_path / "tokenizer_config.json").write_text('{"model_max_length": "long"}')
    with pytest.raises(ConfigError, match="model_max_length"):
        BertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="tokenizer_config.json"):
        BertTokenizer.from_pretrained(tmp_path)


def test_missing_or_bad_vocab_names_the_file(tmp_path):
    with pytest.raises(RefalignError, match="vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(RefalignError, match="vocab.txt"):
        BertTokenizer(tmp_path / "vocab.txt")
    (tmp_path / "vocab.txt").write_text("[PAD]\nhello\n")
    with pytest.raises(ConfigError, match="unk_token"):
        BertTokenizer(tmp_path / "vocab.txt")
