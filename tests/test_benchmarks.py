"""The benchmark suite's own plumbing (benchmarks/): its tokenizer corpus needs neither Django nor emoji, and its
refalign workers start on the bundled tiny checkpoints, answer the protocol and never import torch. Nothing is
timed against anything: the speeds themselves are benchmarks/run.py's business."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT

BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, BENCH)
import harness  # noqa: E402

# Django and emoji made unimportable (a None entry in sys.modules makes `import` fail and find_spec return None)
CORPUS_SCRIPT = r"""
import hashlib, json, sys
sys.modules["django"] = sys.modules["emoji"] = None
sys.path.insert(0, sys.argv[1])
import textlines
lines, report = textlines.build()
plain = lines == textlines.build(extras=True)[0]   # extras are skipped when the packages cannot be imported
print(json.dumps({"sha256": hashlib.sha256("\0".join(lines).encode()).hexdigest(), "lines": len(lines),
                  "distinct_nonempty": len({s for s in lines if s.strip()}),
                  "non_ascii": sum(not s.isascii() for s in lines), "plain": plain,
                  "blocked": [m for m in ("django", "emoji") if sys.modules.get(m) is not None],
                  "parts": {k: v["lines"] for k, v in report.items()}}))
"""

TINY = {name: os.path.join(ROOT, "weights", name) for name in ("tiny", "tiny-altclip", "tiny-vtde")}
LINES = ["a photo of a cat", "une photo d'un chat sur le canapé", "一只猫的照片", "Фотография кошки 🐈",
         "def f(x):\n    return x ** 2  # squared", "naïve café — ﬁ ligature ½"]


def test_corpus_builds_without_django_or_emoji_deterministically():
    """Two builds in separate processes (different hash seeds) give the same >= 50,000 distinct lines."""
    procs = [subprocess.Popen([sys.executable, "-c", CORPUS_SCRIPT, BENCH], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONHASHSEED=str(seed))) for seed in (1, 2)]
    out = []
    for p in procs:
        stdout, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    a, b = out
    assert a["sha256"] == b["sha256"]
    assert a["blocked"] == [] and a["plain"]
    assert a["lines"] == a["distinct_nonempty"] >= 50_000
    assert a["non_ascii"] > 1000
    assert sum(a["parts"].values()) == a["lines"] and all(n > 0 for n in a["parts"].values())


@pytest.fixture(scope="module")
def lines_json(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bench") / "lines.json"
    path.write_text(json.dumps(LINES, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", sorted(TINY))
def test_refalign_workers_answer_without_torch(name, lines_json):
    """A tokenizer worker (warm and cold) and a preprocessing worker start, answer "run" with a positive number of
    seconds and "dump" with arrays, and exit with status 0: the worker checks that torch and transformers were never
    imported (status 3 otherwise)."""
    photo = os.path.join(ROOT, "refalign", "assets", "chelsea.jpg")
    workers = {"warm": harness.Worker("refalign", "tokenizer", TINY[name], lines_json, "warm", threads=1),
               "cold": harness.Worker("refalign", "tokenizer", TINY[name], lines_json, "cold", threads=1),
               "pixels": harness.Worker("refalign", "preprocess", TINY[name], photo, 2, threads=1)}
    try:
        for w in workers.values():
            assert w.run() > 0
        warm, cold = workers["warm"].dump(), workers["cold"].dump()
        assert sorted(warm) == sorted(cold) and "input_ids" in warm
        for key in warm:
            assert warm[key].shape == (len(LINES), 64) and warm[key].dtype == np.int64
            np.testing.assert_array_equal(warm[key], cold[key])
        pixels = workers["pixels"].dump()["pixel_values"]
        assert pixels.ndim == 4 and pixels.shape[:2] == (1, 3) and np.isfinite(pixels).all()
    finally:
        statuses = [w.close() for w in workers.values()]
    assert statuses == [0, 0, 0]


def test_worker_refuses_a_refalign_process_that_imported_torch(lines_json, tmp_path):
    """The check itself: a refalign worker whose process has torch in sys.modules exits with status 3."""
    fake = tmp_path / "torch.py"  # a stand-in module named torch, imported before the worker starts
    fake.write_text("")
    env = harness.worker_env(1, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    code = f"import sys, runpy; import torch; sys.argv = [{harness.WORKER!r}] + sys.argv[1:]; " \
           f"runpy.run_path({harness.WORKER!r}, run_name='__main__')"
    r = subprocess.run([sys.executable, "-c", code, "refalign", "tokenizer", TINY["tiny"], lines_json, "warm"],
                       input="quit\n", capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert "imported ['torch']" in r.stderr
    assert "READY" not in r.stdout
