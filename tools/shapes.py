"""A synthetic image-text task anyone can render: one coloured shape on a plain light background.

Twelve classes: four colours (red, green, blue, yellow) x three shapes (circle, square, triangle), captioned
"a red circle", ... (English), "un cercle rouge", ... (French) and "一个红色的圆", ... (Chinese). The bundled tiny
checkpoints are trained on it (tools/train_tiny.py) and evaluated on it with refalign (tools/eval_tiny.py,
tests/test_tiny_trained.py), so that they give meaningful scores. Only PIL and NumPy; deterministic from a seed.

What the renderer varies (every image draws its own values from the generator):
  * image size and aspect ratio: aspect W/H log-uniform in [0.6, 1.6], the short side at least 160 px, the long
    side in [200, 400] px ("train") or (400, 480] px ("test");
  * background: a plain tint, each channel uniform in [200, 255];
  * the shape's colour: a base RGB per colour, each channel jittered by up to +-25;
  * the shape's size: the diameter d of its circumscribed circle as a fraction of the "safe square" (the centred
    square of side 0.75 * min(W, H)): [0.45, 0.62) or (0.75, 1.0] ("train"), [0.62, 0.75] ("test");
    a circle is drawn 0.85 * d wide, a square and a triangle fill the circle of diameter d;
  * its position: anywhere that keeps the circumscribed circle inside the safe square;
  * its rotation: theta mod 30 degrees in [0, 20) ("train") or [20, 30) ("test");
  * Gaussian pixel noise, sigma uniform in [0, 6] (uint8 output, clipped).

The shape always lies inside the safe square, which every processor keeps: CLIP's (shortest edge 224 + centre crop
224) keeps the central min(W, H) square, ALIGN's (346 x 346 + centre crop 289) the central 83.5% of each axis, and
ViT's resizes the whole image.

Held out for evaluation: the "test" split uses shape sizes, rotations and image sizes that the "train" split never
draws (above), and its own random stream (numpy's generator seeded with [seed, 1] instead of [seed, 0]), so no test
image can coincide with a training image whatever the seeds.

    python tools/shapes.py --out /tmp/shapes --n 24 --seed 0 [--split test]   # PNGs named NNNN_colour_shape.png
    python tools/shapes.py --quickstart refalign/assets/shape.png              # the README's bundled picture
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle")
CLASSES: list[tuple[str, str]] = [(c, s) for c in COLOURS for s in SHAPES]   # class index = 3 * colour + shape
LANGUAGES = ("en", "fr", "zh")

BASE_RGB = {"red": (210, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 210), "yellow": (235, 205, 30)}
_FR_COLOUR = {"red": "rouge", "green": "vert", "blue": "bleu", "yellow": "jaune"}   # every French shape is masculine
_FR_SHAPE = {"circle": "cercle", "square": "carré", "triangle": "triangle"}
_ZH_COLOUR = {"red": "红色", "green": "绿色", "blue": "蓝色", "yellow": "黄色"}
_ZH_SHAPE = {"circle": "圆", "square": "正方形", "triangle": "三角形"}

SPLITS = ("train", "test")
# (low, high) intervals per split; a value is drawn uniformly from the union (weighted by length)
SIZE_FRACTION = {"train": ((0.45, 0.62), (0.75, 1.0)), "test": ((0.62, 0.75),)}
ROTATION_MOD_30 = {"train": ((0.0, 20.0),), "test": ((20.0, 30.0),)}
LONG_SIDE = {"train": (200, 400), "test": (401, 480)}
ASPECT = (0.6, 1.6)
MIN_SIDE = 160
SAFE_FRACTION = 0.75     # the safe square's side, as a fraction of min(W, H)
COLOUR_JITTER = 25
NOISE_SIGMA = (0.0, 6.0)
SUPERSAMPLE = 3          # shapes are drawn at 3x and box-filtered down, for anti-aliased edges


def caption(colour: str, shape: str, language: str = "en") -> str:
    """The caption of one class in "en", "fr" or "zh"."""
    if language == "en":
        return f"a {colour} {shape}"
    if language == "fr":
        return f"un {_FR_SHAPE[shape]} {_FR_COLOUR[colour]}"
    if language == "zh":
        return f"一个{_ZH_COLOUR[colour]}的{_ZH_SHAPE[shape]}"
    raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")


def captions(language: str = "en") -> list[str]:
    """The 12 captions in class order (index = 3 * colour + shape)."""
    return [caption(c, s, language) for c, s in CLASSES]


def _uniform_union(rng: np.random.Generator, intervals) -> float:
    """A uniform draw from a union of disjoint intervals."""
    lengths = np.array([hi - lo for lo, hi in intervals], dtype=np.float64)
    i = int(rng.choice(len(intervals), p=lengths / lengths.sum()))
    lo, hi = intervals[i]
    return float(rng.uniform(lo, hi))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _image_size(rng: np.random.Generator, split: str) -> tuple[int, int]:
    aspect = math.exp(rng.uniform(math.log(ASPECT[0]), math.log(ASPECT[1])))   # W / H
    ratio = max(aspect, 1.0 / aspect)
    lo, hi = LONG_SIDE[split]
    long_side = rng.uniform(max(lo, MIN_SIDE * ratio), hi)
    short_side = max(MIN_SIDE, round(long_side / ratio))
    long_side = round(long_side)
    return (long_side, short_side) if aspect >= 1.0 else (short_side, long_side)


def _outline(shape: str, cx: float, cy: float, d: float, theta: float) -> list[tuple[float, float]] | None:
    """The polygon of a square or triangle inscribed in the circle of diameter d (None for a circle)."""
    if shape == "circle":
        return None
    corners = 4 if shape == "square" else 3
    start = math.radians(theta) + (math.pi / 4 if corners == 4 else -math.pi / 2)
    return [(cx + d / 2 * math.cos(start + 2 * math.pi * k / corners),
             cy + d / 2 * math.sin(start + 2 * math.pi * k / corners)) for k in range(corners)]


def render(colour: str, shape: str, rng: np.random.Generator, split: str = "train") -> Image.Image:
    """One RGB image of a `colour` `shape`, every free parameter drawn from `rng` within the split's ranges."""
    if colour not in COLOURS or shape not in SHAPES:
        raise ValueError(f"unknown class ({colour!r}, {shape!r}): colours {COLOURS}, shapes {SHAPES}")
    _check_split(split)
    width, height = _image_size(rng, split)
    background = rng.integers(200, 256, size=3)
    fill = np.clip(np.array(BASE_RGB[colour]) + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3), 0, 255)

    safe = SAFE_FRACTION * min(width, height)
    d = _uniform_union(rng, SIZE_FRACTION[split]) * safe
    slack = (safe - d) / 2
    cx = width / 2 + rng.uniform(-slack, slack)
    cy = height / 2 + rng.uniform(-slack, slack)
    theta = 30.0 * int(rng.integers(0, 12)) + _uniform_union(rng, ROTATION_MOD_30[split])
    sigma = rng.uniform(*NOISE_SIGMA)

    # the shape's coverage mask, drawn large and box-filtered down (anti-aliased edges)
    s = SUPERSAMPLE
    mask = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(mask)
    polygon = _outline(shape, cx * s, cy * s, d * s, theta)
    if polygon is None:
        r = 0.85 * d * s / 2
        draw.ellipse((cx * s - r, cy * s - r, cx * s + r, cy * s + r), fill=255)
    else:
        draw.polygon(polygon, fill=255)
    alpha = np.asarray(mask.resize((width, height), Image.BOX), dtype=np.float64)[..., None] / 255.0

    pixels = (1.0 - alpha) * background + alpha * fill
    pixels = pixels + rng.normal(0.0, sigma, size=pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode="RGB")


def dataset(n: int, seed: int, split: str = "train", shuffle: bool = True) -> list[tuple[Image.Image, int]]:
    """n (image, class index) pairs, balanced over the 12 classes (class k % 12 for the k-th image before the
    optional shuffle). The random stream is numpy's default_rng([seed, 0 for "train" / 1 for "test"])."""
    _check_split(split)
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    labels = [k % len(CLASSES) for k in range(n)]
    if shuffle:
        labels = [labels[i] for i in rng.permutation(n)]
    return [(render(*CLASSES[label], rng, split), label) for label in labels]


# The picture the README's quick start scores against a few captions: a "test"-split render (never trained on)
QUICKSTART_CLASS = ("blue", "triangle")
QUICKSTART_SEED = 2033   # a wide 464 x 323 picture, low noise (a 107 kB PNG)


def quickstart_picture() -> Image.Image:
    """refalign/assets/shape.png: one blue triangle from the held-out "test" split, deterministic."""
    return render(*QUICKSTART_CLASS, np.random.default_rng([QUICKSTART_SEED, SPLITS.index("test")]), "test")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder for the PNG files")
    ap.add_argument("--quickstart", metavar="PNG", help="write the quick start's picture (a blue triangle) there")
    ap.add_argument("--n", type=int, default=24, help="number of images (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=SPLITS, default="train")
    args = ap.parse_args(argv)
    if args.quickstart:
        quickstart_picture().save(args.quickstart, optimize=True)
        print(f"wrote {args.quickstart}")
        return 0
    if not args.out:
        ap.error("give --out FOLDER (or --quickstart PNG)")
    os.makedirs(args.out, exist_ok=True)
    for k, (image, label) in enumerate(dataset(args.n, args.seed, args.split)):
        colour, shape = CLASSES[label]
        image.save(os.path.join(args.out, f"{k:04d}_{colour}_{shape}.png"))
    print(f"wrote {args.n} {args.split} images to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
