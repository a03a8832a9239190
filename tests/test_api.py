"""refalign.similarity / classify / embed_* against transformers' zero-shot pipeline, and their error handling."""
from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

import refalign
from refalign import AlignModel
from refalign.errors import ImageLoadError, RefalignError, WeightsNotFoundError

LABELS = ["a photo of a cat", "a cup of coffee", "an astronaut", "a rocket on the launch pad"]


@pytest.fixture(scope="module")
def test_images(tmp_path_factory, photos):
    """Real photos saved the ways users hand them in: an EXIF-rotated JPEG (orientation 6: stored sideways), an RGBA
    PNG with a real alpha channel, a plain RGB PNG, a grayscale PNG."""
    d = tmp_path_factory.mktemp("api-images")
    cat = Image.open(photos["chelsea"]).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6                       # rotate 90° CW to display: stored pixels are the upright image turned
    cat.transpose(Image.Transpose.ROTATE_90).save(d / "cat_exif6.jpg", exif=exif, quality=92)
    coffee = Image.open(photos["coffee"]).convert("RGBA")
    alpha = np.linspace(40, 255, coffee.width, dtype=np.uint8)[None, :].repeat(coffee.height, 0)
    coffee.putalpha(Image.fromarray(alpha))
    coffee.save(d / "coffee_rgba.png")
    Image.open(photos["astronaut"]).save(d / "astronaut.png")
    Image.open(photos["camera"]).save(d / "camera_gray.png")
    return {p.stem: str(p) for p in d.iterdir()}


@pytest.mark.slow
def test_similarity_matches_transformers_pipeline(torch, full_dir, test_images):
    """Same probabilities as transformers' zero-shot pipeline (load_image: EXIF + RGB; PIL processor; softmax), on
    the full-size checkpoint. The pipeline pads to the longest text and refalign to 64: masked positions change
    nothing but rounding."""
    from transformers import pipeline
    pipe = pipeline("zero-shot-image-classification", model=full_dir, device="cpu")
    assert "Pil" in type(pipe.image_processor).__name__, type(pipe.image_processor).__name__
    model = AlignModel.from_pretrained(full_dir)
    for name, path in sorted(test_images.items()):
        ref = {r["label"]: r["score"] for r in pipe(path, candidate_labels=LABELS, hypothesis_template="{}")}
        ours = refalign.similarity(path, LABELS, model=model)
        want = np.array([ref[label] for label in LABELS])
        print(name, np.round(ours, 4), np.abs(ours - want).max())
        assert np.abs(ours - want).max() <= 1e-4, name
        assert abs(ours.sum() - 1) < 1e-5


def test_similarity_accepts_every_image_form(tiny_dir, photos):
    path = photos["chelsea"]
    data = open(path, "rb").read()
    pil = Image.open(path)
    arr = np.asarray(pil.convert("RGB"))
    results = [refalign.similarity(x, LABELS, model=tiny_dir) for x in (path, data, io.BytesIO(data), pil, arr)]
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-6)
    many = refalign.similarity([path, photos["coffee"]], LABELS, model="tiny")
    assert many.shape == (2, len(LABELS))
    np.testing.assert_allclose(many[0], results[0], rtol=1e-5)


def test_classify_uses_the_pipeline_template(tiny_dir, photos):
    labels = ["cat", "dog", "coffee"]
    ranked = refalign.classify(photos["chelsea"], labels, model=tiny_dir)
    probs = refalign.similarity(photos["chelsea"], [f"This is a photo of {x}." for x in labels], model=tiny_dir)
    assert [r["label"] for r in ranked] == [labels[i] for i in np.argsort(-probs, kind="stable")]
    np.testing.assert_allclose(sorted((r["score"] for r in ranked), reverse=True), sorted(probs, reverse=True))
    assert len(refalign.classify([photos["chelsea"], photos["coffee"]], labels, model=tiny_dir)) == 2
    with pytest.raises(ValueError, match="template"):
        refalign.classify(photos["chelsea"], labels, template="no placeholder", model=tiny_dir)


def test_embed_in_batches_equals_one_call(tiny_dir, photos):
    items = [photos[k] for k in ("chelsea", "coffee", "astronaut", "rocket", "camera")]
    a = refalign.embed_images(items, batch_size=2, model=tiny_dir, progress=False)
    b = refalign.embed_images(items, batch_size=5, model=tiny_dir, progress=False)
    assert a.shape == (5, 48)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, rtol=1e-5)
    texts = ["a cat", "a cup of coffee", "une fusée", "宇宙飛行士"]
    ta = refalign.embed_texts(texts, batch_size=3, model=tiny_dir, progress=False)
    tb = refalign.embed_texts(texts, batch_size=1, model=tiny_dir, progress=False)
    np.testing.assert_allclose(ta, tb, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        refalign.embed_texts(texts, batch_size=0, model=tiny_dir)


def test_threads_give_serial_results(tiny_dir, photos):
    """Four threads calling similarity at once give exactly the serial results."""
    jobs = [(photos[k], LABELS) for k in ("chelsea", "coffee", "astronaut", "rocket")] * 2
    serial = [refalign.similarity(img, texts, model=tiny_dir) for img, texts in jobs]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i):
        try:
            results[i] = refalign.similarity(*jobs[i], model=tiny_dir)
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    for i, want in enumerate(serial):
        np.testing.assert_array_equal(results[i], want)


def test_models_are_cached_per_process(tiny_dir):
    a, _ = refalign.api.load(tiny_dir)
    b, _ = refalign.api.load("tiny")
    assert a is b


def test_bad_inputs(tiny_dir, tmp_path, photos):
    with pytest.raises((FileNotFoundError, ImageLoadError), match="no_such.jpg"):
        refalign.similarity(str(tmp_path / "no_such.jpg"), LABELS, model=tiny_dir)
    notimg = tmp_path / "notes.jpg"
    notimg.write_text("this is not an image")
    with pytest.raises(ImageLoadError, match="notes.jpg"):
        refalign.similarity(str(notimg), LABELS, model=tiny_dir)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(open(photos["rocket"], "rb").read()[:3000])
    with pytest.raises(ImageLoadError, match="truncated.jpg"):
        refalign.similarity(str(truncated), LABELS, model=tiny_dir)
    with pytest.raises(ValueError, match="empty"):
        refalign.similarity(photos["chelsea"], [], model=tiny_dir)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        refalign.similarity(photos["chelsea"], ["a cat", 3], model=tiny_dir)
    with pytest.raises(TypeError, match="texts"):
        refalign.similarity(photos["chelsea"], {"a": 1}, model=tiny_dir)
    with pytest.raises(TypeError, match="model"):
        refalign.similarity(photos["chelsea"], ["a"], model=3.5)


def test_no_default_weights_message(monkeypatch, tmp_path):
    """With nothing installed the error says how to get the weights and that model="tiny" is a smoke run."""
    monkeypatch.delenv("REFALIGN_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import refalign.loading.hub as hub
    try:
        hub.resolve_weights(None)
    except WeightsNotFoundError as e:
        msg = str(e)
        assert "tiny" in msg and "fetch" in msg
    else:   # a developer machine with weights/align-base present
        pytest.skip(reason="weights/align-base exists on this machine, so the default resolution succeeds")
    with pytest.raises(RefalignError):
        refalign.similarity(np.zeros((8, 8, 3), np.uint8), ["a"], model=str(tmp_path / "nowhere"))


def _vm_rss_bytes() -> int:
    with open("/proc/self/status") as f:
        return 1024 * int(next(line.split()[1] for line in f if line.startswith("VmRSS:")))


@pytest.mark.slow
def test_low_memory_releases_each_tower_and_changes_nothing(full_dir, photos):
    """low_memory (the CLI's one-shot mode) drops a tower's memory-mapped weight pages once the tower has run: the
    resident set shrinks by about the tower's weights, a later call reads them back from the file, and every score
    stays bit-identical."""
    model = AlignModel.from_pretrained(full_dir)
    image, texts = photos["chelsea"], LABELS
    before = refalign.similarity_scores(image, texts, model=model)
    rss = _vm_rss_bytes()
    released = model.release_weight_pages("text")
    assert released > 300e6                                   # BERT-base's layers (the embeddings only in part)
    assert rss - _vm_rss_bytes() > 250e6                      # the resident set really lost the used pages
    low = refalign.similarity_scores(image, texts, model=model, low_memory=True)
    again = refalign.similarity_scores(image, texts, model=model)
    for scores in (low, again):
        for key in before:
            np.testing.assert_array_equal(scores[key], before[key])


def test_release_weight_pages_skips_copies_and_names_bad_towers(tiny_dir):
    model = AlignModel.from_pretrained(tiny_dir, dtype=np.float64)   # float64: converted copies, not the file's pages
    assert model.release_weight_pages("vision") == 0
    with pytest.raises(ValueError, match="tower must be one of"):
        model.release_weight_pages("audio")
    f32 = AlignModel.from_pretrained(tiny_dir)
    ids = np.array([[101, 1037, 2417, 4418, 102]])
    first = f32.get_text_features(ids)
    assert f32.release_weight_pages("text") > 0
    np.testing.assert_array_equal(f32.get_text_features(ids), first)
