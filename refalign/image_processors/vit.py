"""ViT preprocessing (ViT / DeiT vision towers, e.g. in VisionTextDualEncoder): transformers' ViTImageProcessorPil
in NumPy. The shared pipeline of base.py with ViT's settings and nothing else:

    load_image (EXIF orientation applied, then PIL convert("RGB"))
    -> PIL resize to size {"height", "width"} (224 x 224) with `resample` (bilinear): uint8 out, aspect not kept
    -> rescale: x * (1/255) computed in float64, then cast to float32
    -> normalise in float32: (x - mean) / std with mean and std cast to float32 (0.5 each: pixels in [-1, 1])
    -> transpose to (3, H, W)

There is no centre crop and no RGB conversion step unless a file switches one on (do_center_crop, do_convert_rgb:
transformers' class leaves both unset). A legacy int size means a square ({"height": n, "width": n}). float64 output
(dtype=np.float64) skips the float32 cast and normalises in float64.
"""
from __future__ import annotations

from typing import Any

from .base import BASE_CLASS_DEFAULTS, ImageProcessor

__all__ = ["ViTImageProcessor", "IMAGENET_STANDARD_MEAN", "IMAGENET_STANDARD_STD"]

IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]  # transformers' utils/constants.py names
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]


class ViTImageProcessor(ImageProcessor):
    """transformers' ViTImageProcessorPil in NumPy. Settings use preprocessor_config.json's keys (and its meaning of
    null); those not given, or missing from the file, take transformers' class defaults."""

    # ViTImageProcessorPil's class attributes on top of BaseImageProcessor's (crop and do_convert_rgb stay unset)
    class_defaults: dict[str, Any] = {
        **BASE_CLASS_DEFAULTS,
        "resample": 2,  # PIL bilinear
        "image_mean": IMAGENET_STANDARD_MEAN,
        "image_std": IMAGENET_STANDARD_STD,
        "size": {"height": 224, "width": 224},
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
    }
    default_settings: dict[str, Any] = {}
    type_prefix = "ViT"
    bool_keys = ImageProcessor.bool_keys + ("do_convert_rgb",)
