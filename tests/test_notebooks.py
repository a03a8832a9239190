"""The step-through notebooks (notebooks/*.ipynb): each runs from a clean kernel without an error, shows at least one
picture and checks its own numbers against the library with assert cells. The committed files are read, never
written: every run executes a copy in memory.

The notebooks pick their weights like the library does (align-base when it is on disk, else the bundled tiny
checkpoint), so in CI they run on tiny.
"""
from __future__ import annotations

import ast
import re
import importlib.util
import json
import os
import sys

import pytest
from conftest import require

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK_DIR = os.path.join(ROOT, "notebooks")
EXPECTED = ["01_tokenizer.ipynb", "02_text_tower.ipynb", "03_vision_tower.ipynb", "04_end_to_end.ipynb",
            "05_tokenizers.ipynb", "06_vision_transformer.ipynb", "07_altclip_languages.ipynb",
            "08_vision_text_dual_encoder.ipynb"]
NOTEBOOKS = sorted(n for n in os.listdir(NOTEBOOK_DIR) if n.endswith(".ipynb")) if os.path.isdir(NOTEBOOK_DIR) else []
MAX_BYTES = 1_500_000


def _need(module: str):
    """nbformat / nbclient / ipykernel come with the `notebooks` extra: a failure in CI, a skip elsewhere."""
    return require(module)


def _read(name: str):
    nbformat = _need("nbformat")
    return nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _outputs(nb):
    return [o for c in _code_cells(nb) for o in c.get("outputs", [])]


def _pngs(nb) -> int:
    return sum(1 for o in _outputs(nb) if "image/png" in o.get("data", {}))


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
# an absolute path into the checkout (weights/..., refalign/assets/...) is printed with the machine's own root
_REPO_PATH = re.compile(r"/[^\s'\"]*?/(?=(?:weights|refalign|notebooks|tests|tools)/)")


def _printed(cell) -> str:
    """The text a reader sees under a code cell: streams and plain-text results, object addresses and the checkout's
    root blanked."""
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "data" in o and "image/png" not in o["data"] and "text/plain" in o["data"]:
            parts.append(o["data"]["text/plain"])
    return _REPO_PATH.sub("<repo>/", _ADDRESS.sub(" at 0x?", "".join(parts)))


def _text_mismatch(old: str, new: str) -> str | None:
    """None when the two texts are the same apart from the last printed digit of numbers (another CPU's float32
    rounding may move it) and from the values of numbers below 1e-5 in size (the printed rounding errors of a
    comparison, which another summation order changes); else a description of the first difference."""
    old_words, new_words = _NUMBER.split(old), _NUMBER.split(new)
    if old_words != new_words:
        first = next(i for i, (a, b) in enumerate(zip(old_words + [""], new_words + [""])) if a != b)
        return f"text {old_words[first][:200]!r} != {new_words[first][:200]!r}"
    for a, b in zip(_NUMBER.findall(old), _NUMBER.findall(new)):
        if a == b or max(abs(float(a)), abs(float(b))) <= 1e-5:
            continue
        mantissa = a.lower().split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(a.lower().split("e")[1]) if "e" in a.lower() else 0
        unit = 10.0 ** (exponent - decimals)               # one unit in the last printed digit
        if abs(float(a) - float(b)) > 2 * unit + 1e-4 * abs(float(a)):
            return f"number {a} != {b}"
    return None


def _load_builder():
    spec = importlib.util.spec_from_file_location("refalign_notebooks_build", os.path.join(NOTEBOOK_DIR, "_build.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------- the files
def test_the_eight_notebooks_are_there():
    assert set(EXPECTED) <= set(NOTEBOOKS), f"missing notebooks: {sorted(set(EXPECTED) - set(NOTEBOOKS))}"
    assert os.path.isfile(os.path.join(NOTEBOOK_DIR, "README.md"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_is_small_executed_and_self_checking(name):
    path = os.path.join(NOTEBOOK_DIR, name)
    assert os.path.getsize(path) < MAX_BYTES, f"{name} is {os.path.getsize(path)} bytes; keep figures small"
    nb = _read(name)
    _need("nbformat").validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    cells = _code_cells(nb)
    assert len(cells) >= 5 and sum(c.cell_type == "markdown" for c in nb.cells) >= 5, "prose between small cells"
    # committed with outputs, so readers see the pictures without running anything; and no stale error in them
    assert all(c.execution_count is not None for c in cells), f"{name} is committed partly unexecuted"
    assert _pngs(nb) >= 1, f"{name} is committed without its pictures"
    assert not [o for o in _outputs(nb) if o.output_type == "error"], f"{name} is committed with an error output"
    # checks itself: at least one cell with a plain assert statement
    asserts = 0
    for c in cells:
        lines = [ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        asserts += sum(isinstance(n, ast.Assert) for n in ast.walk(ast.parse("\n".join(lines))))
    assert asserts >= 1, f"{name} has no assert cell"
    # shows refalign alone
    for c in cells:
        for line in c.source.splitlines():
            words = line.replace(",", " ").split()
            assert not ({"torch", "transformers"} & set(words) and words[:1] in (["import"], ["from"])), \
                f"{name} imports torch/transformers: {line!r}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_matches_its_source(name):
    """The .ipynb files are generated by notebooks/_build.py: a cell edited in one place only is a drift."""
    _need("nbformat")
    builder = _load_builder()
    assert name in builder.NOTEBOOKS, f"{name} is not generated by notebooks/_build.py"
    built = [(c.cell_type, c.source) for c in builder.build(name).cells]
    committed = [(c.cell_type, c.source) for c in _read(name).cells]
    assert committed == built, f"{name} differs from notebooks/_build.py: run `python notebooks/_build.py --execute`"


# ----------------------------------------------------------------------------------------------- running them
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_from_a_clean_kernel(name):
    nbformat = _need("nbformat")
    nbclient = _need("nbclient")
    _need("ipykernel")
    path = os.path.join(NOTEBOOK_DIR, name)
    with open(path, "rb") as f:
        committed_bytes = f.read()

    nb = nbformat.reads(committed_bytes.decode("utf-8"), as_version=4)
    for cell in _code_cells(nb):                   # a fresh copy, in memory, without the committed outputs
        cell.outputs, cell.execution_count = [], None
    assert _pngs(nb) == 0
    # one extra cell (in memory only): which Python the kernel runs
    nb.cells.append(nbformat.v4.new_code_cell("import sys, json; print(json.dumps([sys.prefix, sys.version]))"))

    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOK_DIR}})
    client.execute()                                # raises CellExecutionError on the first failing cell

    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert _pngs(nb) >= 1, f"{name} shows no picture"
    prefix, version = json.loads(nb.cells[-1].outputs[0]["text"])
    assert (os.path.realpath(prefix), version) == (os.path.realpath(sys.prefix), sys.version), \
        f"the notebook kernel runs {prefix} (Python {version}), not this environment's {sys.prefix}"
    with open(path, "rb") as f:
        assert f.read() == committed_bytes, f"running {name} modified the committed file"
    # what a reader sees in the committed file is what a fresh run prints (numbers to their printed precision)
    committed = nbformat.reads(committed_bytes.decode("utf-8"), as_version=4)
    for i, (old, new) in enumerate(zip(_code_cells(committed), _code_cells(nb))):
        old_text, new_text = _printed(old), _printed(new)
        problem = _text_mismatch(old_text, new_text)
        assert problem is None, f"{name}, code cell {i}: the committed output differs from a fresh run: {problem}"

