"""refalign.validate (`refalign info`): every check on copies of the bundled tiny checkpoint, broken in one way each."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tracemalloc
import warnings

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from refalign.auto import check_state_dict, load_checkpoint, load_config
from refalign.loading.checkpoint import checkpoint_summary, load_state_dict
from refalign.errors import CheckpointError, WeightsNotFoundError
from refalign.validate import (CHUNK_ELEMENTS, MAX_DETAIL_LINES, count_nonfinite, find_nonfinite, format_report,
                               nonfinite_tensors, run_info, validate_checkpoint)

CHECKS = ["config.json", "config keys", "weights file", "weights fit config", "weights finite", "tokenizer",
          "preprocessor_config.json"]
QUERY = "text_model.encoder.layer.1.attention.self.query.weight"
CONV = "vision_model.embeddings.convolution.weight"


# helpers ------------------------------------------------------------------------------------------------------

@pytest.fixture
def ckpt(tiny_dir, tmp_path) -> str:
    """A private copy of the bundled tiny checkpoint."""
    return shutil.copytree(tiny_dir, tmp_path / "ckpt").as_posix()


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (which Python's json would otherwise accept)."""
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name} in the output")
    return json.loads(text, parse_constant=refuse)


def edit_weights(folder: str, edit, dtype=None) -> None:
    """Rewrite model.safetensors after edit(tensors) (optionally with every float tensor cast to dtype)."""
    path = os.path.join(folder, "model.safetensors")
    tensors = {k: np.array(v) for k, v in load_file(path).items()}
    if dtype is not None:
        tensors = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in tensors.items()}
    edit(tensors)
    save_file(tensors, path, metadata={"format": "pt"})


def edit_config(folder: str, edit) -> None:
    path = os.path.join(folder, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    edit(cfg)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


def check(report: dict, name: str) -> dict:
    (found,) = [c for c in report["checks"] if c["check"] == name]
    return found


def run(capsys, path, as_json: bool, sha256: bool = False) -> tuple[int, str]:
    capsys.readouterr()
    code = run_info(path, as_json=as_json, sha256=sha256)
    return code, capsys.readouterr().out


def only_failures(report: dict) -> list[str]:
    return [c["check"] for c in report["checks"] if not c["ok"]]


# the intact checkpoint ----------------------------------------------------------------------------------------

def test_intact_tiny_passes_every_check(ckpt, capsys):
    report = validate_checkpoint(ckpt)
    assert [c["check"] for c in report["checks"]] == CHECKS
    assert all(c["ok"] and c["status"] == "ok" for c in report["checks"]), report["checks"]
    assert report["ok"] is True and report["warnings"] == [] and report["nonfinite"] == []
    assert report["bundled_tiny"] is True            # a copy of the bundled tiny weights is recognised
    assert "bundled tiny ALIGN" in report["bundled_tiny_note"]
    assert strict_json(json.dumps(report, allow_nan=False)) == report
    summary = checkpoint_summary(ckpt)                # everything `info` showed before is still there
    assert {k: report[k] for k in summary} == summary

    code, out = run(capsys, ckpt, as_json=False)
    assert code == 0 and "note: the bundled tiny ALIGN" in out and "result: ok" in out
    assert all(f"ok    {name}" in out for name in CHECKS)
    code, out = run(capsys, ckpt, as_json=True)
    assert code == 0 and strict_json(out)["bundled_tiny"] is True


def test_run_info_resolves_names(capsys):
    code, out = run(capsys, "tiny", as_json=True)
    report = strict_json(out)
    assert code == 0 and report["ok"] and report["bundled_tiny"]
    assert report["path"].endswith("tiny")


def test_missing_path_stays_an_error(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="nowhere"):
        run_info(str(tmp_path / "nowhere"), as_json=False, sha256=False)
    with pytest.raises(WeightsNotFoundError, match="nowhere"):
        validate_checkpoint(tmp_path / "nowhere")


def test_sha256_is_the_weights_file_digest(ckpt, capsys):
    with open(os.path.join(ckpt, "model.safetensors"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    assert validate_checkpoint(ckpt, sha256=True)["sha256"] == want
    assert "sha256" not in validate_checkpoint(ckpt)
    code, out = run(capsys, ckpt, as_json=True, sha256=True)
    assert code == 0 and strict_json(out)["sha256"] == want
    code, out = run(capsys, ckpt, as_json=False, sha256=True)
    assert f"sha256: {want}" in out


# non-finite weights -------------------------------------------------------------------------------------------

def test_nan_weight_fails_and_is_named(ckpt, capsys):
    def poison(t):
        t[QUERY][0, 0] = np.nan
        t[QUERY][3, 1] = np.nan
    edit_weights(ckpt, poison)
    code, out = run(capsys, ckpt, as_json=False)
    assert code == 1
    (line,) = [ln for ln in out.splitlines() if QUERY in ln]
    assert "2 NaN, 0 inf" in line
    assert any(ln.startswith("  FAIL  weights finite") for ln in out.splitlines())
    assert "result: FAIL" in out and "bundled tiny" not in out

    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 1 and report["ok"] is False and report["bundled_tiny"] is False
    assert "bundled_tiny_note" not in report
    assert only_failures(report) == ["weights finite"]
    assert QUERY in check(report, "weights finite")["detail"]
    assert report["nonfinite"] == [{"tensor": QUERY, "nan": 2, "inf": 0, "size": 32 * 32}]


def test_inf_weight_fails_and_is_named(ckpt, capsys):
    def poison(t):
        t[CONV].flat[5] = -np.inf
        t["temperature"] = np.array(np.inf, dtype=np.float32)
    edit_weights(ckpt, poison)
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 1 and only_failures(report) == ["weights finite"]
    found = {f["tensor"]: (f["nan"], f["inf"]) for f in report["nonfinite"]}
    assert found == {CONV: (0, 1), "temperature": (0, 1)}
    detail = check(report, "weights finite")["detail"]
    assert f"{CONV}: 0 NaN, 1 inf" in detail and "temperature: 0 NaN, 1 inf" in detail


def test_nan_in_float16_checkpoint(ckpt, capsys):
    def poison(t):
        t[QUERY][2, 2] = np.nan
    edit_weights(ckpt, poison, dtype=np.float16)
    report = validate_checkpoint(ckpt)
    assert report["dtypes"].get("F16") and only_failures(report) == ["weights finite"]
    assert report["nonfinite"] == [{"tensor": QUERY, "nan": 1, "inf": 0, "size": 1024}]


def _write_bf16(path: str, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file with every float32 tensor stored as BF16 (numpy has no bfloat16: written by hand)."""
    header, blobs, pos = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        if arr.dtype == np.float32:
            data, st = (np.ascontiguousarray(arr).view(np.uint32) >> 16).astype("<u2").tobytes(), "BF16"
        else:
            data, st = np.ascontiguousarray(arr).astype("<i8").tobytes(), "I64"
        header[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [pos, pos + len(data)]}
        blobs.append(data)
        pos += len(data)
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def test_nan_and_inf_in_bfloat16_checkpoint(ckpt):
    path = os.path.join(ckpt, "model.safetensors")
    tensors = {k: np.array(v) for k, v in load_file(path).items()}
    tensors[QUERY][0, :3] = [np.nan, np.inf, -np.inf]
    _write_bf16(path, tensors)
    report = validate_checkpoint(ckpt)
    assert report["dtypes"].get("BF16")
    assert check(report, "weights fit config")["ok"]   # BF16 tensors count as floating point
    assert only_failures(report) == ["weights finite"]
    assert report["nonfinite"] == [{"tensor": QUERY, "nan": 1, "inf": 2, "size": 1024}]


def test_nan_in_pytorch_bin(torch, ckpt):
    state = {k: torch.from_numpy(np.array(v)) for k, v in load_file(os.path.join(ckpt, "model.safetensors")).items()}
    state[CONV][0, 0, 0, 0] = float("nan")
    torch.save(state, os.path.join(ckpt, "pytorch_model.bin"))
    os.remove(os.path.join(ckpt, "model.safetensors"))
    report = validate_checkpoint(ckpt)
    assert list(report["files"]) == ["pytorch_model.bin"]
    assert only_failures(report) == ["weights finite"]
    assert [f["tensor"] for f in report["nonfinite"]] == [CONV]


def test_nan_in_a_shard(ckpt):
    path = os.path.join(ckpt, "model.safetensors")
    tensors = {k: np.array(v) for k, v in load_file(path).items()}
    tensors[QUERY][1, 1] = np.nan
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for shard, part in shards.items():
        save_file({n: tensors[n] for n in part}, os.path.join(ckpt, shard), metadata={"format": "pt"})
    with open(os.path.join(ckpt, "model.safetensors.index.json"), "w") as f:
        json.dump({"weight_map": {n: shard for shard, part in shards.items() for n in part}}, f)
    os.remove(path)
    report = validate_checkpoint(ckpt, sha256=True)
    assert sorted(report["files"]) == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                       "model.safetensors.index.json"]
    assert only_failures(report) == ["weights finite"]
    assert report["nonfinite"] == [{"tensor": QUERY, "nan": 1, "inf": 0, "size": 1024}]
    assert len(report["sha256"]) == 64


# find_nonfinite -----------------------------------------------------------------------------------------------

def test_find_nonfinite_names_and_counts():
    params = {"a": np.ones((3, 4), np.float32), "b": np.array([1.0, np.nan, np.inf, -np.inf, np.nan]),
              "ids": np.arange(5), "empty": np.zeros((0, 3), np.float32), "c": np.float64(np.nan)}
    assert find_nonfinite(params) == ["b: 2 NaN, 2 inf (of 5 values)", "c: 1 NaN, 0 inf (of 1 values)"]
    assert find_nonfinite({"a": params["a"]}) == []


def test_find_nonfinite_limit():
    params = {f"t{i:02d}": np.array([np.nan, 1.0], np.float32) for i in range(13)}
    found = find_nonfinite(params, limit=10)
    assert len(found) == 11 and found[-1] == "and 3 more"
    assert found[0].startswith("t00: 1 NaN") and found[9].startswith("t09:")
    assert len(nonfinite_tensors(params)) == 13


def test_find_nonfinite_scans_every_chunk():
    """NaN / inf in the last, partial chunk of an array spanning several chunks; also strided arrays and float16."""
    chunk = 1000
    arr = np.zeros(3 * chunk + 7, np.float32)
    arr[-1] = np.nan
    assert find_nonfinite({"big": arr}, chunk=chunk) == [f"big: 1 NaN, 0 inf (of {arr.size} values)"]
    assert count_nonfinite(arr, chunk=chunk) == (1, 0)
    grid = np.zeros((80, 90), np.float16)
    grid[79, 88] = np.inf
    strided = grid.T[::2]                       # neither C- nor F-contiguous: read in small copies
    assert not strided.flags.c_contiguous and not strided.flags.f_contiguous
    assert count_nonfinite(strided, chunk=chunk) == (0, 1)
    assert count_nonfinite(grid.T, chunk=chunk) == (0, 1)      # F-contiguous: a view
    with pytest.raises(ValueError, match="chunk"):
        count_nonfinite(arr, chunk=0)


def test_find_nonfinite_streams_without_a_full_size_temporary():
    arr = np.zeros(4 * CHUNK_ELEMENTS + 5, np.float32)        # ~34 MB
    arr[-2:] = [np.nan, -np.inf]
    tracemalloc.start()
    try:
        found = find_nonfinite({"big": arr})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == [f"big: 1 NaN, 1 inf (of {arr.size} values)"]
    # a whole-array np.isfinite alone would allocate arr.size bytes at once; the chunked scan needs ~2 chunks' masks
    assert peak < arr.size * 3 // 4, peak


# config / weights mismatch ------------------------------------------------------------------------------------

def test_config_weights_mismatch(ckpt, capsys):
    edit_config(ckpt, lambda c: c.update(projection_dim=64))
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 1 and only_failures(report) == ["weights fit config"]
    detail = check(report, "weights fit config")["detail"]
    assert "misshaped: text_projection.weight: expected (64, 32), found (48, 32)" in detail
    assert "hint" not in detail                          # no misspelled key to blame
    with pytest.raises(CheckpointError) as e:            # loading refuses it the same way
        load_checkpoint(ckpt)
    assert "misshaped: text_projection.weight" in str(e.value) and "hint" not in str(e.value)


def test_long_mismatch_is_shortened(ckpt):
    edit_config(ckpt, lambda c: c["text_config"].update(hidden_size=64))
    report = validate_checkpoint(ckpt)
    detail = check(report, "weights fit config")["detail"]
    lines = detail.splitlines()
    assert "misshaped: text_model.embeddings.word_embeddings.weight" in detail
    assert len(lines) == MAX_DETAIL_LINES + 2 and lines[-1].startswith("  ... and ")
    assert strict_json(json.dumps(report))["ok"] is False


def test_invalid_config_skips_the_fit_check(ckpt, capsys):
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        f.write("{not json")
    code, out = run(capsys, ckpt, as_json=False)
    assert code == 1
    assert "FAIL  config.json" in out and "config.json: not valid JSON" in out
    assert "skip  weights fit config" in out and "ok    weights finite" in out


def test_unreadable_weights(ckpt, capsys):
    path = os.path.join(ckpt, "model.safetensors")
    with open(path, "r+b") as f:
        f.truncate(1000)
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 1 and not report["ok"]
    assert path in check(report, "weights file")["detail"]
    assert check(report, "weights finite")["status"] == "skip"
    assert check(report, "weights fit config")["status"] == "skip"
    assert check(report, "tokenizer")["ok"] and "config" in report


# tokenizer and preprocessor files ------------------------------------------------------------------------------

def test_missing_vocab(ckpt, capsys):
    os.remove(os.path.join(ckpt, "vocab.txt"))
    code, out = run(capsys, ckpt, as_json=False)
    assert code == 1
    (line,) = [ln for ln in out.splitlines() if ln.startswith("  FAIL  tokenizer")]
    assert "vocab.txt" in line
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert only_failures(report) == ["tokenizer"] and "vocab.txt" in check(report, "tokenizer")["detail"]


def test_malformed_tokenizer_config(ckpt):
    with open(os.path.join(ckpt, "tokenizer_config.json"), "w") as f:
        f.write('{"do_lower_case": "yes"}')
    report = validate_checkpoint(ckpt)
    assert only_failures(report) == ["tokenizer"]
    assert "tokenizer_config.json" in check(report, "tokenizer")["detail"]


def test_vocab_larger_than_the_embeddings(ckpt):
    edit_config(ckpt, lambda c: c["text_config"].update(vocab_size=30000))
    edit_weights(ckpt, lambda t: t.update({"text_model.embeddings.word_embeddings.weight":
                                           t["text_model.embeddings.word_embeddings.weight"][:30000]}))
    report = validate_checkpoint(ckpt)
    assert only_failures(report) == ["tokenizer"]
    assert "text_config.vocab_size" in check(report, "tokenizer")["detail"]


@pytest.mark.parametrize("content", ["{not json", '{"do_resize": "yes"}', "[1, 2]"])
def test_malformed_preprocessor_config(ckpt, capsys, content):
    path = os.path.join(ckpt, "preprocessor_config.json")
    with open(path, "w") as f:
        f.write(content)
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 1 and only_failures(report) == ["preprocessor_config.json"]
    assert path in check(report, "preprocessor_config.json")["detail"]


def test_absent_optional_files_are_fine(ckpt):
    os.remove(os.path.join(ckpt, "preprocessor_config.json"))
    os.remove(os.path.join(ckpt, "tokenizer_config.json"))
    report = validate_checkpoint(ckpt)
    assert report["ok"], report["checks"]
    assert "absent" in check(report, "preprocessor_config.json")["detail"]
    assert "absent" in check(report, "tokenizer")["detail"]


# config keys nothing reads ------------------------------------------------------------------------------------

def _misspell(c: dict) -> None:
    c["projection_dimm"] = c["projection_dim"]                              # a stray extra key
    c["text_config"]["layer_norm_epsilon"] = c["text_config"].pop("layer_norm_eps")


def test_misspelled_keys_are_listed_with_suggestions(ckpt, capsys):
    edit_config(ckpt, _misspell)
    code, out = run(capsys, ckpt, as_json=True)
    report = strict_json(out)
    assert code == 0 and report["ok"]                    # a warning, not a failure
    assert report["unknown_config_keys"] == [
        {"key": "projection_dimm", "suggestion": "projection_dim"},
        {"key": "text_config.layer_norm_epsilon", "suggestion": "layer_norm_eps"}]
    keys = check(report, "config keys")
    assert keys["ok"] and keys["status"] == "warn"
    assert "'text_config.layer_norm_epsilon' (did you mean 'layer_norm_eps'?)" in keys["detail"]
    (warning,) = report["warnings"]
    assert "'projection_dimm' (did you mean 'projection_dim'?)" in warning
    assert "projection_dimm" not in report["transformers_only_config_keys"]
    code, out = run(capsys, ckpt, as_json=False)
    assert code == 0 and any(ln.startswith("  warn  config keys") and "projection_dimm" in ln
                             for ln in out.splitlines())

    with pytest.warns(UserWarning, match="layer_norm_epsilon") as rec:
        load_config(ckpt)
    (w,) = [w for w in rec if "config.json" in str(w.message)]     # ONE warning for both keys
    assert "did you mean 'projection_dim'?" in str(w.message) and "did you mean 'layer_norm_eps'?" in str(w.message)


def test_validate_itself_does_not_warn(ckpt):
    edit_config(ckpt, _misspell)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = validate_checkpoint(ckpt)
    assert report["warnings"]


def test_intact_config_has_no_suspicious_keys(tiny_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # transformers-only keys of tiny's config.json are not warned about
        load_config(tiny_dir)
        load_checkpoint(tiny_dir)
    report = validate_checkpoint(tiny_dir)
    assert report["unknown_config_keys"] == [] and report["warnings"] == []
    known = report["transformers_only_config_keys"]
    for key in ("architectures", "transformers_version", "text_config.hidden_dropout_prob",
                "text_config.attention_probs_dropout_prob", "vision_config.drop_connect_rate",
                "vision_config.batch_norm_momentum", "vision_config.num_hidden_layers"):
        assert key in known
    assert "projection_dim" not in known and "text_config.hidden_size" not in known


def test_misspelled_key_behind_a_mismatch_is_named(ckpt):
    def misspell(c):
        c["projection_dimm"] = c.pop("projection_dim")    # 48 is ignored: the default 640 is used
    edit_config(ckpt, misspell)
    with pytest.warns(UserWarning, match="projection_dimm"):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(ckpt)
    msg = str(e.value)
    assert "misshaped: text_projection.weight: expected (640, 32)" in msg
    assert "'projection_dimm' (did you mean 'projection_dim'? in use: projection_dim=640)" in msg
    assert "misspelled config key is the likely cause" in msg

    with pytest.warns(UserWarning):
        cfg = load_config(ckpt)
    with pytest.raises(CheckpointError, match="projection_dimm"):        # check_state_dict itself says it
        check_state_dict(load_state_dict(ckpt), cfg, "model.safetensors")

    report = validate_checkpoint(ckpt)
    assert only_failures(report) == ["weights fit config"]
    assert "projection_dimm" in check(report, "weights fit config")["detail"]


def test_format_report_marks_every_status(ckpt):
    edit_config(ckpt, _misspell)
    edit_weights(ckpt, lambda t: t[QUERY].__setitem__((0, 0), np.nan))
    text = format_report(validate_checkpoint(ckpt))
    statuses = {ln.split()[0] for ln in text.splitlines() if ln.startswith("  ") and ln.split()
                and ln.split()[0] in ("ok", "FAIL", "warn", "skip")}
    assert statuses == {"ok", "FAIL", "warn"}
    assert text.splitlines()[-1].startswith("result: FAIL (1 of 7 checks failed: weights finite")
