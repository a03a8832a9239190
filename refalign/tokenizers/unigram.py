"""SentencePiece unigram tokenizer: transformers' ``XLMRobertaTokenizer`` (Rust-backed in transformers 5), without
transformers, sentencepiece, protobuf or tokenizers.

A unigram model is a vocabulary of pieces, each with a score (the log of its probability); a word is cut into the
pieces whose scores add up to the most (Viterbi). transformers 5 builds the same pipeline from tokenizer.json or from
sentencepiece.bpe.model (the name says BPE; XLM-R's model is unigram), whatever else those files say. Step by step:

1. Special tokens written in the text (``<s>``, ``</s>``, ``<pad>``, ``<unk>``, ``<mask>``, and added special tokens)
   are cut out of the raw text first and kept whole (the base class, tokenizers/base.py). ``<mask>`` is declared
   ``lstrip``: it swallows the whitespace on its left. A special token declared ``normalized`` (tokenizer_config.json's
   AddedToken without special_tokens_map.json or tokenizer.json) is looked for in the normalised text instead, so a
   fullwidth "＜mask＞" is ``<mask>`` too. The text between them is handled piece by piece.
2. Normaliser: the SentencePiece model's precompiled charsmap (NFKC plus SentencePiece's NMT rules: tab, NBSP,
   U+3000, U+200B, "▁" -> " ", controls deleted, "①" -> "1", "ﬁ" -> "fi", ...), applied per grapheme cluster as
   tokenizers applies it (tokenizers/charsmap.py). Nothing else: transformers ignores the rest of a tokenizer.json's
   normalizer sequence (a Replace of space runs, a Strip) and the SentencePiece flags add_dummy_prefix /
   remove_extra_whitespaces, because its XLMRobertaTokenizer rebuilds the pipeline.
3. Pre-tokenizer: the normalised text is split on whitespace (Rust's ``char::is_whitespace``: Unicode White_Space,
   which unlike Python's ``str.split`` does not include U+001C..U+001F, and does include U+0085), the whitespace
   dropped. Each word gets a "▁" in front unless it starts with one (Metaspace, prepend_scheme "always"; "never" when
   add_prefix_space is false), then is cut before every further "▁" ("a▁b" -> "▁a", "▁b"; only text without a
   charsmap keeps a literal "▁").
4. Model: the Viterbi search of tokenizers' Unigram.encode_optimized, on each pre-token. For every start position (in
   characters) it tries every piece that begins there (a dict of every prefix of every piece says when to stop
   looking), scoring best_score[start] + piece score; the end position keeps the first candidate and is replaced
   only by a strictly greater score, so ties go to the earliest start, then to the shortest piece. Where no
   single-character piece begins, an unknown node of one character is offered with score (lowest piece score - 10).
   Walking back from the end, runs of unknown nodes are fused into one token, whose id is the unknown id: 3, the id
   transformers gives its Unigram model whatever the files say. The vocabulary holds the special tokens too (score
   0, the highest possible), so a "<s>" that only appears after normalisation ("＜s＞") is the piece <s>.
5. Template: ``<s> A </s>``, and for a pair ``<s> A </s></s> B </s>`` (TemplateProcessing with bos_token and
   eos_token; token type ids all 0 and not returned unless asked). Truncation and padding are the base class's.

Ids (fairseq's convention, as transformers' XLMRobertaConverter lays them out): ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
``<unk>`` 3, then the SentencePiece pieces after its own three specials (SentencePiece id + 1), ``<mask>`` last. A
tokenizer.json already holds that list (model.vocab, [piece, score] pairs) and is read as it is.

Decoding: the Metaspace decoder: every "▁" becomes a space, except in the first token, where every "▁" is dropped
(tokenizers drops them all there, not only a leading one); then, if clean_up_tokenization_spaces, transformers'
clean-up (" ." -> ".", ...).

Files: ``tokenizer.json`` (when present it is read, as transformers does), else ``sentencepiece.bpe.model``;
tokenizer_config.json gives add_prefix_space, model_max_length and the special tokens; their lstrip / rstrip /
normalized flags come, as in transformers, from tokenizer_config.json's added_tokens_decoder, else from tokenizer.json's
added_tokens and special_tokens_map.json, else tokenizer_config.json.

Speed: the charsmap leaves pure ASCII to a str.translate table and text without any character it maps as it is;
every word's ids are remembered in a bounded cache (most words of a corpus repeat), so the Viterbi search runs once
per distinct word; with truncation only a prefix of a long text is normalised and split; batches are padded with
vectorised NumPy (tokenizers/base.py).
"""
from __future__ import annotations

import base64
import binascii
import math
import os
from dataclasses import dataclass
from itertools import chain
from typing import Any

import regex

from ..errors import CheckpointError, ConfigError, UnsupportedModelError, WeightsNotFoundError
from .base import _WHITE_SPACE, Tokenizer
from .charsmap import PrecompiledCharsmap, graphemes
from .files import WordCache, forget_parsed_json, read_json
from .sentencepiece_model import CONTROL, MODEL_TYPES, UNKNOWN, USER_DEFINED, read_sentencepiece_model

__all__ = ["XLMRobertaTokenizer", "XLMR_TOKENIZER_CONFIG", "AddedToken", "UnigramModel", "load_unigram_tokenizer_json",
           "load_sentencepiece_vocab", "split_on_whitespace"]

# transformers' XLMRobertaTokenizer defaults (model_max_length: transformers' VERY_LARGE_INTEGER when not configured)
XLMR_TOKENIZER_CONFIG: dict[str, Any] = {
    "add_prefix_space": True,
    "model_max_length": int(1e30),
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "clean_up_tokenization_spaces": False,
}
UNK_ID = 3  # transformers builds Unigram(vocab, unk_id=3): fairseq's <unk>, whatever tokenizer.json's unk_id says
UNKNOWN_PENALTY = 10.0  # an unknown character scores this much below the lowest piece score
METASPACE = "\u2581"  # "▁", SentencePiece's visible space

# Rust's char::is_whitespace (Unicode White_Space): what WhitespaceSplit cuts on
_RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_RUST_WORDS = regex.compile(f"[^{_RUST_WHITESPACE}]+").findall
# what Python's str.split() cuts on besides: the information separators U+001C..U+001F
_PYTHON_ONLY_WHITESPACE = regex.compile("[\x1c-\x1f]").search
_METASPACE_PARTS = regex.compile(f"[^{METASPACE}]+|{METASPACE}[^{METASPACE}]*").findall


def split_on_whitespace(text: str) -> list[str]:
    """tokenizers' WhitespaceSplit: the runs of characters between Rust whitespace (str.split() where it agrees)."""
    return _RUST_WORDS(text) if _PYTHON_ONLY_WHITESPACE(text) else text.split()


@dataclass(frozen=True)
class AddedToken:
    """An added (special) token as tokenizers matches it in a text."""

    content: str
    lstrip: bool = False  # swallows the whitespace on its left
    rstrip: bool = False  # ... on its right
    normalized: bool = False  # looked for in the normalised text (else in the raw text)
    special: bool = True  # skipped by decode(skip_special_tokens=True)


# ------------------------------------------------------------------------------------------------ the unigram model
class UnigramModel:
    """A unigram vocabulary and its Viterbi search (tokenizers' Unigram.encode_optimized, see the module docstring)."""

    def __init__(self, pieces: list[tuple[str, float]], source: str, unk_id: int = UNK_ID):
        """pieces: (piece, score) in id order (transformers' vocabulary, specials included)."""
        if len(pieces) <= unk_id:
            raise CheckpointError(f"{source}: the vocabulary has {len(pieces)} pieces, too few for the unknown "
                                  f"token's id {unk_id}")
        self.pieces = [p for p, _ in pieces]
        self.scores = [float(s) for _, s in pieces]
        self.unk_id = unk_id
        self.unk_score = min(self.scores) - UNKNOWN_PENALTY
        # piece -> id (a piece listed twice keeps its later id, as tokenizers' token_to_ids), and every proper
        # prefix of a piece -> -1 unless it is a piece itself: the Viterbi search stops where no piece continues
        self.piece_ids: dict[str, int] = {}
        for i, piece in enumerate(self.pieces):
            if not piece:
                raise CheckpointError(f"{source}: piece {i} is empty")
            self.piece_ids[piece] = i
        self._prefixes: dict[str, int] = {}
        for piece in self.piece_ids:
            for end in range(1, len(piece)):
                self._prefixes.setdefault(piece[:end], -1)
        self._prefixes.update(self.piece_ids)

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str) -> list[int]:
        """The ids of the best segmentation of `text` (one pre-token), unknown characters fused into one unk id."""
        return [i for i, _ in self.segment(text)]

    def segment(self, text: str) -> list[tuple[int, str]]:
        """The best segmentation of `text` (one pre-token) as (id, text) pairs; a run of unknown characters is one
        pair (the unknown id, their text), as tokenizers' tokens show it."""
        n = len(text)
        best_score = [0.0] * (n + 1)
        best_start = [-1] * (n + 1)  # -1: no path reaches this position yet
        best_id = [0] * (n + 1)
        lookup, scores, unk_id, unk_score = self._prefixes.get, self.scores, self.unk_id, self.unk_score
        for start in range(n):
            here = best_score[start]  # every position is reached: by a one-character piece or an unknown node
            has_single = False
            end = start + 1
            while end <= n:
                i = lookup(text[start:end])
                if i is None:  # no piece begins with this text: no longer one can match
                    break
                if i >= 0:
                    score = here + scores[i]
                    if best_start[end] < 0 or score > best_score[end]:  # strictly greater: ties keep the first
                        best_score[end], best_start[end], best_id[end] = score, start, i
                    if end == start + 1:
                        has_single = True
                end += 1
            if not has_single:
                end = start + 1
                score = here + unk_score
                if best_start[end] < 0 or score > best_score[end]:
                    best_score[end], best_start[end], best_id[end] = score, start, unk_id
        # walk back from the end; a run of unknown nodes becomes one token (its text looked up, as tokenizers does)
        out: list[tuple[int, str]] = []
        end, unk_end = n, -1
        while end > 0:
            start, i = best_start[end], best_id[end]
            if i == unk_id:
                if unk_end < 0:
                    unk_end = end
            else:
                if unk_end >= 0:
                    out.append((self.piece_ids.get(text[end:unk_end], unk_id), text[end:unk_end]))
                    unk_end = -1
                out.append((i, text[start:end]))
            end = start
        if unk_end >= 0:
            out.append((self.piece_ids.get(text[:unk_end], unk_id), text[:unk_end]))
        out.reverse()
        return out


# ------------------------------------------------------------------------------------------------ files
def load_unigram_tokenizer_json(path) -> tuple[list[tuple[str, float]], bytes | None, list[dict]]:
    """tokenizer.json -> (vocabulary as (piece, score) pairs in id order, the precompiled charsmap or None, the
    added_tokens entries): what transformers' XLMRobertaTokenizer takes from the file."""
    path = os.fspath(path)
    data = read_json(path, "tokenizer file")
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict):
        raise CheckpointError(f"{path}: no 'model' object (not a tokenizers tokenizer.json)")
    if model.get("type", "Unigram") != "Unigram":
        raise UnsupportedModelError(f"{path}: model.type is {model.get('type')!r}, not the 'Unigram' an "
                                    f"XLMRobertaTokenizer reads")
    raw = model.get("vocab")
    if not isinstance(raw, list) or not raw:
        raise CheckpointError(f"{path}: model.vocab must be a non-empty list of [piece, score] pairs")
    vocab = []
    for n, entry in enumerate(raw):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and isinstance(entry[1], (int, float)) and not isinstance(entry[1], bool)
                and math.isfinite(entry[1])):
            raise CheckpointError(f"{path}: model.vocab[{n}] must be a [piece, score] pair with a finite score, got "
                                  f"{entry!r}")
        vocab.append((entry[0], float(entry[1])))
    # (the file's "truncation" / "padding" blocks are ignored: transformers' call sets both anew every time)
    added = data.get("added_tokens") or []
    if not isinstance(added, list) or not all(isinstance(t, dict) and isinstance(t.get("content"), str)
                                              for t in added):
        raise CheckpointError(f"{path}: added_tokens must be a list of objects with a 'content' string")
    return vocab, _charsmap_of_normalizer(data.get("normalizer"), path), added


def _charsmap_of_normalizer(normalizer, path: str) -> bytes | None:
    """The precompiled charsmap of the first Precompiled normalizer (alone or in a Sequence), as transformers finds
    it; None when there is none (transformers then normalises nothing)."""
    if not normalizer:
        return None
    if not isinstance(normalizer, dict):
        raise CheckpointError(f"{path}: normalizer must be an object, got {type(normalizer).__name__}")
    steps = normalizer.get("normalizers") if normalizer.get("type") == "Sequence" else [normalizer]
    if not isinstance(steps, list):
        raise CheckpointError(f"{path}: normalizer.normalizers must be a list")
    for step in steps:
        if isinstance(step, dict) and step.get("type") == "Precompiled" and "precompiled_charsmap" in step:
            encoded = step["precompiled_charsmap"]
            if not isinstance(encoded, str):
                raise CheckpointError(f"{path}: normalizer precompiled_charsmap must be a base64 string")
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as e:
                raise CheckpointError(f"{path}: normalizer precompiled_charsmap is not valid base64 ({e})") from None
    return None


def load_sentencepiece_vocab(path, bos_token: str = "<s>", pad_token: str = "<pad>", eos_token: str = "</s>",
                             unk_token: str = "<unk>",
                             mask_token: str = "<mask>") -> tuple[list[tuple[str, float]], bytes | None]:
    """sentencepiece.bpe.model -> (transformers' vocabulary, the precompiled charsmap or None), laid out as
    transformers' XLMRobertaConverter does: the four fairseq specials (score 0), the pieces after SentencePiece's
    three (<unk> <s> </s>), <mask> last."""
    path = os.fspath(path)
    model = read_sentencepiece_model(path)
    if model.model_type != 1:
        raise UnsupportedModelError(f"{path}: trainer_spec.model_type is "
                                    f"{MODEL_TYPES.get(model.model_type, model.model_type)!r}, not the 'unigram' an "
                                    f"XLMRobertaTokenizer reads")
    if len(model.pieces) < 3 or model.types[:3] != [UNKNOWN, CONTROL, CONTROL]:
        raise UnsupportedModelError(f"{path}: the first three pieces are {model.pieces[:3]!r}, not XLM-R's unknown, "
                                    f"begin and end pieces, which transformers replaces by <s> <pad> </s> <unk>")
    kinds = {CONTROL: "control", USER_DEFINED: "user-defined", UNKNOWN: "unknown"}
    for i, kind in enumerate(model.types[3:], 3):
        if kind in kinds:
            raise UnsupportedModelError(f"{path}: piece {i} ({model.pieces[i]!r}) is a {kinds[kind]} symbol, which "
                                        f"transformers turns into an added token; refalign does not support that")
    vocab = [(bos_token, 0.0), (pad_token, 0.0), (eos_token, 0.0), (unk_token, 0.0)]
    vocab += zip(model.pieces[3:], model.scores[3:])
    vocab.append((mask_token, 0.0))
    return vocab, model.precompiled_charsmap or None


# ------------------------------------------------------------------------------------------------ special tokens
def _token_object(value, source: str, special_default: bool | None) -> AddedToken:
    """An AddedToken from a str or a serialised token object; `special_default` is the special flag when the object
    has none (None: read "special", default false), normalized defaults to not special, as in tokenizers."""
    if isinstance(value, str):
        return AddedToken(value)
    if not isinstance(value, dict) or not isinstance(value.get("content"), str) or not value["content"]:
        raise ConfigError(f"{source}: a token must be a non-empty string or an object with a 'content' string, got "
                          f"{value!r}")
    if value.get("single_word"):
        raise UnsupportedModelError(f"{source}: token {value['content']!r} is single_word, which refalign does not "
                                    f"support")
    special = bool(value.get("special", False)) if special_default is None else special_default
    normalized = value.get("normalized")
    return AddedToken(value["content"], lstrip=bool(value.get("lstrip")), rstrip=bool(value.get("rstrip")),
                      normalized=(not special) if normalized is None else bool(normalized), special=special)


def _added_token_settings(directory: str, roles: tuple[str, ...],
                          overrides: dict) -> tuple[dict[str, str], dict[str, AddedToken], list[AddedToken]]:
    """The special tokens of each role, the flags of every declared token and the extra special tokens (in the order
    transformers adds them), read as transformers 5 reads them:

    - tokenizer_config.json's ``added_tokens_decoder`` (id -> token object), when present, declares the added
      tokens; otherwise special_tokens_map.json's roles replace tokenizer_config.json's, and tokenizer.json's
      ``added_tokens`` (when the directory has one) declare the added tokens;
    - a role's token takes the flags of the declared token with its text, else of its own entry (an object), else
      none (a special token given as a string is matched in the raw text, stripping nothing);
    - declared tokens that fill no role, and ``additional_special_tokens`` / ``extra_special_tokens`` lists, are
      extra special tokens. Non-special extra added tokens and single_word tokens are not supported."""
    config_path = os.path.join(directory, "tokenizer_config.json")
    config = read_json(config_path, "tokenizer config") if os.path.isfile(config_path) else {}
    if not isinstance(config, dict):
        raise ConfigError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
    if config.get("split_special_tokens"):
        raise UnsupportedModelError(f"{config_path}: split_special_tokens=true is not supported by refalign")
    values: dict[str, AddedToken] = {role: _token_object(config[role], f"{config_path}: {role}", None)
                                     for role in roles if config.get(role) is not None}
    lists: list[tuple[Any, str]] = [(config.get(k), config_path) for k in ("additional_special_tokens",
                                                                             "extra_special_tokens")]
    declared: list[AddedToken] = []
    decoder = config.get("added_tokens_decoder")
    if decoder is not None:
        if not isinstance(decoder, dict):
            raise ConfigError(f"{config_path}: added_tokens_decoder must be an object id -> token")
        try:
            items = sorted(decoder.items(), key=lambda kv: int(kv[0]))
        except ValueError:
            raise ConfigError(f"{config_path}: added_tokens_decoder's keys must be token ids") from None
        declared = [_token_object(t, f"{config_path}: added_tokens_decoder[{i}]", None) for i, t in items]
    else:
        map_path = os.path.join(directory, "special_tokens_map.json")
        if os.path.isfile(map_path):
            special_map = read_json(map_path, "special tokens map")
            if not isinstance(special_map, dict):
                raise ConfigError(f"{map_path} must hold a JSON object, got {type(special_map).__name__}")
            values.update({role: _token_object(v, f"{map_path}: {role}", True) for role, v in special_map.items()
                           if role in roles and v is not None and not overrides.get(role)})
            lists += [(special_map.get(k), map_path) for k in ("additional_special_tokens", "extra_special_tokens")]
        tokenizer_json = os.path.join(directory, "tokenizer.json")
        if os.path.isfile(tokenizer_json):
            added = read_json(tokenizer_json, "tokenizer file")
            added = added.get("added_tokens") if isinstance(added, dict) else None
            if not isinstance(added, list):
                added = []
            declared = [_token_object(t, f"{tokenizer_json}: added_tokens", None) for t in added]
    for role, value in overrides.items():
        if role in roles and value:
            values[role] = _token_object(value, f"{role}=", None) if isinstance(value, dict) else AddedToken(value)
    contents = {role: token.content for role, token in values.items()}
    role_tokens = {contents.get(role) or XLMR_TOKENIZER_CONFIG[role] for role in roles}
    tokens: dict[str, AddedToken] = {t.content: AddedToken(t.content, t.lstrip, t.rstrip, t.normalized, True)
                                     for t in values.values() if t.content in role_tokens}
    extras: dict[str, AddedToken] = {}
    for token in declared:  # the declared flags win (transformers maps every role to the declared token)
        if token.content in role_tokens:
            tokens[token.content] = AddedToken(token.content, token.lstrip, token.rstrip, token.normalized, True)
        else:
            extras[token.content] = token
    for value, source in lists:
        if value is None:
            continue
        if isinstance(value, dict):  # {name: token}: model-specific special tokens
            value = list(value.values())
        if not isinstance(value, list):
            raise ConfigError(f"{source}: additional_special_tokens / extra_special_tokens must be a list")
        for item in value:
            token = _token_object(item, source, True)
            if token.content not in role_tokens and token.content not in extras:
                extras[token.content] = AddedToken(token.content, token.lstrip, token.rstrip, token.normalized, True)
    for token in extras.values():
        if not token.special:
            raise UnsupportedModelError(f"{directory}: added token {token.content!r} is not special; refalign only "
                                        f"supports special added tokens")
    return contents, tokens, list(extras.values())


# ------------------------------------------------------------------------------------------------ the tokenizer
class XLMRobertaTokenizer(Tokenizer):
    """transformers' XLMRobertaTokenizer (SentencePiece unigram, Rust-backed in transformers 5); see the module
    docstring.

    ``tokenizer(texts, padding=..., truncation=..., max_length=...)`` returns int64 arrays ``input_ids`` and
    ``attention_mask`` of shape (B, L) (``token_type_ids`` too when asked: all 0), ``tokenizer(texts, pairs)`` encodes
    ``<s> A </s></s> B </s>``; ``decode`` / ``batch_decode`` map ids back to text. ``tokenize`` gives the tokens as
    transformers does (a run of unknown characters as its text), but for a special token that swallowed whitespace
    (transformers gives the matched text, " <mask>"; the ids are the same).
    """

    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": "tokenizer.json"}
    # transformers' SPECIAL_TOKENS_ATTRIBUTES order (the order special tokens missing from the vocabulary are added)
    special_token_roles = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
    default_settings = XLMR_TOKENIZER_CONFIG
    bool_settings = ("add_prefix_space",)
    model_input_names = ("input_ids", "attention_mask")
    pair_type_id = 0

    def __init__(self, vocab_file: str | os.PathLike | None = None, tokenizer_file: str | os.PathLike | None = None,
                 *, add_prefix_space: bool = True, model_max_length: int = int(1e30), bos_token: str = "<s>",
                 eos_token: str = "</s>", sep_token: str = "</s>", cls_token: str = "<s>", unk_token: str = "<unk>",
                 pad_token: str = "<pad>", mask_token: str = "<mask>", clean_up_tokenization_spaces: bool = False,
                 added_tokens: dict[str, AddedToken] | None = None,
                 extra_special_tokens: list[AddedToken] | tuple[AddedToken, ...] = (), max_positions: int = 512):
        """From tokenizer.json when `tokenizer_file` names an existing file, else from the SentencePiece model.
        added_tokens: content -> AddedToken flags of the special tokens; None takes them from tokenizer.json's
        added_tokens (when it is read) and leaves the others plain (from_pretrained reads them as transformers does).
        extra_special_tokens: special tokens besides the roles (in the vocabulary, or appended after it)."""
        declared: list[dict] = []
        if tokenizer_file is not None and os.path.isfile(tokenizer_file):
            self.tokenizer_file = os.fspath(tokenizer_file)
            source = self.tokenizer_file
            pieces, charsmap, declared = load_unigram_tokenizer_json(self.tokenizer_file)
        elif vocab_file is None:
            raise WeightsNotFoundError(f"an XLMRobertaTokenizer needs sentencepiece.bpe.model or tokenizer.json (got "
                                       f"vocab_file={vocab_file!r}, tokenizer_file={tokenizer_file!r})")
        else:
            self.tokenizer_file = None
            source = os.fspath(vocab_file)
            pieces, charsmap = load_sentencepiece_vocab(vocab_file, str(bos_token), str(pad_token), str(eos_token),
                                                        str(unk_token), str(mask_token))
        self.vocab_file = None if vocab_file is None else os.fspath(vocab_file)
        self.model = UnigramModel(pieces, source)
        self.charsmap = None if charsmap is None else PrecompiledCharsmap(charsmap, f"{source} (precompiled charsmap)")
        if added_tokens is None:
            added_tokens = {t["content"]: _token_object(t, source, None) for t in declared}
        roles = {"bos_token": bos_token, "eos_token": eos_token, "unk_token": unk_token, "sep_token": sep_token,
                 "pad_token": pad_token, "cls_token": cls_token, "mask_token": mask_token}
        flags = {t: added_tokens.get(t, AddedToken(t)) for t in roles.values()}
        flags.update({t.content: t for t in extra_special_tokens})
        super().__init__(dict(self.model.piece_ids), roles, model_max_length=model_max_length,
                         max_positions=max_positions, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
                         special_token_strip={t: (f.lstrip, f.rstrip) for t, f in flags.items() if not f.normalized})
        self.add_prefix_space = bool(add_prefix_space)
        for token in extra_special_tokens:  # in the vocabulary, else appended after it (and after missing roles)
            if token.content not in self.special_tokens:
                i = self.vocab.get(token.content)
                if i is None:
                    i = len(self._ids_to_tokens)
                    self._ids_to_tokens.append(token.content)
                self.special_tokens[token.content] = i
        self._special_ids = frozenset(self.special_tokens.values())
        self.added_tokens = {t: flags[t] for t in self.special_tokens}
        self._split_special_tokens(flags)
        self._around = ((self.bos_token_id,), (self.eos_token_id,))
        self._pair = ((self.bos_token_id,), (self.eos_token_id, self.eos_token_id), (self.eos_token_id,))
        self._words = WordCache(self._encode_word)  # word -> ids
        self._tokens_of_words = WordCache(self._word_tokens)  # word -> token texts, for tokenize
        # Python's str.split() is Rust's whitespace split unless U+001C..U+001F may reach it: the charsmap says
        self._exact_split = self.charsmap is None or any(map(self.charsmap.may_output, "\x1c\x1d\x1e\x1f"))

    def _split_special_tokens(self, flags: dict[str, AddedToken]) -> None:
        """Special tokens declared normalized are looked for in the normalised text (their own text normalised too),
        the others in the raw text (the base class's matching, restricted to them)."""
        raw = sorted((t for t in self.special_tokens if not flags[t].normalized), key=len, reverse=True)
        self._raw_specials = bool(raw)
        if raw:
            self._special_re = regex.compile("|".join(regex.escape(t) for t in raw))
            first_chars = {t[0] for t in raw}
            self._special_first = first_chars.pop() if len(first_chars) == 1 else None
        self._normalized_specials: dict[str, tuple[int, bool, bool]] = {}  # normalised text -> (id, lstrip, rstrip)
        for t in self.special_tokens:
            if flags[t].normalized:
                text = self._normalize(t)
                if text:
                    self._normalized_specials.setdefault(text, (self.special_tokens[t], flags[t].lstrip,
                                                                flags[t].rstrip))
        by_length = sorted(self._normalized_specials, key=len, reverse=True)
        self._normalized_re = regex.compile("|".join(regex.escape(t) for t in by_length)) if by_length else None

    @classmethod
    def from_pretrained(cls, directory, **overrides) -> XLMRobertaTokenizer:
        """Read tokenizer.json (or sentencepiece.bpe.model), tokenizer_config.json and special_tokens_map.json from a
        directory as transformers does. Keyword arguments override the files' settings."""
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise WeightsNotFoundError(f"tokenizer directory {directory!r} does not exist")
        settings = cls._read_tokenizer_config(directory)
        try:
            roles, tokens, extras = _added_token_settings(directory, cls.special_token_roles, overrides)
        except BaseException:
            forget_parsed_json()
            raise
        settings.update(roles)
        settings.update(overrides)
        settings.setdefault("added_tokens", tokens)
        settings.setdefault("extra_special_tokens", extras)
        files = {arg: os.path.join(directory, name) for arg, name in cls.vocab_files_names.items()}
        if not any(os.path.isfile(f) for f in files.values()):
            raise WeightsNotFoundError(f"{directory}: an XLMRobertaTokenizer needs sentencepiece.bpe.model or "
                                       f"tokenizer.json, and the directory has neither")
        try:
            return cls(**files, **settings)
        finally:
            forget_parsed_json()

    def __repr__(self) -> str:
        return (f"XLMRobertaTokenizer({self.tokenizer_file or self.vocab_file!r}, vocab_size={self.vocab_size}, "
                f"add_prefix_space={self.add_prefix_space}, model_max_length={self.model_max_length})")

    # ------------------------------------------------------------------------------------------ encoding
    def _normalize(self, text: str) -> str:
        return text if self.charsmap is None else self.charsmap.normalize(text)

    def _pre_tokens(self, word: str) -> list[str]:
        """Metaspace on one whitespace-free word: "▁" in front (unless it has one), cut before every further "▁"."""
        if self.add_prefix_space and not word.startswith(METASPACE):
            word = METASPACE + word
        return [word] if METASPACE not in word[1:] else _METASPACE_PARTS(word)

    def _encode_word(self, word: str) -> tuple[int, ...]:
        """The ids of one whitespace-free word."""
        return tuple(chain.from_iterable(map(self.model.encode, self._pre_tokens(word))))

    def _word_tokens(self, word: str) -> tuple[str, ...]:
        """The tokens of one whitespace-free word as tokenizers shows them (an unknown run as its text)."""
        return tuple(t for part in self._pre_tokens(word) for _, t in self.model.segment(part))

    def tokenize(self, text: str) -> list[str]:
        """The tokens of `text` as transformers' tokenize gives them (no special tokens added around it), but for a
        special token that swallowed whitespace, which is its own text here (" <mask>" there): the pipeline of the
        ids, run with a word cache of token texts instead of ids."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        ids_cache, self._words = self._words, self._tokens_of_words
        try:
            out = self._encode(text)
        finally:
            self._words = ids_cache
        t = self._ids_to_tokens
        return [x if isinstance(x, str) else t[x] for x in out]

    def _split(self, normalized: str) -> list[str]:
        return split_on_whitespace(normalized) if self._exact_split else normalized.split()

    def _encode_normalized(self, normalized: str) -> list[int]:
        """The ids of normalised text, special tokens declared normalized cut out of it first."""
        if self._normalized_re is None or not self._normalized_re.search(normalized):
            return list(chain.from_iterable(map(self._words.__getitem__, self._split(normalized))))
        out: list[int] = []
        pos = 0
        for m in self._normalized_re.finditer(normalized):
            start, end = m.span()
            i, lstrip, rstrip = self._normalized_specials[m.group()]
            if lstrip:
                while start > pos and normalized[start - 1] in _WHITE_SPACE:
                    start -= 1
            if rstrip:
                while end < len(normalized) and normalized[end] in _WHITE_SPACE:
                    end += 1
            out += chain.from_iterable(map(self._words.__getitem__, self._split(normalized[pos:start])))
            out.append(i)
            pos = end
        out += chain.from_iterable(map(self._words.__getitem__, self._split(normalized[pos:])))
        return out

    def _encode(self, text: str, limit: int | None = None) -> list[int]:
        if self._raw_specials:
            return super()._encode(text, limit)
        return self._encode_piece(text, limit)

    def _encode_piece(self, piece: str, limit: int | None) -> list[int]:
        """Ids of a piece of text without raw special tokens. With `limit`, at least the first `limit` ids.

        For a long piece only a growing prefix is normalised and split: its grapheme clusters but the last (which the
        cut may have shortened) normalise as in the whole text, and every word of that but its last (which the cut may
        have shortened) is a word of the whole piece."""
        if not piece:
            return []
        if limit is not None and self._normalized_re is None:
            size = 8 * (limit + 8)
            while size < len(piece):
                head = piece[:size]
                if head.isascii():  # ASCII clusters are single characters but CR LF: cut before a last CR too
                    head = self._normalize(head[:-1].rstrip("\r"))
                elif self.charsmap is not None:
                    clusters = graphemes(head)
                    del clusters[-1]
                    head = self.charsmap.normalize_clusters(clusters)
                words = self._split(head)
                if words:
                    del words[-1]
                ids = list(chain.from_iterable(map(self._words.__getitem__, words)))
                if len(ids) >= limit:
                    return ids
                size *= 4
        return self._encode_normalized(self._normalize(piece))

    def _special_ids_around(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``<s> tokens </s>``."""
        return self._around

    def _special_ids_pair(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """``<s> A </s></s> B </s>``."""
        return self._pair

    # ------------------------------------------------------------------------------------------ decoding
    def _join_tokens(self, tokens: list[str]) -> str:
        """The Metaspace decoder: "▁" -> " ", but every "▁" of the first token is dropped (unless add_prefix_space is
        off)."""
        if not tokens:
            return ""
        first = tokens[0].replace(METASPACE, "" if self.add_prefix_space else " ")
        return first + "".join(tokens[1:]).replace(METASPACE, " ")
