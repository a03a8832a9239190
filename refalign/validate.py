"""`refalign info`: validate a checkpoint folder and summarise it.

validate_checkpoint() runs every check (config.json, config keys, weights file, weights vs config, finite weights,
tokenizer files, preprocessor_config.json) and returns a JSON-serialisable report; format_report() renders it as
text; run_info() is what the command line calls (exit status 0 when every check passed, 1 when one failed).
Weights are scanned straight from the memory-mapped file, a chunk at a time: nothing checkpoint-sized is allocated.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable

import numpy as np

from .auto import (AutoImageProcessor, AutoTokenizer, check_state_dict, config_class_for, model_type_of,
                   transformers_only_config_keys, unused_config_keys)
from .errors import RefalignError, UnsupportedModelError, WeightsNotFoundError
from .loading.checkpoint import checkpoint_summary, config_dir, load_raw_state_dict, weights_files, weights_sha256
from .loading.config import read_config_json, unknown_keys_message

CHUNK_ELEMENTS = 1 << 21  # values scanned at a time for NaN / inf (8 MB of float32)
MAX_DETAIL_LINES = 20     # problem lines kept in a check's detail (the rest are counted)

# errors that make a check fail instead of stopping the validation
_FINDINGS = (RefalignError, OSError, ValueError, TypeError)


# non-finite values -------------------------------------------------------------------------------------------

def _chunks(arr: np.ndarray, chunk: int) -> Iterable[np.ndarray]:
    """Consecutive pieces of at most `chunk` elements: views of a contiguous array, small copies otherwise."""
    if arr.flags.c_contiguous or arr.flags.f_contiguous:
        flat = arr.ravel(order="K")  # a view
        for start in range(0, flat.size, chunk):
            yield flat[start:start + chunk]
    else:
        for start in range(0, arr.size, chunk):
            yield arr.flat[start:start + chunk]


def count_nonfinite(arr: np.ndarray, *, bf16_bits: bool = False, chunk: int = CHUNK_ELEMENTS) -> tuple[int, int]:
    """(number of NaN, number of +-inf) in a floating array, scanned `chunk` elements at a time.
    bf16_bits: `arr` holds bfloat16 values as their uint16 bit patterns. Non-floating arrays give (0, 0)."""
    if chunk < 1:
        raise ValueError(f"chunk={chunk!r} must be a positive number of elements")
    arr = np.asarray(arr)
    nan = inf = 0
    if bf16_bits:
        for c in _chunks(arr, chunk):
            special = (c & 0x7F80) == 0x7F80  # exponent all ones: inf or NaN
            if special.any():
                n = int(np.count_nonzero(special & ((c & 0x007F) != 0)))
                nan, inf = nan + n, inf + int(np.count_nonzero(special)) - n
        return nan, inf
    if not np.issubdtype(arr.dtype, np.floating):
        return 0, 0
    for c in _chunks(arr, chunk):
        finite = np.isfinite(c)
        if not finite.all():
            n = int(np.count_nonzero(np.isnan(c)))
            nan, inf = nan + n, inf + int(c.size - np.count_nonzero(finite)) - n
    return nan, inf


def nonfinite_tensors(params: dict[str, np.ndarray], *, chunk: int = CHUNK_ELEMENTS) -> list[dict[str, Any]]:
    """Every tensor holding NaN or inf: [{"tensor", "nan", "inf", "size"}], in the dict's order."""
    return _scan(((name, arr, False) for name, arr in params.items()), chunk)


def _scan(items: Iterable[tuple[str, np.ndarray, bool]], chunk: int) -> list[dict[str, Any]]:
    found = []
    for name, arr, bf16 in items:
        nan, inf = count_nonfinite(arr, bf16_bits=bf16, chunk=chunk)
        if nan or inf:
            found.append({"tensor": name, "nan": nan, "inf": inf, "size": int(np.size(arr))})
    return found


def _describe_nonfinite(found: list[dict[str, Any]], limit: int) -> list[str]:
    lines = [f"{f['tensor']}: {f['nan']} NaN, {f['inf']} inf (of {f['size']} values)" for f in found[:limit]]
    if len(found) > limit:
        lines.append(f"and {len(found) - limit} more")
    return lines


def find_nonfinite(params: dict[str, np.ndarray], limit: int = 10, *, chunk: int = CHUNK_ELEMENTS) -> list[str]:
    """Names of the tensors holding NaN or inf, each with its counts ("name: 2 NaN, 0 inf (of 1024 values)"), the
    first `limit` of them, then one "and N more" entry if there are more. Empty when every value is finite.
    Arrays are scanned `chunk` elements at a time (memory maps are read, not copied)."""
    return _describe_nonfinite(nonfinite_tensors(params, chunk=chunk), limit)


# the report ---------------------------------------------------------------------------------------------------

def _json_safe(obj: Any) -> Any:
    """Plain JSON types only: NumPy scalars unwrapped, tuples as lists, non-finite floats as strings."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _naming(msg: str, name: str) -> str:
    """An error message that is sure to name the file it is about."""
    return msg if name in msg else f"{name}: {msg}"


def _shorten(msg: str, keep: int = MAX_DETAIL_LINES) -> str:
    """A long multi-line error (one line per tensor) cut to its first `keep` problem lines; hint lines stay."""
    lines = msg.split("\n")
    hints = [ln for ln in lines if ln.startswith("hint:")]
    body = [ln for ln in lines if not ln.startswith("hint:")]
    if len(body) > keep + 1:
        body = body[:keep + 1] + [f"  ... and {len(body) - keep - 1} more"]
    return "\n".join(body + hints)


def _bundled_tiny_note(path: str) -> str | None:
    from .loading.hub import bundled_tiny_note
    try:
        return bundled_tiny_note(path)
    except OSError:
        return None


def validate_checkpoint(path, *, sha256: bool = False) -> dict:
    """Check a checkpoint (folder, or its weights file) and summarise it, as a JSON-serialisable dict:
    checkpoint_summary's fields plus "ok", "bundled_tiny" (and its "bundled_tiny_note"), "checks" ([{"check", "ok",
    "status", "detail"}], status being ok / FAIL / warn / skip), "warnings", the config keys nothing reads, the
    non-finite tensors, and "sha256" when asked. A broken checkpoint is reported, not raised; a path that does not
    exist raises WeightsNotFoundError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"{path}: no such file or directory")
    folder = config_dir(path)
    checks: list[dict[str, Any]] = []
    warned: list[str] = []

    def add(name: str, ok: bool, detail: str, status: str | None = None) -> None:
        checks.append({"check": name, "ok": ok, "status": status or ("ok" if ok else "FAIL"), "detail": detail})

    # config.json and its keys
    cfg_file = os.path.join(folder, "config.json")
    cfg = None
    raw_cfg: Any = None
    try:
        raw_cfg = read_config_json(cfg_file)
        if isinstance(raw_cfg, dict) and "model_type" in raw_cfg:
            model_type_of(folder)  # a family refalign does not implement is an error, not a finding
        cfg = config_class_for(raw_cfg).from_dict(raw_cfg, source=cfg_file, warn=False)  # unknown keys: below
        add("config.json", True, f"{cfg_file}: valid")
    except UnsupportedModelError:
        raise
    except _FINDINGS as e:
        add("config.json", False, _naming(str(e), cfg_file))
    unknown = unused_config_keys(raw_cfg)
    if isinstance(raw_cfg, dict):
        if unknown:
            msg = unknown_keys_message(unknown, cfg_file)
            warned.append(msg)
            add("config keys", True, msg, status="warn")
        else:
            add("config keys", True, "every key is read by refalign or is a transformers setting inference ignores")

    # weights: summary (headers), then the tensors themselves (memory-mapped)
    report: dict[str, Any] = {"path": path}
    raw_state = None
    try:
        report = checkpoint_summary(path, sha256=sha256)
        raw_state = load_raw_state_dict(path)
        files = weights_files(path)
        add("weights file", True, f"{', '.join(os.path.basename(f) for f in files)}: {len(raw_state)} tensors, "
                                  f"stored as {', '.join(sorted(report['dtypes']))}")
    except _FINDINGS as e:
        add("weights file", False, str(e))
        raw_state = None
        if sha256 and "sha256" not in report:
            try:
                report["sha256"] = weights_sha256(path)
            except _FINDINGS:
                pass
    if cfg is not None:
        report["config"] = cfg.describe()

    if cfg is None or raw_state is None:
        why = "config.json is invalid" if cfg is None else "the weights are unreadable"
        add("weights fit config", False, f"not checked: {why}", status="skip")
    else:
        # BF16 tensors are uint16 bits: a float16 view (same itemsize, no copy) passes the floating-dtype test
        shaped = {n: (a.view(np.float16) if st == "BF16" else a) for n, (a, st) in raw_state.items()}
        try:
            kept = check_state_dict(shaped, cfg, weights_files(path)[0])
            add("weights fit config", True, f"{len(kept)} tensors, every one the architecture in config.json needs")
        except _FINDINGS as e:
            add("weights fit config", False, _shorten(str(e)))

    nonfinite: list[dict[str, Any]] = []
    if raw_state is None:
        add("weights finite", False, "not checked: the weights are unreadable", status="skip")
    else:
        floating = [(n, a, st == "BF16") for n, (a, st) in raw_state.items()
                    if st == "BF16" or np.issubdtype(a.dtype, np.floating)]
        nonfinite = _scan(floating, CHUNK_ELEMENTS)
        if nonfinite:
            add("weights finite", False, f"{len(nonfinite)} of {len(floating)} floating tensors hold NaN or inf:\n"
                + "\n".join(_describe_nonfinite(nonfinite, 10)))
        else:
            values = sum(int(a.size) for _, a, _ in floating)
            add("weights finite", True, f"{len(floating)} floating tensors, {values} values, all finite")

    add_tokenizer_check(folder, cfg, add)
    add_preprocessor_check(folder, add)

    note = _bundled_tiny_note(path)
    out = {"path": report.pop("path", path), "ok": all(c["ok"] for c in checks),
           "bundled_tiny": note is not None, "checks": checks, "warnings": warned}
    if note:
        out["bundled_tiny_note"] = note
    out.update(report)
    out["unknown_config_keys"] = [{"key": k, "suggestion": s} for k, s in unknown]
    out["transformers_only_config_keys"] = transformers_only_config_keys(raw_cfg)
    out["nonfinite"] = nonfinite
    return _json_safe(out)


def add_tokenizer_check(folder: str, cfg, add) -> None:
    """The tokenizer files load with the tokenizer refalign.auto picks; its ids fit the word embeddings."""
    tok_cfg = os.path.join(folder, "tokenizer_config.json")
    try:
        tok = AutoTokenizer.from_pretrained(folder)
    except _FINDINGS as e:
        add("tokenizer", False, _naming(str(e), "vocab.txt" if "tokenizer_config" not in str(e) else tok_cfg))
        return
    detail = (f"{type(tok).__name__}: {len(tok)} tokens; tokenizer_config.json: "
              + ("read" if os.path.exists(tok_cfg) else "absent (the family's settings)"))
    if cfg is not None and len(tok) > cfg.text_config.vocab_size:
        add("tokenizer", False, f"{detail}; but token ids reach {len(tok) - 1}, beyond the "
                                f"{cfg.text_config.vocab_size} word embeddings of text_config.vocab_size")
    else:
        add("tokenizer", True, detail)


def add_preprocessor_check(folder: str, add) -> None:
    """preprocessor_config.json, when present, is valid for the image processor refalign.auto picks."""
    from .image_processors.base import read_image_processor_dict
    try:
        settings, pp = read_image_processor_dict(folder)
    except _FINDINGS as e:
        add("preprocessor_config.json", False, str(e))
        return
    if settings is None:
        add("preprocessor_config.json", True, "absent: the family's default preprocessing is used")
        return
    try:
        proc = AutoImageProcessor.from_pretrained(folder)
    except _FINDINGS as e:
        add("preprocessor_config.json", False, _naming(str(e), pp))
        return
    crop = getattr(proc, "crop_size", None) if getattr(proc, "do_center_crop", False) else "off"
    add("preprocessor_config.json", True, f"{pp}: {type(proc).__name__}, resize "
                                          f"{proc.size if proc.do_resize else 'off'}, crop {crop}")


# output -------------------------------------------------------------------------------------------------------

_SUMMARY_KEYS = ("path", "files", "tensors", "parameters", "dtypes", "config", "sha256")


def format_report(report: dict) -> str:
    """The human-readable report: the summary fields, then one line per check (ok / FAIL / warn / skip)."""
    lines = []
    for key in _SUMMARY_KEYS:
        if key not in report:
            continue
        value = report[key]
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k}: {v}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {value}")
    if report.get("bundled_tiny_note"):
        lines.append(report["bundled_tiny_note"])
    lines.append("checks:")
    width = max((len(c["check"]) for c in report["checks"]), default=0)
    for c in report["checks"]:
        first, *rest = c["detail"].split("\n")
        lines.append(f"  {c['status']:<4}  {c['check']:<{width}}  {first}")
        lines += [f"  {'':<4}  {'':<{width}}  {ln}" for ln in rest]
    failed = [c["check"] for c in report["checks"] if c["status"] == "FAIL"]
    skipped = [c["check"] for c in report["checks"] if c["status"] == "skip"]
    n, warned = len(report["checks"]), len(report.get("warnings", []))
    if failed or skipped:
        lines.append(f"result: FAIL ({len(failed)} of {n} checks failed: {', '.join(failed)}"
                     + (f"; not checked: {', '.join(skipped)})" if skipped else ")"))
    else:
        lines.append(f"result: ok (all {n} checks passed" + (f"; {warned} warning(s))" if warned else ")"))
    return "\n".join(lines)


def run_info(weights, *, as_json: bool, sha256: bool) -> int:
    """`refalign info [W] [--json]`: resolve W (None: the default checkpoint), print the report; return 0 when every
    check passed, 1 when one failed. A checkpoint that cannot be found raises (the CLI's exit 2)."""
    from .loading.hub import resolve_weights
    report = validate_checkpoint(resolve_weights(weights), sha256=sha256)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(format_report(report))
    return 0 if report["ok"] else 1
