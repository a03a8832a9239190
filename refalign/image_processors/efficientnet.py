"""EfficientNet preprocessing for ALIGN's image tower: transformers' EfficientNetImageProcessorPil in NumPy.

The shared pipeline (base.py) with EfficientNet's two extra steps:

    load_image -> PIL resize -> center crop -> rescale x*factor -> optional "- 1" offset (rescale_offset)
               -> optional (x - mean) / std -> optional include_top x / std -> (3, H, W)

Settings missing from preprocessor_config.json take the *processor class* defaults, which differ from align-base's
values, as in transformers. Without a preprocessor_config.json at all, align-base's values are used.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .base import ImageProcessor

__all__ = ["EfficientNetImageProcessor", "ALIGN_BASE_SETTINGS"]

# kakaobrain/align-base's preprocessor_config.json: used when a checkpoint has no such file, and by
# EfficientNetImageProcessor() for settings not given.
ALIGN_BASE_SETTINGS: dict[str, Any] = {
    "do_resize": True,
    "size": {"height": 346, "width": 346},
    "resample": 2,  # PIL bilinear
    "do_center_crop": True,
    "crop_size": {"height": 289, "width": 289},
    "do_rescale": True,
    "rescale_factor": 1 / 127.5,
    "rescale_offset": True,
    "do_normalize": False,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.47853944, 0.4732864, 0.47434163],
    "include_top": False,
}


class EfficientNetImageProcessor(ImageProcessor):
    """transformers' EfficientNetImageProcessorPil in NumPy. Settings use preprocessor_config.json's keys (and its
    meaning of null); those not given take align-base's values. from_pretrained: the file's values, and for keys the
    file lacks the processor class defaults, as transformers does."""

    # What transformers' EfficientNetImageProcessorPil uses for a setting that the file lacks or sets to null
    # (its class attributes, plus default_to_square from the base class).
    class_defaults = {
        **ALIGN_BASE_SETTINGS,
        "resample": 3,  # PIL bicubic
        "do_center_crop": False,
        "rescale_factor": 1 / 255,
        "rescale_offset": False,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "include_top": True,
        "default_to_square": True,
    }
    default_settings = ALIGN_BASE_SETTINGS
    type_prefix = "EfficientNet"
    bool_keys = ImageProcessor.bool_keys + ("rescale_offset", "include_top")

    def _configure(self, settings: dict[str, Any], source: str) -> dict[str, Any]:
        s = super()._configure(settings, source)
        self.rescale_offset: bool = s["rescale_offset"]
        self.include_top: bool = s["include_top"]
        return s

    @classmethod
    def _required_values(cls, s: dict[str, Any]) -> dict[str, bool]:
        needed = super()._required_values(s)
        needed["image_std"] = needed["image_std"] or s["include_top"]
        return needed

    def rescale(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """The shared rescale, then "- 1" with rescale_offset (x/127.5 - 1: pixels in [-1, 1])."""
        x = super().rescale(x, dtype)
        if self.do_rescale and self.rescale_offset:
            x -= dtype.type(1)  # transformers subtracts the offset after the cast, in the output dtype
        return x

    def normalize(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """The shared normalisation, then with include_top a second one, by std only (mean 0)."""
        x = super().normalize(x, dtype)
        if self.include_top:
            x = x / np.asarray(self.image_std, dtype=dtype)
        return x
