"""CLIP preprocessing (CLIP vision towers, e.g. in VisionTextDualEncoder): transformers' CLIPImageProcessorPil in
NumPy. The shared pipeline of base.py with CLIP's settings:

    load_image (EXIF orientation applied, then PIL convert("RGB"): alpha dropped)
    -> do_convert_rgb: convert_to_rgb (a transparent colour that convert("RGB") kept turns white; see below)
    -> PIL resize with `resample` (bicubic) so that the short side is size["shortest_edge"] (224) and the long side
       int(224 * long / short) (truncated); uint8 out
    -> centre crop to crop_size (224 x 224): offset floor((H - 224) / 2), zero padding where the image is smaller
    -> rescale: x * (1/255) computed in float64, then cast to float32
    -> normalise in float32: (x - mean) / std with OpenAI CLIP's mean and std cast to float32
    -> transpose to (3, 224, 224)

Legacy files: an int size is the short edge ({"shortest_edge": n}, as default_to_square is false), an int crop_size
a square. use_square_size: true (KOSMOS-2's files) replaces size by a 224 x 224 square, as transformers does.
float64 output (dtype=np.float64) skips the float32 cast and normalises in float64.

Transparency: transformers' CLIP processor composites alpha onto white when the image still has it. refalign loads
every input like transformers' load_image, which is what transformers does with paths and in its pipelines, so an
RGBA / LA file loses its alpha before this step and is not composited. A PNG's single transparent colour (P, L or
RGB with a tRNS chunk) survives convert("RGB") as info["transparency"], and those pixels become white, exactly as in
transformers. A PIL image with alpha given to transformers' processor directly (not through load_image) is
composited there; call convert_to_rgb on it yourself to get that result.
"""
from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import BASE_CLASS_DEFAULTS, ImageProcessor

__all__ = ["CLIPImageProcessor", "OPENAI_CLIP_MEAN", "OPENAI_CLIP_STD"]

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]  # transformers' utils/constants.py names
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class CLIPImageProcessor(ImageProcessor):
    """transformers' CLIPImageProcessorPil in NumPy. Settings use preprocessor_config.json's keys (and its meaning of
    null); those not given, or missing from the file, take transformers' class defaults."""

    # CLIPImageProcessorPil's class attributes on top of BaseImageProcessor's
    class_defaults: dict[str, Any] = {
        **BASE_CLASS_DEFAULTS,
        "resample": 3,  # PIL bicubic
        "image_mean": OPENAI_CLIP_MEAN,
        "image_std": OPENAI_CLIP_STD,
        "size": {"shortest_edge": 224},
        "default_to_square": False,
        "crop_size": {"height": 224, "width": 224},
        "do_resize": True,
        "do_center_crop": True,
        "do_rescale": True,
        "do_normalize": True,
        "do_convert_rgb": True,
    }
    default_settings: dict[str, Any] = {}
    type_prefix = "CLIP"
    bool_keys = ImageProcessor.bool_keys + ("do_convert_rgb",)

    @classmethod
    def _check_settings(cls, settings: dict[str, Any], source: str) -> dict[str, Any]:
        """The shared checks, after use_square_size (a KOSMOS-2 key that only transformers' CLIP class reads)."""
        s = dict(settings)
        square = s.pop("use_square_size", None)
        if square is not None and not isinstance(square, bool):
            raise ConfigError(f"{source}: 'use_square_size' must be true or false, got {square!r}")
        if square:
            # transformers squares the *class* default short edge, whatever size the file gives
            edge = cls.class_defaults["size"]["shortest_edge"]
            s["size"] = {"height": edge, "width": edge}
        return super()._check_settings(s, source)
