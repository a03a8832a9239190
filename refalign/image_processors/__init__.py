"""Image processors: images -> pixel_values [B, 3, H, W], as transformers' PIL-backend image processors give them.

``base.py`` holds ``load_image``, the shared transforms (resize, center crop, rescale, normalise) and
``ImageProcessor``, the pipeline driven by preprocessor_config.json; each processor type is one file with one
subclass: ``efficientnet.py`` (ALIGN, ``EfficientNetImageProcessor``), and CLIP and ViT next. Image processors know
nothing about models or towers: which one a checkpoint uses is chosen in ``refalign/auto.py``.
"""
from __future__ import annotations

from .base import PREPROCESSOR_CONFIG_NAME, ImageProcessor, center_crop, load_image, resize_output_size
from .efficientnet import ALIGN_BASE_SETTINGS, EfficientNetImageProcessor

__all__ = ["ImageProcessor", "EfficientNetImageProcessor", "load_image", "ALIGN_BASE_SETTINGS", "center_crop",
           "resize_output_size", "PREPROCESSOR_CONFIG_NAME"]
