"""refalign.loading.torch_pickle: torch.save'd state dicts read without torch, unsafe pickles refused, conversion."""
from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from refalign.auto import load_checkpoint
from refalign.loading import torch_pickle
from refalign.loading.checkpoint import load_state_dict, read_safetensors, read_safetensors_raw
from refalign.errors import CheckpointError, UnsafePickleError
from refalign.loading.torch_pickle import convert_to_safetensors, read_torch_checkpoint, restricted_loads


def mixed_state(torch):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(10, 6, generator=g)
    shared = torch.randn(40, generator=g, dtype=torch.float64)
    return {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(5, 2, generator=g).half(),
        "bf16": torch.randn(4, 3, generator=g).bfloat16(),
        "f64": torch.randn(2, 2, generator=g, dtype=torch.float64),
        "i64": torch.randint(-2**40, 2**40, (7,), generator=g),
        "i32": torch.randint(-1000, 1000, (2, 3), generator=g, dtype=torch.int32),
        "u8": torch.randint(0, 255, (9,), generator=g, dtype=torch.uint8),
        "bool": torch.rand(3, 3, generator=g) > 0.5,
        "scalar": torch.tensor(0.0432),
        "empty": torch.zeros(0, 3),
        "transposed": base.t(),                        # strides (1, 6)
        "stepped": base[1::3, ::2],                   # storage offset 6, strides (18, 2)
        "offset": base[4:],                            # storage offset 24, contiguous
        "shared_a": shared[:20].view(4, 5),            # two tensors on one storage
        "shared_b": shared[10:].view(5, 6).t(),
        "bf16_strided": torch.randn(6, 4, generator=g).bfloat16()[::2, 1:],
        "param": torch.nn.Parameter(torch.randn(2, 3, generator=g)),
        "expanded": torch.randn(3, generator=g).expand(4, 3),  # stride 0: more elements than its storage
    }


def as_numpy(torch, t):
    """torch's view of a tensor in NumPy terms; bf16 (no NumPy type) compared via .float()."""
    t = t.detach()
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


@pytest.fixture
def saved(torch, tmp_path):
    sd = mixed_state(torch)
    path = tmp_path / "pytorch_model.bin"
    torch.save(sd, path)
    return path, sd


def test_reads_like_torch_load(torch, saved):
    path, _ = saved
    want = torch.load(path, weights_only=True)
    got = read_torch_checkpoint(path)
    assert list(got) == list(want)
    for name, t in want.items():
        ref = as_numpy(torch, t)
        assert got[name].dtype == ref.dtype and got[name].shape == ref.shape, name
        assert np.array_equal(got[name], ref), name
        assert got[name].flags.c_contiguous and got[name].flags.writeable, name
    # the strided tensors really were strided in the file (else the test proves nothing about strides)
    assert not want["transposed"].is_contiguous() and want["stepped"].storage_offset() > 0
    assert want["shared_a"].untyped_storage().data_ptr() == want["shared_b"].untyped_storage().data_ptr()
    # shared storage read once, but the arrays are independent copies
    got["shared_a"][0, 0] += 1
    assert got["shared_b"][0, 0] == as_numpy(torch, want["shared_b"])[0, 0]


def test_zip_member_names_follow_the_archive_name(torch, tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.arange(6.0).view(2, 3)}, buf)  # written to a buffer: archive folder "archive"
    path = tmp_path / "renamed.bin"
    path.write_bytes(buf.getvalue())
    assert zipfile.ZipFile(path).namelist()[0].startswith("archive/")
    np.testing.assert_array_equal(read_torch_checkpoint(path)["w"], np.arange(6.0, dtype=np.float32).reshape(2, 3))


# unsafe pickles -----------------------------------------------------------------------------------------------

class _Evil:
    def __init__(self, sentinel):
        self.sentinel = sentinel

    def __reduce__(self):
        return os.system, (f"touch {self.sentinel}",)


class _EvalEvil:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


def test_payload_is_live(tmp_path):
    """Control: the payload used below does run under a plain pickle.loads."""
    sentinel = tmp_path / "control"
    pickle.loads(pickle.dumps(_Evil(sentinel)))
    assert sentinel.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_plain_pickle_refused_without_running(tmp_path, protocol):
    sentinel = tmp_path / "pwned"
    payload = pickle.dumps({"w": _Evil(sentinel)}, protocol=protocol)
    with pytest.raises(UnsafePickleError, match=r"os\.system|posix\.system"):
        restricted_loads(payload)
    with pytest.raises(UnsafePickleError, match="eval"):
        restricted_loads(pickle.dumps(_EvalEvil(), protocol=protocol))
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(payload)  # a bare pickle file: refused as not-a-zip before any unpickling
    with pytest.raises(CheckpointError, match=f"{path}.*legacy"):
        read_torch_checkpoint(path)
    assert not sentinel.exists()


def _replace_member(src, dst, suffix, data: bytes):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, data if info.filename.endswith(suffix) else zin.read(info))


def test_pickle_inside_torch_zip_refused_without_running(saved, tmp_path, tiny_dir):
    path, _ = saved
    sentinel = tmp_path / "pwned"
    d = tmp_path / "ckpt"
    d.mkdir()
    shutil.copy(os.path.join(tiny_dir, "config.json"), d)
    evil = d / "pytorch_model.bin"
    _replace_member(path, evil, "/data.pkl", pickle.dumps({"w": _Evil(sentinel)}, protocol=2))
    with pytest.raises(UnsafePickleError, match=str(evil)):
        read_torch_checkpoint(evil)
    with pytest.raises(UnsafePickleError, match=str(evil)):  # the directory fallback path refuses it too
        load_checkpoint(d)
    assert not sentinel.exists()


def _unicode(text: str) -> bytes:
    return b"X" + len(text).to_bytes(4, "little") + text.encode()


@pytest.mark.parametrize("target", [b"ctorch\nFloatStorage\n", b"ctorch._utils\n_rebuild_tensor_v2\n",
                                    b"ccollections\nOrderedDict\n"])
def test_pickle_cannot_alter_allowed_objects(saved, target):
    """BUILD on an allowlisted global (to change a storage type, or a function's __defaults__) is refused."""
    path, _ = saved
    before = read_torch_checkpoint(path)
    for state in (b"}" + _unicode("name") + _unicode("DoubleStorage") + b"s",      # obj.__dict__ update
                  b"N}" + _unicode("__defaults__") + b"K\x01\x85s\x86"):         # (None, slotstate): setattr
        with pytest.raises(CheckpointError):
            restricted_loads(b"\x80\x02" + target + state + b"b.")
    after = read_torch_checkpoint(path)
    assert all(after[k].dtype == before[k].dtype and np.array_equal(after[k], before[k]) for k in before)


def test_expanded_tensor_size_is_capped(saved, monkeypatch):
    path, _ = saved
    monkeypatch.setattr(torch_pickle, "MAX_EXPANDED_BYTES", 16)
    with pytest.raises(CheckpointError, match="'expanded'.*would need 48 bytes"):
        read_torch_checkpoint(path)


# corrupt archives ---------------------------------------------------------------------------------------------

def test_legacy_format_refused(torch, tmp_path):
    path = tmp_path / "old.bin"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="legacy"):
        read_torch_checkpoint(path)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_truncated_zip(saved, tmp_path, cut):
    path, _ = saved
    raw = path.read_bytes()
    bad = tmp_path / "cut.bin"
    bad.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(CheckpointError, match=str(bad)):
        read_torch_checkpoint(bad)


def test_storage_size_mismatch_and_missing_storage(saved, tmp_path):
    path, _ = saved
    with zipfile.ZipFile(path) as z:
        first = next(n for n in z.namelist() if "/data/" in n)
    short = tmp_path / "short.bin"
    _replace_member(path, short, first, b"\0" * 3)
    with pytest.raises(CheckpointError, match=f"{short}.*holds 3 bytes"):
        read_torch_checkpoint(short)
    gone = tmp_path / "gone.bin"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(gone, "w") as zout:
        for info in zin.infolist():
            if info.filename != first:
                zout.writestr(info.filename, zin.read(info))
    with pytest.raises(CheckpointError, match="missing"):
        read_torch_checkpoint(gone)


def test_tensor_reaching_past_its_storage(torch, tmp_path):
    path = tmp_path / "m.bin"
    torch.save({"w": torch.arange(12.0)}, path)
    with zipfile.ZipFile(path) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    # claim a (4, 4) shape on a 12-element storage: the pickle's size tuple (12,) becomes (16,)
    assert pkl.count(b"K\x0c\x85") == 1
    bad = tmp_path / "bad.bin"
    _replace_member(path, bad, "/data.pkl", pkl.replace(b"K\x0c\x85", b"K\x10\x85"))
    with pytest.raises(CheckpointError, match="'w'.*reaches element 15"):
        read_torch_checkpoint(bad)


def test_non_state_dict_refused(torch, tmp_path):
    path = tmp_path / "list.bin"
    torch.save([torch.ones(2)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_torch_checkpoint(path)
    path = tmp_path / "meta.bin"
    torch.save({"w": torch.ones(2), "epoch": 3}, path)
    with pytest.raises(CheckpointError, match="'epoch'"):
        read_torch_checkpoint(path)


# conversion ---------------------------------------------------------------------------------------------------

def test_convert_round_trip_keeps_dtypes(torch, saved):
    path, sd = saved
    out = convert_to_safetensors(path.parent)
    assert out == str(path.parent / "model.safetensors")
    raw = read_safetensors_raw(out)
    assert raw["bf16"][1] == "BF16" and raw["f16"][1] == "F16" and raw["i64"][1] == "I64"
    from safetensors.torch import load_file
    theirs = load_file(out)  # safetensors' own reader agrees, dtype for dtype
    for name, t in sd.items():
        assert theirs[name].dtype == t.dtype and torch.equal(theirs[name], t.detach()), name
    ours = read_safetensors(out, np.float64)
    np.testing.assert_array_equal(ours["bf16"], sd["bf16"].double().numpy())


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_converted_file_follows_the_umask(torch, saved, umask):
    path, _ = saved
    old = os.umask(umask)
    try:
        out = convert_to_safetensors(path.parent, overwrite=True)
    finally:
        os.umask(old)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask


def test_convert_refuses_overwrite_and_failure_loses_nothing(torch, saved, monkeypatch):
    path, _ = saved
    dst = path.parent / "model.safetensors"
    dst.write_bytes(b"precious")
    with pytest.raises(CheckpointError, match="exists"):
        convert_to_safetensors(path.parent)
    assert dst.read_bytes() == b"precious"

    def broken(file, tensors, metadata=None):
        with open(file, "wb") as f:
            f.write(b"half-written")
        raise OSError("disk full")
    monkeypatch.setattr(torch_pickle, "write_safetensors", broken)
    with pytest.raises(OSError, match="disk full"):
        convert_to_safetensors(path.parent, overwrite=True)
    assert dst.read_bytes() == b"precious"
    assert sorted(os.listdir(path.parent)) == ["model.safetensors", "pytorch_model.bin"]  # no temp file left
    monkeypatch.undo()
    convert_to_safetensors(path.parent, overwrite=True)
    assert set(read_safetensors(dst)) == set(read_torch_checkpoint(path))


def test_tiny_as_pytorch_bin_loads_like_safetensors(torch, tiny_dir, tmp_path):
    from safetensors.torch import load_file
    d = tmp_path / "tiny-bin"
    shutil.copytree(tiny_dir, d)
    os.remove(d / "model.safetensors")
    torch.save(load_file(os.path.join(tiny_dir, "model.safetensors")), d / "pytorch_model.bin")
    _, from_bin = load_checkpoint(d)
    _, from_st = load_checkpoint(tiny_dir)
    assert set(from_bin) == set(from_st)
    for name in from_st:
        assert from_bin[name].dtype == np.float32 and np.array_equal(from_bin[name], from_st[name]), name
    assert load_state_dict(d, "float64")["temperature"].dtype == np.float64
