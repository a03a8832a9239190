"""Tokenizers: text -> int64 input_ids / token_type_ids / attention_mask, and back, without transformers.

``base.py`` holds ``Tokenizer``, what every tokenizer shares (special tokens, tokenizer_config.json, text pairs,
padding, truncation, the batch call, decode); each algorithm is one file with one subclass: ``wordpiece.py`` (BERT,
``BertTokenizer``), ``bpe.py`` (byte-level BPE: RoBERTa, ``RobertaTokenizer``) and ``unigram.py`` (SentencePiece
unigram: XLM-R, ``XLMRobertaTokenizer``, with its helpers ``sentencepiece_model.py``, the protobuf model file, and
``charsmap.py``, the precompiled normalisation rules). Tokenizers know nothing about models or towers: which
tokenizer a checkpoint uses is chosen in ``refalign/auto.py`` (``AutoTokenizer``).
"""
from __future__ import annotations

from .base import Tokenizer
from .bpe import RobertaTokenizer
from .unigram import XLMRobertaTokenizer
from .wordpiece import BertTokenizer, load_vocab

__all__ = ["Tokenizer", "BertTokenizer", "RobertaTokenizer", "XLMRobertaTokenizer", "load_vocab"]
