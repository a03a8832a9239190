"""AlignProcessor: the tokenizer and the image processor behind one call, with transformers' AlignProcessor defaults
(text padded to max_length 64, truncation off unless asked)."""
from __future__ import annotations

import os

import numpy as np

from .image_processing import EfficientNetImageProcessor
from .tokenization import BertTokenizer


class AlignProcessor:
    # transformers' AlignProcessor pads every text to 64 tokens unless told otherwise
    default_padding = "max_length"
    default_max_length = 64

    def __init__(self, image_processor: EfficientNetImageProcessor, tokenizer: BertTokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, name_or_path=None) -> "AlignProcessor":
        """From a checkpoint directory holding vocab.txt, tokenizer_config.json and preprocessor_config.json (the
        last two optional: align-base's values are used when absent); also "tiny" / "kakaobrain/align-base"."""
        from .hub import resolve_weights
        path = resolve_weights(name_or_path)
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        return cls(EfficientNetImageProcessor.from_pretrained(directory), BertTokenizer.from_pretrained(directory))

    def __call__(self, text=None, images=None, padding=None, max_length=None, truncation=False,
                 dtype=np.float32) -> dict[str, np.ndarray]:
        """Returns input_ids / attention_mask / token_type_ids (int64 [B, L]) for `text` and pixel_values
        ([B, 3, H, W] in `dtype`) for `images`."""
        if text is None and images is None:
            raise ValueError("AlignProcessor needs text=, images= or both")
        out: dict[str, np.ndarray] = {}
        if text is not None:
            out.update(self.tokenizer(text, padding=self.default_padding if padding is None else padding,
                                      max_length=self.default_max_length if max_length is None else max_length,
                                      truncation=truncation))
        if images is not None:
            out.update(self.image_processor(images, dtype=dtype))
        return out

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        return self.tokenizer.batch_decode(sequences, **kwargs)

    def decode(self, ids, **kwargs) -> str:
        return self.tokenizer.decode(ids, **kwargs)
