"""refalign.image_processors (EfficientNet) against transformers' PIL-backend EfficientNet processor, on real photos.

The transformers side is always: transformers.image_utils.load_image (EXIF orientation + convert("RGB")) and then
EfficientNetImageProcessorPil built from the same preprocessor_config.json. Test images are made at test time in
tmp_path from scikit-image's photos.
"""
from __future__ import annotations

import io
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from refalign.errors import ConfigError, ImageLoadError
from refalign.image_processors import (ALIGN_BASE_SETTINGS, EfficientNetImageProcessor, center_crop, load_image,
                                       resize_output_size)

ATOL32 = 1e-6   # the bound for float32 pixel_values
ATOL64 = 1e-12  # float64 output against transformers' own float64 intermediate values
MODES = ("RGB", "L", "RGBA", "P", "P+transparency", "LA", "1", "CMYK", "I;16", "I;16-low", "CMYK-jpeg")


# ----------------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tf(torch):
    """transformers' pieces: load_image, the PIL EfficientNet processor class, the transforms module."""
    from transformers import image_transforms
    from transformers.image_utils import load_image as tf_load_image
    from transformers.models.efficientnet.image_processing_pil_efficientnet import EfficientNetImageProcessorPil
    return dict(load_image=tf_load_image, cls=EfficientNetImageProcessorPil, transforms=image_transforms)


@pytest.fixture(scope="module")
def tf_tiny(tf, tiny_dir):
    """transformers' processor for the tiny checkpoint, through AutoImageProcessor with the PIL backend."""
    from transformers import AutoImageProcessor
    proc = AutoImageProcessor.from_pretrained(tiny_dir, backend="pil")
    assert isinstance(proc, tf["cls"]) and proc.backend == "pil"
    return proc


@pytest.fixture(scope="module")
def ours_tiny(tiny_dir):
    return EfficientNetImageProcessor.from_pretrained(tiny_dir)


def tf_pixels(proc, rgb: Image.Image) -> np.ndarray:
    out = proc(rgb, return_tensors="np")["pixel_values"]  # [1, 3, H, W]
    return np.asarray(out)[0]


def tf_pixels_float64(tf, proc, rgb: Image.Image) -> np.ndarray:
    """transformers' pipeline with its own transforms, but kept in float64 after the uint8 stage (transformers
    rescales in float64 and then casts to float32; here the cast is left out)."""
    t = tf["transforms"]
    x = proc.process_image(rgb)  # [3, H, W] uint8
    if proc.do_resize:
        x = proc.resize(x, proc.size, resample=proc.resample)
    if proc.do_center_crop:
        x = proc.center_crop(x, proc.crop_size)
    if proc.do_rescale:
        x = t.rescale(x, proc.rescale_factor, dtype=np.float64)
        if proc.rescale_offset:
            x = x - 1
    else:
        x = x.astype(np.float64)
    if proc.do_normalize:
        x = t.normalize(x, proc.image_mean, proc.image_std, input_data_format="channels_first")
    if proc.include_top:
        x = t.normalize(x, 0, proc.image_std, input_data_format="channels_first")
    return x


def max_err(ours: np.ndarray, ref: np.ndarray, dtype=np.float32) -> float:
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    assert ours.dtype == dtype, ours.dtype
    return float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))


def rgb_photo(photos, name) -> Image.Image:
    with Image.open(photos[name]) as im:
        return im.convert("RGB")


def save_in_mode(rgb: Image.Image, mode: str, path: pathlib.Path) -> str:
    """Write a real photo to disk in a given PIL mode (alpha channels come from the photo's own luminance)."""
    lum = rgb.convert("L")
    if mode in ("RGB", "L", "1"):
        im, fmt = rgb.convert(mode), "PNG"
    elif mode == "RGBA":
        im, fmt = rgb.convert("RGBA"), "PNG"
        im.putalpha(lum)
    elif mode == "LA":
        im, fmt = lum.convert("LA"), "PNG"
        im.putalpha(lum.point(lambda v: 255 - v))
    elif mode in ("P", "P+transparency"):
        im, fmt = rgb.quantize(64), "PNG"
        if mode == "P+transparency":
            im.info["transparency"] = 0
    elif mode in ("CMYK", "CMYK-jpeg"):
        im, fmt = rgb.convert("CMYK"), ("TIFF" if mode == "CMYK" else "JPEG")
    elif mode == "I;16":  # a 16-bit greyscale PNG using the full range
        im, fmt = Image.fromarray(np.asarray(lum).astype(np.uint16) * 257), "PNG"
    elif mode == "I;16-low":  # 16-bit PNG with values 0..255 (not saturated by the RGB conversion)
        im, fmt = Image.fromarray(np.asarray(lum).astype(np.uint16)), "PNG"
    else:
        raise AssertionError(mode)
    out = str(path / f"{mode.replace(';', '').replace('+', '_').replace('-', '_')}.{fmt.lower()}")
    kwargs = {"transparency": 0} if mode == "P+transparency" else {}
    im.save(out, fmt, **kwargs)
    return out


def write_config(directory: pathlib.Path, settings: dict) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "preprocessor_config.json", "w") as f:
        json.dump(settings, f)
    return str(directory)


# ----------------------------------------------------------------------------------------------------- parity


def test_transformers_side_is_the_pil_backend(tf_tiny, tiny_dir):
    with open(os.path.join(tiny_dir, "preprocessor_config.json")) as f:
        cfg = json.load(f)
    assert tf_tiny.backend == "pil" and type(tf_tiny).__name__ == "EfficientNetImageProcessorPil"
    assert cfg["resample"] == tf_tiny.resample == 2 and cfg["do_center_crop"] is True


def test_settings_from_tiny_dir_are_align_base(ours_tiny, tiny_dir, tmp_path):
    assert ours_tiny.size == {"height": 346, "width": 346} and ours_tiny.crop_size == {"height": 289, "width": 289}
    assert ours_tiny.resample == 2 and ours_tiny.rescale_factor == 1 / 127.5 and ours_tiny.rescale_offset
    assert ours_tiny.do_resize and ours_tiny.do_center_crop and ours_tiny.do_rescale
    assert not ours_tiny.do_normalize and not ours_tiny.include_top
    assert ours_tiny.image_mean == (0.485, 0.456, 0.406) and ours_tiny.image_std == (0.47853944, 0.4732864, 0.47434163)
    # no preprocessor_config.json -> align-base's values, not the processor class defaults
    (tmp_path / "empty").mkdir()
    assert EfficientNetImageProcessor.from_pretrained(tmp_path / "empty").settings() == ours_tiny.settings()
    assert EfficientNetImageProcessor().settings() == ours_tiny.settings()
    assert ALIGN_BASE_SETTINGS["rescale_factor"] == 1 / 127.5


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_matches_transformers(tf, tf_tiny, ours_tiny, photos, tmp_path, mode):
    worst = 0.0
    for name in photos:
        (tmp_path / name).mkdir()
        path = save_in_mode(rgb_photo(photos, name), mode, tmp_path / name)
        with Image.open(path) as raw:
            expected_mode = {"P+transparency": "P", "I;16-low": "I;16", "CMYK-jpeg": "CMYK"}.get(mode, mode)
            assert raw.mode == expected_mode, (path, raw.mode)  # the file really is in that mode
        ref = tf_pixels(tf_tiny, tf["load_image"](path))
        ours = ours_tiny(path)["pixel_values"]
        assert ours.shape == (1, 3, 289, 289)
        worst = max(worst, max_err(ours[0], ref))
    assert worst <= ATOL32, f"{mode}: max abs error {worst:.3g}"


def test_float32_is_bitwise_transformers_and_float64_is_tight(tf, tf_tiny, ours_tiny, photos):
    for name, path in photos.items():
        rgb = tf["load_image"](path)
        ref32 = tf_pixels(tf_tiny, rgb)
        ours32 = ours_tiny.preprocess_one(load_image(path), np.float32)
        assert ours32.dtype == np.float32 and ref32.dtype == np.float32
        # same operations in the same precision and order (float64 multiply, cast, float32 "- 1"): identical bits
        np.testing.assert_array_equal(ours32, ref32, err_msg=name)
        ours64 = ours_tiny(path, dtype=np.float64)["pixel_values"][0]
        assert max_err(ours64, tf_pixels_float64(tf, tf_tiny, rgb), np.float64) <= ATOL64
        # float64 vs transformers' float32 output: only float32 rounding (half an ulp at 2.0 is 1.2e-7)
        assert max_err(ours64, ref32, np.float64) <= ATOL32


def test_uint8_stage_equals_transformers_resize_and_crop(tf, tf_tiny, ours_tiny, photos):
    for path in photos.values():
        rgb = tf["load_image"](path)
        x = tf_tiny.center_crop(tf_tiny.resize(tf_tiny.process_image(rgb), tf_tiny.size, resample=tf_tiny.resample),
                                tf_tiny.crop_size)  # [3, H, W] uint8
        ours = ours_tiny.resize_and_crop(load_image(path))  # [H, W, 3] uint8
        assert ours.dtype == np.uint8
        np.testing.assert_array_equal(ours.transpose(2, 0, 1), x)


@pytest.mark.parametrize("wh", [(1, 1), (2000, 3), (3, 2000), (3000, 2200), (347, 290), (289, 289)])
def test_odd_shapes(tf, tf_tiny, ours_tiny, photos, wh):
    rgb = rgb_photo(photos, "astronaut" if wh[0] >= wh[1] else "rocket").resize(wh, Image.LANCZOS)
    ref = tf_pixels(tf_tiny, tf["load_image"](rgb))
    ours = ours_tiny(rgb)["pixel_values"][0]
    assert max_err(ours, ref) <= ATOL32
    assert ours.std() > 0 or wh == (1, 1)  # real image content, not a constant


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg(tf, tf_tiny, ours_tiny, photos, tmp_path, orientation):
    rgb = rgb_photo(photos, "chelsea")  # 451 x 300, not square
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"chelsea_orient{orientation}.jpg"
    rgb.save(path, "JPEG", quality=95, exif=exif)
    upright = load_image(path)
    assert upright.size == ((300, 451) if orientation in (6, 8) else (451, 300))
    ref = tf_pixels(tf_tiny, tf["load_image"](str(path)))  # transformers applies exif_transpose in load_image
    for source in (path, str(path), path.read_bytes(), Image.open(path)):
        assert max_err(ours_tiny(source)["pixel_values"][0], ref) <= ATOL32
    with Image.open(path) as raw:  # ignoring the tag would give a clearly different result
        sideways = tf_pixels(tf_tiny, raw.convert("RGB"))
    assert np.abs(sideways - ref).max() > 0.5


def test_input_kinds_and_batches(tf, tf_tiny, ours_tiny, photos, tmp_path):
    path = photos["coffee"]
    with open(path, "rb") as f:
        data = f.read()
    rgb = rgb_photo(photos, "coffee")
    arr = np.asarray(rgb)
    ref = tf_pixels(tf_tiny, tf["load_image"](path))
    rgba = np.concatenate([arr, np.full(arr.shape[:2] + (1,), 7, np.uint8)], axis=2)
    with open(path, "rb") as fobj:
        sources = [path, pathlib.Path(path), data, bytearray(data), memoryview(data), io.BytesIO(data), fobj,
                   rgb, arr, arr[::1, :, :].copy(order="F"), rgba]
        out = ours_tiny(sources)["pixel_values"]
    assert out.shape == (len(sources), 3, 289, 289) and out.dtype == np.float32
    for i, row in enumerate(out):
        assert max_err(row, ref) <= ATOL32, f"source {i}"
    assert np.array_equal(ours_tiny(tuple(sources[:2]))["pixel_values"], out[:2])

    grey_path = photos["camera"]
    grey = np.asarray(Image.open(grey_path))  # [H, W] uint8
    ref_grey = tf_pixels(tf_tiny, tf["load_image"](grey_path))
    for source in (grey, grey[:, :, None], Image.fromarray(grey)):
        assert max_err(ours_tiny(source)["pixel_values"][0], ref_grey) <= ATOL32
    assert ours_tiny([grey_path, path])["pixel_values"].shape == (2, 3, 289, 289)


def test_load_image_returns_upright_rgb(photos):
    for name, path in photos.items():
        im = load_image(path)
        assert isinstance(im, Image.Image) and im.mode == "RGB"
        with Image.open(path) as raw:
            assert im.size == raw.size
            np.testing.assert_array_equal(np.asarray(im), np.asarray(raw.convert("RGB")))


# Settings beyond align-base's, each compared with transformers built from the same file.
VARIANTS = {
    "normalize_and_include_top": {"do_normalize": True, "include_top": True},
    "nearest": {"resample": 0}, "lanczos": {"resample": 1}, "bicubic": {"resample": 3}, "box": {"resample": 4},
    "hamming": {"resample": 5},
    "shortest_edge": {"size": {"shortest_edge": 300}},
    "shortest_longest_no_crop": {"size": {"shortest_edge": 256, "longest_edge": 300}, "do_center_crop": False},
    "max_height_width_no_crop": {"size": {"max_height": 200, "max_width": 333}, "do_center_crop": False},
    "int_size_square": {"size": 300},
    "int_size_shortest_edge": {"size": 300, "default_to_square": False, "do_center_crop": False},
    "list_size_pads_in_crop": {"size": [200, 400]},
    "odd_crop": {"crop_size": {"height": 101, "width": 77}},
    "int_crop": {"crop_size": 255},
    "no_rescale_normalize": {"do_rescale": False, "do_normalize": True},
    "no_rescale_no_normalize": {"do_rescale": False},
    "no_offset": {"rescale_offset": False, "rescale_factor": 1 / 255},
    "scalar_mean_std": {"do_normalize": True, "image_mean": 0.5, "image_std": 0.25},
    "no_resize_crop_only": {"do_resize": False, "crop_size": {"height": 301, "width": 500}},
    "nothing_but_rescale": {"do_resize": False, "do_center_crop": False},
}
# Files that leave keys out or set them to null: transformers then uses the processor class defaults.
PARTIAL_FILES = {
    "only_crop": {"do_center_crop": True},
    "empty_object": {},
    # a null switch is off in transformers (None is falsy); a null value is fine where its step is off
    "nulls": {"do_normalize": None, "rescale_offset": None, "do_center_crop": None, "crop_size": None,
              "image_mean": None},
}


def _compare_settings(tf, directory, images, variant):
    proc = tf["cls"].from_pretrained(directory)
    assert proc.backend == "pil"
    ours = EfficientNetImageProcessor.from_pretrained(directory)
    worst32 = worst64 = 0.0
    for rgb in images:
        try:
            ref = tf_pixels(proc, rgb)
        except ValueError:  # e.g. a resize to zero width: refalign must refuse it too
            with pytest.raises(ValueError, match="images"):
                ours.preprocess_one(load_image(rgb), np.float32)
            continue
        got = ours.preprocess_one(load_image(rgb), np.float32)
        worst32 = max(worst32, max_err(got, ref))
        got64 = ours.preprocess_one(load_image(rgb), np.float64)
        worst64 = max(worst64, max_err(got64, tf_pixels_float64(tf, proc, rgb), np.float64))
    assert worst32 <= ATOL32, f"{variant}: float32 max abs error {worst32:.3g}"
    assert worst64 <= ATOL64, f"{variant}: float64 max abs error {worst64:.3g}"
    return proc, ours


@pytest.fixture(scope="module")
def variant_images(tf, photos):
    chelsea = tf["load_image"](photos["chelsea"])  # 451 x 300
    rocket = tf["load_image"](photos["rocket"])    # 427 x 640 (portrait)
    return [chelsea, rocket, chelsea.resize((7, 5), Image.BICUBIC), rocket.resize((40, 900), Image.BICUBIC)]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_settings_variants_match_transformers(tf, variant_images, tmp_path, variant):
    settings = {**ALIGN_BASE_SETTINGS, **VARIANTS[variant]}
    _compare_settings(tf, write_config(tmp_path / variant, settings), variant_images, variant)


@pytest.mark.parametrize("variant", sorted(PARTIAL_FILES))
def test_missing_or_null_keys_take_class_defaults_like_transformers(tf, variant_images, tmp_path, variant):
    proc, ours = _compare_settings(tf, write_config(tmp_path / variant, PARTIAL_FILES[variant]), variant_images,
                                   variant)
    assert ours.resample == proc.resample == 3 and ours.include_top is True and proc.include_top is True


@pytest.mark.parametrize("key", ["resample", "size", "image_std", "rescale_factor"])
def test_null_value_for_a_step_that_is_on_is_refused(tf, variant_images, tmp_path, key):
    directory = write_config(tmp_path / key, {**ALIGN_BASE_SETTINGS, "include_top": True, key: None})
    try:  # transformers fails too, or (image_std null with include_top) returns NaN everywhere
        out = tf_pixels(tf["cls"].from_pretrained(directory), variant_images[0])
        assert not np.isfinite(out).any()
    except (ValueError, TypeError):
        pass
    with pytest.raises(ConfigError, match=f"{key}.*null"):
        EfficientNetImageProcessor.from_pretrained(directory)


def test_init_overrides_and_attributes():
    p = EfficientNetImageProcessor(size={"shortest_edge": 300}, resample=3, do_normalize=True)
    assert p.size == {"shortest_edge": 300} and p.resample == 3 and p.do_normalize
    assert p.crop_size == {"height": 289, "width": 289} and p.rescale_offset  # the rest: align-base
    assert EfficientNetImageProcessor(size=300).size == {"height": 300, "width": 300}
    assert EfficientNetImageProcessor(size=300, default_to_square=False).size == {"shortest_edge": 300}


def test_center_crop_offsets_and_padding():
    x = np.arange(7 * 6, dtype=np.uint8).reshape(7, 6, 1)
    # excess 3 rows -> top offset 1 (floor), excess 1 column -> left offset 0
    np.testing.assert_array_equal(center_crop(x, 4, 5), x[1:5, 0:5])
    # crop larger than the image: image placed at ceil((crop - size) / 2), zeros around
    y = center_crop(x, 10, 9)
    assert y.shape == (10, 9, 1)
    np.testing.assert_array_equal(y[2:9, 2:8], x)
    assert y.sum() == x.sum()


def test_resize_output_size_forms():
    assert resize_output_size(300, 451, {"height": 346, "width": 346}) == (346, 346)
    assert resize_output_size(300, 451, {"shortest_edge": 300}) == (300, 451)
    assert resize_output_size(300, 451, {"shortest_edge": 200}) == (200, int(200 * 451 / 300))
    assert resize_output_size(640, 427, {"shortest_edge": 200}) == (int(200 * 640 / 427), 200)
    # the long edge would exceed 300: short edge becomes round(300 * 300 / 451) = 200
    assert resize_output_size(300, 451, {"shortest_edge": 256, "longest_edge": 300}) == (200, 300)
    assert resize_output_size(100, 200, {"max_height": 50, "max_width": 50}) == (25, 50)


# ----------------------------------------------------------------------------------------------------- bad input


def test_pillow_bomb_guard_is_untouched():
    assert Image.MAX_IMAGE_PIXELS == int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's default, still in force


def test_runtime_does_not_import_torch_or_transformers():
    code = ("import sys, refalign.image_processors; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "no_such_image.png"
    for source in (missing, str(missing)):
        with pytest.raises(FileNotFoundError, match="no_such_image.png"):
            load_image(source)
    with pytest.raises(FileNotFoundError, match="no_such_image.png"):
        EfficientNetImageProcessor()([str(missing)])


def test_undecodable_files_raise_image_load_error(photos, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    with open(photos["rocket"], "rb") as f:
        jpeg = f.read()
    with open(photos["chelsea"], "rb") as f:
        png = f.read()
    cut_jpeg, cut_png = tmp_path / "cut.jpg", tmp_path / "cut.png"
    cut_jpeg.write_bytes(jpeg[: len(jpeg) // 2])
    cut_png.write_bytes(png[: len(png) // 2])
    for path in (text, cut_jpeg, cut_png):
        with pytest.raises(ImageLoadError, match=path.name):
            load_image(path)
    with pytest.raises(ImageLoadError, match="bytes"):
        load_image(png[: len(png) // 2])
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError):
        load_image(b"")


def test_zero_sized_images_are_refused():
    with pytest.raises(ValueError, match="zero size"):
        load_image(Image.new("RGB", (0, 5)))
    with pytest.raises(ValueError, match="zero size"):
        load_image(np.zeros((5, 0, 3), np.uint8))
    with pytest.raises(ValueError, match="zero size"):
        EfficientNetImageProcessor()(np.zeros((0, 0), np.uint8))


def test_decompression_bomb_is_reported(photos, tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    rgb_photo(photos, "coffee").resize((100, 100)).save(path)
    medium = tmp_path / "medium.png"
    rgb_photo(photos, "coffee").resize((40, 40)).save(medium)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2x the limit: Pillow refuses
    with pytest.raises(ImageLoadError, match="too large.*decompression"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="big.png"):
        EfficientNetImageProcessor()(str(path))
    with pytest.warns(Image.DecompressionBombWarning):  # between 1x and 2x: Pillow's warning is kept
        assert load_image(medium).size == (40, 40)


@pytest.mark.parametrize("bad", [3, None, 2.5, {"image": 1}, object()])
def test_wrong_types_name_images(bad):
    with pytest.raises(TypeError, match="images"):
        EfficientNetImageProcessor()(bad)


def test_text_mode_file_is_refused(photos):
    with open(photos["chelsea"], encoding="latin-1") as f:
        with pytest.raises(TypeError, match="images.*binary mode"):
            EfficientNetImageProcessor()(f)


def test_bad_arrays_and_lists(photos):
    arr = np.asarray(rgb_photo(photos, "coffee"))
    p = EfficientNetImageProcessor()
    with pytest.raises(TypeError, match="images.*float"):
        p(arr.astype(np.float32) / 255)
    with pytest.raises(TypeError, match="images"):
        p(arr[None])  # [1, H, W, 3]
    with pytest.raises(ValueError, match="images"):
        p(np.zeros((3, 40, 50), np.uint8))  # channels first: not accepted
    with pytest.raises(TypeError, match="images.*nested"):
        p([[photos["coffee"]]])
    with pytest.raises(ValueError, match="images.*empty"):
        p([])
    with pytest.raises(ValueError, match="dtype"):
        p(arr, dtype=np.int32)
    with pytest.raises(ValueError, match="mode RGB"):
        p.preprocess_one(Image.fromarray(arr).convert("L"), np.float32)
    with pytest.raises(TypeError, match="PIL"):
        p.preprocess_one(arr, np.float32)
    # without resize or crop, photos of different sizes cannot be stacked
    with pytest.raises(ValueError, match="shape"):
        EfficientNetImageProcessor(do_resize=False, do_center_crop=False)([photos["coffee"], photos["chelsea"]])


def test_malformed_config_files(tmp_path):
    bad_json = tmp_path / "bad_json"
    bad_json.mkdir()
    (bad_json / "preprocessor_config.json").write_text('{"do_resize": true,')
    with pytest.raises(ConfigError, match="preprocessor_config.json"):
        EfficientNetImageProcessor.from_pretrained(bad_json)
    not_object = tmp_path / "list"
    not_object.mkdir()
    (not_object / "preprocessor_config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="preprocessor_config.json.*JSON object"):
        EfficientNetImageProcessor.from_pretrained(not_object)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        EfficientNetImageProcessor.from_pretrained(tmp_path / "nowhere")


@pytest.mark.parametrize("key, value", [
    ("do_resize", "yes"), ("size", {"height": 0, "width": 3}), ("size", {"heigth": 3, "width": 3}),
    ("size", [3]), ("size", "big"), ("crop_size", {"shortest_edge": 3}), ("resample", "bilinear"),
    ("rescale_factor", "0.5"), ("image_std", [0.5, 0.5]), ("image_mean", ["a", 1, 2]), ("include_top", 1),
])
def test_invalid_values_name_file_and_key(tmp_path, key, value):
    directory = write_config(tmp_path / "cfg", {**ALIGN_BASE_SETTINGS, key: value})
    with pytest.raises(ConfigError, match=f"preprocessor_config.json.*{key}"):
        EfficientNetImageProcessor.from_pretrained(directory)
    with pytest.raises(ConfigError, match=key):
        EfficientNetImageProcessor(**{key: value})


@pytest.mark.parametrize("key, value", [
    ("do_pad", True), ("do_convert_rgb", True), ("resample", 7), ("size", {"longest_edge": 300}),
    ("size", {"min_pixels": 10, "max_pixels": 1000}), ("data_format", "channels_last"),
    ("image_processor_type", "CLIPImageProcessor"), ("crop_pct", 0.875),
])
def test_unsupported_settings_raise_not_implemented(tmp_path, key, value):
    directory = write_config(tmp_path / "cfg", {**ALIGN_BASE_SETTINGS, key: value})
    with pytest.raises(NotImplementedError, match=key):
        EfficientNetImageProcessor.from_pretrained(directory)
