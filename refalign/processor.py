"""AlignProcessor: the tokenizer and the image processor behind one call, with transformers' AlignProcessor defaults
(text padded to max_length 64, truncation off unless asked)."""
from __future__ import annotations

import os

import numpy as np

from .image_processing import EfficientNetImageProcessor
from .outputs import check_return_tensors
from .tokenization import BertTokenizer


class AlignProcessor:
    """ALIGN's tokenizer (BertTokenizer, WordPiece) and image processor (EfficientNetImageProcessor) behind one call,
    like transformers' AlignProcessor:

        processor = AlignProcessor.from_pretrained("tiny")
        inputs = processor(text=["a photo of a cat"], images=["cat.jpg"], return_tensors="np")
        out = AlignModel.from_pretrained("tiny")(**inputs)

    Texts are padded to 64 tokens (transformers' AlignProcessor default) and not truncated unless asked.
    """
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

    def __repr__(self) -> str:
        return (f"AlignProcessor(\n  tokenizer={self.tokenizer!r},\n  image_processor={self.image_processor!r},\n"
                f"  padding={self.default_padding!r}, max_length={self.default_max_length})")

    def __call__(self, text=None, images=None, padding=None, max_length=None, truncation=False,
                 dtype=np.float32, return_tensors=None) -> dict[str, np.ndarray]:
        """Model inputs for `text` (a string or a list) and/or `images` (one image or a list: paths, bytes, binary
        files, PIL images, uint8 HWC arrays): input_ids / attention_mask / token_type_ids (int64 [B, L]) and
        pixel_values ([B, 3, H, W] in `dtype`), as a dict that `AlignModel(**inputs)` takes.

        padding / max_length / truncation: as the tokenizer's (default: pad to 64, no truncation).
        return_tensors: None or "np" -- refalign returns NumPy arrays; "pt", "tf", "jax" are refused by name."""
        check_return_tensors(return_tensors, "AlignProcessor")
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
