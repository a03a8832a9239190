"""Noise-calibrated goldens (refalign.noise) and `compare --plot` (refalign.golden_plot), on the bundled tiny
checkpoint (no torch needed). The full-size checks against transformers' float32 outputs, per family, are
test_noise_calibrated_golden_catches_a_small_shift in test_model.py, test_vtde_model.py and test_altclip_model.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import refalign
import shapes   # tools/ (tests/conftest.py puts it on sys.path)
from refalign.golden import GoldenFileError, compare, make_golden, read_golden, write_golden
from refalign.noise import NOISE_FLOOR, NOISE_MULTIPLE, noise_budget, read_noise


@pytest.fixture(scope="module")
def golden64(tmp_path_factory, photos):
    out = tmp_path_factory.mktemp("noise") / "g64.safetensors"
    make_golden("tiny", [photos["chelsea"], photos["coffee"]], ["a photo of a cat", "une tasse de café"], out,
                dtype="float64")
    return str(out)


@pytest.fixture(scope="module")
def refalign32(golden64):
    """refalign's float32 forward on the golden's own inputs, under the golden names."""
    golden, _ = read_golden(golden64)
    model = refalign.AutoModel.from_pretrained("tiny", dtype=np.float32)
    inputs = {n.split(".", 1)[1]: golden[n] for n in model.golden.inputs}
    inputs["pixel_values"] = inputs["pixel_values"].astype(np.float32)
    out = model(**inputs, return_loss=True, output_hidden_states=True)
    feats = model.get_text_features(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    return model.golden_tensors(out, feats, inputs, np.dtype(np.float32))


def test_float64_golden_records_its_float32_noise(golden64):
    golden, meta = read_golden(golden64)
    noise = read_noise(meta)
    doc = json.loads(meta["noise"])
    assert doc["multiple"] == NOISE_MULTIPLE and "float32" in doc["method"]
    outputs = {n for n, g in golden.items() if g.dtype.kind == "f" and not n.startswith("inputs.")}
    assert set(noise) == outputs
    assert all(0 <= n <= 1e-4 * s for n, s in noise.values())           # float32 rounding, not garbage
    assert sum(n > 0 for n, _ in noise.values()) >= len(noise) - 2        # measured, not zeros
    for name, (n, s) in noise.items():
        scale = float(np.abs(golden[name]).max())
        if name == "loss":                                                 # the logits set the loss's rounding
            scale = max(scale, float(np.abs(golden["logits_per_text"]).max()))
        assert s == pytest.approx(scale)
    tol = json.loads(meta["tolerances"])
    for name, (n, s) in noise.items():                                     # float32 budgets follow the noise
        assert tol["float32"][name] == [noise_budget(n, s), 0.0]
        assert tol["float64"][name][1] == 1e-9                             # float64 ones do not



def test_float32_goldens_carry_no_noise_figures(photos, tmp_path):
    out = make_golden("tiny", [photos["chelsea"]], ["a cat"], tmp_path / "g32.safetensors", dtype="float32")
    _, meta = read_golden(out)
    assert "noise" not in meta and json.loads(meta["tolerances"])["float32"]["text_embeds"][1] == 1e-4


def test_refalign_float32_is_exactly_one_noise(golden64, refalign32):
    """The noise figure is refalign's own float32 deviation, so refalign's float32 dump uses 1/multiple of every
    budget (exactly where the floor does not apply)."""
    result = compare(golden64, refalign32)
    assert result.ok, result.format()
    values = [r for r in result.reports if not math.isnan(r.noise)]
    assert max(r.times_noise for r in values) == pytest.approx(1.0)
    assert max(r.budget_used for r in values) == pytest.approx(1 / NOISE_MULTIPLE)
    table = result.format()
    assert "x noise" in table.splitlines()[2] and "1x" in table


def test_a_small_shift_fails_where_the_flat_budget_passed(golden64, refalign32):
    golden, meta = read_golden(golden64)
    name = "text.hidden_states.01"
    bad = dict(refalign32)
    bad[name] = (bad[name].astype(np.float64) * (1 + 3e-5)).astype(np.float32)
    result = compare(golden64, bad)
    assert not result.ok and result.first_failure == name
    report = next(r for r in result.reports if r.name == name)
    assert report.times_noise > NOISE_MULTIPLE
    flat = compare((golden, {k: v for k, v in meta.items() if k not in ("noise", "tolerances")}), bad)
    assert flat.ok                                                         # today's flat 1e-4 misses it
    assert compare(golden64, bad, atol=1e-2, rtol=0).ok                    # --atol/--rtol still override


def test_goldens_without_noise_keep_the_flat_budgets(refalign32, tmp_path):
    from refalign.golden import suggested_tolerance
    golden, meta = read_golden("tests/golden/tiny-float64.safetensors")   # written by transformers, no noise
    assert "noise" not in meta
    result = compare((golden, meta), {k: v for k, v in golden.items()})
    assert result.ok and all(math.isnan(r.noise) for r in result.reports)
    assert "x noise" not in result.format()
    g = golden["text.hidden_states.01"]
    assert suggested_tolerance(g, "float64", "float32") == (1e-4 * float(np.abs(g).max()), 1e-4)


def test_floor_keeps_budgets_above_zero():
    assert noise_budget(0.0, 2.0) == NOISE_MULTIPLE * NOISE_FLOOR * 2.0 > 0


def test_bad_noise_metadata_is_named(golden64, refalign32, tmp_path):
    golden, meta = read_golden(golden64)
    path = tmp_path / "bad.safetensors"
    write_golden(path, golden, {**meta, "noise": "{not json"})
    with pytest.raises(GoldenFileError, match="noise"):
        compare(str(path), refalign32)


def test_plot_draws_one_point_per_tensor_in_forward_order(golden64, refalign32, tmp_path, capsys):
    from refalign.cli import main
    from refalign.golden_plot import plot_compare, plotted_reports
    from safetensors.numpy import save_file
    bad = dict(refalign32)
    bad["vision.hidden_states.03"] = (bad["vision.hidden_states.03"] * np.float32(1 + 1e-4)).astype(np.float32)
    result = compare(golden64, bad)
    names = [r.name for r in plotted_reports(result)]
    golden, _ = read_golden(golden64)
    assert names == list(golden)                                           # the golden's forward order, all of it
    png = tmp_path / "errors.png"
    assert plot_compare(result, png) == str(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    dump = tmp_path / "dump.safetensors"
    save_file(bad, str(dump))
    plot2 = tmp_path / "cli.png"
    assert main(["compare", golden64, str(dump), "--plot", str(plot2)]) == 1
    out = capsys.readouterr().out
    assert "vision.hidden_states.03" in out and f"plot: {plot2}" in out and plot2.is_file()
    assert main(["compare", golden64, str(dump), "--plot", str(tmp_path / "x.jpg")]) == 2
    assert ".png" in capsys.readouterr().err


def test_a_confident_models_loss_gets_a_budget_scaled_by_its_logits(tmp_path):
    """tiny-vtde is trained on shapes, so on its own task its CLIP loss (no label smoothing) is near 0, where
    float32's rounding is set by the logits (log-sum-exp of values ~|logits| carries ~eps * |logits|), not by the
    loss. A float32 port that computes the same loss another correct way (log of the float32 softmax) must pass."""
    rng = np.random.default_rng([11, 1])
    classes = [("red", "circle"), ("blue", "triangle"), ("green", "square")]
    images = [shapes.render(c, s, rng, "test") for c, s in classes]
    out = make_golden("tiny-vtde", images, [shapes.caption(c, s) for c, s in classes], tmp_path / "g.safetensors",
                      dtype="float64")
    golden, meta = read_golden(out)
    logits = golden["logits_per_text"]
    assert float(golden["loss"]) < 1e-3 * np.abs(logits).max()             # confident: the loss is tiny
    model = refalign.AutoModel.from_pretrained("tiny-vtde", dtype=np.float32)
    inputs = {n.split(".", 1)[1]: golden[n] for n in model.golden.inputs}
    inputs["pixel_values"] = inputs["pixel_values"].astype(np.float32)
    port = model(**inputs, return_loss=True, output_hidden_states=True)
    tensors = model.golden_tensors(port, None, inputs, np.dtype(np.float32))
    lpt = tensors["logits_per_text"]

    def cross_entropy(x):   # the diagonal as targets, float32 throughout
        e = np.exp(x - x.max(1, keepdims=True))
        return -np.log(e / e.sum(1, keepdims=True))[np.arange(len(x)), np.arange(len(x))].mean()
    tensors["loss"] = np.asarray((cross_entropy(lpt) + cross_entropy(lpt.T)) / 2, dtype=np.float32)
    result = compare((golden, meta), tensors)
    assert result.ok, result.format()
    atol = json.loads(meta["tolerances"])["float32"]["loss"][0]
    assert atol >= NOISE_MULTIPLE * NOISE_FLOOR * np.abs(logits).max()
