"""The `refalign` command: each subcommand's happy path and its one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from refalign.cli import main
from refalign.loading.hub import BUNDLED_NOTES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAT = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")


def test_similarity_json(capsys):
    assert main(["similarity", CAT, "a photo of a cat", "a photo of a dog", "--weights", "tiny", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    probs = [s["probability"] for s in out["scores"]]
    assert [s["text"] for s in out["scores"]] == ["a photo of a cat", "a photo of a dog"]
    assert abs(sum(probs) - 1) < 1e-5 and out["bundled_tiny"] is True
    assert BUNDLED_NOTES["tiny"] in cap.err        # says plainly that these are the bundled shapes-only weights


def test_similarity_text_output_matches_api(capsys):
    import refalign
    assert main(["similarity", CAT, "a cat", "a dog", "-w", "tiny"]) == 0
    out = capsys.readouterr().out
    probs = refalign.similarity(CAT, ["a cat", "a dog"], model="tiny")
    assert f"{probs[0]:8.4f}" in out and f"{probs[1]:8.4f}" in out


def test_classify(capsys):
    assert main(["classify", CAT, "--labels", "cat", "dog", "car", "-w", "tiny", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert sorted(r["label"] for r in ranking) == ["car", "cat", "dog"]
    scores = [r["score"] for r in ranking]
    assert scores == sorted(scores, reverse=True)


def test_info(capsys):
    assert main(["info", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "config" in out.lower() or "tensors" in out.lower()


@pytest.mark.parametrize("argv,needle", [
    (["similarity", "/nonexistent/cat.jpg", "a cat", "-w", "tiny"], "/nonexistent/cat.jpg"),
    (["similarity", CAT, "a cat", "-w", "/nonexistent/weights"], "/nonexistent/weights"),
    (["info", "/nonexistent/weights"], "/nonexistent/weights"),
    (["compare", "/nonexistent/golden.safetensors", "/nonexistent/cand.safetensors"], "/nonexistent/golden"),
    (["convert", "/nonexistent/dir"], "/nonexistent/dir"),
])
def test_user_mistakes_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("refalign: error:") and needle in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_not_an_image_is_one_line(capsys, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert main(["similarity", str(bad), "a cat", "-w", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "x.png" in err and "Traceback" not in err


@pytest.mark.parametrize("sub", ["similarity", "classify", "embed", "golden", "compare", "info", "convert", "fetch"])
def test_help_for_every_command(sub):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "refalign", "similarity", CAT, "a cat", "a dog", "-w", "tiny"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "a cat" in r.stdout and "bundled tiny ALIGN" in r.stderr


def test_golden_then_compare(tmp_path, capsys):
    """`refalign golden` then `refalign compare` against itself passes; a perturbed intermediate fails, named."""
    from refalign.golden import read_golden
    out = tmp_path / "g.safetensors"
    assert main(["golden", "--image", CAT, "--text", "a photo of a cat", "--out", str(out), "-w", "tiny"]) == 0
    assert main(["compare", str(out), str(out)]) == 0
    tensors, meta = read_golden(str(out))
    bad = dict(tensors)
    name = "vision.hidden_states.04"
    bad[name] = bad[name].copy()
    bad[name].flat[17] += 1.0
    np.savez(tmp_path / "cand.npz", **bad)
    capsys.readouterr()
    assert main(["compare", str(out), str(tmp_path / "cand.npz")]) == 1
    printed = capsys.readouterr().out
    verdict = [line for line in printed.splitlines() if line.startswith("FAIL")]
    assert verdict and name in verdict[0]


# ----------------------------------------------------------------------------------------------- issue 11: real work
def test_similarity_reports_cosine_logit_and_probability(capsys):
    import refalign
    from refalign.api import load
    assert main(["similarity", CAT, "a cat", "a dog", "a car", "-w", "tiny", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    model, _ = load("tiny")
    want = refalign.similarity_scores(CAT, ["a cat", "a dog", "a car"], model="tiny")
    got = doc["results"][0]["scores"]
    assert [s["text"] for s in got] == ["a cat", "a dog", "a car"] and doc["scores"] == got
    for j, s in enumerate(got):
        assert s["cosine"] == pytest.approx(float(want["cosine"][0, j]), abs=1e-6)
        assert s["logit"] == pytest.approx(s["cosine"] / float(model.temperature), rel=1e-5)
        assert s["probability"] == pytest.approx(float(want["probabilities"][0, j]), abs=1e-6)
    logits = np.array([s["logit"] for s in got])
    assert np.allclose([s["probability"] for s in got], np.exp(logits - logits.max()) / np.exp(
        logits - logits.max()).sum(), atol=1e-6)


def test_similarity_table_shows_all_three_scores(capsys):
    assert main(["similarity", CAT, "a cat", "-w", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "cosine" in out and "logit" in out and "prob" in out
    assert "probability is 1 by definition" in out          # one caption: says why it scores 1.0000


def test_an_image_path_among_the_texts_is_refused(capsys):
    assert main(["similarity", CAT, CAT, "a cat", "-w", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "is an image file, not a text" in err and f"--image {CAT}" in err and len(err.strip().splitlines()) == 1


def test_more_images_and_texts_from_a_file_and_stdin(capsys, monkeypatch, tmp_path, photos):
    import io
    import refalign
    texts = tmp_path / "captions.txt"
    texts.write_text("a photo of a cat\n\na cup of coffee\r\nun chat\n", encoding="utf-8")
    argv = ["similarity", CAT, "--image", photos["coffee"], "-i", photos["astronaut"], "an astronaut",
            "--texts-file", str(texts), "-w", "tiny", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    want_texts = ["an astronaut", "a photo of a cat", "a cup of coffee", "un chat"]
    assert doc["texts"] == want_texts and "scores" not in doc          # shorthand only for one image
    assert [r["image"] for r in doc["results"]] == [CAT, photos["coffee"], photos["astronaut"]]
    probs = refalign.similarity([CAT, photos["coffee"], photos["astronaut"]], want_texts, model="tiny")
    got = np.array([[s["probability"] for s in r["scores"]] for r in doc["results"]])
    np.testing.assert_allclose(got, probs, atol=1e-6)
    monkeypatch.setattr("sys.stdin", io.StringIO("cat\ndog\n"))
    assert main(["classify", CAT, "--labels-file", "-", "-w", "tiny", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert sorted(r["label"] for r in ranking) == ["cat", "dog"]


@pytest.mark.parametrize("argv,needle", [
    (["similarity", CAT, "-w", "tiny"], "no texts"),
    (["similarity", CAT, "--texts-file", "/nonexistent/captions.txt", "-w", "tiny"], "/nonexistent/captions.txt"),
    (["classify", CAT, "-w", "tiny"], "no labels"),
])
def test_text_source_mistakes_are_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("refalign: error:") and needle in err and len(err.splitlines()) == 1


def test_golden_on_tiny_says_so(tmp_path, capsys):
    from refalign.golden import read_golden
    out = tmp_path / "g.safetensors"
    assert main(["golden", "--image", CAT, "--text", "a cat", "--out", str(out), "-w", "tiny"]) == 0
    assert BUNDLED_NOTES["tiny"] in capsys.readouterr().err
    _, meta = read_golden(str(out))
    assert meta["bundled_tiny"] == "tiny"


def test_golden_without_weights_resolves_like_every_command(tmp_path, capsys, monkeypatch):
    """No --weights, no REFALIGN_WEIGHTS, no align-base anywhere: an error naming where it looked -- never tiny."""
    monkeypatch.delenv("REFALIGN_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import refalign.loading.hub as hub
    if hub._checkout_weights_dir() and os.path.isdir(hub._checkout_weights_dir()):
        pytest.skip(reason="weights/align-base exists on this machine, so the default resolution succeeds")
    assert main(["golden", "--image", CAT, "--text", "a cat", "--out", str(tmp_path / "g.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "REFALIGN_WEIGHTS" in err and not (tmp_path / "g.safetensors").exists()


@pytest.mark.slow
def test_golden_uses_refalign_weights(full_dir, tmp_path, monkeypatch, capsys):
    """REFALIGN_WEIGHTS=<full-size checkpoint> refalign golden ... writes the full-size model's tensors."""
    from refalign.golden import read_golden
    monkeypatch.setenv("REFALIGN_WEIGHTS", full_dir)
    out = tmp_path / "g.safetensors"
    assert main(["golden", "--image", CAT, "--text", "a cat", "a dog", "--out", str(out)]) == 0
    assert "bundled tiny" not in capsys.readouterr().err
    tensors, meta = read_golden(str(out))
    assert tensors["text_embeds"].shape == (2, 640) and tensors["image_embeds"].shape == (1, 640)
    assert len([n for n in tensors if n.startswith("vision.hidden_states.")]) == 56
    assert meta["bundled_tiny"] == ""


def _tiny_copy_with(tmp_path, tiny_dir, name: str, value: float) -> str:
    import shutil
    from safetensors.numpy import load_file, save_file
    d = tmp_path / "broken"
    shutil.copytree(tiny_dir, d)
    state = load_file(str(d / "model.safetensors"))
    state[name] = state[name].copy()
    state[name].flat[3] = value
    save_file(state, str(d / "model.safetensors"), metadata={"format": "pt"})
    return str(d)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_weights_never_reach_the_user_as_scores(tmp_path, tiny_dir, capsys, value):
    import refalign
    name = "text_projection.weight"
    broken = _tiny_copy_with(tmp_path, tiny_dir, name, value)
    with pytest.raises(refalign.NonFiniteError, match=name):
        refalign.similarity(CAT, ["a cat", "a dog"], model=broken)
    assert main(["similarity", CAT, "a cat", "a dog", "-w", broken, "--json"]) == 2
    cap = capsys.readouterr()
    assert cap.out == "" and name in cap.err and "NaN" in cap.err and len(cap.err.strip().splitlines()) == 1


def test_compare_prints_nan_as_nan_and_missing_once(tmp_path, capsys):
    from refalign.golden import read_golden
    g = tmp_path / "g.safetensors"
    assert main(["golden", "--image", CAT, "--text", "a cat", "--out", str(g), "-w", "tiny"]) == 0
    tensors, _ = read_golden(str(g))
    cand = {k: v.copy() for k, v in tensors.items() if not k.startswith("vision.")}
    cand["text_embeds"].flat[2] = np.nan
    np.savez(tmp_path / "cand.npz", **cand)
    capsys.readouterr()
    assert main(["compare", str(g), str(tmp_path / "cand.npz"), "--allow-missing"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.split()[:3] == ["NOT", "OK", "text_embeds"])
    assert " nan " in f" {row} " and " inf " not in f" {row} "
    assert "1 NaN value(s) in the candidate" in out
    missing = [n for n in tensors if n.startswith("vision.")]
    assert sum(line.count("vision.hidden_states.00") for line in out.splitlines()) == 1   # once, in the summary
    assert f"not in the candidate (allowed): {len(missing)} tensors" in out
    assert "MISSING" not in out


def test_help_texts_agree_with_the_code(capsys):
    for sub in ("fetch", "compare"):
        with pytest.raises(SystemExit):
            main([sub, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Hugging Face cache" in out and "weights/align-base of the repository" not in out
    assert "float64 golden needs no flag" in out


def test_readme_lists_every_command():
    import argparse
    from refalign.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert set(sub.choices) >= {"similarity", "classify", "embed", "golden", "compare", "info", "convert", "fetch"}
    for name in sub.choices:
        assert f"`refalign {name}" in readme, f"README's command table lacks `refalign {name}`"
    assert "writes weights/align-base" not in readme
