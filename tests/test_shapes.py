"""tools/shapes.py, the synthetic task the bundled tiny checkpoints are trained and judged on: twelve classes, three
languages, deterministic renders, every shape inside the square that every processor's crop keeps."""
from __future__ import annotations

import numpy as np
import pytest

import shapes


def test_classes_and_captions():
    assert len(shapes.CLASSES) == 12 and len(set(shapes.CLASSES)) == 12
    assert shapes.captions("en")[0] == "a red circle" and shapes.caption("blue", "square", "fr") == "un carré bleu"
    assert shapes.caption("yellow", "triangle", "zh") == "一个黄色的三角形"
    for language in shapes.LANGUAGES:
        assert len(set(shapes.captions(language))) == 12


def test_renders_are_deterministic_and_split():
    a = shapes.dataset(12, seed=3)
    b = shapes.dataset(12, seed=3)
    assert [label for _, label in a] == [label for _, label in b]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for (x, _), (y, _) in zip(a, b))
    test = shapes.dataset(12, seed=3, split="test")
    assert not any(np.asarray(x).shape == np.asarray(y).shape and np.array_equal(np.asarray(x), np.asarray(y))
                   for (x, _), (y, _) in zip(a, test))
    long_train = [max(im.size) for im, _ in shapes.dataset(48, seed=1)]
    long_test = [max(im.size) for im, _ in shapes.dataset(48, seed=1, split="test")]
    assert max(long_train) <= 400 < min(long_test)                       # held-out image sizes
    with pytest.raises(ValueError):
        shapes.dataset(1, seed=0, split="validation")


@pytest.mark.parametrize("split", ["train", "test"])
def test_the_shape_stays_inside_the_safe_square(split):
    """Outside the centred square of side 0.75 * min(W, H) there is only background (+ noise): no pixel far from
    the image's median background colour."""
    for image, label in shapes.dataset(24, seed=11, split=split):
        px = np.asarray(image).astype(np.int32)
        h, w, _ = px.shape
        side = shapes.SAFE_FRACTION * min(w, h)
        top, left = (h - side) / 2, (w - side) / 2
        yy, xx = np.mgrid[0:h, 0:w]
        outside = (yy < top - 1) | (yy > top + side + 1) | (xx < left - 1) | (xx > left + side + 1)
        background = np.median(px[outside], axis=0)
        assert np.abs(px[outside] - background).max() <= 40, (split, label, image.size)
        inside = ~outside
        assert (np.abs(px[inside] - background).max(axis=-1) > 60).sum() > 0.05 * inside.sum()   # a shape is there
