"""refalign's Numba kernels are cached in a per-user folder, never inside the package (refalign.fast.jit)."""
from __future__ import annotations

import glob
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROBE = r"""
import json, os, numpy as np
import refalign.fast.kernels as k, refalign.ops as ops, refalign.fast.workers as w
from refalign.fast import jit
x = np.linspace(-3, 3, 7)
ops.gelu(x)                                          # compiles (or loads) erf
paths = sorted({f._cache._cache_path for f in (k._layer_norm_kernel, k._stem_kernel, w._poll)
                if getattr(f, "_cache", None) is not None and hasattr(f._cache, "_cache_path")})
import numba
print(json.dumps({"dir": jit.cache_dir(), "paths": paths, "numba_cache_dir": numba.config.CACHE_DIR}))
"""


def _probe(env_extra: dict, cwd) -> dict:
    import json
    env = {k: v for k, v in os.environ.items() if k not in ("REFALIGN_CACHE_DIR", "NUMBA_CACHE_DIR")}
    env.update(env_extra)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_kernels_cache_in_the_user_cache_folder(tmp_path):
    out = _probe({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path)
    want = str(tmp_path / "xdg" / "refalign" / "numba")
    assert out["dir"] == want
    assert out["paths"] and all(p.startswith(want) for p in out["paths"]), out["paths"]
    assert glob.glob(os.path.join(want, "**", "*.nbi"), recursive=True), "nothing was cached"
    assert out["numba_cache_dir"] == "", "numba's global cache setting must be left as it was"


def test_refalign_cache_dir_overrides(tmp_path):
    out = _probe({"REFALIGN_CACHE_DIR": str(tmp_path / "mine"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}, tmp_path)
    assert out["dir"] == str(tmp_path / "mine")
    assert all(p.startswith(str(tmp_path / "mine")) for p in out["paths"])
    assert not os.path.exists(tmp_path / "xdg" / "refalign")


def test_unwritable_cache_falls_back_to_the_temp_folder(tmp_path):
    blocker = tmp_path / "a-file"          # <file>/refalign/numba cannot be created, even by root
    blocker.write_text("x")
    (tmp_path / "tmp").mkdir()
    out = _probe({"XDG_CACHE_HOME": str(blocker), "TMPDIR": str(tmp_path / "tmp")}, tmp_path)
    assert out["dir"].startswith(str(tmp_path / "tmp"))
    assert out["paths"] and all(p.startswith(str(tmp_path / "tmp")) for p in out["paths"])


def test_unwritable_candidates_are_skipped(monkeypatch, tmp_path):
    """In-process check of the choice itself (runs as root too): a candidate that is a file is not writable."""
    from refalign.fast import jit
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))            # <file>/refalign/numba cannot be created
    monkeypatch.delenv("REFALIGN_CACHE_DIR", raising=False)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    cands = jit.candidate_dirs()
    assert cands[0].startswith(str(blocker)) and not jit._writable(cands[0])
    assert cands[-1].startswith(str(tmp_path / "tmp")) and jit._writable(cands[-1])
    monkeypatch.setenv("REFALIGN_CACHE_DIR", "")
    assert jit.candidate_dirs() == []                              # empty: no disk cache at all


def test_no_disk_cache_still_computes(tmp_path):
    out = _probe({"REFALIGN_CACHE_DIR": ""}, tmp_path)
    assert out["dir"] is None and out["paths"] == []


def test_nothing_is_cached_inside_the_package():
    leftovers = glob.glob(os.path.join(ROOT, "refalign", "**", "*.nb[ic]"), recursive=True)
    assert not leftovers, f"Numba cache files inside the package: {leftovers[:3]}"
