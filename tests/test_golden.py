"""Golden files: names and order, write/read, the comparison report, bad files, the committed goldens (their
regeneration from transformers, their internal consistency) and refalign's own outputs against them."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from refalign.errors import RefalignError
from refalign.golden import (GOLDEN_FORMAT, TOLERANCE_LEVEL, GoldenFileError, compare, compare_main, read_golden,
                             suggested_tolerance, write_golden)
from refalign.models.align import INPUT_NAMES, INTEGER_NAMES, golden_names, tensors_from_outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN_DIR = os.path.join(ROOT, "tests", "golden")
GOLDEN = {dt: os.path.join(GOLDEN_DIR, f"tiny-{dt}.safetensors") for dt in ("float64", "float32")}
REQUIRED_METADATA = ("format", "order", "producer", "dtype", "weights", "weights_sha256", "config", "preprocessing",
                     "inputs", "seed", "tolerances")


@pytest.fixture(scope="module")
def golden32():
    return read_golden(GOLDEN["float32"])


@pytest.fixture(scope="module")
def golden64():
    return read_golden(GOLDEN["float64"])


def copy_tensors(tensors):
    return {k: v.copy() for k, v in tensors.items()}


def tiny_config():
    with open(os.path.join(ROOT, "weights", "tiny", "config.json"), encoding="utf-8") as f:
        return json.load(f)


def n_vision_blocks(vc: dict) -> int:
    import math
    return sum(math.ceil(vc["depth_coefficient"] * r) for r in vc["num_block_repeats"])


# ----------------------------------------------------------------------------------------------- names
def test_golden_names_are_in_forward_order():
    names = golden_names(2, 9, with_loss=True)
    assert names[:4] == INPUT_NAMES
    assert len(names) == len(set(names))
    text = [n for n in names if n.startswith("text.hidden_states.")]
    vision = [n for n in names if n.startswith("vision.hidden_states.")]
    assert text == [f"text.hidden_states.{i:02d}" for i in range(3)]          # embeddings + 2 layers, 2 digits
    assert vision == [f"vision.hidden_states.{i:02d}" for i in range(10)]     # stem + 9 blocks
    pos = {n: i for i, n in enumerate(names)}
    # the stages follow each other: inputs < text layers < text outputs < vision blocks < vision outputs < head
    chain = ["inputs.pixel_values", "text.hidden_states.00", "text.hidden_states.02", "text.last_hidden_state",
             "text.text_features", "vision.hidden_states.00", "vision.hidden_states.09", "vision.last_hidden_state",
             "vision.image_features", "text_embeds", "image_embeds", "logits_per_text", "logits_per_image", "loss"]
    assert [pos[n] for n in chain] == sorted(pos[n] for n in chain)
    assert names[-1] == "loss"
    assert "loss" not in golden_names(2, 9, with_loss=False)
    base = golden_names(12, 55, True)                                          # align-base: 13 text, 56 vision
    assert base[base.index("vision.last_hidden_state") - 1] == "vision.hidden_states.55"
    assert base[base.index("text.last_hidden_state") - 1] == "text.hidden_states.12"
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="num_text_layers"):
            golden_names(bad, 9, True)


# ----------------------------------------------------------------------------------------------- write / read
def test_write_read_round_trip(tmp_path, golden32):
    tensors, meta = golden32
    shuffled = dict(reversed(list(tensors.items())))                           # order must not matter on input
    metadata = {"producer": "test", "inputs": {"texts": ["Une tasse de café ☕"]}, "seed": 7}
    path = tmp_path / "g.safetensors"
    write_golden(path, shuffled, metadata)
    back, back_meta = read_golden(path)
    assert list(back) == list(tensors)                                         # forward order restored
    assert json.loads(back_meta["order"]) == list(tensors)
    for name in tensors:
        assert back[name].dtype == tensors[name].dtype, name
        np.testing.assert_array_equal(back[name], tensors[name], err_msg=name)
    assert back_meta["format"] == GOLDEN_FORMAT
    assert back_meta["dtype"] == "float32"
    assert json.loads(back_meta["inputs"]) == metadata["inputs"]               # non-str metadata JSON-encoded
    assert back_meta["seed"] == "7"
    assert back["loss"].shape == ()


def test_write_golden_rejects_bad_tensors(tmp_path, golden32):
    tensors, _ = golden32
    path = tmp_path / "g.safetensors"
    cases = {
        "unknown": ({**tensors, "text.hidden_state.01": tensors["text.hidden_states.01"]}, "text.hidden_state.01"),
        "missing": ({k: v for k, v in tensors.items() if k != "vision.hidden_states.03"}, "vision.hidden_states.03"),
        "float ids": ({**tensors, "inputs.input_ids": tensors["inputs.input_ids"].astype(np.float32)},
                      "inputs.input_ids"),
        "nan": ({**tensors, "text_embeds": np.full_like(tensors["text_embeds"], np.nan)}, "text_embeds"),
        "mixed": ({**tensors, "image_embeds": tensors["image_embeds"].astype(np.float64)}, "mix"),
        "loss shape": ({**tensors, "loss": tensors["loss"].reshape(1)}, "loss"),
        "logits shape": ({**tensors, "logits_per_image": tensors["logits_per_image"][:2]}, "logits_per_image"),
    }
    for case, (bad, needle) in cases.items():
        with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
            write_golden(path, bad, {"producer": "test"})
        assert not path.exists(), case
    with pytest.raises(ValueError, match="producer"):
        write_golden(path, tensors, {})
    with pytest.raises(ValueError, match="loss"):                              # loss needs B_t == B_i
        t2 = {**tensors, **{n: tensors[n][:2] for n in ("inputs.input_ids", "inputs.attention_mask",
                                                         "inputs.token_type_ids")},
              "logits_per_text": tensors["logits_per_text"][:2], "logits_per_image": tensors["logits_per_image"][:, :2]}
        write_golden(path, t2, {"producer": "test"})


# ----------------------------------------------------------------------------------------------- compare
def test_compare_with_itself_passes(golden32):
    result = compare(GOLDEN["float32"], GOLDEN["float32"])
    assert result.ok and result.first_failure is None
    assert [r.name for r in result.reports] == list(golden32[0])
    assert all(r.status == "OK" and r.budget_used == 0 and r.max_abs == 0 for r in result.reports)
    assert result.format().splitlines()[-1].startswith("PASS")


def test_one_perturbed_intermediate_is_named_first(golden32):
    tensors, meta = golden32
    name, later = "vision.hidden_states.04", "vision.hidden_states.07"
    atol, rtol = json.loads(meta["tolerances"])["float32"][name]
    cand = copy_tensors(tensors)
    idx = (1, 5, 3, 2)
    g = float(tensors[name][idx])
    cand[name][idx] = g + 10 * (atol + rtol * abs(g))                          # 10x its tolerance
    cand[later] = cand[later] * np.float32(1.01)                               # a later one is off too
    result = compare(GOLDEN["float32"], cand)
    assert not result.ok
    assert result.first_failure == name                                       # the earliest, not the later one
    by_name = {r.name: r for r in result.reports}
    bad = by_name[name]
    assert bad.status == "NOT OK" and bad.where == idx
    assert bad.budget_used == pytest.approx(10, rel=1e-3)
    assert bad.max_abs == pytest.approx(10 * (atol + rtol * abs(g)), rel=1e-3)
    assert by_name[later].status == "NOT OK"
    names = list(tensors)
    assert all(by_name[n].status == "OK" for n in names[:names.index(name)])   # everything before is fine
    text = result.format()
    assert f"first in forward order: {name}" in text.splitlines()[-1]
    assert any(line.startswith("NOT OK") and name in line and "(1,5,3,2)" in line for line in text.splitlines())


def test_budget_used_measures_share_of_tolerance(golden32):
    tensors, meta = golden32
    name = "text.hidden_states.01"
    atol, rtol = json.loads(meta["tolerances"])["float32"][name]
    cand = copy_tensors(tensors)
    g = cand[name].astype(np.float64)
    cand[name] = (g + 0.5 * (atol + rtol * np.abs(g))).astype(np.float32)     # half the tolerance everywhere
    report = next(r for r in compare(GOLDEN["float32"], cand).reports if r.name == name)
    assert report.status == "OK"
    assert report.budget_used == pytest.approx(0.5, abs=0.01)                  # float32 rounding of the candidate
    explicit = next(r for r in compare(GOLDEN["float32"], cand, atol=atol / 4, rtol=0).reports if r.name == name)
    assert explicit.status == "NOT OK" and explicit.atol == atol / 4 and explicit.rtol == 0


def test_integer_inputs_are_compared_exactly(golden32):
    tensors, _ = golden32
    cand = copy_tensors(tensors)
    cand["inputs.input_ids"][2, 3] += 1
    result = compare(GOLDEN["float32"], cand, atol=1e3, rtol=1e3)              # loose floats don't loosen ids
    assert result.first_failure == "inputs.input_ids"
    report = result.reports[0]
    assert report.atol == 0 and report.rtol == 0 and report.where == (2, 3) and report.max_abs == 1


def test_shape_dtype_missing_extra(golden32):
    tensors, _ = golden32
    cand = copy_tensors(tensors)
    cand["text.hidden_states.01"] = cand["text.hidden_states.01"][:, :32]     # SHAPE
    cand["inputs.attention_mask"] = cand["inputs.attention_mask"].astype(np.int32)  # DTYPE (strict)
    cand["image_embeds"] = cand["image_embeds"].astype(np.float64)             # DTYPE: an accidental upcast
    del cand["vision.hidden_states.05"]                                         # MISSING
    cand["text.attentions.00"] = np.zeros((3, 4, 64, 64), np.float32)           # EXTRA
    result = compare(GOLDEN["float32"], cand)
    status = {r.name: r for r in result.reports}
    assert status["text.hidden_states.01"].status == "SHAPE"
    assert "(3, 32, 32)" in status["text.hidden_states.01"].message
    assert status["inputs.attention_mask"].status == "DTYPE" and "int32" in status["inputs.attention_mask"].message
    assert status["image_embeds"].status == "DTYPE" and "float64" in status["image_embeds"].message
    assert status["vision.hidden_states.05"].status == "MISSING"
    assert status["text.attentions.00"].status == "EXTRA" and not status["text.attentions.00"].failed
    assert result.first_failure == "inputs.attention_mask"
    failed = [r.name for r in result.reports if r.failed]
    assert failed == ["inputs.attention_mask", "text.hidden_states.01", "vision.hidden_states.05", "image_embeds"]
    # the options: dtype mismatches compared by value (and pass: the values are the same), a partial dump passes
    del cand["text.hidden_states.01"]
    relaxed = compare(GOLDEN["float32"], cand, allow_dtype_mismatch=True, allow_missing=True)
    assert relaxed.ok, relaxed.format()
    assert {r.name: r.status for r in relaxed.reports}["image_embeds"] == "OK"
    assert "compared anyway" in {r.name: r for r in relaxed.reports}["image_embeds"].message


def test_nan_in_candidate_fails(golden32):
    cand = copy_tensors(golden32[0])
    cand["text_embeds"][1, 7] = np.nan
    result = compare(GOLDEN["float32"], cand)
    report = {r.name: r for r in result.reports}["text_embeds"]
    assert report.status == "NOT OK" and report.where == (1, 7) and np.isinf(report.budget_used)


def test_candidate_files_npz_and_plain_safetensors(tmp_path, golden32):
    tensors, _ = golden32
    npz = tmp_path / "dump.npz"
    np.savez(npz, **tensors)
    st = tmp_path / "dump.safetensors"
    save_file(tensors, str(st))                                                # no metadata: a plain dump
    for cand in (npz, st, str(npz)):
        assert compare(GOLDEN["float32"], cand).ok
    bad = copy_tensors(tensors)
    bad["logits_per_image"] = bad["logits_per_image"] + np.float32(1.0)
    np.savez(npz, **bad)
    assert compare(GOLDEN["float32"], npz).first_failure == "logits_per_image"


def test_compare_main_prints_and_returns_exit_code(tmp_path, golden32, capsys):
    assert compare_main(GOLDEN["float32"], GOLDEN["float32"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "vision.hidden_states.09" in out
    bad = copy_tensors(golden32[0])
    bad["text.text_features"] = bad["text.text_features"] * np.float32(1.001)
    path = tmp_path / "bad.npz"
    np.savez(path, **bad)
    assert compare_main(GOLDEN["float32"], path) == 1
    assert "first in forward order: text.text_features" in capsys.readouterr().out


def test_float32_transformers_within_suggested_tolerance_of_float64_golden():
    """transformers in float32 vs transformers in float64: the suggested float32 tolerances hold with margin."""
    result = compare(GOLDEN["float64"], GOLDEN["float32"])
    assert result.ok, result.format()
    worst = max(r.budget_used for r in result.reports)
    assert 0 < worst < 0.25, result.format()                   # float32 error is visible, and well inside the budget
    # the float64 golden is really float64: at the float64 level the float32 file fails
    strict = compare(GOLDEN["float64"], GOLDEN["float32"], allow_dtype_mismatch=True, atol=0,
                     rtol=TOLERANCE_LEVEL["float64"])
    assert strict.first_failure == "text.hidden_states.00"


def test_suggested_tolerance_takes_the_less_precise_dtype():
    g = np.array([[-3.0, 0.5]])
    assert suggested_tolerance(g, "float64", "float64") == pytest.approx((3e-9, 1e-9))
    assert suggested_tolerance(g, "float64", "float32") == suggested_tolerance(g, "float32", "float64") \
        == pytest.approx((3e-4, 1e-4))
    assert suggested_tolerance(np.array([1, 2]), "float64", "float64") == (0.0, 0.0)


# ----------------------------------------------------------------------------------------------- bad files
def test_bad_golden_files(tmp_path, golden32):
    tensors, meta = golden32
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(GoldenFileError, match="nope.safetensors"):
        read_golden(missing)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello, not a tensor file")
    with pytest.raises(GoldenFileError, match="notes.safetensors.*not a readable safetensors"):
        read_golden(text)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": np.zeros(3, np.float32)}, str(plain))
    with pytest.raises(GoldenFileError, match="plain.safetensors.*no 'format'"):
        read_golden(plain)
    future = tmp_path / "future.safetensors"
    save_file(tensors, str(future), metadata={**meta, "format": "refalign-golden/2"})
    with pytest.raises(GoldenFileError, match="future.safetensors.*refalign-golden/2.*regenerate"):
        read_golden(future)
    reordered = tmp_path / "order.safetensors"
    save_file(tensors, str(reordered), metadata={**meta, "order": json.dumps(list(tensors)[:-1])})
    with pytest.raises(GoldenFileError, match="order.safetensors.*'order'"):
        read_golden(reordered)
    truncated = tmp_path / "truncated.safetensors"
    data = open(GOLDEN["float32"], "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(GoldenFileError, match="truncated.safetensors"):
        read_golden(truncated)
    with pytest.raises(GoldenFileError, match="a directory"):
        read_golden(tmp_path)
    assert issubclass(GoldenFileError, RefalignError)


def test_bad_candidate_files(tmp_path):
    with pytest.raises(GoldenFileError, match="gone.npz"):
        compare(GOLDEN["float32"], tmp_path / "gone.npz")
    other = tmp_path / "dump.pt"
    other.write_bytes(b"\x80\x02")
    with pytest.raises(GoldenFileError, match=r"dump\.pt.*\.safetensors or \.npz"):
        compare(GOLDEN["float32"], other)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(GoldenFileError, match="broken.npz"):
        compare(GOLDEN["float32"], broken)
    with pytest.raises(TypeError, match="candidate"):
        compare(GOLDEN["float32"], 42)
    with pytest.raises(ValueError, match="atol"):
        compare(GOLDEN["float32"], GOLDEN["float32"], atol=-1.0)


# ----------------------------------------------------------------------------------------------- committed goldens
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_committed_golden_is_complete_and_small(dtype):
    tensors, meta = read_golden(GOLDEN[dtype])
    assert os.path.getsize(GOLDEN[dtype]) < 5_000_000
    for key in REQUIRED_METADATA:
        assert key in meta, key
    cfg = tiny_config()
    assert json.loads(meta["config"]) == cfg
    assert list(tensors) == golden_names(cfg["text_config"]["num_hidden_layers"], n_vision_blocks(cfg["vision_config"]),
                                         with_loss=True)
    assert meta["dtype"] == dtype and meta["producer"].startswith("transformers ")
    prep = json.loads(meta["preprocessing"])
    assert prep["image_processor_backend"] == "EfficientNetImageProcessorPil"
    assert prep["padding"] == "max_length" and prep["max_length"] == 64
    for name, arr in tensors.items():
        assert arr.dtype == (np.int64 if name in INTEGER_NAMES else np.dtype(dtype)), name
    tol = json.loads(meta["tolerances"])
    assert set(tol) == {"float32", "float64"} and set(tol["float64"]) == set(tensors)
    texts = json.loads(meta["inputs"])["texts"]
    assert any(any(ord(ch) > 127 for ch in t) for t in texts)                  # non-ASCII captions included


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_committed_golden_is_self_consistent(dtype, tiny_dir):
    """The named tensors are what the format says they are (recomputed here from neighbours and the weights)."""
    t, _ = read_golden(GOLDEN[dtype])
    w = load_file(os.path.join(tiny_dir, "model.safetensors"))
    f = np.float64
    rtol = {"float64": 1e-12, "float32": 1e-5}[dtype]                           # recomputation rounding only

    def close(a, b, name):
        np.testing.assert_allclose(np.asarray(a, f), np.asarray(b, f), rtol=rtol, atol=rtol * np.abs(b).max(),
                                   err_msg=name)

    ids = t["inputs.input_ids"]
    vocab = open(os.path.join(tiny_dir, "vocab.txt"), encoding="utf-8").read().split("\n")
    assert (ids[:, 0] == vocab.index("[CLS]")).all()
    np.testing.assert_array_equal(t["inputs.attention_mask"], (ids != vocab.index("[PAD]")).astype(np.int64))
    assert not t["inputs.token_type_ids"].any()
    px = t["inputs.pixel_values"]
    assert px.min() >= -1 and px.max() <= 1
    np.testing.assert_array_equal(px.astype(np.float32).astype(px.dtype), px)  # processor output is float32
    n_text = len([n for n in t if n.startswith("text.hidden_states.")])
    n_vis = len([n for n in t if n.startswith("vision.hidden_states.")])
    np.testing.assert_array_equal(t["text.last_hidden_state"], t[f"text.hidden_states.{n_text - 1:02d}"])
    np.testing.assert_array_equal(t["vision.last_hidden_state"], t[f"vision.hidden_states.{n_vis - 1:02d}"])
    cls = t["text.last_hidden_state"][:, 0].astype(f)
    close(t["text.text_features"], cls @ w["text_projection.weight"].astype(f).T + w["text_projection.bias"],
          "text.text_features")
    close(t["vision.image_features"], t["vision.last_hidden_state"].astype(f).mean(axis=(2, 3)),
          "vision.image_features")
    te = t["text.text_features"].astype(f)
    ie = t["vision.image_features"].astype(f)
    te, ie = te / np.linalg.norm(te, axis=1, keepdims=True), ie / np.linalg.norm(ie, axis=1, keepdims=True)
    close(t["text_embeds"], te, "text_embeds")
    close(t["image_embeds"], ie, "image_embeds")
    logits = te @ ie.T / float(w["temperature"])
    close(t["logits_per_text"], logits, "logits_per_text")
    np.testing.assert_array_equal(t["logits_per_image"], t["logits_per_text"].T)

    def smoothed_ce(x, eps=0.1):  # torch's cross_entropy with label_smoothing, targets 0..n-1
        logp = x - x.max(1, keepdims=True)
        logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
        n = len(x)
        return np.mean(-(1 - eps) * logp[np.arange(n), np.arange(n)] - eps * logp.mean(1))
    close(t["loss"], (smoothed_ce(logits) + smoothed_ce(logits.T)) / 2, "loss")


@pytest.fixture(scope="module")
def regenerated(torch, tmp_path_factory):
    """The goldens regenerated from transformers by tools/make_goldens.py (once for the tests below)."""
    import make_goldens
    out = str(tmp_path_factory.mktemp("regenerated"))
    make_goldens.generate(out)
    return out


def test_committed_goldens_regenerate_identically(regenerated):
    import make_goldens
    ok, report = make_goldens.check(GOLDEN_DIR, regenerated_dir=regenerated)
    assert ok, report
    assert report.count("PASS: all 26 compared tensors") == 2, report          # ALIGN's tiny, float64 + float32
    assert report.count("PASS: all 20 compared tensors") == 4, report  # tiny-altclip, tiny-vtde: float64 + float32


def test_check_detects_a_changed_golden(regenerated, tmp_path):
    """The --check logic fails when a committed file differs (else the regeneration test could not fail)."""
    import make_goldens
    for name in os.listdir(GOLDEN_DIR):
        if name.endswith(".safetensors"):
            shutil.copy(os.path.join(GOLDEN_DIR, name), tmp_path / name)
    tensors, meta = read_golden(GOLDEN["float32"])
    tensors["vision.hidden_states.02"] = tensors["vision.hidden_states.02"] * np.float32(1 + 1e-5)
    write_golden(tmp_path / "tiny-float32.safetensors", tensors, meta)
    ok, report = make_goldens.check(str(tmp_path), regenerated_dir=regenerated)
    assert not ok
    assert "first in forward order: vision.hidden_states.02" in report
    meta_changed = {**meta, "inputs": {"images": ["chelsea.png"], "texts": ["a photo of a dog"]}}
    write_golden(tmp_path / "tiny-float32.safetensors", read_golden(GOLDEN["float32"])[0], meta_changed)
    ok, report = make_goldens.check(str(tmp_path), regenerated_dir=regenerated)
    assert not ok and "metadata 'inputs' differs" in report


# ----------------------------------------------------------------------------------------------- refalign itself
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refalign_model_matches_transformers_goldens(dtype, tiny_dir):
    """refalign's AlignModel on the golden's own inputs (tokens, pixels) against transformers' intermediates, at
    the suggested tolerances: float64 1e-9, float32 1e-4 (relative; atol 1e-9/1e-4 of each tensor's max)."""
    from refalign.models.align import AlignModel
    golden, meta = read_golden(GOLDEN[dtype])
    model = AlignModel.from_pretrained(tiny_dir, dtype=dtype)
    inputs = {name.split(".", 1)[1]: golden[name] for name in INPUT_NAMES}
    out = model(**inputs, return_loss=True, output_hidden_states=True)
    feats = model.get_text_features(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    result = compare((golden, meta), tensors_from_outputs(out, feats, inputs, np.dtype(dtype)))
    assert result.ok, result.format()
    assert all(r.status == "OK" for r in result.reports)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_symmetric_depthwise_padding_bug_fails_at_its_block_and_at_the_logits(dtype, tiny_dir, tmp_path):
    """A port that pads one stride-2 depthwise convolution symmetrically (transformers pads it (k//2 - 1, k//2),
    except for the blocks config.depthwise_padding lists) against transformers' golden of the trained tiny ALIGN:
    compare names that block first, and the error reaches the image embeddings and both logits. The bug is made
    through the config: listing the block in depthwise_padding is exactly "symmetric padding there"."""
    from refalign.models.align import AlignModel
    from refalign.towers.efficientnet import block_specs
    golden, meta = read_golden(GOLDEN["float64"])
    buggy_dir = tmp_path / "buggy"
    shutil.copytree(tiny_dir, buggy_dir)
    config = tiny_config()
    intact = AlignModel.from_pretrained(tiny_dir, dtype=dtype)
    bad = next(s for s in block_specs(intact.config.vision_config) if s.stride == 2 and s.adjust_padding)
    config["vision_config"]["depthwise_padding"] = [bad.index]
    (buggy_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")

    inputs = {name.split(".", 1)[1]: golden[name] for name in INPUT_NAMES}
    for model, ok in ((intact, True), (AlignModel.from_pretrained(str(buggy_dir), dtype=dtype), False)):
        out = model(**inputs, return_loss=True, output_hidden_states=True)
        feats = model.get_text_features(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        result = compare((golden, meta), tensors_from_outputs(out, feats, inputs, np.dtype(dtype)))
        assert result.ok is ok, result.format()
    failed = [r.name for r in result.reports if r.failed]
    assert result.first_failure == f"vision.hidden_states.{bad.index + 1:02d}", result.format()
    assert {"vision.last_hidden_state", "image_embeds", "logits_per_image", "logits_per_text", "loss"} <= set(failed)
    assert not [n for n in failed if n.startswith(("inputs.", "text.")) or n == "text_embeds"]


def golden_image_processor(meta):
    """refalign's image processor with the settings the golden was made with (size 116 / crop 97 overrides)."""
    from refalign.image_processors import EfficientNetImageProcessor
    prep = json.loads(meta["preprocessing"])
    assert prep["image_processor"]["crop_size"] == prep["overrides"]["crop_size"]
    return EfficientNetImageProcessor(**prep["image_processor"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refalign_image_processor_matches_golden_pixels(dtype, photo_dir):
    """refalign's PIL-equivalent preprocessing on the same real photos gives transformers' pixels, bit for bit."""
    golden, meta = read_golden(GOLDEN[dtype])
    images = [os.path.join(photo_dir, name) for name in json.loads(meta["inputs"])["images"]]
    pixels = golden_image_processor(meta)(images)["pixel_values"]             # float32, as transformers emits
    assert pixels.dtype == np.float32
    np.testing.assert_array_equal(pixels.astype(dtype), golden["inputs.pixel_values"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_refalign_golden_from_model_end_to_end(dtype, tiny_dir, photo_dir):
    """golden_from_model with refalign's processor (tokenizer + image processor) and model on the golden's photos
    and captions reproduces transformers' golden within its suggested tolerances (tokens exactly)."""
    from refalign.golden import golden_from_model
    from refalign.models.align import AlignModel, AlignProcessor
    from refalign.tokenizers import BertTokenizer
    golden, meta = read_golden(GOLDEN[dtype])
    inputs = json.loads(meta["inputs"])
    processor = AlignProcessor(golden_image_processor(meta), BertTokenizer.from_pretrained(tiny_dir))
    images = [os.path.join(photo_dir, name) for name in inputs["images"]]
    tensors, md = golden_from_model(AlignModel.from_pretrained(tiny_dir, dtype=dtype), processor, images,
                                    inputs["texts"], dtype)
    assert md["inputs"] == {"images": inputs["images"], "texts": inputs["texts"]}
    result = compare((golden, meta), tensors)
    assert result.ok, result.format()
    assert all(r.status == "OK" for r in result.reports)


def test_make_golden_writes_a_golden_refalign_reads(tmp_path, tiny_dir, photos):
    """`refalign golden`'s body: a readable golden with provenance, consistent with compare()."""
    from refalign.golden import make_golden
    out = make_golden(tiny_dir, [photos["chelsea"], photos["rocket"]], ["a photo of a cat", "a rocket"],
                      tmp_path / "g.safetensors", dtype="float64")
    tensors, meta = read_golden(out)
    for key in REQUIRED_METADATA:
        assert key in meta, key
    assert meta["producer"].startswith("refalign ") and meta["dtype"] == "float64" and "loss" in tensors
    assert json.loads(meta["inputs"])["images"] == ["chelsea.png", "rocket.jpg"]
    assert tensors["inputs.pixel_values"].shape == (2, 3, 289, 289)               # the checkpoint's own settings
    assert compare(out, out).ok
    with pytest.raises(GoldenFileError, match="missing.png"):
        make_golden(tiny_dir, [str(tmp_path / "missing.png")], ["x"], tmp_path / "h.safetensors")
