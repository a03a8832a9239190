"""Image processors: images -> pixel_values [B, 3, H, W], as transformers' PIL-backend image processors give them.

``base.py`` holds ``load_image``, the shared transforms (do_convert_rgb, resize, center crop, rescale, normalise),
``read_image_processor_dict`` (where a checkpoint keeps its settings) and ``ImageProcessor``, the pipeline those
settings drive; each processor type is one file with one subclass: ``efficientnet.py`` (ALIGN,
``EfficientNetImageProcessor``), ``vit.py`` (``ViTImageProcessor``) and ``clip.py`` (``CLIPImageProcessor``).
Image processors know nothing about models or towers: which one a checkpoint uses is chosen in ``refalign/auto.py``.
"""
from __future__ import annotations

from .base import (PREPROCESSOR_CONFIG_NAME, PROCESSOR_CONFIG_NAME, ImageProcessor, center_crop, convert_to_rgb,
                   load_image, read_image_processor_dict, resize_output_size)
from .clip import CLIPImageProcessor
from .efficientnet import ALIGN_BASE_SETTINGS, EfficientNetImageProcessor
from .vit import ViTImageProcessor

__all__ = ["ImageProcessor", "EfficientNetImageProcessor", "ViTImageProcessor", "CLIPImageProcessor", "load_image",
           "convert_to_rgb", "read_image_processor_dict", "ALIGN_BASE_SETTINGS", "center_crop", "resize_output_size",
           "PREPROCESSOR_CONFIG_NAME", "PROCESSOR_CONFIG_NAME"]
