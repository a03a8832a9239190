"""refalign's ViTImageProcessor and CLIPImageProcessor against transformers' PIL backends, on real photos.

The transformers side is always ViTImageProcessorPil / CLIPImageProcessorPil (pinned, never the torchvision classes)
fed transformers.image_utils.load_image's output, which is what transformers does with a path. float32 pixel values
must be the same bits; float64 ones must equal transformers' own transforms run in float64. Test images are made at
test time in tmp_path from scikit-image's photos (helpers shared with test_image_processing.py).
"""
from __future__ import annotations

import io
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from test_image_processing import MODES, rgb_photo, save_in_mode, write_config

import refalign
from refalign.errors import ConfigError, UnsupportedModelError
from refalign.image_processors import (CLIPImageProcessor, ViTImageProcessor, convert_to_rgb, load_image,
                                       read_image_processor_dict)

OURS = {"vit": ViTImageProcessor, "clip": CLIPImageProcessor}
TYPE = {"vit": "ViTImageProcessor", "clip": "CLIPImageProcessor"}


# ----------------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def tf(torch):
    """transformers' pieces: load_image, the two PIL-backend classes, the transforms module, AutoImageProcessor."""
    from transformers import AutoImageProcessor, image_transforms
    from transformers.image_utils import load_image as tf_load_image
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil
    return SimpleNamespace(load_image=tf_load_image, cls={"vit": ViTImageProcessorPil, "clip": CLIPImageProcessorPil},
                           transforms=image_transforms, auto=AutoImageProcessor)


@pytest.fixture(scope="module")
def procs(tf):
    """kind -> (transformers' processor, refalign's), both with their class defaults."""
    out = {kind: (tf.cls[kind](), OURS[kind]()) for kind in OURS}
    assert all(ref.backend == "pil" for ref, _ in out.values())
    return out


def tf_pixels(proc, image) -> np.ndarray:
    return np.asarray(proc(image, return_tensors="np")["pixel_values"])[0]  # [3, H, W]


def tf_pixels_float64(tf, proc, rgb: Image.Image) -> np.ndarray:
    """transformers' PIL pipeline with its own transforms, kept in float64 after the uint8 stage (transformers
    rescales in float64 and then casts to float32; here the cast is left out)."""
    x = proc.process_image(rgb, do_convert_rgb=proc.do_convert_rgb)  # [3, H, W] uint8
    if proc.do_resize:
        x = proc.resize(x, proc.size, resample=proc.resample)
    if proc.do_center_crop:
        x = proc.center_crop(x, proc.crop_size)
    x = tf.transforms.rescale(x, proc.rescale_factor, dtype=np.float64) if proc.do_rescale else x.astype(np.float64)
    if proc.do_normalize:
        x = tf.transforms.normalize(x, proc.image_mean, proc.image_std, input_data_format="channels_first")
    return x


def assert_same_as_transformers(tf, ref, ours, source, what: str) -> np.ndarray:
    """float32: the same bits as transformers' processor on load_image(source); float64: the same values as its
    transforms run in float64. Returns refalign's float32 pixels [3, H, W]."""
    rgb = tf.load_image(source if isinstance(source, Image.Image) else str(source))
    got = ours(source)["pixel_values"]
    assert got.dtype == np.float32 and got.shape[0] == 1
    np.testing.assert_array_equal(got[0], tf_pixels(ref, rgb), err_msg=what)
    got64 = ours(source, dtype=np.float64)["pixel_values"][0]
    assert got64.dtype == np.float64
    np.testing.assert_array_equal(got64, tf_pixels_float64(tf, ref, rgb), err_msg=f"{what} (float64)")
    return got[0]


def tf_settings(proc) -> dict:
    """A transformers processor's settings in refalign's canonical form (SizeDict -> dict, lists -> tuples, unset
    switches -> False)."""
    def canon(key, v):
        if key in ("size", "crop_size") and v is not None:
            return {k: n for k, n in dict(v).items() if n is not None}
        if key in ("image_mean", "image_std") and v is not None:
            return tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v] * 3))
        if key == "resample" and v is not None:
            return int(v)
        return bool(v) if key.startswith("do_") or key == "default_to_square" else v
    return {key: canon(key, getattr(proc, key, None)) for key in OURS["clip"].class_defaults}


def write_processor_config(directory, image_processor: dict, **extra) -> str:
    """A transformers-5 processor_config.json: the image processor's settings nested under "image_processor"."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "processor_config.json"), "w") as f:
        json.dump({"image_processor": image_processor, **extra}, f)
    return str(directory)


# ----------------------------------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("kind", sorted(OURS))
def test_class_defaults_are_transformers_class_attributes(procs, kind):
    ref, ours = procs[kind]
    assert ours.settings() == tf_settings(ref)
    if kind == "vit":
        assert ours.size == {"height": 224, "width": 224} and ours.resample == 2 and not ours.do_center_crop
        assert ours.image_mean == ours.image_std == (0.5, 0.5, 0.5) and not ours.do_convert_rgb
    else:
        assert ours.size == {"shortest_edge": 224} and ours.resample == 3 and ours.do_center_crop
        assert ours.crop_size == {"height": 224, "width": 224} and ours.do_convert_rgb
        assert ours.image_mean == (0.48145466, 0.4578275, 0.40821073)


# ----------------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("mode", MODES)
def test_every_pil_mode_is_bit_identical(tf, procs, photos, tmp_path, mode):
    for name in photos:  # (test_image_processing.py checks that save_in_mode's files are in that mode)
        (tmp_path / name).mkdir()
        path = save_in_mode(rgb_photo(photos, name), mode, tmp_path / name)
        for kind, (ref, ours) in procs.items():
            got = assert_same_as_transformers(tf, ref, ours, path, f"{kind} {mode} {name}")
            assert got.shape == (3, 224, 224)
            # transformers given the path itself (it calls load_image) gives the same bits: the reference is its own
            np.testing.assert_array_equal(got, tf_pixels(ref, path))


def test_float32_is_bitwise_and_float64_differs_only_by_rounding(tf, procs, photos):
    for kind, (ref, ours) in procs.items():
        worst = 0.0
        for name, path in photos.items():
            rgb = tf.load_image(path)
            x = ref.process_image(rgb, do_convert_rgb=ref.do_convert_rgb)  # [3, H, W] uint8
            x = ref.resize(x, ref.size, resample=ref.resample)
            if ref.do_center_crop:
                x = ref.center_crop(x, ref.crop_size)
            uint8 = ours.resize_and_crop(load_image(path))  # [H, W, 3]
            assert uint8.dtype == np.uint8
            np.testing.assert_array_equal(uint8.transpose(2, 0, 1), x, err_msg=f"{kind} {name} uint8 stage")
            got32 = assert_same_as_transformers(tf, ref, ours, path, f"{kind} {name}")
            got64 = ours.preprocess_one(load_image(path), np.float64)
            # float32 rounding of x/255, of mean and std, of the difference and of the quotient (each <= 2**-24
            # relative), with the division by std amplifying the absolute part
            bound = 2.0 ** -22 * (1 / min(ours.image_std) + np.abs(got64))
            err = np.abs(got64 - got32)
            assert (err <= bound).all(), f"{kind} {name}: float64 vs float32 {err.max():.3g}"
            worst = max(worst, float(err.max()))
        assert worst > 0  # float64 output is computed in float64, not the float32 values widened


@pytest.mark.parametrize("wh", [(1, 1), (3, 517), (517, 3), (224, 224), (224, 300), (300, 224), (100, 60),
                                (150, 223)])
def test_odd_sizes_and_upscales(tf, procs, photos, wh):
    rgb = rgb_photo(photos, "astronaut" if wh[0] >= wh[1] else "rocket").resize(wh, Image.LANCZOS)
    for kind, (ref, ours) in procs.items():
        got = assert_same_as_transformers(tf, ref, ours, rgb, f"{kind} {wh}")
        assert got.shape == (3, 224, 224)
        assert got.std() > 0 or wh == (1, 1)  # real image content, not a constant
    if wh == (224, 224):  # already the target size: the uint8 stage is the image itself for both processors
        for _, ours in procs.values():
            np.testing.assert_array_equal(ours.resize_and_crop(rgb), np.asarray(rgb))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg(tf, procs, photos, tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"chelsea_orient{orientation}.jpg"
    rgb_photo(photos, "chelsea").save(path, "JPEG", quality=95, exif=exif)  # 451 x 300, not square
    for kind, (ref, ours) in procs.items():
        expected = tf_pixels(ref, tf.load_image(str(path)))  # transformers applies exif_transpose in load_image
        sources = [path, str(path), path.read_bytes(), Image.open(path), io.BytesIO(path.read_bytes())]
        batch = ours(sources)["pixel_values"]
        assert batch.shape == (len(sources), 3, 224, 224)
        for i, row in enumerate(batch):
            np.testing.assert_array_equal(row, expected, err_msg=f"{kind} source {i}")
        with Image.open(path) as raw:  # ignoring the tag would give a clearly different result
            assert np.abs(tf_pixels(ref, raw.convert("RGB")) - expected).max() > 0.5


# ----------------------------------------------------------------------------------------------------- transparency


def _keyed_files(photos, directory) -> dict[str, str]:
    """PNGs with a single transparent colour (a tRNS chunk, no alpha band): P, L and RGB."""
    rgb = rgb_photo(photos, "chelsea")
    files = {}
    pal = rgb.quantize(64)
    files["P"] = str(directory / "p_trns.png")
    pal.save(files["P"], transparency=int(np.bincount(np.asarray(pal).ravel()).argmax()))  # the commonest index
    lum = rgb.convert("L")
    files["L"] = str(directory / "l_trns.png")
    lum.save(files["L"], transparency=int(np.median(np.asarray(lum))))
    files["RGB"] = str(directory / "rgb_trns.png")
    patched = np.array(rgb)
    patched[100:160, 150:250] = (12, 34, 56)  # a patch of one colour (a photo's own colours are too scattered)
    Image.fromarray(patched).save(files["RGB"], transparency=(12, 34, 56))
    return files


def test_transparent_colour_turns_white_in_clip(tf, procs, photos, tmp_path):
    clip_ref, clip = procs["clip"]
    plain = CLIPImageProcessor(do_convert_rgb=False)
    plain_ref = tf.cls["clip"](do_convert_rgb=False)
    for mode, path in _keyed_files(photos, tmp_path).items():
        loaded = load_image(path)
        assert loaded.mode == "RGB" and isinstance(loaded.info.get("transparency"), tuple), mode  # kept as a key
        keyed = (np.asarray(loaded) == loaded.info["transparency"]).all(axis=2)
        assert keyed.sum() >= 20, mode
        assert (np.asarray(convert_to_rgb(loaded))[keyed] == 255).all()
        got = assert_same_as_transformers(tf, clip_ref, clip, path, f"clip {mode} tRNS")
        # without the step the pixels stay as they are, in both implementations: the step is what differs
        unconverted = assert_same_as_transformers(tf, plain_ref, plain, path, f"clip {mode} tRNS, no convert")
        assert np.abs(got - unconverted).max() > 0.5, mode
        # ViT converts nothing: its result is that of the image without the key
        vit_ref, vit = procs["vit"]
        assert_same_as_transformers(tf, vit_ref, vit, path, f"vit {mode} tRNS")


def test_alpha_given_directly(tf, procs, photos):
    """transformers' CLIP processor composites alpha onto white when it receives the alpha (a PIL image passed
    directly); refalign loads every input like load_image (alpha dropped), as transformers does with paths.
    convert_to_rgb is transformers' compositing, for those who want the direct-input result."""
    rgb = rgb_photo(photos, "coffee")
    lum = rgb.convert("L")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(lum)
    la = lum.convert("LA")
    la.putalpha(lum.point(lambda v: 255 - v))
    pa = rgb.quantize(32)
    pa.info["transparency"] = 3
    clip_ref, clip = procs["clip"]
    for name, raw in (("RGBA", rgba), ("LA", la), ("P", pa)):
        composited = convert_to_rgb(raw)
        np.testing.assert_array_equal(np.asarray(composited),
                                      tf.transforms.convert_to_rgb(raw, return_numpy=True), err_msg=name)
        direct = tf_pixels(clip_ref, raw)  # transformers: composited onto white
        np.testing.assert_array_equal(clip(composited)["pixel_values"][0], direct, err_msg=name)
        ours = assert_same_as_transformers(tf, clip_ref, clip, raw, f"clip {name} loaded")
        if name == "P":  # a transparent index survives load_image as a colour key: white either way
            np.testing.assert_array_equal(ours, direct)
        else:  # the documented difference: load_image drops the alpha band, nothing is composited
            assert np.abs(ours - direct).max() > 0.1, name


# ----------------------------------------------------------------------------------------------------- settings

# Settings beyond the class defaults, each compared with transformers built from the same file.
VARIANTS = {
    ("clip", "no_crop"): {"do_center_crop": False},
    ("clip", "crop_larger_than_resized_pads"): {"size": {"shortest_edge": 100},
                                                 "crop_size": {"height": 150, "width": 120}},
    ("clip", "height_width_size"): {"size": {"height": 256, "width": 256}},
    ("clip", "int_size_with_default_to_square"): {"size": 256, "default_to_square": True},
    ("clip", "no_convert_rgb"): {"do_convert_rgb": False},
    ("clip", "use_square_size_overrides_size"): {"use_square_size": True, "size": {"shortest_edge": 300}},
    ("clip", "bilinear_odd_crop"): {"resample": 2, "crop_size": {"height": 101, "width": 77}},
    ("clip", "shortest_longest"): {"size": {"shortest_edge": 256, "longest_edge": 300}, "do_center_crop": False},
    ("clip", "nulls"): {"do_convert_rgb": None, "do_center_crop": None, "crop_size": None},
    ("clip", "empty_file"): {},
    ("vit", "crop_switched_on"): {"do_center_crop": True, "crop_size": {"height": 200, "width": 180}},
    ("vit", "bicubic_rectangle"): {"size": {"height": 160, "width": 288}, "resample": 3},
    ("vit", "convert_rgb_switched_on"): {"do_convert_rgb": True},
    ("vit", "list_size"): {"size": [192, 256]},
    ("vit", "scalar_mean_std"): {"image_mean": 0.4, "image_std": 0.3},
    ("vit", "no_rescale"): {"do_rescale": False},
    ("vit", "no_normalize"): {"do_normalize": False},
    ("vit", "nulls_resize_off"): {"do_resize": None, "size": None, "do_normalize": None},
}


@pytest.fixture(scope="module")
def variant_images(tf, photos, tmp_path_factory):
    keyed = _keyed_files(photos, tmp_path_factory.mktemp("keyed"))
    chelsea = tf.load_image(photos["chelsea"])  # 451 x 300
    rocket = tf.load_image(photos["rocket"])    # 427 x 640 (portrait)
    return [chelsea, rocket, chelsea.resize((7, 5), Image.BICUBIC), tf.load_image(keyed["P"])]


@pytest.mark.parametrize("kind, variant", sorted(VARIANTS))
def test_settings_variants_match_transformers(tf, variant_images, tmp_path, kind, variant):
    directory = write_config(tmp_path / variant, {"image_processor_type": TYPE[kind], **VARIANTS[kind, variant]})
    ref = tf.cls[kind].from_pretrained(directory)
    ours = OURS[kind].from_pretrained(directory)
    assert ref.backend == "pil" and ours.settings() == tf_settings(ref)
    for i, rgb in enumerate(variant_images):
        got = ours.preprocess_one(load_image(rgb), np.float32)
        np.testing.assert_array_equal(got, tf_pixels(ref, rgb), err_msg=f"{kind} {variant} image {i}")
        got64 = ours.preprocess_one(load_image(rgb), np.float64)
        np.testing.assert_array_equal(got64, tf_pixels_float64(tf, ref, rgb), err_msg=f"{kind} {variant} {i} f64")
    if variant == "use_square_size_overrides_size":
        assert ours.size == {"height": 224, "width": 224}


def test_init_overrides():
    assert ViTImageProcessor(size=384).size == {"height": 384, "width": 384}
    assert CLIPImageProcessor(size=336).size == {"shortest_edge": 336}
    assert CLIPImageProcessor(size=336, crop_size=336).crop_size == {"height": 336, "width": 336}
    p = CLIPImageProcessor(do_convert_rgb=None, image_mean=0.5)
    assert p.do_convert_rgb is False and p.image_mean == (0.5, 0.5, 0.5) and p.resample == 3


# ----------------------------------------------------------------------------------------------------- files


# Real hub files (legacy and current forms), each loaded by both libraries' AutoImageProcessor.
HUB_FILES = {
    "vit_legacy_int_size": ("vit", {  # google/vit-base-patch16-224
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224}),
    "vit_384": ("vit", {"do_normalize": True, "do_resize": True, "image_processor_type": "ViTImageProcessor",
                        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 384,
                        "do_rescale": True, "rescale_factor": 0.00392156862745098}),
    "clip_legacy_openai": ("clip", {  # openai/clip-vit-base-patch32
        "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
        "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}),
    "clip_current": ("clip", {
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_processor_type": "CLIPImageProcessor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "processor_class": "CLIPProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
        "size": {"shortest_edge": 224}}),
    "clip_fast_name_336": ("clip", {"image_processor_type": "CLIPImageProcessorFast", "size": 336, "crop_size": 336}),
}


def _check_auto(tf, directory, kind, images) -> None:
    ref = tf.auto.from_pretrained(directory, backend="pil")
    assert type(ref) is tf.cls[kind], type(ref)
    ours = refalign.AutoImageProcessor.from_pretrained(directory)
    assert type(ours) is OURS[kind]
    assert ours.settings() == tf_settings(ref) == OURS[kind].from_pretrained(directory).settings()
    for i, rgb in enumerate(images):
        np.testing.assert_array_equal(ours.preprocess_one(load_image(rgb)), tf_pixels(ref, rgb), err_msg=str(i))


@pytest.mark.parametrize("name", sorted(HUB_FILES))
def test_hub_preprocessor_configs(tf, variant_images, tmp_path, name):
    kind, settings = HUB_FILES[name]
    directory = write_config(tmp_path / name, settings)
    _check_auto(tf, directory, kind, variant_images[:2])
    ours = OURS[kind].from_pretrained(directory)
    if name == "vit_legacy_int_size":
        assert ours.size == {"height": 224, "width": 224}
    if name == "clip_legacy_openai":
        assert ours.size == {"shortest_edge": 224} and ours.crop_size == {"height": 224, "width": 224}


@pytest.mark.parametrize("kind", sorted(OURS))
def test_processor_config_json_written_by_transformers(tf, tiny_dir, variant_images, tmp_path, kind):
    """A folder saved by transformers 5's processor save_pretrained: only processor_config.json holds the image
    processor's settings."""
    from transformers import BertTokenizer, VisionTextDualEncoderProcessor
    if kind == "vit":
        image_processor = tf.cls["vit"](size={"height": 192, "width": 256}, resample=3)
    else:
        image_processor = tf.cls["clip"](size={"shortest_edge": 200}, crop_size={"height": 180, "width": 190})
    tokenizer = BertTokenizer(os.path.join(tiny_dir, "vocab.txt"))
    directory = str(tmp_path / kind)
    VisionTextDualEncoderProcessor(image_processor, tokenizer).save_pretrained(directory)
    assert not os.path.exists(os.path.join(directory, "preprocessor_config.json"))
    settings, source = read_image_processor_dict(directory)
    assert source.endswith('processor_config.json["image_processor"]')
    assert settings["image_processor_type"] == TYPE[kind]  # to_dict drops the "Pil" suffix
    _check_auto(tf, directory, kind, variant_images)
    assert OURS[kind].from_pretrained(directory).size == (
        {"height": 192, "width": 256} if kind == "vit" else {"shortest_edge": 200})


def test_processor_config_json_comes_first_like_transformers(tf, variant_images, tmp_path):
    both = write_config(tmp_path / "both", {"image_processor_type": "ViTImageProcessor", "size": 300})
    write_processor_config(both, {"image_processor_type": "CLIPImageProcessor", "crop_size": 200})
    _check_auto(tf, both, "clip", variant_images[:2])
    # an entry-less processor_config.json leaves the choice to preprocessor_config.json
    other = write_config(tmp_path / "other", {"image_processor_type": "ViTImageProcessor", "size": 300})
    with open(os.path.join(other, "processor_config.json"), "w") as f:
        json.dump({"processor_class": "VisionTextDualEncoderProcessor"}, f)
    _check_auto(tf, other, "vit", variant_images[:2])
    assert ViTImageProcessor.from_pretrained(other).size == {"height": 300, "width": 300}


@pytest.mark.parametrize("name, kind", [(n, k) for k, t in TYPE.items() for n in (t, t + "Fast", t + "Pil")])
def test_auto_image_processor_table(tmp_path, name, kind):
    for key, value in (("image_processor_type", name),
                       ("feature_extractor_type", name.replace("ImageProcessor", "FeatureExtractor"))):
        if key == "feature_extractor_type" and name != TYPE[kind]:
            continue
        pre = write_config(tmp_path / f"pre_{key}", {key: value})
        nested = write_processor_config(tmp_path / f"nested_{key}", {key: value})
        for directory in (pre, nested):
            p = refalign.AutoImageProcessor.from_pretrained(directory)
            assert type(p) is OURS[kind] and p.settings() == OURS[kind]().settings()


# ----------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind, key, value", [
    ("clip", "size", {"shortest_edge": 0}), ("vit", "size", {"height": 224}), ("vit", "size", "big"),
    ("vit", "size", [224]), ("clip", "crop_size", {"shortest_edge": 3}), ("clip", "do_convert_rgb", "yes"),
    ("vit", "do_convert_rgb", 1), ("clip", "use_square_size", "yes"), ("clip", "resample", "bicubic"),
    ("vit", "image_std", [0.5, 0.5]), ("clip", "image_std", [0, 0.5, 0.5]), ("vit", "rescale_factor", None),
])
def test_invalid_settings_name_file_and_key(tmp_path, kind, key, value):
    directory = write_config(tmp_path / "pre", {"image_processor_type": TYPE[kind], key: value})
    with pytest.raises(ConfigError, match=f"preprocessor_config.json.*{key}"):
        OURS[kind].from_pretrained(directory)
    nested = write_processor_config(tmp_path / "nested", {"image_processor_type": TYPE[kind], key: value})
    with pytest.raises(ConfigError, match=rf'processor_config.json\["image_processor"\].*{key}'):
        refalign.AutoImageProcessor.from_pretrained(nested)
    with pytest.raises(ConfigError, match=key):
        OURS[kind](**{key: value})


@pytest.mark.parametrize("kind, key, value", [
    ("vit", "crop_pct", 0.875), ("vit", "image_processor_type", "ViTHybridImageProcessor"),
    ("vit", "image_processor_type", "CLIPImageProcessor"), ("clip", "feature_extractor_type", "ViTFeatureExtractor"),
    ("clip", "size", {"longest_edge": 224}), ("clip", "do_pad", True), ("vit", "data_format", "channels_last"),
])
def test_unsupported_settings_raise_not_implemented(tmp_path, kind, key, value):
    directory = write_config(tmp_path / "cfg", {key: value})
    with pytest.raises(NotImplementedError, match=key):
        OURS[kind].from_pretrained(directory)


def test_malformed_processor_config_json(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "processor_config.json").write_text('{"image_processor": {')
    with pytest.raises(ConfigError, match="processor_config.json: not valid JSON"):
        refalign.AutoImageProcessor.from_pretrained(bad)
    with pytest.raises(ConfigError, match="processor_config.json: not valid JSON"):
        CLIPImageProcessor.from_pretrained(bad)
    not_object = write_processor_config(tmp_path / "list", [1, 2])
    with pytest.raises(ConfigError, match=r'processor_config.json\["image_processor"\]: expected a JSON object'):
        ViTImageProcessor.from_pretrained(not_object)
    unknown = write_processor_config(tmp_path / "blip", {"image_processor_type": "BlipImageProcessor"})
    with pytest.raises(UnsupportedModelError, match="'BlipImageProcessor'.*CLIPImageProcessor.*ViTImageProcessor"):
        refalign.AutoImageProcessor.from_pretrained(unknown)
    # no settings anywhere: a processor class on its own gives its class defaults
    (tmp_path / "empty").mkdir()
    assert CLIPImageProcessor.from_pretrained(tmp_path / "empty").settings() == CLIPImageProcessor().settings()
