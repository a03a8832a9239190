"""The `refalign` command: each subcommand's happy path and its one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from refalign.cli import RANDOM_WEIGHTS_NOTE, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAT = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")


def test_similarity_json(capsys):
    assert main(["similarity", CAT, "a photo of a cat", "a photo of a dog", "--weights", "tiny", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    probs = [s["probability"] for s in out["scores"]]
    assert [s["text"] for s in out["scores"]] == ["a photo of a cat", "a photo of a dog"]
    assert abs(sum(probs) - 1) < 1e-5 and out["random_weights"] is True
    assert RANDOM_WEIGHTS_NOTE in cap.err          # says plainly that the bundled weights are random


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


@pytest.mark.parametrize("sub", ["similarity", "classify", "golden", "compare", "info", "convert", "fetch"])
def test_help_for_every_command(sub):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "refalign", "similarity", CAT, "a cat", "a dog", "-w", "tiny"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "a cat" in r.stdout and "RANDOM" in r.stderr


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
