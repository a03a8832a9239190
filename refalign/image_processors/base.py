"""Image loading and the preprocessing every image processor shares (Pillow + NumPy).

``load_image`` gives what transformers' ``load_image`` gives: open -> EXIF orientation applied
(ImageOps.exif_transpose) -> PIL convert("RGB"). ``ImageProcessor`` is the pipeline of transformers' PIL-backend
image processors, driven by a checkpoint's settings (``read_image_processor_dict``: processor_config.json's
"image_processor" entry, else preprocessor_config.json, as transformers 5 looks for them):

    optional do_convert_rgb (``convert_to_rgb``: transparency composited onto white)
    -> PIL resize (configured filter, result is uint8) -> center crop (uint8, zero padding if too small)
    -> rescale x*factor (upcast to float64, then to the output dtype) -> optional (x - mean) / std -> (3, H, W)

A subclass (one file per processor type: efficientnet.py, ...) declares its settings and adds its own steps by
extending ``rescale`` / ``normalize``. For float32 output the order and precision of every operation follow
transformers, so the values are the same bits. For float64 output every step after the uint8 stage is done in
float64.

Known quirks kept from transformers: convert("RGB") drops alpha (no compositing) and clips 16-bit greyscale to 255,
but keeps a PNG's single transparent colour (info["transparency"]), which do_convert_rgb then turns white; settings
missing from the file take the *processor class* defaults, which may differ from a checkpoint's values; a null switch
(do_normalize: null, ...) is off.
"""
from __future__ import annotations

import io
import json
import math
import os
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageOps

from ..errors import ConfigError, ImageLoadError
from ..outputs import check_return_tensors

__all__ = ["ImageProcessor", "load_image", "convert_to_rgb", "center_crop", "resize_output_size",
           "read_image_processor_dict", "BASE_CLASS_DEFAULTS", "PREPROCESSOR_CONFIG_NAME", "PROCESSOR_CONFIG_NAME"]

PREPROCESSOR_CONFIG_NAME = "preprocessor_config.json"
PROCESSOR_CONFIG_NAME = "processor_config.json"  # transformers 5: {"image_processor": {...}, "processor_class": ...}

P = TypeVar("P", bound="ImageProcessor")

_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
# Keys that describe the file rather than the preprocessing, or only matter to other backends / outputs.
_IGNORED_KEYS = ("processor_class", "_processor_class", "return_tensors", "device", "disable_grouping",
                 "image_seq_length", "pad_size")
# What transformers' BaseImageProcessor leaves for a key its subclass does not set: None (unset; a switch that is off)
# except these two. A processor class's class_defaults are this with its own class attributes on top.
BASE_CLASS_DEFAULTS: dict[str, Any] = {
    "do_resize": None, "size": None, "resample": None, "do_center_crop": None, "crop_size": None, "do_rescale": None,
    "rescale_factor": 1 / 255, "do_normalize": None, "image_mean": None, "image_std": None, "default_to_square": True,
    "do_convert_rgb": None,
}
# the image_processor_type / feature_extractor_type names a processor class accepts: its type_prefix + one of these
_TYPE_SUFFIXES = ("ImageProcessor", "ImageProcessorFast", "ImageProcessorPil", "FeatureExtractor")
_SIZE_FORMS = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"}, {"max_height", "max_width"})
# valid in transformers, but not in its PIL resize
_SIZE_FORMS_UNSUPPORTED = ({"longest_edge"}, {"min_pixels", "max_pixels"})


# ----------------------------------------------------------------------------------------------------- loading


def _describe(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    return str(getattr(source, "name", "") or f"<{type(source).__name__}>")


def _open(source) -> Image.Image:
    """Decode a path, bytes or binary file object into a loaded PIL image (file closed afterwards)."""
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not os.path.exists(path):
            hint = " (refalign does not download URLs)" if path.startswith(("http://", "https://")) else ""
            raise FileNotFoundError(f"image file not found: {path}{hint}")
        if os.path.isdir(path):
            raise ImageLoadError(f"{path}: is a directory, not an image file")
        opener = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        opener = io.BytesIO(bytes(source))
    else:
        opener = source
    try:
        with Image.open(opener) as im:
            im.load()
            return _upright_rgb(im)
    except Image.DecompressionBombError as e:
        raise ImageLoadError(f"{name}: image is too large (Pillow's decompression-bomb guard: {e})") from e
    except (OSError, SyntaxError, ValueError, EOFError, TypeError) as e:  # unidentified, truncated, corrupt
        raise ImageLoadError(f"{name}: cannot decode image ({type(e).__name__}: {e})") from e


def _upright_rgb(im: Image.Image) -> Image.Image:
    """EXIF orientation applied, then PIL's own RGB conversion (alpha dropped, not composited)."""
    im = ImageOps.exif_transpose(im)
    return im.convert("RGB")


def _from_array(a: np.ndarray) -> Image.Image:
    # [H, W] or [H, W, C] uint8 with C in (1, 3, 4) -> PIL L / RGB / RGBA
    if a.dtype != np.uint8:
        raise TypeError(f"images: NumPy arrays must be uint8 HWC (or HW) with values 0..255, got dtype {a.dtype}; "
                        "convert float images yourself (e.g. (x * 255).round().astype(np.uint8))")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] not in (3, 4):
        raise ValueError(f"images: expected an HWC array with 1, 3 or 4 channels last, got shape {a.shape}")
    if a.ndim not in (2, 3):
        raise TypeError(f"images: expected a 2-D (HW) or 3-D (HWC) array, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"images: array has zero size {a.shape}")
    return Image.fromarray(np.ascontiguousarray(a))


def load_image(image) -> Image.Image:
    """An image as an upright RGB PIL image, like transformers' `load_image` (EXIF orientation, then convert("RGB")).

    `image`: a path (str / os.PathLike), bytes, a binary file object, a PIL image, or a uint8 NumPy array (HW or HWC).
    """
    if isinstance(image, Image.Image):
        try:
            out = _upright_rgb(image)
        except (OSError, SyntaxError, ValueError, EOFError) as e:  # a lazily opened file that fails to decode
            raise ImageLoadError(f"{_describe(image)}: cannot decode image ({type(e).__name__}: {e})") from e
    elif isinstance(image, np.ndarray):
        out = _from_array(image).convert("RGB")
    elif isinstance(image, io.TextIOBase):
        raise TypeError(f"images: {_describe(image)} is a text-mode file; open it in binary mode ('rb')")
    elif isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(image, "read"):
        out = _open(image)
    else:
        raise TypeError(f"images: expected a path, bytes, a binary file object, a PIL image or a uint8 NumPy "
                        f"array, got {type(image).__name__}")
    if out.width == 0 or out.height == 0:
        raise ValueError(f"images: {_describe(image)} has zero size ({out.width}x{out.height})")
    return out


def convert_to_rgb(image: Image.Image) -> Image.Image:
    """The do_convert_rgb step of transformers' PIL backend (image_transforms.convert_to_rgb) on a PIL image.

    An image with transparency (an alpha band, or a transparent colour in info["transparency"]) is laid over an
    opaque white image with PIL's alpha_composite; any other image is PIL-converted to RGB. After load_image only the
    second kind of transparency is left: convert("RGB") keeps a PNG's single transparent colour as an (r, g, b) key,
    so the pixels of exactly that colour become white here.
    """
    if "A" not in image.getbands() and image.info.get("transparency") is None:
        return image.convert("RGB")
    rgba = image.convert("RGBA")  # a transparent-colour key becomes alpha 0 on exactly the matching pixels
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


# ----------------------------------------------------------------------------------------------------- settings


def _read_json_object(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level, got {type(d).__name__}")
    return d


def read_image_processor_dict(directory) -> tuple[dict[str, Any] | None, str]:
    """(settings, source) of a checkpoint folder's image processor, found where transformers 5 looks: the
    "image_processor" entry of processor_config.json first (what its save_pretrained writes), else
    preprocessor_config.json; (None, "") when neither holds them. `source` names the file (and entry) for messages."""
    directory = os.fspath(directory)
    processor_file = os.path.join(directory, PROCESSOR_CONFIG_NAME)
    if os.path.exists(processor_file):
        nested = _read_json_object(processor_file).get("image_processor")
        if nested is not None:  # a file without the entry (or with null) leaves it to preprocessor_config.json
            source = f'{processor_file}["image_processor"]'
            if not isinstance(nested, dict):
                raise ConfigError(f"{source}: expected a JSON object, got {type(nested).__name__}")
            return nested, source
    path = os.path.join(directory, PREPROCESSOR_CONFIG_NAME)
    if not os.path.exists(path):
        return None, ""
    return _read_json_object(path), path


def _positive_int(value, source, key) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{source}: '{key}' must hold positive integers, got {value!r}")
    return value


def _size_dict(value, source: str, key: str, default_to_square: bool) -> dict[str, int]:
    """Normalise `size` / `crop_size` to one of transformers' dict forms (an int or [h, w] list is accepted too)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ConfigError(f"{source}: '{key}' as a list must be [height, width], got {value!r}")
        value = {"height": value[0], "width": value[1]}
    elif isinstance(value, int) and not isinstance(value, bool):
        value = {"height": value, "width": value} if default_to_square else {"shortest_edge": value}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: '{key}' must be a dict, an int or [height, width], got {value!r}")
    keys = set(value)
    if keys in _SIZE_FORMS_UNSUPPORTED:
        raise NotImplementedError(f"{source}: '{key}' with keys {sorted(keys)} is not supported "
                                  "(transformers' PIL resize does not support it either)")
    if keys not in _SIZE_FORMS:
        raise ConfigError(f"{source}: '{key}' must have the keys {' or '.join(str(sorted(f)) for f in _SIZE_FORMS)},"
                          f" got {sorted(keys)}")
    return {k: _positive_int(v, source, f"{key}.{k}") for k, v in value.items()}


def _channel_values(value, source: str, key: str) -> tuple[float, ...]:
    # a number (same for all channels) or one number per RGB channel
    values = value if isinstance(value, (list, tuple)) else [value]
    if len(values) not in (1, 3) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                            and math.isfinite(v) for v in values):
        raise ConfigError(f"{source}: '{key}' must be a number or a list of 3 numbers, got {value!r}")
    return tuple(float(v) for v in values) * (3 if len(values) == 1 else 1)


# ----------------------------------------------------------------------------------------------------- transforms


def resize_output_size(height: int, width: int, size: dict[str, int]) -> tuple[int, int]:
    """(height, width) after resizing, for each `size` form (Python float arithmetic as transformers does it)."""
    if "height" in size:
        return size["height"], size["width"]
    if "max_height" in size:
        # largest size with the same aspect ratio that fits in the box (may upscale); truncation, not rounding
        scale = min(size["max_height"] / height, size["max_width"] / width)
        return int(height * scale), int(width * scale)
    target = size["shortest_edge"]
    if "longest_edge" not in size:
        # short edge -> target, long edge scaled and truncated
        if width <= height:
            return int(target * height / width), target
        return target, int(target * width / height)
    # short edge -> target unless that makes the long edge exceed longest_edge; then shrink the target (rounded)
    longest = size["longest_edge"]
    short, long = float(min(height, width)), float(max(height, width))
    shrunk = None
    if long / short * target > longest:
        shrunk = longest * short / long
        target = int(round(shrunk))
    if (height <= width and height == target) or (width <= height and width == target):
        return height, width
    base = shrunk if shrunk is not None else target  # the long edge is derived from the unrounded value
    if width < height:
        return int(base * height / width), target
    return target, int(base * width / height)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W, C] -> [height, width, C]. Offset floor((H - height) / 2) (odd excess: one more row at the bottom);
    an image smaller than the crop is placed at ceil((height - H) / 2) on zeros (same per axis for width)."""
    h, w = image.shape[:2]
    out = np.zeros((height, width) + image.shape[2:], dtype=image.dtype)
    src_top, dst_top, rows = ((h - height) // 2, 0, height) if h >= height else (0, (height - h + 1) // 2, h)
    src_left, dst_left, cols = ((w - width) // 2, 0, width) if w >= width else (0, (width - w + 1) // 2, w)
    out[dst_top:dst_top + rows, dst_left:dst_left + cols] = image[src_top:src_top + rows, src_left:src_left + cols]
    return out


def _float_dtype(dtype) -> np.dtype:
    d = np.dtype(dtype)
    if d not in (np.float32, np.float64):
        raise ValueError(f"dtype: expected float32 or float64, got {d}")
    return d


# ----------------------------------------------------------------------------------------------------- processor


class ImageProcessor:
    """A transformers PIL-backend image processor in NumPy: images -> {"pixel_values": [B, 3, H, W]}.

    Settings use preprocessor_config.json's keys (and its meaning of null). A subclass declares
        class_defaults     what transformers' processor class uses for a key the file lacks: every key it reads,
                           the shared ones (below) included
        default_settings   the settings of a processor made without arguments (its family's checkpoint)
        type_prefix        the image_processor_type / feature_extractor_type it reads, e.g. "EfficientNet" for
                           "EfficientNetImageProcessor" (also ...Fast, ...Pil, "EfficientNetFeatureExtractor")
        bool_keys          its switches: the shared ones and its own
    and extends _configure (its own attributes), _required_values and the per-image steps (resize_and_crop,
    rescale, normalize) for its own settings. A processor whose class_defaults (and bool_keys) hold do_convert_rgb
    gets transformers' do_convert_rgb step (convert_to_rgb); the others refuse do_convert_rgb true.
    """

    class_defaults: dict[str, Any] = {}
    default_settings: dict[str, Any] = {}
    type_prefix: str = ""
    bool_keys: tuple[str, ...] = ("do_resize", "do_center_crop", "do_rescale", "do_normalize", "default_to_square")

    def __init__(self, **settings):
        """Settings by preprocessor_config.json's keys; those not given take default_settings."""
        self._configure({**self.class_defaults, **self.default_settings, **settings}, type(self).__name__)

    @classmethod
    def from_pretrained(cls: type[P], directory) -> P:
        """Read the folder's settings where transformers 5 does (read_image_processor_dict: processor_config.json's
        "image_processor", else preprocessor_config.json); a key they lack takes the processor class default, as in
        transformers; default_settings if the folder has neither."""
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"checkpoint directory not found: {directory}")
        d, source = read_image_processor_dict(directory)
        if d is None:
            return cls()
        self = cls.__new__(cls)
        # a missing key takes the processor class default, like transformers (a null stays null)
        self._configure({**cls.class_defaults, **d}, source)
        return self

    # ------------------------------------------------------------------------------------------------- settings
    def _configure(self, settings: dict[str, Any], source: str) -> dict[str, Any]:
        """Check the settings and set them as attributes; returns them checked, for a subclass's own keys."""
        s = self._check_settings(settings, source)
        self.do_resize: bool = s["do_resize"]
        self.size: dict[str, int] | None = s["size"]
        self.resample: int | None = s["resample"]
        self.do_center_crop: bool = s["do_center_crop"]
        self.crop_size: dict[str, int] | None = s["crop_size"]
        self.do_rescale: bool = s["do_rescale"]
        self.rescale_factor: float | None = s["rescale_factor"]
        self.do_normalize: bool = s["do_normalize"]
        self.image_mean: tuple[float, float, float] | None = s["image_mean"]
        self.image_std: tuple[float, float, float] | None = s["image_std"]
        self.default_to_square: bool = s["default_to_square"]
        # only a processor that lists do_convert_rgb in class_defaults reads it (the others refuse true)
        self.do_convert_rgb: bool = s.get("do_convert_rgb", False)
        return s

    @classmethod
    def _required_values(cls, s: dict[str, Any]) -> dict[str, bool]:
        """Which value settings the switched-on steps use (a null is refused only there)."""
        return {"size": s["do_resize"], "resample": s["do_resize"], "crop_size": s["do_center_crop"],
                "rescale_factor": s["do_rescale"], "image_mean": s["do_normalize"], "image_std": s["do_normalize"]}

    @classmethod
    def _check_settings(cls, settings: dict[str, Any], source: str) -> dict[str, Any]:
        """Validate settings (keys as in preprocessor_config.json) and return them in canonical form."""
        s = dict(settings)
        for key in _IGNORED_KEYS:
            s.pop(key, None)
        for key in ("image_processor_type", "feature_extractor_type"):
            kind = s.pop(key, None)
            if kind is not None and kind not in [cls.type_prefix + suffix for suffix in _TYPE_SUFFIXES]:
                raise NotImplementedError(f"{source}: '{key}' is {kind!r}, but this is {cls.__name__} "
                                          "(refalign.AutoImageProcessor picks the processor the file names)")
        if s.pop("do_pad", None):
            raise NotImplementedError(f"{source}: 'do_pad' true is not supported")
        if "do_convert_rgb" not in cls.class_defaults and s.pop("do_convert_rgb", None):
            raise NotImplementedError(f"{source}: 'do_convert_rgb' true (composite alpha onto white) is not "
                                      "supported; images are always converted as transformers' load_image does")
        data_format = s.pop("data_format", None)
        if data_format not in (None, "channels_first"):
            raise NotImplementedError(f"{source}: 'data_format' {data_format!r} is not supported "
                                      "(only channels_first)")
        if s.pop("input_data_format", None) is not None:
            raise NotImplementedError(f"{source}: 'input_data_format' is not supported (arrays must be HW or HWC)")

        known = set(cls.class_defaults)
        for key in s:
            if key not in known:
                raise NotImplementedError(f"{source}: setting '{key}' is not supported")
        for key in cls.bool_keys:
            if s[key] is None:  # transformers keeps a null as None, which switches the step off
                s[key] = False
            if not isinstance(s[key], bool):
                raise ConfigError(f"{source}: '{key}' must be true or false, got {s[key]!r}")
        # a null value is fine where its step is off; where the step is on, transformers fails too
        needed = cls._required_values(s)
        for key, on in needed.items():
            if s[key] is None and on:
                raise ConfigError(f"{source}: '{key}' is null but the step that uses it is switched on")
        if s["size"] is not None:
            s["size"] = _size_dict(s["size"], source, "size", s["default_to_square"])
        if s["crop_size"] is not None:
            s["crop_size"] = _size_dict(s["crop_size"], source, "crop_size", True)
            if set(s["crop_size"]) != {"height", "width"}:  # transformers' center_crop needs both
                raise ConfigError(f"{source}: 'crop_size' must have the keys height and width, "
                                  f"got {sorted(s['crop_size'])}")
        resample = s["resample"]
        if resample is not None:
            if isinstance(resample, bool) or not isinstance(resample, int):
                raise ConfigError(f"{source}: 'resample' must be a PIL resampling filter number, got {resample!r}")
            if resample not in _RESAMPLE_NAMES:
                raise NotImplementedError(f"{source}: 'resample' {resample} is not supported (0..5: PIL's filters)")
        factor = s["rescale_factor"]
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, float))
                                   or not math.isfinite(factor)):
            raise ConfigError(f"{source}: 'rescale_factor' must be a finite number, got {factor!r}")
        for key in ("image_mean", "image_std"):
            if s[key] is not None:
                s[key] = _channel_values(s[key], source, key)
        if s["image_std"] is not None and needed["image_std"] and 0.0 in s["image_std"]:
            raise ConfigError(f"{source}: 'image_std' must not contain 0, got {s['image_std']!r}")
        return s

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.class_defaults}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.settings().items())})"

    # ------------------------------------------------------------------------------------------------- per image
    def resize_and_crop(self, image: Image.Image) -> np.ndarray:
        """The uint8 stage: upright RGB PIL image -> [H, W, 3] uint8 after do_convert_rgb, resize and center crop."""
        if self.do_convert_rgb:
            image = convert_to_rgb(image)
        if self.do_resize:
            image = self.resize(image)
        x = np.asarray(image)  # [H, W, 3] uint8
        if self.do_center_crop:
            x = center_crop(x, self.crop_size["height"], self.crop_size["width"])
        return x

    def resize(self, image: Image.Image) -> Image.Image:
        """PIL resize to the size setting (resize_output_size) with the configured filter."""
        height, width = resize_output_size(image.height, image.width, self.size)
        if height <= 0 or width <= 0:
            raise ValueError(f"images: a {image.width}x{image.height} image would be resized to "
                             f"{width}x{height} by size={self.size}")
        if (width, height) != image.size:
            image = image.resize((width, height), resample=self.resample)
        return image

    def rescale(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """uint8 [H, W, 3] -> `dtype`: times rescale_factor if do_rescale, else only the cast."""
        if not self.do_rescale:
            return x.astype(dtype)
        # transformers multiplies in float64 and then casts to the output dtype (float32): same here, so float32
        # results are the same bits
        return (x.astype(np.float64) * self.rescale_factor).astype(dtype)

    def normalize(self, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """(x - image_mean) / image_std per channel, if do_normalize."""
        if not self.do_normalize:
            return x
        return (x - np.asarray(self.image_mean, dtype=dtype)) / np.asarray(self.image_std, dtype=dtype)

    def preprocess_one(self, image: Image.Image, dtype=np.float32) -> np.ndarray:
        """An upright RGB PIL image (as load_image returns) -> pixel values [3, H, W] of `dtype`."""
        if not isinstance(image, Image.Image):
            raise TypeError(f"image: expected a PIL image, got {type(image).__name__} (use load_image first)")
        if image.mode != "RGB":
            raise ValueError(f"image: expected mode RGB, got {image.mode} (use load_image first)")
        dtype = _float_dtype(dtype)
        x = self.resize_and_crop(image)  # [H, W, 3] uint8
        x = self.normalize(self.rescale(x, dtype), dtype)
        return np.ascontiguousarray(x.transpose(2, 0, 1))  # [H, W, 3] -> [3, H, W]

    def __call__(self, images, dtype=np.float32, return_tensors=None) -> dict[str, np.ndarray]:
        """One image or a list of images (path, bytes, file object, PIL, uint8 array) -> {"pixel_values": [B,3,H,W]}.
        return_tensors: None or "np" (refalign returns NumPy arrays only)."""
        check_return_tensors(return_tensors, type(self).__name__)
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        if not items:
            raise ValueError("images: empty list")
        for item in items:
            if isinstance(item, (list, tuple)):
                raise TypeError("images: expected an image or a flat list of images, got a nested list")
        dtype = _float_dtype(dtype)
        pixels = [self.preprocess_one(load_image(item), dtype) for item in items]
        shapes = {p.shape for p in pixels}
        if len(shapes) > 1:
            raise ValueError(f"images: processed images differ in shape {sorted(shapes)} and cannot be batched "
                             "(enable do_resize with a height/width size or do_center_crop)")
        return {"pixel_values": np.stack(pixels)}  # [B, 3, H, W]
