"""The README's user sequence in a fresh venv: `pip install .` -> a similarity run (Numba compiles and caches its
kernels) -> `pip install -e .` over it -> `refalign --help`, `import refalign` from another directory and a notebook
all work. The first install must not pull torch, and a run must import no module of torch, transformers,
tensorflow or jax. Also: .ci/run runs the README's Quick start block as written.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

CHECK = r"""
import sys, refalign
from refalign.cli import main
code = main(["similarity", sys.argv[1], "a photo of a cat", "a photo of a dog", "--weights", "tiny"])
code = code or main(["similarity", sys.argv[1], "un chat", "一只猫", "--weights", "tiny-altclip"])
code = code or main(["similarity", sys.argv[1], "a red circle", "a blue square", "--weights", "tiny-vtde"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "tensorflow", "jax"))
print("HEAVY:", heavy)
sys.exit(code or (1 if heavy else 0))
"""

RUN_NOTEBOOK = r"""
import sys, nbclient, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
for cell in nb.cells:
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
print("NOTEBOOK OK")
"""


def _run(argv, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(argv, **kw)


def _pip(py: str, *args: str):
    r = _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], timeout=1800, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.slow
def test_readme_sequence_in_a_fresh_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py, cli = str(venv / "bin" / "python"), str(venv / "bin" / "refalign")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("REFALIGN_CACHE_DIR", None)
    env.pop("NUMBA_CACHE_DIR", None)

    # 1. pip install . (no torch), then a similarity run from a neutral directory on a copy of the photo
    _pip(py, ".")
    r = _run([py, "-c", "import importlib.util as u; print(u.find_spec('torch') is None)"], check=True)
    assert r.stdout.strip() == "True", "torch must not be installed by refalign's runtime dependencies"
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(open(os.path.join(ROOT, "refalign", "assets", "chelsea.jpg"), "rb").read())
    r = _run([py, "-c", CHECK, str(photo)], timeout=900, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HEAVY: []" in r.stdout and "a photo of a cat" in r.stdout and "一只猫" in r.stdout
    assert "a blue square" in r.stdout
    r = _run([cli, "similarity", str(photo), "a cat", "--weights", "tiny", "--json"], timeout=900, cwd=tmp_path,
             env=env)
    assert r.returncode == 0, r.stderr
    assert '"bundled_tiny": true' in r.stdout
    # the compiled kernels went to the per-user cache, not into the installed package
    site = _run([py, "-c", "import refalign, os; print(os.path.dirname(refalign.__file__))"], cwd=tmp_path,
                check=True).stdout.strip()
    assert not glob.glob(os.path.join(site, "**", "*.nb[ic]"), recursive=True), "Numba cache inside site-packages"
    assert glob.glob(str(tmp_path / "cache" / "refalign" / "numba" / "**" / "*.nbi"), recursive=True)

    # 2. pip install -e . over it (the README's second command, without the heavy extras)
    _pip(py, "-e", ".[notebooks]")
    assert not os.path.exists(site), f"{site} survived the reinstall and would shadow the editable install"
    r = _run([cli, "--help"], cwd=tmp_path, env=env, timeout=300)
    assert r.returncode == 0 and "similarity" in r.stdout, r.stderr
    r = _run([py, "-c", "import refalign; print(refalign.__file__, refalign.__version__)"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == os.path.join(ROOT, "refalign", "__init__.py")
    # a notebook runs in that environment (notebook 01: the quickest)
    notebooks = os.path.join(ROOT, "notebooks")
    r = _run([py, "-c", RUN_NOTEBOOK, os.path.join(notebooks, "01_tokenizer.ipynb"), notebooks], cwd=tmp_path,
             env=env, timeout=900)
    assert r.returncode == 0 and "NOTEBOOK OK" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]


def test_ci_runs_the_readme_quickstart_verbatim():
    from readme_quickstart import quickstart_commands
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        commands = quickstart_commands(f.read())
    assert len(commands) == 2, commands
    assert "refalign similarity" in commands[0] and "pytest" in commands[1]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert "tools/readme_quickstart.py" in ci and 'bash -euo pipefail -c "${commands[$i]}"' in ci
    assert "pip install" not in ci.replace("pip install -q --upgrade pip", ""), "CI installs only what the README says"


def test_quickstart_extraction_refuses_a_missing_block():
    from readme_quickstart import quickstart_commands
    with pytest.raises(ValueError, match="Quick start"):
        quickstart_commands("# refalign\n\nno quick start here\n")
    assert quickstart_commands("## Quick start\n\n```bash\n# c\na\n\nb\n```\n") == ["a", "b"]
