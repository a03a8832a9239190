"""refalign.loading.checkpoint: safetensors validation, strict loading against the architecture, dtypes, shards, full size."""
from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from refalign.auto import check_state_dict, load_checkpoint, load_config
from refalign.loading.checkpoint import (checkpoint_summary, load_state_dict,
                                 read_safetensors, weights_sha256)
from refalign.errors import CheckpointError, ConfigError, WeightsNotFoundError
from refalign.loading.key_variants import is_ignorable
from refalign.models.align import AlignModel
from refalign.towers.efficientnet import efficientnet_shapes


# helpers ------------------------------------------------------------------------------------------------------

def split_file(path):
    """(header dict, data bytes) of a safetensors file, read by hand."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        return header, f.read()


def write_raw(path, header, data: bytes, header_bytes: bytes | None = None):
    blob = header_bytes if header_bytes is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob + data)
    return str(path)


def copy_dir(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def tiny_file(tiny_dir):
    return os.path.join(tiny_dir, "model.safetensors")


def mapped(arr) -> bool:
    """Is the array a view of a memory map (no copy of the file's bytes)?"""
    while arr is not None and not isinstance(arr, mmap.mmap):
        arr = arr.obj if isinstance(arr, memoryview) else arr.base
    return isinstance(arr, mmap.mmap)


# valid checkpoints --------------------------------------------------------------------------------------------

def test_tiny_loads_strictly_and_equals_safetensors(tiny_dir):
    cfg, state = load_checkpoint(tiny_dir)
    ref = load_file(tiny_file(tiny_dir))  # safetensors' own reader
    required, optional = AlignModel.weight_shapes(cfg)[0], AlignModel.weight_shapes(cfg)[1]
    assert set(required) <= set(state) <= set(required) | set(optional)
    for name, arr in state.items():
        assert arr.dtype == np.float32 and arr.shape == ref[name].shape, name
        np.testing.assert_array_equal(arr, ref[name])
    # float32 stored -> float32 compute: views of the mapped file, not copies
    assert all(mapped(a) for a in state.values())
    assert all(a.flags.writeable for a in state.values())  # copy-on-write mapping: writes never reach the file


def test_load_state_dict_keeps_integers_and_accepts_files(tiny_dir):
    state = load_state_dict(tiny_file(tiny_dir))
    counters = [n for n in state if n.endswith("num_batches_tracked")]
    assert counters and all(state[n].dtype == np.int64 for n in counters)
    assert set(state) == set(load_file(tiny_file(tiny_dir)))


@pytest.mark.parametrize("spelling", [np.float64, "float64", "f8", np.dtype("float64")])
def test_float64_compute_dtype(tiny_dir, spelling):
    ref = load_file(tiny_file(tiny_dir))
    state = read_safetensors(tiny_file(tiny_dir), dtype=spelling)
    for name, arr in state.items():
        if ref[name].dtype == np.float32:
            assert arr.dtype == np.float64
            np.testing.assert_array_equal(arr, ref[name].astype(np.float64))
        else:
            assert arr.dtype == ref[name].dtype


@pytest.mark.parametrize("bad", [np.float16, "int32", "bfloat16", "nonsense", 3])
def test_bad_compute_dtype_is_value_error(tiny_dir, bad):
    with pytest.raises(ValueError, match="dtype"):
        load_checkpoint(tiny_dir, dtype=bad)


def test_fp16_and_bf16_upcast_exactly(torch, tmp_path):
    from safetensors.torch import save_file as torch_save_file
    g = torch.Generator().manual_seed(0)
    src = {"h": torch.randn(7, 5, generator=g).half(), "b": torch.randn(3, 4, 2, generator=g).bfloat16(),
           "f": torch.randn(6, generator=g), "d": torch.randn(2, 3, generator=g, dtype=torch.float64),
           "i": torch.arange(5), "bits": torch.tensor([-0.0, float("inf"), 1e-40]).bfloat16()}
    path = str(tmp_path / "mixed.safetensors")
    torch_save_file(src, path)
    for dtype in (np.float32, np.float64):
        got = read_safetensors(path, dtype)
        for name, t in src.items():
            want = t.double().numpy() if t.is_floating_point() else t.numpy()
            assert got[name].dtype == (dtype if t.is_floating_point() else np.int64), name
            np.testing.assert_array_equal(got[name], want.astype(got[name].dtype), err_msg=name)
    assert np.signbit(read_safetensors(path)["bits"][0])  # -0.0 survives the bf16 bit shift


def test_fp16_checkpoint_loads(torch, tiny_dir, tmp_path):
    from safetensors.torch import load_file as tl, save_file as ts
    d = copy_dir(tiny_dir, tmp_path / "half")
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in tl(tiny_file(tiny_dir)).items()}
    ts(half, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    _, state = load_checkpoint(d)
    for name, arr in state.items():
        assert arr.dtype == np.float32
        np.testing.assert_array_equal(arr, half[name].float().numpy(), err_msg=name)


def shard(tiny_dir, dst):
    """Split the tiny checkpoint into two shards + index, as transformers does for big models."""
    d = copy_dir(tiny_dir, dst)
    os.remove(os.path.join(d, "model.safetensors"))
    ref = load_file(tiny_file(tiny_dir))
    names = sorted(ref)
    parts = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for file, part in parts.items():
        save_file({n: ref[n] for n in part}, os.path.join(d, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
    return d, ref, weight_map


def test_sharded_index_with_two_shards(tiny_dir, tmp_path):
    d, ref, _ = shard(tiny_dir, tmp_path / "sharded")
    cfg, state = load_checkpoint(d)
    _, single = load_checkpoint(tiny_dir)
    assert set(state) == set(single)
    for name in state:
        np.testing.assert_array_equal(state[name], single[name])
    assert set(load_state_dict(os.path.join(d, "model.safetensors.index.json"))) == set(ref)
    summary = checkpoint_summary(d)
    assert summary["tensors"] == len(ref) and len(summary["files"]) == 3


def test_sharded_index_inconsistent(tiny_dir, tmp_path):
    d, _, weight_map = shard(tiny_dir, tmp_path / "sharded")
    index = os.path.join(d, "model.safetensors.index.json")
    moved = next(iter(weight_map))
    weight_map[moved] = ("model-00002-of-00002.safetensors" if weight_map[moved].startswith("model-00001")
                         else "model-00001-of-00002.safetensors")
    with open(index, "w") as f:
        json.dump({"weight_map": weight_map}, f)
    with pytest.raises(CheckpointError, match=moved.replace(".", r"\.")):
        load_checkpoint(d)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    with pytest.raises(CheckpointError, match="model-00002-of-00002.safetensors"):
        load_checkpoint(d)
    with open(index, "w") as f:
        json.dump({"weight_map": {"x": "../../etc/passwd"}}, f)
    with pytest.raises(CheckpointError, match="not a file name"):
        load_state_dict(d)


# malformed files ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keep", [0, 5, 8, 100, 30000, "half", "minus1"])
def test_truncated_file(tiny_dir, tmp_path, keep):
    raw = open(tiny_file(tiny_dir), "rb").read()
    n = {"half": len(raw) // 2, "minus1": len(raw) - 1}.get(keep, keep)
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw[:n])
    with pytest.raises(CheckpointError, match=str(path)):
        read_safetensors(path)


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 10**12, "file size", "cap+1"])
def test_oversized_header_length(tiny_dir, tmp_path, length):
    raw = open(tiny_file(tiny_dir), "rb").read()
    n = {"file size": len(raw), "cap+1": (100 << 20) + 1}.get(length, length)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", n) + raw[8:])
    with pytest.raises(CheckpointError, match=f"{path}.*header length"):
        read_safetensors(path)


@pytest.mark.parametrize("garbage", [b"\xff\xfe not utf-8 \x80", b"{not json", b"[1, 2, 3]", b"null",
                                     b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {}}'])
def test_garbage_header(tiny_dir, tmp_path, garbage):
    _, data = split_file(tiny_file(tiny_dir))
    path = write_raw(tmp_path / "model.safetensors", None, data, header_bytes=garbage)
    with pytest.raises(CheckpointError, match=path):
        read_safetensors(path)


def _corrupt_entry(tiny_dir, tmp_path, edit):
    header, data = split_file(tiny_file(tiny_dir))
    name = "text_projection.weight"
    edit(header, name)
    return write_raw(tmp_path / "model.safetensors", header, data), name


@pytest.mark.parametrize("edit, why", [
    (lambda h, n: h[n].update(data_offsets=[0, 10**12]), "outside"),
    (lambda h, n: h[n].update(data_offsets=[-4, 0]), "outside"),
    (lambda h, n: h[n].update(data_offsets=[h[n]["data_offsets"][0], h[n]["data_offsets"][1] - 4]), "needs"),
    (lambda h, n: h[n].update(data_offsets=[8, 8 + h[n]["data_offsets"][1] - h[n]["data_offsets"][0]]), "overlap"),
    (lambda h, n: h[n].update(data_offsets="0-4"), "outside"),
    (lambda h, n: h[n].update(shape=[48, -32]), "shape"),
    (lambda h, n: h[n].update(dtype="F8_E4M3"), "unsupported dtype"),
    (lambda h, n: h[n].update(dtype="F16"), "needs"),
    (lambda h, n: h[n].pop("shape"), "exactly"),
])
def test_bad_entries_name_the_tensor(tiny_dir, tmp_path, edit, why):
    path, name = _corrupt_entry(tiny_dir, tmp_path, edit)
    with pytest.raises(CheckpointError, match=why) as e:
        read_safetensors(path)
    assert path in str(e.value) and (name in str(e.value) or "overlap" in str(e.value))


def test_gap_in_data_area(tiny_dir, tmp_path):
    header, data = split_file(tiny_file(tiny_dir))
    path = write_raw(tmp_path / "model.safetensors", header, data + b"\0" * 16)  # trailing bytes no tensor owns
    with pytest.raises(CheckpointError, match="data area"):
        read_safetensors(path)


def test_missing_misshaped_unexpected_in_one_error(tiny_dir, tmp_path):
    d = copy_dir(tiny_dir, tmp_path / "broken")
    state = load_file(tiny_file(tiny_dir))
    del state["text_projection.bias"]  # missing
    state["vision_model.embeddings.convolution.weight"] = state["vision_model.embeddings.convolution.weight"][:5]
    state["text_model.pooler.dense.bias"] = state["text_model.pooler.dense.bias"][:3]  # optional, misshaped
    state["vision_model.head.weight"] = np.zeros((2, 3), np.float32)  # unexpected
    save_file(state, os.path.join(d, "model.safetensors"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(d)
    msg = str(e.value)
    cfg = load_config(tiny_dir)
    conv = AlignModel.weight_shapes(cfg)[0]["vision_model.embeddings.convolution.weight"]
    assert os.path.join(d, "model.safetensors") in msg
    assert f"missing: text_projection.bias ({cfg.projection_dim},)" in msg
    assert f"misshaped: vision_model.embeddings.convolution.weight: expected {conv}, found {(5, *conv[1:])}" in msg
    assert f"misshaped: text_model.pooler.dense.bias: expected ({cfg.text_config.hidden_size},), found (3,)" in msg
    assert "unexpected: vision_model.head.weight (2, 3)" in msg
    assert "1 missing, 2 misshaped, 1 unexpected" in msg


def test_check_state_dict_skips_ignorable_and_rejects_int_weights(tiny_dir):
    cfg = load_config(tiny_dir)
    state = load_state_dict(tiny_dir)
    kept = check_state_dict(state, cfg, "tiny")
    assert not any(is_ignorable(n) for n in kept)
    assert set(AlignModel.weight_shapes(cfg)[0]) <= set(kept)
    state["text_projection.bias"] = state["text_projection.bias"].astype(np.int64)
    with pytest.raises(CheckpointError, match="text_projection.bias: expected floating point"):
        check_state_dict(state, cfg, "tiny")


@pytest.mark.parametrize("content", [b"garbage, not a zip", b"\x80\x02}q\x00.", b"PK\x03\x04 truncated zip"])
def test_directory_with_unreadable_pickle(tiny_dir, tmp_path, content):
    d = tmp_path / "bin-only"
    d.mkdir()
    shutil.copy(os.path.join(tiny_dir, "config.json"), d)
    (d / "pytorch_model.bin").write_bytes(content)
    with pytest.raises(CheckpointError, match=str(d / "pytorch_model.bin")):
        load_checkpoint(d)


def test_no_weights_and_no_path(tiny_dir, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    shutil.copy(os.path.join(tiny_dir, "config.json"), d)
    with pytest.raises(WeightsNotFoundError, match="model.safetensors"):
        load_checkpoint(d)
    with pytest.raises(WeightsNotFoundError, match="nowhere"):
        load_checkpoint(tmp_path / "nowhere")


@pytest.mark.parametrize("config", ['{"text_config": ', '{"projection_dim": "big"}', '[]'])
def test_broken_config_json(tiny_dir, tmp_path, config):
    d = copy_dir(tiny_dir, tmp_path / "cfg")
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config)
    with pytest.raises(ConfigError, match=os.path.join(d, "config.json")):
        load_checkpoint(d)
    with pytest.raises(ConfigError, match="config.json"):  # a bare file reads its folder's config.json
        load_checkpoint(os.path.join(d, "model.safetensors"))


def test_summary_and_sha256(tiny_dir):
    cfg = load_config(tiny_dir)
    s = checkpoint_summary(tiny_dir, sha256=True)
    header, _ = split_file(tiny_file(tiny_dir))
    header.pop("__metadata__")
    assert s["tensors"] == len(header)
    assert s["dtypes"] == {"F32": sum(h["dtype"] == "F32" for h in header.values()),
                           "I64": sum(h["dtype"] == "I64" for h in header.values())}
    shapes = {**AlignModel.weight_shapes(cfg)[0], **AlignModel.weight_shapes(cfg)[1]}
    text = sum(math.prod(v) for k, v in shapes.items() if k.startswith("text_model."))
    vision = sum(math.prod(v) for k, v in efficientnet_shapes(cfg.vision_config).items())
    assert s["parameters"]["text"] == text and s["parameters"]["vision"] == vision
    assert s["parameters"]["projection"] == cfg.projection_dim * (cfg.text_config.hidden_size + 1)
    assert s["parameters"]["total"] == sum(math.prod(v) for v in shapes.values())
    want = hashlib.sha256(open(tiny_file(tiny_dir), "rb").read()).hexdigest()
    assert s["sha256"] == want == weights_sha256(tiny_dir) == weights_sha256(tiny_file(tiny_dir))
    assert s["files"] == {"model.safetensors": os.path.getsize(tiny_file(tiny_dir))}
    assert "sha256" not in checkpoint_summary(tiny_dir)


# full size ----------------------------------------------------------------------------------------------------

RSS_SCRIPT = r"""
import json, resource, sys
import numpy as np
from refalign.auto import load_checkpoint

def peak():
    # VmHWM: this process's peak RSS. (ru_maxrss can carry over the forking parent's peak across exec.)
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) * 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)

base = peak()
cfg, state = load_checkpoint(sys.argv[1])
after_load = peak()
total = sum(float(a.sum(dtype=np.float64)) for a in state.values())  # touch every weight's pages
after_touch = peak()
print(json.dumps({"base": base, "after_load": after_load, "after_touch": after_touch, "tensors": len(state)}))
"""


def test_full_checkpoint_strict_and_rss(full_dir, record_property):
    cfg, state = load_checkpoint(full_dir)
    required, optional = AlignModel.weight_shapes(cfg)[0], AlignModel.weight_shapes(cfg)[1]
    assert set(required) <= set(state) <= set(required) | set(optional)
    assert len(state) == len(required) + len(set(optional) & set(state))
    assert cfg.vision_config.num_hidden_layers == 55 and cfg.text_config.num_hidden_layers == 12
    del state

    size = os.path.getsize(os.path.join(full_dir, "model.safetensors"))
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, full_dir], capture_output=True, text=True, check=True)
    m = json.loads(out.stdout)
    mb = lambda b: f"{b / 2**20:.0f} MiB"
    report = (f"file {mb(size)}; peak RSS: interpreter {mb(m['base'])}, after load {mb(m['after_load'])}, "
              f"after touching every weight {mb(m['after_touch'])}")
    print(report)
    record_property("rss", report)
    assert m["tensors"] == len(required) + len(optional)
    assert m["after_touch"] <= 1.3 * size + m["base"], report
    assert m["after_load"] - m["base"] < 0.1 * size, report  # loading itself copies nothing


@pytest.mark.slow
def test_full_checkpoint_as_pytorch_bin(torch, full_dir, tmp_path):
    """The hub's align-base was a pytorch_model.bin: read it without torch, and convert it."""
    from safetensors.torch import load_file as torch_load_file
    from refalign.loading.torch_pickle import convert_to_safetensors, read_torch_checkpoint
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(full_dir, name), d)
    sd = torch_load_file(os.path.join(full_dir, "model.safetensors"))
    torch.save(sd, d / "pytorch_model.bin")
    del sd

    ref = read_safetensors(os.path.join(full_dir, "model.safetensors"))
    got = read_torch_checkpoint(d / "pytorch_model.bin")
    assert set(got) == set(ref)
    for name in ref:
        assert got[name].dtype == ref[name].dtype and np.array_equal(got[name], ref[name]), name
    del got

    cfg, state = load_checkpoint(d)  # .bin fallback
    assert set(state) == set(load_checkpoint(full_dir)[1])

    out = convert_to_safetensors(d)
    assert out == str(d / "model.safetensors")
    back = read_safetensors(out)
    assert set(back) == set(ref)
    for name in ref:
        assert back[name].dtype == ref[name].dtype and np.array_equal(back[name], ref[name]), name
