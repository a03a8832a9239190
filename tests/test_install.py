"""In a fresh venv without torch: `pip install .`, then `refalign similarity` on the bundled checkpoint works and no
module of torch, transformers, tensorflow or jax is imported."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHECK = r"""
import sys, refalign
from refalign.cli import main
code = main(["similarity", sys.argv[1], "a photo of a cat", "a photo of a dog", "--weights", "tiny"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "tensorflow", "jax"))
print("HEAVY:", heavy)
sys.exit(code or (1 if heavy else 0))
"""


@pytest.mark.slow
def test_pip_install_without_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", ROOT],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([py, "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "True", "torch must not be installed by refalign's runtime dependencies"
    # run from a neutral directory, with the photo copied out of the checkout: the installed package must stand alone
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(open(os.path.join(ROOT, "refalign", "assets", "chelsea.jpg"), "rb").read())
    r = subprocess.run([py, "-c", CHECK, str(photo)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HEAVY: []" in r.stdout
    assert "a photo of a cat" in r.stdout
    cli = subprocess.run([str(venv / "bin" / "refalign"), "similarity", str(photo), "a cat", "--weights", "tiny",
                          "--json"], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert '"random_weights": true' in cli.stdout
