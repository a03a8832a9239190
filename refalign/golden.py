"""Golden files: every intermediate of one forward pass of any family, written once and compared against later.

A golden is a safetensors file whose tensors carry stable names in forward order (tokens, pixels, each text layer,
each vision block, features, embeddings, logits, loss: each family declares its plan, models/base.GoldenPlan) and
whose metadata says where it came from (model_type, producer versions, weights hash, config, preprocessing, inputs)
and how closely a candidate should match each tensor.

    refalign golden --image cat.jpg --text "a photo of a cat" -o golden.safetensors   # write one
    refalign compare golden.safetensors my_port_dump.npz                              # check a port against it

A candidate is a .safetensors or .npz file (or a dict) holding the same names; it needs no metadata. The
comparison checks names, then shapes, then dtypes, then values (|c - g| <= atol + rtol*|g| per element), and
reports, in forward order, for each tensor the largest absolute and relative error, where the worst element is and
which share of the tolerance it used, so the first tensor out of tolerance points at the layer to look at.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass

import numpy as np

from .errors import RefalignError
from .fileio import atomic_output
from .noise import (NOISE_MULTIPLE, measure_float32_noise, noise_metadata, noise_tolerances, read_noise,
                    times_noise)

GOLDEN_FORMAT = "refalign-golden/1"
DEFAULT_MODEL_TYPE = "align"   # goldens written before refalign had several families carry no model_type
_HIDDEN = re.compile(r"^(text|vision)\.hidden_states\.(\d+)$")

# Suggested tolerance "level" per dtype: rtol = level and atol = level * max|golden| (the tensor's own scale, so
# elements near zero are judged against the tensor's magnitude rather than their own). A comparison is as loose as
# the less precise of golden and candidate. float64: two float64 implementations that differ only in summation
# order agree to ~1e-13 on these networks; 1e-9 leaves room for deeper checkpoints while still catching any
# float32 step hidden in a float64 path (those show up at ~1e-7). float32: independent float32 implementations
# agree to ~1e-6..1e-5 of the tensor scale here (measured; see tests/golden/README.md); 1e-4 leaves margin.
TOLERANCE_LEVEL = {"float64": 1e-9, "float32": 1e-4}


class GoldenFileError(RefalignError, ValueError):
    """A golden or candidate file is missing, unreadable, or not in the expected format."""


# ----------------------------------------------------------------------------------------------- names
def golden_plan(model_type: str | None = None):
    """The family's GoldenPlan (its tensor names in forward order), by config.json's model_type."""
    from .auto import model_class
    return model_class(model_type or DEFAULT_MODEL_TYPE).golden


def _hidden_counts(names) -> dict[str, int]:
    """Number of text / vision hidden-state tensors among `names`."""
    counts = {"text": 0, "vision": 0}
    for n in names:
        m = _HIDDEN.match(n)
        if m:  # the highest index counts, so a gap shows up as a missing name
            counts[m.group(1)] = max(counts[m.group(1)], int(m.group(2)) + 1)
    return counts


def expected_names(names, plan) -> list[str]:
    """The full forward-order name list that a golden of `plan`'s family holding `names` must have."""
    counts = _hidden_counts(names)
    return plan.names(max(counts["text"] - 1, 1), max(counts["vision"] - 1, 1), "loss" in names)


def forward_order(names, plan) -> list[str]:
    """`names` sorted into forward order; names that are not golden names go last, alphabetically."""
    rank = {n: i for i, n in enumerate(expected_names(names, plan))}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


# ----------------------------------------------------------------------------------------------- writing
def _as_json(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _check_golden_tensors(tensors: dict[str, np.ndarray], plan) -> str:
    """Validate names, dtypes, finiteness and the shapes that must agree; returns the float dtype name."""
    names = list(tensors)
    expected = expected_names(names, plan)
    unknown = [n for n in names if n not in expected]
    missing = [n for n in expected if n not in tensors]
    if unknown:
        raise ValueError(f"unknown golden tensor name(s): {unknown}; known names are {plan.names(1, 1, True)[:8]} "
                         "... (see the family's golden plan, e.g. refalign.models.align.golden_names)")
    if missing:
        raise ValueError(f"golden is missing tensor(s): {missing}")
    float_dtypes = set()
    for name, arr in tensors.items():
        if name in plan.integer_names:
            if arr.dtype.kind not in "iu":
                raise ValueError(f"golden tensor {name} must be integer, got {arr.dtype}")
        else:
            if arr.dtype not in (np.float32, np.float64):
                raise ValueError(f"golden tensor {name} must be float32 or float64, got {arr.dtype}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"golden tensor {name} holds NaN or infinity")
            float_dtypes.add(arr.dtype.name)
    if len(float_dtypes) != 1:
        raise ValueError(f"golden float tensors mix dtypes {sorted(float_dtypes)}; a golden has one compute dtype")
    ids = tensors["inputs.input_ids"]
    n_text, n_image = ids.shape[0] if ids.ndim == 2 else -1, tensors["inputs.pixel_values"].shape[0]
    shape_rules = [("inputs.input_ids", ids.ndim == 2, "[B_t, L]")]
    shape_rules += [(name, tensors[name].shape == ids.shape, f"{ids.shape} like input_ids")
                    for name in sorted(plan.integer_names - {"inputs.input_ids"})]
    shape_rules += [
        ("inputs.pixel_values", tensors["inputs.pixel_values"].ndim == 4, "[B_i, C, H, W]"),
        ("logits_per_text", tensors["logits_per_text"].shape == (n_text, n_image), f"{(n_text, n_image)}"),
        ("logits_per_image", tensors["logits_per_image"].shape == (n_image, n_text), f"{(n_image, n_text)}"),
    ]
    if "loss" in tensors:
        shape_rules.append(("loss", tensors["loss"].shape == (), "() (a scalar)"))
        if n_text != n_image:
            raise ValueError(f"golden has a loss but {n_text} texts and {n_image} images; the loss pairs text i "
                             "with image i, so it needs as many of each")
    for name, good, want in shape_rules:
        if not good:
            raise ValueError(f"golden tensor {name} has shape {tensors[name].shape}, expected {want}")
    return float_dtypes.pop()


def write_golden(path, tensors: dict, metadata: dict) -> None:
    """Write a golden file of the family metadata["model_type"] names (ALIGN when absent). Every expected name must
    be present and no other; non-string metadata values are JSON-encoded; "format", "model_type", "order" and
    "dtype" are filled in. Written atomically (temp file, then rename)."""
    from safetensors.numpy import save_file
    path = os.fspath(path)
    if not isinstance(tensors, dict) or not tensors:
        raise TypeError("tensors must be a non-empty dict of name -> array")
    model_type = (metadata or {}).get("model_type", DEFAULT_MODEL_TYPE)
    plan = golden_plan(model_type)
    arrays = {}
    for name, value in tensors.items():
        arr = np.asarray(value)
        if name in plan.integer_names and arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
        arrays[name] = arr if arr.flags.c_contiguous else arr.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)
    dtype = _check_golden_tensors(arrays, plan)
    meta = {str(k): _as_json(v) for k, v in (metadata or {}).items()}
    if "producer" not in meta:
        raise ValueError("metadata needs a 'producer' (e.g. 'refalign 0.1.0' or 'transformers X / torch Y'): a "
                         "golden must say where it came from")
    if meta.get("dtype", dtype) != dtype:
        raise ValueError(f"metadata says dtype {meta['dtype']!r} but the float tensors are {dtype}")
    order = forward_order(list(arrays), plan)
    meta.update({"format": GOLDEN_FORMAT, "model_type": model_type, "order": json.dumps(order), "dtype": dtype})
    with atomic_output(path) as tmp:
        save_file({n: arrays[n] for n in order}, tmp, metadata=meta)


# ----------------------------------------------------------------------------------------------- reading
def _check_file(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise GoldenFileError(f"{what} file not found: {path}")
    if os.path.isdir(path):
        raise GoldenFileError(f"{what} path is a directory, not a file: {path}")


def _read_safetensors(path: str, what: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open
    _check_file(path, what)
    try:
        with safe_open(path, framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several types for a bad header or truncated data
        raise GoldenFileError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    return tensors, metadata


def read_golden(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors in forward order, metadata) of a golden file; GoldenFileError naming the file when it is missing,
    unreadable, not a golden, or of another format version."""
    path = os.fspath(path)
    tensors, metadata = _read_safetensors(path, "golden")
    fmt = metadata.get("format")
    if fmt is None:
        raise GoldenFileError(f"{path}: not a refalign golden file (its safetensors metadata has no 'format'); "
                              "if it is a candidate dump, pass it as the candidate, after the golden")
    if fmt != GOLDEN_FORMAT:
        hint = ("regenerate it with this refalign (`refalign golden`; in a source checkout, tools/make_goldens.py "
                "for the committed ones) or read it with the refalign version that wrote it"
                if fmt.startswith("refalign-golden/")
                else "not a refalign golden file")
        raise GoldenFileError(f"{path}: golden format {fmt!r} is not supported (this refalign reads "
                              f"{GOLDEN_FORMAT!r}): {hint}")
    try:
        order = json.loads(metadata.get("order", ""))
        if not isinstance(order, list):
            raise ValueError("not a list")
    except ValueError as e:
        raise GoldenFileError(f"{path}: metadata 'order' is not a JSON list of names ({e})") from None
    if sorted(order) != sorted(tensors):
        only_order, only_file = sorted(set(order) - set(tensors)), sorted(set(tensors) - set(order))
        raise GoldenFileError(f"{path}: metadata 'order' does not match the tensors (only in order: {only_order}, "
                              f"only in file: {only_file})")
    return {n: tensors[n] for n in order}, metadata


def read_candidate(path_or_dict) -> dict[str, np.ndarray]:
    """A candidate's tensors by name: a dict, a .safetensors file or a .npz file (numpy.savez with the golden's
    names as keys, e.g. np.savez("dump.npz", **{"text.hidden_states.00": h0, ...}))."""
    if isinstance(path_or_dict, dict):
        return {str(k): np.asarray(v) for k, v in path_or_dict.items()}
    if not isinstance(path_or_dict, (str, os.PathLike)):
        raise TypeError(f"candidate must be a path or a dict of arrays, got {type(path_or_dict).__name__}")
    path = os.fspath(path_or_dict)
    if path.endswith(".npz"):
        _check_file(path, "candidate")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise GoldenFileError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if path.endswith(".safetensors"):
        return _read_safetensors(path, "candidate")[0]
    raise GoldenFileError(f"{path}: a candidate must be a .safetensors or .npz file")


def _golden_source(golden) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    if isinstance(golden, (str, os.PathLike)):
        tensors, meta = read_golden(golden)
        return tensors, meta, os.fspath(golden)
    if isinstance(golden, tuple) and len(golden) == 2 and isinstance(golden[0], dict):
        tensors, meta = golden
        return {str(k): np.asarray(v) for k, v in tensors.items()}, dict(meta or {}), "<dict>"
    if isinstance(golden, dict):
        return {str(k): np.asarray(v) for k, v in golden.items()}, {}, "<dict>"
    raise TypeError(f"golden must be a path, a dict of arrays or (tensors, metadata), got {type(golden).__name__}")


# ----------------------------------------------------------------------------------------------- tolerances
def suggested_tolerance(golden: np.ndarray, golden_dtype: str, candidate_dtype: str) -> tuple[float, float]:
    """(atol, rtol) for one tensor: as loose as the less precise of the two dtypes, atol scaled by max|golden|."""
    if golden.dtype.kind in "iub":
        return 0.0, 0.0
    level = max(TOLERANCE_LEVEL[golden_dtype], TOLERANCE_LEVEL[candidate_dtype])
    scale = float(np.max(np.abs(golden))) if golden.size else 0.0
    return level * (scale if scale > 0 else 1.0), level


def suggested_tolerances(tensors: dict[str, np.ndarray], golden_dtype: str) -> dict[str, dict[str, list[float]]]:
    """The metadata "tolerances" table: {candidate dtype: {name: [atol, rtol]}}."""
    return {cand: {name: list(suggested_tolerance(arr, golden_dtype, cand)) for name, arr in tensors.items()}
            for cand in TOLERANCE_LEVEL}


# ----------------------------------------------------------------------------------------------- comparing
OK, NOT_OK, MISSING, SHAPE, DTYPE, EXTRA = "OK", "NOT OK", "MISSING", "SHAPE", "DTYPE", "EXTRA"


@dataclass
class TensorReport:
    name: str
    shape: tuple                      # the golden's shape (the candidate's for EXTRA)
    status: str                       # OK, NOT OK, MISSING, SHAPE, DTYPE, EXTRA
    max_abs: float = math.nan         # max |c - g|
    max_rel: float = math.nan         # max |c - g| / |g| over the elements where g != 0
    where: tuple | None = None        # index of the worst element (largest share of its tolerance used)
    budget_used: float = math.nan     # max over elements of |c - g| / (atol + rtol*|g|); <= 1 passes
    atol: float = math.nan
    rtol: float = math.nan
    message: str = ""                 # what was wrong, for SHAPE / DTYPE / MISSING / EXTRA
    failed: bool = False              # counts as a failure (EXTRA never does; MISSING not with allow_missing)
    nan_count: int = 0                # NaN in the candidate where the golden is a number
    noise: float = math.nan           # the golden's float32 noise figure for this tensor (max abs), if it has one
    scale: float = math.nan           # max |golden| (what the errors and the noise figure are relative to)

    @property
    def times_noise(self) -> float:
        """max_abs as a multiple of the float32 noise (nan without a noise figure)."""
        return times_noise(self.max_abs, self.noise, self.scale)


@dataclass
class CompareResult:
    reports: list[TensorReport]
    golden: str = "<dict>"
    candidate: str = "<dict>"

    @property
    def ok(self) -> bool:
        return not any(r.failed for r in self.reports)

    @property
    def first_failure(self) -> str | None:
        """Name of the first failing tensor in forward order (None when everything passed)."""
        return next((r.name for r in self.reports if r.failed), None)

    def format(self) -> str:
        with_noise = any(not math.isnan(r.noise) for r in self.reports)
        rows = [("status", "tensor", "shape", "max abs", "max rel", "where") + (("x noise",) if with_noise else ())
                + ("tol used", "atol", "rtol")]
        allowed_missing = [r.name for r in self.reports if r.status == MISSING and not r.failed]
        for r in self.reports:
            if r.status == MISSING and not r.failed:
                continue                                   # summarised in one line below
            exact = r.atol == 0 and r.rtol == 0
            nan = "nan" if r.nan_count else None
            noise_col = (nan or _fmt_times(r.times_noise),) if with_noise else ()
            rows.append((r.status, r.name, _fmt_shape(r.shape), nan or _fmt_num(r.max_abs),
                         nan or _fmt_num(r.max_rel), "-" if r.where is None else _fmt_shape(r.where)) + noise_col
                        + (nan or ("exact" if exact and r.status == OK else _fmt_pct(r.budget_used)),
                           _fmt_num(r.atol), _fmt_num(r.rtol)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"golden:    {self.golden}", f"candidate: {self.candidate}"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        details = [f"  {r.name}: {r.message}" for r in self.reports if r.message and r.status != MISSING]
        if details:
            lines += ["details:"] + details
        if allowed_missing:
            shown = ", ".join(allowed_missing[:4]) + (f", ... ({len(allowed_missing) - 4} more)"
                                                     if len(allowed_missing) > 4 else "")
            lines.append(f"not in the candidate (allowed): {len(allowed_missing)} tensors: {shown}")
        compared = [r for r in self.reports if r.status in (OK, NOT_OK)]
        failures = [r for r in self.reports if r.failed]
        if failures:
            lines.append(f"FAIL: {len(failures)} of {len(self.reports)} tensors failed; first in forward order: "
                         f"{self.first_failure} ({failures[0].status}) - start looking there")
        else:
            worst = max(compared, key=lambda r: r.budget_used, default=None)
            tail = "" if worst is None else " (all values exactly equal)" if worst.budget_used == 0 else \
                f" (largest share of tolerance used: {_fmt_pct(worst.budget_used)} by {worst.name})"
            lines.append(f"PASS: all {len(compared)} compared tensors within tolerance{tail}")
        return "\n".join(lines)


def _fmt_num(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"


def _fmt_times(x: float) -> str:
    return "-" if math.isnan(x) else ("inf" if math.isinf(x) else f"{x:.2g}x")


def _fmt_pct(x: float) -> str:
    return "-" if math.isnan(x) else ("inf" if math.isinf(x) else f"{100 * x:.1f}%")


def _fmt_shape(s) -> str:
    return "(" + ",".join(str(int(v)) for v in s) + ")"


def _value_report(name: str, g: np.ndarray, c: np.ndarray, atol: float, rtol: float) -> TensorReport:
    g64, c64 = g.astype(np.float64), c.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        diff = np.abs(c64 - g64)
        nan_count = int(np.count_nonzero(np.isnan(diff)))
        diff = np.where(np.isnan(diff), np.inf, diff)          # a NaN in the candidate is as bad as it gets
        bound = atol + rtol * np.abs(g64)
        budget = np.where(diff == 0, 0.0, diff / bound)          # 0/0 (exact comparison, equal) -> 0
        nonzero = g64 != 0
        rel = diff[nonzero] / np.abs(g64[nonzero])
    used = float(budget.max()) if g.size else 0.0
    worst = np.unravel_index(int(np.argmax(budget)), g.shape) if used > 0 else None
    return TensorReport(name, g.shape, OK if used <= 1.0 else NOT_OK,
                        max_abs=float(diff.max()) if g.size else 0.0,
                        max_rel=float(rel.max()) if rel.size else (0.0 if g.size else math.nan),
                        where=tuple(int(i) for i in worst) if worst is not None else None,
                        budget_used=used, atol=float(atol), rtol=float(rtol), failed=used > 1.0,
                        nan_count=nan_count, scale=float(np.abs(g64).max()) if g.size else 0.0,
                        message=f"{nan_count} NaN value(s) in the candidate" if nan_count else "")


def _candidate_float_dtype(golden: dict, candidate: dict) -> str | None:
    """The candidate's compute dtype: the most common dtype among its tensors that are float in the golden."""
    counts: dict[str, int] = {}
    for name, g in golden.items():
        c = candidate.get(name)
        if g.dtype.kind == "f" and c is not None and c.dtype.kind == "f":
            counts[c.dtype.name] = counts.get(c.dtype.name, 0) + 1
    return max(counts, key=lambda k: (counts[k], k == "float64")) if counts else None


def _tolerance_table(meta: dict, source: str) -> dict:
    if "tolerances" not in meta:
        return {}
    try:
        table = json.loads(meta["tolerances"])
        if not isinstance(table, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        raise GoldenFileError(f"{source}: metadata 'tolerances' is not valid JSON ({e})") from None
    return table


def compare(golden_path_or_dict, candidate_path_or_dict, atol: float | None = None, rtol: float | None = None, *,
            allow_dtype_mismatch: bool = False, allow_missing: bool = False) -> CompareResult:
    """Compare a candidate with a golden, tensor by tensor in forward order.

    Order of checks for each golden tensor: present (MISSING), same shape (SHAPE), dtype (DTYPE), values
    (OK / NOT OK). Candidate tensors the golden does not have are listed as EXTRA (not a failure).
    Dtype policy (strict by default, since a silent up- or downcast is a porting bug): integer tensors (token ids,
    masks) must have the golden's dtype (int64) and are compared exactly; float tensors must be float32 or float64
    and all of one dtype across the candidate - a tensor whose float dtype differs from the rest is flagged.
    allow_dtype_mismatch=True compares the values anyway. A float32 candidate may be checked against a float64
    golden (and the reverse): the tolerance is then that of the less precise of the two.
    Tolerance per tensor: atol / rtol when given, else the golden's metadata "tolerances" for the candidate's dtype,
    else suggested_tolerance(). allow_missing=True lets a partial dump (say, only the text tower) pass.
    """
    if atol is not None and (not isinstance(atol, (int, float)) or atol < 0 or math.isnan(atol)):
        raise ValueError(f"atol must be a non-negative number, got {atol!r}")
    if rtol is not None and (not isinstance(rtol, (int, float)) or rtol < 0 or math.isnan(rtol)):
        raise ValueError(f"rtol must be a non-negative number, got {rtol!r}")
    golden, meta, golden_label = _golden_source(golden_path_or_dict)
    candidate = read_candidate(candidate_path_or_dict)
    cand_label = os.fspath(candidate_path_or_dict) if isinstance(candidate_path_or_dict, (str, os.PathLike)) \
        else "<dict>"
    table = _tolerance_table(meta, golden_label)
    try:
        noise = read_noise(meta)
        multiple = float(json.loads(meta["noise"]).get("multiple", NOISE_MULTIPLE)) if noise else NOISE_MULTIPLE
    except (ValueError, AttributeError, TypeError) as e:
        raise GoldenFileError(f"{golden_label}: {e}") from None
    gold_float = next((g.dtype.name for g in golden.values() if g.dtype.kind == "f"), "float64")
    cand_float = _candidate_float_dtype(golden, candidate)
    if cand_float == "float32" and gold_float == "float64" and noise:
        # the default budget of a float32 candidate: a multiple of the golden's measured float32 noise
        table = {**table, "float32": {**table.get("float32", {}), **noise_tolerances(noise, multiple)}}

    reports = []
    for name in forward_order(list(golden), golden_plan(meta.get("model_type"))):
        g = golden[name]
        c = candidate.get(name)
        if c is None:
            reports.append(TensorReport(name, g.shape, MISSING, message="not in the candidate",
                                        failed=not allow_missing))
            continue
        if c.shape != g.shape:
            reports.append(TensorReport(name, g.shape, SHAPE, failed=True,
                                        message=f"candidate shape {c.shape}, golden shape {g.shape}"))
            continue
        problem = _dtype_problem(g, c, cand_float)
        if problem and not allow_dtype_mismatch:
            reports.append(TensorReport(name, g.shape, DTYPE, failed=True,
                                        message=problem + " (allow_dtype_mismatch=True / --allow-dtype-mismatch "
                                                          "compares the values anyway)"))
            continue
        if g.dtype.kind in "iub":
            if c.dtype.kind not in "iub":
                reports.append(TensorReport(name, g.shape, DTYPE, failed=True,
                                            message=f"golden is integer ({g.dtype}), candidate is {c.dtype}"))
                continue
            t_atol, t_rtol = 0.0, 0.0                           # token ids and masks: always exact
        else:
            t_atol, t_rtol = _tensor_tolerance(name, g, c, gold_float, table)
            t_atol, t_rtol = t_atol if atol is None else atol, t_rtol if rtol is None else rtol
        report = _value_report(name, g, c, t_atol, t_rtol)
        if name in noise:
            report.noise = noise[name][0]
        if problem:
            report.message = problem + " (compared anyway: allow_dtype_mismatch)"
        reports.append(report)
    for name in sorted(set(candidate) - set(golden)):
        reports.append(TensorReport(name, candidate[name].shape, EXTRA, message="not in the golden (ignored)"))
    golden_label += f" ({meta.get('producer', 'producer unknown')}, {meta.get('dtype', gold_float)})"
    cand_label += f" ({cand_float or 'no float tensors'})"
    return CompareResult(reports, golden_label, cand_label)


def _dtype_problem(g: np.ndarray, c: np.ndarray, cand_float: str | None) -> str:
    if g.dtype.kind in "iub":
        return "" if c.dtype == g.dtype else f"candidate is {c.dtype}, golden is {g.dtype}"
    if c.dtype.kind != "f":
        return f"candidate is {c.dtype}, golden is {g.dtype} (floating point expected)"
    if c.dtype.name not in TOLERANCE_LEVEL:
        return f"candidate is {c.dtype}; supported candidate dtypes are {sorted(TOLERANCE_LEVEL)}"
    if c.dtype.name != cand_float:
        return (f"candidate is {c.dtype} but the rest of the candidate is {cand_float} (an accidental up- or "
                "downcast?)")
    return ""


def _tensor_tolerance(name: str, g: np.ndarray, c: np.ndarray, gold_float: str, table: dict) -> tuple[float, float]:
    cand = c.dtype.name if c.dtype.name in TOLERANCE_LEVEL else "float32"
    entry = table.get(cand, {}).get(name)
    if entry is not None:
        return float(entry[0]), float(entry[1])
    return suggested_tolerance(g, gold_float if gold_float in TOLERANCE_LEVEL else "float32", cand)


def compare_main(golden, candidate, atol: float | None = None, rtol: float | None = None, *,
                 allow_dtype_mismatch: bool = False, allow_missing: bool = False, plot=None) -> int:
    """The `refalign compare` command's body: print the table (and draw it into `plot`, a PNG path); 0 when
    everything is within tolerance, else 1."""
    result = compare(golden, candidate, atol=atol, rtol=rtol, allow_dtype_mismatch=allow_dtype_mismatch,
                     allow_missing=allow_missing)
    print(result.format())
    if plot is not None:
        from .golden_plot import plot_compare
        print(f"plot: {plot_compare(result, plot)}")
    if not result.ok and isinstance(golden, (str, os.PathLike)):
        print("(to regenerate a golden: `refalign golden ...` with the inputs and weights in its metadata; in a "
              "source checkout, tools/make_goldens.py regenerates the committed ones)")
    return 0 if result.ok else 1


# ----------------------------------------------------------------------------------------------- producing
def image_label(image, i: int) -> str:
    """A name for an input image in the metadata: the file's base name when there is one."""
    if isinstance(image, (str, os.PathLike)):
        return os.path.basename(os.fspath(image))
    filename = getattr(image, "filename", "")  # PIL images opened from a file remember it
    return os.path.basename(filename) if filename else f"<image {i}>"


def golden_from_model(model, processor, images, texts, dtype) -> tuple[dict, dict]:
    """Run a refalign model on processor(text=texts, images=images) and collect every intermediate (the family's
    golden_tensors picks them). Pixel values are made by the processor in float32 (as transformers' processor emits
    them) and cast to `dtype`. Returns (tensors, metadata); the loss is included when there are as many texts as
    images."""
    from .loading.checkpoint import compute_dtype
    dt = compute_dtype(dtype)
    if getattr(model, "dtype", dt) != dt:
        raise ValueError(f"the model computes in {model.dtype} but dtype={dt.name} was asked for")
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not texts:
        raise TypeError("texts must be a non-empty list of strings")
    if not isinstance(images, (list, tuple)) or not images:
        raise TypeError("images must be a non-empty list (paths, PIL images or arrays)")
    inputs = processor(text=list(texts), images=list(images), padding=processor.batch_padding)
    inputs["pixel_values"] = np.asarray(inputs["pixel_values"]).astype(dt)
    with_loss = len(texts) == len(images)
    out = model(**inputs, return_loss=with_loss, output_hidden_states=True)
    feats = model.get_text_features(**{k: v for k, v in inputs.items() if k != "pixel_values"})
    feats = getattr(feats, "pooler_output", feats)
    tensors = model.golden_tensors(out, feats, inputs, dt)
    metadata = {"model_type": model.config.model_type, "dtype": dt.name,
                "inputs": {"images": [image_label(im, i) for i, im in enumerate(images)], "texts": list(texts)}}
    return tensors, metadata


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_file(source: str) -> str:
    """The weights file inside a checkpoint directory (or the file itself)."""
    if os.path.isfile(source):
        return source
    for name in ("model.safetensors", "pytorch_model.bin"):
        if os.path.isfile(os.path.join(source, name)):
            return os.path.join(source, name)
    raise GoldenFileError(f"no model.safetensors or pytorch_model.bin in {source}")


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _preprocessing(processor, directory: str) -> dict:
    """Preprocessing settings: the image processor's settings, the tokenizer's settings file, the processor classes
    and the text padding."""
    ip = processor.image_processor
    image_settings = ip.settings() if hasattr(ip, "settings") else \
        _read_json(os.path.join(directory, "preprocessor_config.json"))
    return {"image_processor": image_settings,
            "tokenizer_config": _read_json(os.path.join(directory, "tokenizer_config.json")),
            "image_processor_backend": f"refalign.{type(processor.image_processor).__name__} (PIL resize)",
            "tokenizer_backend": f"refalign.{type(processor.tokenizer).__name__}",
            "padding": getattr(processor, "default_padding", None),
            "max_length": getattr(processor, "default_max_length", None)}


def make_golden(weights, images, texts, out, dtype="float32") -> str:
    """The `refalign golden` command: run refalign on images + texts and write every intermediate to `out`.
    `weights` resolves like everywhere else (None: $REFALIGN_WEIGHTS, weights/align-base, the HF cache)."""
    from . import __version__
    from .auto import AutoModel, AutoProcessor
    from .loading.hub import bundled_tiny_name
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(texts, str):
        texts = [texts]
    for im in images:
        if isinstance(im, (str, os.PathLike)) and not os.path.isfile(im):
            raise GoldenFileError(f"image file not found: {os.fspath(im)}")
    out = os.fspath(out)
    if not out.endswith(".safetensors"):
        raise ValueError(f"golden output must be a .safetensors file, got {out}")
    model = AutoModel.from_pretrained(weights, dtype=dtype)
    processor = AutoProcessor.from_pretrained(weights)
    tensors, metadata = golden_from_model(model, processor, list(images), list(texts), dtype)
    tolerances = suggested_tolerances(tensors, metadata["dtype"])
    if metadata["dtype"] == "float64":   # how far refalign's own float32 path lands: the float32 budgets
        noise = measure_float32_noise(model.source, tensors)
        metadata["noise"] = noise_metadata(noise)
        tolerances["float32"].update(noise_tolerances(noise))
    wfile = weights_file(model.source)
    directory = model.source if os.path.isdir(model.source) else os.path.dirname(model.source)
    metadata.update({
        "producer": f"refalign {__version__}",
        "weights": os.path.basename(os.path.normpath(model.source)),
        "weights_sha256": file_sha256(wfile),
        # a bundled tiny checkpoint ("tiny", "tiny-altclip", "tiny-vtde": trained on coloured shapes only), or ""
        "bundled_tiny": bundled_tiny_name(model.source) or "",
        "config": model.config.to_dict(),
        "preprocessing": _preprocessing(processor, directory),
        "seed": "none (inference is deterministic)",
        "tolerances": tolerances,
    })
    write_golden(out, tensors, metadata)
    return out
