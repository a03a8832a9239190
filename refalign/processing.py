"""Processor: a tokenizer and an image processor behind one call, like transformers' ProcessorMixin.

    inputs = processor(text=["a photo of a cat"], images=["cat.jpg"], return_tensors="np")
    out = model(**inputs)

A family's processor (e.g. AlignProcessor) is a subclass that names its tokenizer and image processor classes and
its text padding defaults. refalign.AutoProcessor picks the family's processor from config.json.
"""
from __future__ import annotations

import os

import numpy as np

from .outputs import check_return_tensors


class Processor:
    """A tokenizer and an image processor behind one call. Subclasses set:

        tokenizer_class, image_processor_class   the classes from_pretrained loads
        default_padding, default_max_length      text padding when the call gives none (transformers': no padding)
    """
    tokenizer_class: type | None = None
    image_processor_class: type | None = None
    default_padding: bool | str = False
    default_max_length: int | None = None

    def __init__(self, image_processor, tokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, name_or_path=None):
        """From a checkpoint directory holding the tokenizer files and preprocessor_config.json; also "tiny" or
        "org/name" (offline, from the Hugging Face cache)."""
        from .loading.hub import resolve_weights
        if cls.tokenizer_class is None or cls.image_processor_class is None:
            raise TypeError(f"{cls.__name__} names no tokenizer / image processor classes to load; use a family's "
                            "processor (e.g. AlignProcessor) or refalign.AutoProcessor")
        path = resolve_weights(name_or_path)
        directory = path if os.path.isdir(path) else os.path.dirname(path)
        return cls(cls.image_processor_class.from_pretrained(directory), cls.tokenizer_class.from_pretrained(directory))

    @property
    def batch_padding(self) -> bool | str:
        """The padding a batch of texts gets when it must be one array: the processor's own, else the longest."""
        return self.default_padding or "longest"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(\n  tokenizer={self.tokenizer!r},\n  image_processor={self.image_processor!r},"
                f"\n  padding={self.default_padding!r}, max_length={self.default_max_length})")

    def __call__(self, text=None, images=None, padding=None, max_length=None, truncation=False,
                 dtype=np.float32, return_tensors=None) -> dict[str, np.ndarray]:
        """Model inputs for `text` (a string or a list) and/or `images` (one image or a list: paths, bytes, binary
        files, PIL images, uint8 HWC arrays): the tokenizer's arrays (input_ids, attention_mask, ...: int64 [B, L])
        and pixel_values ([B, 3, H, W] in `dtype`), as a dict that `model(**inputs)` takes.

        padding / max_length / truncation: as the tokenizer's (default: the processor's padding, no truncation).
        return_tensors: None or "np" -- refalign returns NumPy arrays; "pt", "tf", "jax" are refused by name."""
        check_return_tensors(return_tensors, type(self).__name__)
        if text is None and images is None:
            raise ValueError(f"{type(self).__name__} needs text=, images= or both")
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
