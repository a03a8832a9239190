"""Strict checkpoint loading: safetensors (single or sharded) memory-mapped, pytorch_model.bin via torch_pickle.

safetensors layout: 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
  {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
then the data area; offsets are relative to its start (byte 8 + N) and the tensors tile it without gaps.
The header is validated here before safetensors sees the file, and tensors are NumPy views of a private
(copy-on-write) memory map of the file: float32 weights used as float32 are never copied.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import struct

import numpy as np

from ..errors import CheckpointError, WeightsNotFoundError
from ..memory import map_file
from .config import ModelConfig
from .key_variants import canonical_names, is_ignorable
from .torch_pickle import bf16_to_float32, read_torch_header, read_torch_raw

Shapes = dict[str, tuple[int, ...]]

MAX_HEADER_BYTES = 100 << 20  # align-base's header is ~90 KB

# safetensors dtype -> little-endian NumPy dtype. BF16 has no NumPy type: read as uint16 bits, then widened.
ST_DTYPES = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "U16": "<u2", "I16": "<i2", "U32": "<u4", "I32": "<i4",
    "U64": "<u8", "I64": "<i8", "F16": "<f2", "BF16": "<u2", "F32": "<f4", "F64": "<f8",
}
FLOAT_ST = ("F16", "BF16", "F32", "F64")

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"
WEIGHT_NAMES = (SAFETENSORS, SAFETENSORS_INDEX, TORCH_BIN, TORCH_BIN_INDEX)  # in order of preference


def compute_dtype(dtype) -> np.dtype:
    """float32 or float64, from any NumPy spelling; anything else is a ValueError naming the argument."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype={dtype!r} is not a NumPy dtype; the compute dtype must be float32 or float64") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype={dtype!r}: the compute dtype must be float32 or float64")
    return dt


# safetensors: header ------------------------------------------------------------------------------------------

def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"duplicate keys {dup[:5]}")
    return dict(pairs)


def read_header(path: str) -> tuple[dict[str, dict], int]:
    """Validated header of a .safetensors file: ({name: {dtype, shape, data_offsets}}, start of data area)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: truncated: {size} bytes, too short for a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise CheckpointError(f"{path}: header length {n} is impossible for a file of {size} bytes "
                                      f"(limit {MAX_HEADER_BYTES}): truncated or not a safetensors file")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from None
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is a JSON {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path}: __metadata__ must map strings to strings")
    data_len = size - 8 - n
    for name, info in header.items():
        _check_entry(path, name, info, data_len)
    _check_tiling(path, header, data_len)
    return header, 8 + n


def _check_entry(path: str, name: str, info, data_len: int) -> None:
    where = f"{path}: tensor {name!r}"
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{where}: entry must have exactly dtype, shape and data_offsets, got {info!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or dtype not in ST_DTYPES:
        raise CheckpointError(f"{where}: unsupported dtype {dtype!r} (known: {', '.join(ST_DTYPES)})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise CheckpointError(f"{where}: shape must be a list of non-negative integers, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1] <= data_len):
        raise CheckpointError(f"{where}: data_offsets {offsets!r} outside the data area of {data_len} bytes")
    nbytes = math.prod(shape) * np.dtype(ST_DTYPES[dtype]).itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise CheckpointError(f"{where}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes but "
                              f"{dtype} {shape} needs {nbytes}")


def _check_tiling(path: str, header: dict, data_len: int) -> None:
    """Tensors must cover the data area exactly once, as the format requires (no overlaps, no gaps)."""
    pos, prev = 0, None
    for name, info in sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        begin, end = info["data_offsets"]
        if begin < pos:
            raise CheckpointError(f"{path}: tensors {prev!r} and {name!r} overlap (bytes {begin}..{pos})")
        if begin > pos:
            raise CheckpointError(f"{path}: gap in the data area before tensor {name!r} (bytes {pos}..{begin})")
        pos, prev = end, name
    if pos != data_len:
        raise CheckpointError(f"{path}: the data area has {data_len} bytes but the tensors cover {pos}")


def _cross_check(path: str, header: dict) -> None:
    """Let safetensors itself parse the (already validated) header; its view must agree with ours."""
    from safetensors import safe_open
    try:
        with safe_open(path, framework="np") as f:
            keys = set(f.keys())
            for name in keys & set(header):
                sl = f.get_slice(name)
                if list(sl.get_shape()) != header[name]["shape"] or sl.get_dtype() != header[name]["dtype"]:
                    raise CheckpointError(f"{path}: safetensors reads tensor {name!r} differently")
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: safetensors cannot open it: {e}") from None
    if keys != set(header):
        raise CheckpointError(f"{path}: safetensors sees tensors {sorted(keys ^ set(header))[:10]} differently")


# safetensors: data --------------------------------------------------------------------------------------------

def read_safetensors_raw(path) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (view of the stored bytes in the stored dtype, safetensors dtype); BF16 as uint16 bits."""
    path = os.fspath(path)
    header, start = read_header(path)
    _cross_check(path, header)
    mm = None
    if os.path.getsize(path) > start:
        with open(path, "rb") as f:
            mm = map_file(f)
    out = {}
    for name, info in header.items():
        dt = np.dtype(ST_DTYPES[info["dtype"]])
        shape, (begin, end) = tuple(info["shape"]), info["data_offsets"]
        if begin == end:
            arr = np.zeros(shape, dt)
        else:
            arr = np.frombuffer(mm, dt, (end - begin) // dt.itemsize, start + begin).reshape(shape)
            if (start + begin) % dt.itemsize:  # unaligned views upset compiled kernels: copy those
                arr = arr.copy()
        out[name] = (arr, info["dtype"])
    return out


def _to_compute(arr: np.ndarray, st: str, dtype: np.dtype) -> np.ndarray:
    """Floating tensors -> the compute dtype (no copy when already there); integers and bools unchanged."""
    if st == "BF16":
        arr = bf16_to_float32(arr)
    if st in FLOAT_ST and arr.dtype != dtype:
        return arr.astype(dtype)
    if not arr.dtype.isnative:
        return arr.astype(arr.dtype.newbyteorder("="))
    return arr


def read_safetensors(path, dtype=np.float32) -> dict[str, np.ndarray]:
    """A validated .safetensors file as name -> array; float32 tensors are views of the memory-mapped file."""
    dt = compute_dtype(dtype)
    return {name: _to_compute(arr, st, dt) for name, (arr, st) in read_safetensors_raw(path).items()}


# sharded checkpoints ------------------------------------------------------------------------------------------

def _read_index(path: str) -> dict[str, list[str]]:
    """A *.index.json: shard file name -> the tensor names it must hold."""
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read the shard index: {e}") from None
    wm = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(wm, dict) or not wm or not all(isinstance(v, str) for v in wm.values()):
        raise CheckpointError(f"{path}: needs a non-empty 'weight_map' object of tensor name -> shard file")
    shards: dict[str, list[str]] = {}
    for name, shard in wm.items():
        if os.path.basename(shard) != shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{path}: shard {shard!r} of tensor {name!r} is not a file name in this folder")
        shards.setdefault(shard, []).append(name)
    return shards


def _load_sharded(path: str, read_one) -> dict[str, np.ndarray]:
    folder = os.path.dirname(path)
    state: dict[str, np.ndarray] = {}
    for shard, names in _read_index(path).items():
        file = os.path.join(folder, shard)
        if not os.path.isfile(file):
            raise CheckpointError(f"{path}: shard {file} is missing")
        part = read_one(file)
        missing, extra = sorted(set(names) - set(part)), sorted(set(part) - set(names))
        if missing or extra:
            raise CheckpointError(f"{file}: does not match {os.path.basename(path)}: missing {missing[:10]}, "
                                  f"not in the index {extra[:10]}")
        state.update(part)
    return state


# any checkpoint -----------------------------------------------------------------------------------------------

def weights_files(path) -> list[str]:
    """The weights file(s) of a checkpoint directory or file: one file, or an index followed by its shards."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in WEIGHT_NAMES:
            if os.path.isfile(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise WeightsNotFoundError(f"{path}: no weights in this folder (looked for {', '.join(WEIGHT_NAMES)})")
    elif not os.path.isfile(path):
        raise WeightsNotFoundError(f"{path}: no such file or directory")
    if path.endswith(".json"):
        folder = os.path.dirname(path)
        return [path] + [os.path.join(folder, s) for s in sorted(_read_index(path))]
    return [path]


def _is_torch_file(path: str) -> bool:
    if path.endswith((".bin", ".pt", ".pth")):
        return True
    if path.endswith(".safetensors"):
        return False
    with open(path, "rb") as f:
        return f.read(2) in (b"PK", b"\x80\x02")  # a zip archive, or a bare (legacy) pickle


def _read_torch(path: str, dtype: np.dtype) -> dict[str, np.ndarray]:
    return {name: _to_compute(arr, st, dtype) for name, (arr, st) in read_torch_raw(path).items()}


def load_state_dict(path, dtype=np.float32) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint (directory or file; safetensors preferred, pytorch_model.bin as fallback),
    floating tensors in the compute dtype. Not checked against a config: see check_state_dict."""
    dt = compute_dtype(dtype)
    file = weights_files(path)[0]
    if file.endswith(".json"):
        torch_shards = os.path.basename(file) == TORCH_BIN_INDEX
        read_one = (lambda f: _read_torch(f, dt)) if torch_shards else (lambda f: read_safetensors(f, dt))
        return _load_sharded(file, read_one)
    if _is_torch_file(file):
        return _read_torch(file, dt)
    return read_safetensors(file, dt)


def load_raw_state_dict(path) -> dict[str, tuple[np.ndarray, str]]:
    """Every tensor as stored, with its safetensors dtype name (BF16 as uint16 bits), nothing converted:
    safetensors tensors stay views of the memory-mapped file; pytorch_model.bin tensors are read."""
    file = weights_files(path)[0]
    if file.endswith(".json"):
        torch_shards = os.path.basename(file) == TORCH_BIN_INDEX
        return _load_sharded(file, read_torch_raw if torch_shards else read_safetensors_raw)
    return read_torch_raw(file) if _is_torch_file(file) else read_safetensors_raw(file)


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_state_dict(state, required: Shapes, optional: Shapes, source: str, hint: str = "") -> dict[str, np.ndarray]:
    """Keep the tensors the model reads (+ optional ones present), under the names the architecture uses (known
    on-disk variants are accepted: refalign.loading.key_variants); every missing, misshaped, non-float or unexpected
    tensor is listed in one CheckpointError, followed by `hint` (e.g. misspelled config keys)."""
    state = canonical_names(state, {**optional, **required})
    kept, problems = {}, []
    for name, arr in state.items():
        want = required.get(name, optional.get(name))
        if want is None:
            if not is_ignorable(name):
                problems.append(f"unexpected: {name} {_fmt(np.shape(arr))}")
            continue
        if tuple(np.shape(arr)) != tuple(want):
            problems.append(f"misshaped: {name}: expected {_fmt(want)}, found {_fmt(np.shape(arr))}")
        elif not np.issubdtype(np.asarray(arr).dtype, np.floating):
            problems.append(f"wrong dtype: {name}: expected floating point, found {np.asarray(arr).dtype}")
        else:
            kept[name] = arr
    problems += [f"missing: {name} {_fmt(required[name])}" for name in required if name not in state]
    if problems:
        counts = {k: sum(p.startswith(k) for p in problems) for k in ("missing", "misshaped", "unexpected")}
        raise CheckpointError(
            f"{source}: the weights do not fit the architecture in its config.json "
            f"({counts['missing']} missing, {counts['misshaped']} misshaped, {counts['unexpected']} unexpected):\n  "
            + "\n  ".join(problems) + (f"\n{hint}" if hint else ""))
    return kept


def config_dir(path: str) -> str:
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


def load_checkpoint(path, config_class: type[ModelConfig], shapes, dtype=np.float32
                    ) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """A family's config.json (next to the weights) and its strictly checked weights; `shapes(cfg)` gives the
    (required, optional) tensor shapes of the family's architecture."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"{path}: no such file or directory")
    cfg = config_class.from_pretrained(path)
    state = load_state_dict(path, dtype)
    required, optional = shapes(cfg)
    return cfg, check_state_dict(state, required, optional, weights_files(path)[0], cfg.unknown_keys_hint())


# summary ------------------------------------------------------------------------------------------------------

def _tensor_table(files: list[str]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (stored dtype, shape), from headers / data.pkl only."""
    table = {}
    for file in files:
        if file.endswith(".json"):
            continue
        if _is_torch_file(file):
            table.update(read_torch_header(file))
        else:
            header, _ = read_header(file)
            table.update({n: (i["dtype"], tuple(i["shape"])) for n, i in header.items()})
    return table


def _tower(name: str) -> str:
    if name.startswith("text_model."):
        return "text"
    if name.startswith("vision_model."):
        return "vision"
    return "projection" if name.split(".")[0].endswith("projection") else "other"  # other: temperature, logit scale


def weights_sha256(path) -> str:
    """sha256 of the weights file (of the index and shards concatenated, in weights_files order), streamed."""
    h = hashlib.sha256()
    for file in weights_files(path):
        with open(file, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def checkpoint_summary(path, *, sha256: bool = False) -> dict:
    """What `refalign info` shows of the weights: files and sizes, tensor count, values per tower (BN running
    statistics count; num_batches_tracked-style buffers do not), stored dtypes; sha256 when asked."""
    path = os.fspath(path)
    files = weights_files(path)
    table = _tensor_table(files)
    per_tower = {"text": 0, "vision": 0, "projection": 0, "other": 0}
    dtypes: dict[str, int] = {}
    for name, (st, shape) in table.items():
        dtypes[st] = dtypes.get(st, 0) + 1
        if not is_ignorable(name):
            per_tower[_tower(name)] += math.prod(shape)
    summary = {
        "path": path,
        "files": {os.path.basename(f): os.path.getsize(f) for f in files},
        "tensors": len(table),
        "parameters": {**per_tower, "total": sum(per_tower.values())},
        "dtypes": dtypes,
    }
    if sha256:
        summary["sha256"] = weights_sha256(path)
    return summary


def require_tensors(params: dict, shapes: Shapes) -> None:
    """Every tensor a forward pass reads is present with its shape: CheckpointError naming the first that is not."""
    for key, shape in shapes.items():
        if key not in params:
            raise CheckpointError(f"missing tensor {key!r}")
        if tuple(params[key].shape) != tuple(shape):
            raise CheckpointError(f"tensor {key!r} has shape {tuple(params[key].shape)}, expected {tuple(shape)}")
