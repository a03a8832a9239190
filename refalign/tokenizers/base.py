"""Tokenizer: what every refalign tokenizer shares, whatever its algorithm (transformers' tokenizer base, in short).

A subclass holds one algorithm (WordPiece, byte-level BPE, SentencePiece unigram) and implements

    _encode_piece(piece, limit)   the ids of a piece of text that holds no special token
    _special_ids_around()         (ids before, ids after) a single sequence: ([CLS], [SEP]) for BERT
    _special_ids_pair()           (ids before, between, after) a pair; by default ([CLS], [SEP], [SEP]) as for BERT
    _join_tokens(tokens)          tokens back to text: the algorithm's decoder

and declares its class attributes: ``vocab_files_names`` (the files ``from_pretrained`` passes to ``__init__``),
``special_token_roles``, ``default_settings``, the tokenizer_config.json keys it reads (``bool_settings``,
``optional_bool_settings``) and ``pair_type_id``. This class does the rest:

- special tokens: their roles (cls, sep, pad, unk, mask, bos, eos) and ids (one missing from the vocabulary is
  appended after it, as transformers does); special tokens written in the text are cut out of the raw text first
  (case-sensitively, the leftmost and then the longest match first) and kept whole; one flagged lstrip / rstrip
  also swallows the whitespace on its left / right (RoBERTa's ``<mask>``);
- tokenizer_config.json: the subclass's keys, clean_up_tokenization_spaces, model_max_length, the special tokens;
- the batch call: single texts or pairs (``text_pair``), truncation (longest_first, only_first, only_second, as the
  Rust tokenizers does it), padding, the max_length / max_positions checks, int64 (B, L) arrays written with
  vectorised NumPy;
- decode / batch_decode: ids to tokens, skipping special tokens, transformers' clean_up_tokenization.
"""
from __future__ import annotations

import json
import os
import warnings
from itertools import chain
from typing import Any, Sequence, TypeVar

import numpy as np
import regex

from ..errors import ConfigError, WeightsNotFoundError
from ..outputs import check_return_tensors

__all__ = ["Tokenizer"]

T = TypeVar("T", bound="Tokenizer")

# what the Rust tokenizers calls whitespace when a special token strips it (regex \s: Unicode White_Space)
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                         "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

# transformers' clean_up_tokenization (decode with clean_up_tokenization_spaces)
_CLEANUP_SPACES = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                   (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def _cleanup(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    for a, b in pairs:
        if a in text:
            text = text.replace(a, b)
    return text


def _special_token_id(role: str) -> property:
    """A read-only attribute: the id of the special token of `role` ("cls_token", ...), None when it has none."""
    def get(self: Tokenizer) -> int | None:
        token = getattr(self, role)
        return None if token is None else self.special_tokens[token]
    return property(get, doc=f"The id of {role}, None when the tokenizer has no {role}.")


class Tokenizer:
    """Text -> int64 arrays ``input_ids`` (and ``token_type_ids``, ``attention_mask``) of shape (B, L), and back.

    Called like transformers' tokenizers with ``return_tensors="np"``: no padding and no truncation unless asked.
    """

    #: __init__ argument -> file name in a checkpoint directory, e.g. {"vocab_file": "vocab.txt"}
    vocab_files_names: dict[str, str] = {}
    #: the special tokens this tokenizer needs, in the order those missing from the vocabulary are appended
    special_token_roles: tuple[str, ...] = ()
    #: the settings used when a directory has no tokenizer_config.json, and for keys the file lacks
    default_settings: dict[str, Any] = {}
    #: tokenizer_config.json keys read as true / false (a null keeps the default); clean_up_tokenization_spaces too
    bool_settings: tuple[str, ...] = ()
    #: keys read as true / false / null, where a null means "decided by another setting"
    optional_bool_settings: tuple[str, ...] = ()
    #: what the call returns by default (a tokenizer without token type ids leaves that name out)
    model_input_names: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")

    # roles a tokenizer does not use stay None, as in transformers
    unk_token: str | None = None
    sep_token: str | None = None
    pad_token: str | None = None
    cls_token: str | None = None
    mask_token: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None

    #: token type id of the second text of a pair and of the special tokens after it (BERT: 1, RoBERTa: 0)
    pair_type_id: int = 1

    def __init__(self, vocab: dict[str, int], special_tokens: dict[str, str], *, model_max_length: int,
                 max_positions: int, clean_up_tokenization_spaces: bool = False,
                 special_token_strip: dict[str, tuple[bool, bool]] | None = None):
        """vocab: token -> id; special_tokens: role ("cls_token", ...) -> token, one for each special_token_roles;
        special_token_strip: token -> (lstrip, rstrip) for the special tokens that swallow the whitespace around
        them where they are written in a text (absent: neither)."""
        self.vocab = vocab
        self.model_max_length = _check_int(model_max_length, "model_max_length", 0)
        self.max_positions = _check_int(max_positions, "max_positions", 2)
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)

        self._ids_to_tokens: list[str | None] = [None] * (max(vocab.values()) + 1)
        for tok, i in vocab.items():
            self._ids_to_tokens[i] = tok
        # special tokens keep their vocabulary id; one missing from the vocabulary is appended (as transformers does)
        self.special_tokens: dict[str, int] = {}
        for role in self.special_token_roles:
            tok = special_tokens[role]
            if not isinstance(tok, str) or not tok:
                raise ValueError(f"special tokens must be non-empty strings, got {tok!r}")
            setattr(self, role, tok)
            if tok in vocab:
                self.special_tokens[tok] = vocab[tok]
            elif tok not in self.special_tokens:
                self.special_tokens[tok] = len(self._ids_to_tokens)
                self._ids_to_tokens.append(tok)
        self._special_ids = frozenset(self.special_tokens.values())
        by_length = sorted(self.special_tokens, key=len, reverse=True)  # the longest wins at a position
        self._special_re = regex.compile("|".join(regex.escape(t) for t in by_length))
        first_chars = {t[0] for t in by_length}
        # when all special tokens start with one character, a text without it holds none (a cheap test before the
        # regular expression); None: they start with different characters
        self._special_first = first_chars.pop() if len(first_chars) == 1 else None
        self._special_strip = {t: (bool(l), bool(r)) for t, (l, r) in (special_token_strip or {}).items()
                               if t in self.special_tokens and (l or r)}

    @classmethod
    def from_pretrained(cls: type[T], directory, **overrides) -> T:
        """Read the vocabulary file(s) and ``tokenizer_config.json`` from a directory (default_settings when the json
        is absent). Keyword arguments override the file's settings."""
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise WeightsNotFoundError(f"tokenizer directory {directory!r} does not exist")
        settings = cls._read_tokenizer_config(directory)
        settings.update(overrides)
        files = {arg: os.path.join(directory, name) for arg, name in cls.vocab_files_names.items()}
        return cls(**files, **settings)

    @classmethod
    def _read_tokenizer_config(cls, directory: str) -> dict[str, Any]:
        """default_settings updated with what ``directory``/tokenizer_config.json says (the keys this class reads)."""
        settings = dict(cls.default_settings)
        path = os.path.join(directory, "tokenizer_config.json")
        if not os.path.exists(path):
            return settings
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object, got {type(data).__name__}")
        for key in (*cls.bool_settings, "clean_up_tokenization_spaces"):
            if data.get(key) is not None:
                if not isinstance(data[key], bool):
                    raise ConfigError(f"{path}: {key} must be true or false, got {data[key]!r}")
                settings[key] = data[key]
        for key in cls.optional_bool_settings:
            if data.get(key) is not None:
                if not isinstance(data[key], bool):
                    raise ConfigError(f"{path}: {key} must be true, false or null, got {data[key]!r}")
                settings[key] = data[key]
        if data.get("model_max_length") is not None:
            m = data["model_max_length"]
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not m >= 0:
                raise ConfigError(f"{path}: model_max_length must be a non-negative number, got {m!r}")
            settings["model_max_length"] = int(min(m, 1 << 62))  # transformers writes 1e30 for "no limit"
        for key in cls.special_token_roles:
            value = data.get(key)
            if value is None:
                continue
            if isinstance(value, dict):  # a serialised AddedToken
                value = value.get("content")
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: {key} must be a non-empty string, got {data[key]!r}")
            settings[key] = value
        return settings

    # ------------------------------------------------------------------------------------------ what subclasses do
    def _encode_piece(self, piece: str, limit: int | None) -> list[int]:
        """The ids of a piece of text that holds no special token. With `limit`, at least the first `limit` ids
        (more are fine: the caller cuts), so that a long text need not be encoded whole when it is truncated."""
        raise NotImplementedError

    def _special_ids_around(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The special token ids before and after a single sequence: ((cls id,), (sep id,)) for BERT."""
        raise NotImplementedError

    def _special_ids_pair(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """The special token ids before, between and after a pair of sequences. By default BERT's template: what
        comes after a single sequence also closes each text of a pair (``[CLS] A [SEP] B [SEP]``)."""
        before, after = self._special_ids_around()
        return before, after, after

    def _join_tokens(self, tokens: list[str]) -> str:
        """Tokens (special ones included unless skipped) back to text: the algorithm's decoder."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self._ids_to_tokens)

    def get_vocab(self) -> dict[str, int]:
        return {**self.vocab, **self.special_tokens}

    # unk_token_id, ...: the special token's id, None for a role the tokenizer does not use
    unk_token_id = _special_token_id("unk_token")
    sep_token_id = _special_token_id("sep_token")
    pad_token_id = _special_token_id("pad_token")
    cls_token_id = _special_token_id("cls_token")
    mask_token_id = _special_token_id("mask_token")
    bos_token_id = _special_token_id("bos_token")
    eos_token_id = _special_token_id("eos_token")

    @property
    def all_special_ids(self) -> list[int]:
        return sorted(self._special_ids)

    def convert_tokens_to_ids(self, tokens):
        """A token or a list of tokens to ids; a token outside the vocabulary gives the unknown token's id."""
        if tokens is None:
            return None
        if isinstance(tokens, str):
            i = self.special_tokens.get(tokens)
            return i if i is not None else self.vocab.get(tokens, self.unk_token_id)
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """An id or a sequence of ids to tokens; an id outside the vocabulary gives None (like transformers)."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            return self._id_to_token(int(ids))
        ids = _to_id_list(ids)
        skip = self._special_ids if skip_special_tokens else ()
        return [self._id_to_token(i) for i in ids if i not in skip]

    def _id_to_token(self, i: int) -> str | None:
        if i < 0:
            raise ValueError(f"token ids must be non-negative, got {i}")
        return self._ids_to_tokens[i] if i < len(self._ids_to_tokens) else None

    # ------------------------------------------------------------------------------------------ encoding
    def _encode(self, text: str, limit: int | None = None) -> list[int]:
        """Ids of one text without the special tokens around it; special tokens written in the text are cut out
        first and kept whole. With `limit`, at least the first `limit` ids (maybe more)."""
        if (self._special_first is None or self._special_first in text) and self._special_re.search(text):
            out: list[int] = []
            pos = 0
            strip = self._special_strip
            for m in self._special_re.finditer(text):
                start, end = m.span()
                if strip and m.group() in strip:
                    lstrip, rstrip = strip[m.group()]
                    if lstrip:  # the whitespace before it, back to the previous special token at most
                        while start > pos and text[start - 1] in _WHITE_SPACE:
                            start -= 1
                    if rstrip:
                        while end < len(text) and text[end] in _WHITE_SPACE:
                            end += 1
                out += self._encode_piece(text[pos:start], None if limit is None else max(0, limit - len(out)))
                out.append(self.special_tokens[m.group()])
                pos = end
                if limit is not None and len(out) >= limit:
                    return out
            out += self._encode_piece(text[pos:], None if limit is None else max(0, limit - len(out)))
            return out
        return self._encode_piece(text, limit)

    def tokenize(self, text: str) -> list[str]:
        """The tokens of `text` (no special tokens added around it; special tokens written in the text are kept)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        t = self._ids_to_tokens
        return [t[i] for i in self._encode(text)]

    def __call__(self, text, text_pair=None, padding: bool | str = False, max_length: int | None = None,
                 truncation: bool | str = False, return_attention_mask: bool | None = None,
                 return_token_type_ids: bool | None = None, max_positions: int | None = None,
                 return_tensors: str | None = None) -> dict[str, np.ndarray]:
        """Encode a text or a list of texts with their special tokens (``[CLS] tokens [SEP]`` for BERT), as int64
        arrays of shape (B, L). The defaults are transformers': no padding, no truncation.

        text_pair: None, or the second text of each pair (a str for a str text, a list as long as a list of texts):
            ``[CLS] A [SEP] B [SEP]`` for BERT, with token type 0 up to A's [SEP] and ``pair_type_id`` after it. As
            in transformers, a str text with an empty str text_pair is encoded alone.
        padding: False / "do_not_pad" (the default) pads nothing, so the sequences must all have the same length
            (else ValueError: there would be no (B, L) array; transformers returns a ragged object array);
            True / "longest" pads to the longest sequence of the batch; "max_length" pads to max_length, and a
            longer, untruncated sequence is returned whole, as transformers does (with its warning), the others
            padded to it.
        max_length: None -> model_max_length (64 for align-base); used by padding="max_length" and truncation.
        truncation: False (the default) / True / "longest_first": cut every sequence to max_length positions,
            special tokens included; a pair loses tokens from its longer text first (the Rust tokenizers' split of
            the budget). "only_first" / "only_second" cut one text of a pair only (ValueError when that text is too
            short to fit the budget, as in transformers).
        return_attention_mask / return_token_type_ids: None -> as model_input_names says.
        max_positions: the model's max_position_embeddings (None -> the tokenizer's). A sequence, or a padded
            width, longer than that raises ValueError rather than reaching the model.
        return_tensors: None or "np" (NumPy is all refalign returns; "pt", "tf", "jax" are refused by name).
        Returns {"input_ids", "token_type_ids", "attention_mask"} (those model_input_names holds, unless turned off).
        """
        check_return_tensors(return_tensors, type(self).__name__)
        texts, pairs = _as_text_list(text), _as_pair_list(text, text_pair)
        mode = _padding_mode(padding)
        strategy = _truncation_strategy(truncation)
        max_length = self.model_max_length if max_length is None else _check_int(max_length, "max_length", 0)
        max_positions = self.max_positions if max_positions is None else _check_int(max_positions,
                                                                                     "max_positions", 2)
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if pairs is None:
            before, after = self._special_ids_around()
            between: tuple[int, ...] = ()
        else:
            before, between, after = self._special_ids_pair()
        added = len(before) + len(between) + len(after)
        limit = None
        if strategy is not None:
            if max_length >= added:
                limit = max_length - added
            else:  # transformers cannot fit the special tokens either: it logs an error and leaves the text whole
                warnings.warn(f"max_length={max_length} leaves no room for {self._names(before + between + after)}: "
                              f"not truncating", stacklevel=2)

        encode = self._encode
        if pairs is not None:
            firsts, seconds = [encode(t) for t in texts], [encode(t) for t in pairs]
            if limit is not None:
                for i, (a, b) in enumerate(zip(firsts, seconds)):
                    n1, n2 = _truncated_pair_lengths(len(a), len(b), limit, strategy, i)
                    del a[n1:], b[n2:]
            seqs = [[*before, *a, *between, *b, *after] for a, b in zip(firsts, seconds)]
            full = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
        else:
            if limit is None:
                seqs = [encode(t) for t in texts]
            else:
                encoded = [encode(t, limit + (strategy == "only_second")) for t in texts]
                if strategy == "only_second" and any(len(s) > limit for s in encoded):  # (only when it must cut)
                    raise ValueError("truncation='only_second' cuts the second text of a pair, but no text_pair "
                                     "was given")
                seqs = [s if len(s) <= limit else s[:limit] for s in encoded]
            lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
            full = lengths + added
        batch = len(seqs)
        longest = int(full.max()) if batch else 0
        if longest > max_positions:
            i = int(np.argmax(full > max_positions))
            raise ValueError(f"text[{i}] is {int(full[i])} tokens long with {self._names(before + between + after)}, "
                             f"more than the model's {max_positions} positions (max_position_embeddings); pass "
                             f"truncation=True to cut it to max_length={max_length}")
        if strategy is None and longest > self.model_max_length:
            warnings.warn(f"Token indices sequence length is longer than the specified maximum sequence length for "
                          f"this model ({longest} > {self.model_max_length}). Running this sequence through the "
                          f"model will result in indexing errors", stacklevel=2)
        if mode == "max_length":
            width = max(max_length, longest)
        elif mode == "longest":
            width = longest
        else:
            if batch and int(full.min()) != longest:
                raise ValueError(f"padding={padding!r} needs every sequence to have the same length (these have "
                                 f"{int(full.min())} to {longest} tokens); pass padding=True (or 'longest') or "
                                 f"padding='max_length' to pad them to one (B, L) array")
            width = longest
        if width > max_positions:
            raise ValueError(f"padding to max_length={width} positions is more than the model's {max_positions} "
                             f"(max_position_embeddings)")

        input_ids = np.full((batch, width), self.pad_token_id, dtype=np.int64)
        pos = np.arange(width, dtype=np.int64)
        if pairs is not None:
            # whole rows, then the second text's type ids: from B's first token to the end of the row
            if batch:
                input_ids[pos < full[:, None]] = np.fromiter(chain.from_iterable(seqs), dtype=np.int64,
                                                             count=int(full.sum()))
            second = np.fromiter((len(before) + len(a) + len(between) for a in firsts), dtype=np.int64, count=batch)
            token_type_ids = ((pos >= second[:, None]) & (pos < full[:, None])).astype(np.int64) * self.pair_type_id
        else:
            # [special before] ids [special after] [pad ...], row by row
            if batch:
                total = int(lengths.sum())
                first = len(before)
                end = lengths + first  # where each sequence's tokens end and the special tokens after them begin
                if total:
                    flat = np.fromiter(chain.from_iterable(seqs), dtype=np.int64, count=total)
                    input_ids[(pos >= first) & (pos < end[:, None])] = flat
                for k, i in enumerate(before):
                    input_ids[:, k] = i
                rows = np.arange(batch)
                for k, i in enumerate(after):
                    input_ids[rows, end + k if k else end] = i  # (no "+ 0": this runs on every call)
            token_type_ids = None
        out = {"input_ids": input_ids}
        if return_token_type_ids:
            out["token_type_ids"] = np.zeros((batch, width), dtype=np.int64) if token_type_ids is None \
                else token_type_ids
        if return_attention_mask:
            out["attention_mask"] = (pos < full[:, None]).astype(np.int64)
        return out

    def _names(self, ids: Sequence[int]) -> str:
        """'[CLS] and [SEP]': the special tokens around a sequence, for messages."""
        return " and ".join(self.convert_ids_to_tokens(ids)) or "no special tokens"

    # ------------------------------------------------------------------------------------------ decoding
    def decode(self, ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None):
        """Ids back to text as transformers does: the algorithm's decoder joins the tokens (``_join_tokens``), then,
        if clean_up_tokenization_spaces, transformers' clean_up_tokenization (" 's" -> "'s", " n't" -> "n't", ...).
        clean_up_tokenization_spaces=None uses the tokenizer's setting: tokenizer_config.json's, False when absent,
        as in transformers 5. Ids past the vocabulary are skipped, like transformers. A 2-D input (a batch) gives a
        list of strings."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            ids = [int(ids)]
        elif hasattr(ids, "tolist"):  # NumPy arrays, torch tensors
            ids = ids.tolist()
            ids = [ids] if isinstance(ids, int) else ids
        if isinstance(ids, (list, tuple)) and ids and (isinstance(ids[0], (list, tuple))
                                                      or isinstance(ids[0], np.ndarray) and ids[0].ndim == 1):
            return self.batch_decode(ids, skip_special_tokens=skip_special_tokens,
                                     clean_up_tokenization_spaces=clean_up_tokenization_spaces)
        ids = _to_id_list(ids)
        n, t = len(self._ids_to_tokens), self._ids_to_tokens
        skip = self._special_ids if skip_special_tokens else ()
        text = self._join_tokens([t[i] for i in ids if i < n and i not in skip and t[i] is not None])
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        if clean_up_tokenization_spaces:
            text = _cleanup(text, _CLEANUP_SPACES)
        return text

    def batch_decode(self, sequences, **kw) -> list[str]:
        """decode() of every sequence of a batch (a 2-D array or a list of id lists)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(s if isinstance(s, list) else list(s), **kw) for s in sequences]


# ------------------------------------------------------------------------------------------------ argument checks
def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _as_text_list(text) -> Sequence[str]:
    if isinstance(text, str):
        return [text]
    if isinstance(text, (list, tuple)):
        for i, t in enumerate(text):
            if not isinstance(t, str):
                raise TypeError(f"text must be a str or a list/tuple of str, but text[{i}] is a "
                                f"{type(t).__name__}")
        return text
    raise TypeError(f"text must be a str or a list/tuple of str, got {type(text).__name__}")


def _padding_mode(padding) -> str:
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length" and isinstance(padding, str):
        return "max_length"
    raise ValueError(f"padding must be 'max_length', 'longest', True, 'do_not_pad' or False, got {padding!r}")


def _as_pair_list(text, text_pair) -> Sequence[str] | None:
    """The second texts of pairs (None: single texts), checked against `text` as transformers checks them."""
    if text_pair is None:
        return None
    if isinstance(text, str):
        if not isinstance(text_pair, str):
            raise TypeError(f"text_pair must be a str when text is a str, got {type(text_pair).__name__}")
        return [text_pair] if text_pair else None  # transformers: `if text_pair` (an empty pair is no pair)
    if isinstance(text_pair, str):
        raise TypeError("when text is a list of texts, text_pair must be a list or tuple as long as text")
    pairs = _as_text_list(text_pair)
    if len(pairs) != len(text):
        raise ValueError(f"text has {len(text)} texts but text_pair has {len(pairs)}")
    return pairs


def _truncation_strategy(truncation) -> str | None:
    """None (no truncation), "longest_first", "only_first" or "only_second"."""
    if truncation is True or (isinstance(truncation, str) and truncation == "longest_first"):
        return "longest_first"
    if isinstance(truncation, str) and truncation in ("only_first", "only_second"):
        return truncation
    if truncation is False or truncation == "do_not_truncate":
        return None
    raise ValueError(f"truncation must be True, False, 'longest_first', 'only_first', 'only_second' or "
                     f"'do_not_truncate', got {truncation!r}")


def _truncated_pair_lengths(n1: int, n2: int, budget: int, strategy: str, index: int) -> tuple[int, int]:
    """How many tokens of each text of a pair stay when both must fit `budget` (max_length minus the special tokens),
    as the Rust tokenizers' truncate_encodings decides it."""
    if budget == 0:
        return 0, 0
    if n1 + n2 <= budget:
        return n1, n2
    if strategy == "longest_first":
        # the shorter text keeps what it has while the longer one can take the rest of the budget (and at least as
        # much as the shorter one); else both get half, the longer one the odd token
        short, long = min(n1, n2), max(n1, n2)
        long = short if short > budget else max(short, budget - short)
        if short + long > budget:
            short, long = budget // 2, budget // 2 + budget % 2
        return (long, short) if n1 > n2 else (short, long)
    excess = n1 + n2 - budget
    which, n = ("first", n1) if strategy == "only_first" else ("second", n2)
    if n <= excess:
        raise ValueError(f"truncation={strategy!r}: the {which} text of pair {index} has {n} tokens, too few to "
                         f"remove the {excess} that do not fit max_length (transformers: 'Sequence to truncate too "
                         f"short to respect the provided max_length')")
    return (n1 - excess, n2) if strategy == "only_first" else (n1, n2 - excess)


def _to_id_list(ids) -> list[int]:
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"ids must be an int or a sequence of ints, got {type(ids).__name__}")
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"ids must hold ints, got a {type(i).__name__}")
        if i < 0:
            raise ValueError(f"token ids must be non-negative, got {int(i)}")
        out.append(int(i))
    return out
