"""The bundled tiny checkpoints see: trained on the coloured-shapes task (tools/shapes.py, tools/train_tiny.py), each
classifies freshly rendered images of the held-out "test" split (sizes, rotations and image sizes the training never
drew) among the 12 captions with refalign, in every language it was trained on, and gives images of different
classes clearly different embeddings (random weights map every image to nearly the same direction). No torch.

The checkpoints are the bundled names "tiny", "tiny-altclip" and "tiny-vtde"; with REFALIGN_TINY_TRAINED_DIR set,
its sub-folders of those names instead (the output folder of tools/train_tiny.py):

    REFALIGN_TINY_TRAINED_DIR=/tmp/refalign-tiny-trained pytest tests/test_tiny_trained.py -q
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import shapes   # tools/ (tests/conftest.py puts it on sys.path)

import refalign
from refalign.loading.hub import resolve_weights

TEST_SEED = 7            # the "test" split's own random stream; training only ever draws the "train" split
N_IMAGES = 48            # 4 per class
MIN_ACCURACY = 0.9
MAX_MEAN_COSINE = 0.9    # between images of different classes; random weights give >= 0.9999997
CASES = [("tiny", "en"), ("tiny-altclip", "en"), ("tiny-altclip", "fr"), ("tiny-altclip", "zh"), ("tiny-vtde", "en")]


def checkpoint(name: str) -> str:
    """The folder to test: $REFALIGN_TINY_TRAINED_DIR/<name> when the variable is set, else the bundled name."""
    root = os.environ.get("REFALIGN_TINY_TRAINED_DIR")
    return os.path.join(root, name) if root else resolve_weights(name)


@pytest.fixture(scope="module")
def test_set() -> tuple[list, np.ndarray]:
    data = shapes.dataset(N_IMAGES, TEST_SEED, split="test")
    return [image for image, _ in data], np.array([label for _, label in data])


@pytest.mark.parametrize("name,language", CASES, ids=[f"{n}-{lang}" for n, lang in CASES])
def test_classifies_held_out_shapes(test_set, name, language):
    images, labels = test_set
    captions = shapes.captions(language)
    ranked = refalign.classify(images, captions, template="{}", model=checkpoint(name))
    predicted = np.array([captions.index(r[0]["label"]) for r in ranked])
    accuracy = float((predicted == labels).mean())
    wrong = [f"{captions[t]!r} -> {captions[p]!r}" for t, p in zip(labels, predicted) if t != p]
    assert accuracy >= MIN_ACCURACY, f"{name} ({language}): accuracy {accuracy:.1%}; {wrong}"


@pytest.mark.parametrize("name", ["tiny", "tiny-altclip", "tiny-vtde"])
def test_images_of_different_classes_get_different_embeddings(test_set, name):
    images, labels = test_set
    emb = refalign.embed_images(images, model=checkpoint(name), progress=False)   # L2-normalised
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    cos = emb @ emb.T
    different = labels[:, None] != labels[None, :]
    mean = float(cos[different].mean())
    assert mean <= MAX_MEAN_COSINE, f"{name}: mean cosine between images of different classes {mean:.7f}"
    same = ~different & ~np.eye(len(labels), dtype=bool)
    assert float(cos[same].mean()) > mean, f"{name}: images of one class are not closer than of different ones"


def test_quickstart_picture_is_the_rendered_blue_triangle():
    """refalign/assets/shape.png is tools/shapes.py's quick start picture, pixel for pixel (a held-out render)."""
    path = os.path.join(os.path.dirname(refalign.__file__), "assets", "shape.png")
    np.testing.assert_array_equal(np.asarray(refalign.load_image(path)), np.asarray(shapes.quickstart_picture()))


@pytest.mark.parametrize("name,language", CASES, ids=[f"{n}-{lang}" for n, lang in CASES])
def test_quickstart_picture_gets_its_caption(name, language):
    """The README's quick start answer: every tiny model puts the blue triangle's caption first, by a wide margin."""
    path = os.path.join(os.path.dirname(refalign.__file__), "assets", "shape.png")
    captions = shapes.captions(language)
    probs = refalign.similarity(path, captions, model=checkpoint(name))   # one image: [n_captions]
    want = captions.index(shapes.caption(*shapes.QUICKSTART_CLASS, language))
    assert probs.argmax() == want and probs[want] > 0.5, dict(zip(captions, probs.round(3)))
