"""Read torch's `pytorch_model.bin` without torch, and convert it to model.safetensors.

Format (torch.save since 1.6): a zip archive whose members sit under one top-level folder (`<archive>/`):
  <archive>/data.pkl     a pickle of the state dict; each tensor is a call
                         torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])
                         and each storage a persistent id ('storage', torch.<Type>Storage, key, location, numel)
  <archive>/data/<key>   the raw bytes of storage <key> (numel elements, byte order from <archive>/byteorder)
Offsets, sizes and strides count elements of the storage's dtype. Several tensors may share one storage.

The pickle is read by an Unpickler whose find_class only knows the few names above; anything else (os.system,
builtins.eval, ...) raises UnsafePickleError before it can be called.
"""
from __future__ import annotations

import collections
import io
import json
import math
import mmap
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError, UnsafePickleError
from ..fileio import atomic_output
from ..memory import map_file

MAX_PICKLE_BYTES = 256 << 20  # data.pkl of a state dict is ~100 KB; refuse to read absurd sizes into memory
MAX_EXPANDED_BYTES = 1 << 32  # a tensor bigger than its storage (stride 0) may not blow up beyond this

# torch storage class -> (numpy dtype code, safetensors dtype name). bf16 is kept as its raw 16 bits (uint16).
STORAGE_TYPES = {
    "DoubleStorage": ("f8", "F64"),
    "FloatStorage": ("f4", "F32"),
    "HalfStorage": ("f2", "F16"),
    "BFloat16Storage": ("u2", "BF16"),
    "LongStorage": ("i8", "I64"),
    "IntStorage": ("i4", "I32"),
    "ShortStorage": ("i2", "I16"),
    "CharStorage": ("i1", "I8"),
    "ByteStorage": ("u1", "U8"),
    "BoolStorage": ("?", "BOOL"),
}


class _Record:
    """Base of the records the pickle produces: a pickle's BUILD opcode may not alter them."""

    def __setstate__(self, state):
        raise CheckpointError(f"the pickle tries to set the state of a {type(self).__name__}")


@dataclass(frozen=True)
class _StorageType(_Record):
    name: str


@dataclass(frozen=True)
class _Storage(_Record):
    key: str
    type_name: str
    numel: int


@dataclass(frozen=True)
class _TensorRef(_Record):
    """A tensor as the pickle describes it; its bytes are read later by _materialize."""
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def st_dtype(self) -> str:
        return STORAGE_TYPES[self.storage.type_name][1]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"_rebuild_tensor_v2 got {type(storage).__name__} instead of a storage")
    if metadata:  # conj/neg bits and the like: not something a state dict of weights carries
        raise CheckpointError(f"tensor metadata {metadata!r} is not supported")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(type(v) is int for v in (storage_offset, *size, *stride))):
        raise CheckpointError(f"bad tensor geometry: offset {storage_offset!r}, size {size!r}, stride {stride!r}")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data  # an nn.Parameter is its tensor for our purpose


class _Call(_Record):
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        return self.fn(*args)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the names a torch state dict needs; storages come back as _Storage records (no bytes read).
    Callables are handed out wrapped in fresh _Call records, so a pickle cannot alter shared objects through them."""

    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _Call(_rebuild_tensor_v2)
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _Call(_rebuild_parameter)
        if module == "torch" and name in STORAGE_TYPES:
            return _StorageType(name)
        raise UnsafePickleError(f"{self.source}: the pickle asks for {module}.{name}, which is not a tensor "
                                f"building block; refusing to load it (nothing was run)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5):
            raise CheckpointError(f"{self.source}: unknown persistent id {pid!r}")
        kind, stype, key, _location, numel = pid
        kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else kind
        if kind != "storage" or not isinstance(stype, _StorageType) or type(numel) is not int or numel < 0:
            raise CheckpointError(f"{self.source}: unsupported persistent id {pid!r}")
        key = str(key)
        if key not in self.storages:
            self.storages[key] = _Storage(key, stype.name, numel)
        elif self.storages[key].type_name != stype.name:
            raise CheckpointError(f"{self.source}: storage {key} is read as two different types")
        return self.storages[key]


def restricted_loads(data: bytes, source: str = "<pickle>"):
    """Unpickle bytes with the allowlist (tensors come back as unresolved _TensorRef records)."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), source).load()
    except CheckpointError:
        raise
    except Exception as e:  # truncated or malformed pickle stream
        raise CheckpointError(f"{source}: cannot unpickle: {type(e).__name__}: {e}") from None


def _member_offset(raw, info: zipfile.ZipInfo, path: str) -> int:
    """Byte offset of a stored member's data in the file: after its local header (whose extra field torch uses as
    alignment padding, so it can differ from the central directory's)."""
    raw.seek(info.header_offset)
    head = raw.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise CheckpointError(f"{path}: corrupt zip: bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + name_len + extra_len


class _TorchZip:
    """An opened torch zip checkpoint: the tensor records from data.pkl, and their bytes on demand."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise CheckpointError(_not_zip_message(path)) from None
        except OSError as e:
            raise CheckpointError(f"{path}: cannot open: {e}") from None
        self.size = os.path.getsize(path)
        self.members = {i.filename: i for i in self.zf.infolist()}
        pkls = [n for n in self.members if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: not a torch checkpoint: expected one <archive>/data.pkl member, "
                                  f"found {len(pkls)}")
        self.prefix = pkls[0][: -len("data.pkl")]
        self.big_endian = self._byteorder() == "big"
        self.state = self._read_state()
        self._map = None

    def _byteorder(self) -> str:
        info = self.members.get(self.prefix + "byteorder")
        if info is None:
            return "little"  # torch's default when the record is absent
        order = self._read_member(info, 16).decode("ascii", "replace")
        if order not in ("little", "big"):
            raise CheckpointError(f"{self.path}: unknown byte order {order!r}")
        return order

    def _read_member(self, info: zipfile.ZipInfo, cap: int) -> bytes:
        if info.file_size > cap:
            raise CheckpointError(f"{self.path}: member {info.filename} is {info.file_size} bytes (limit {cap})")
        try:
            return self.zf.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            raise CheckpointError(f"{self.path}: corrupt zip member {info.filename}: {e}") from None

    def _read_state(self) -> dict[str, _TensorRef]:
        data = self._read_member(self.members[self.prefix + "data.pkl"], MAX_PICKLE_BYTES)
        state = restricted_loads(data, f"{self.path} ({self.prefix}data.pkl)")
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.path}: the pickle holds a {type(state).__name__}, not a state dict")
        bad = [repr(k) for k, v in state.items() if not (isinstance(k, str) and isinstance(v, _TensorRef))]
        if bad:
            raise CheckpointError(f"{self.path}: entries that are not name -> tensor: {', '.join(bad[:20])}")
        return dict(state)

    def storage_array(self, storage: _Storage) -> np.ndarray:
        """The storage's elements as a 1-D array (a view of the mapped file when the member is stored)."""
        code = STORAGE_TYPES[storage.type_name][0]
        dtype = np.dtype(code).newbyteorder(">" if self.big_endian else "<")
        name = f"{self.prefix}data/{storage.key}"
        info = self.members.get(name)
        if info is None:
            raise CheckpointError(f"{self.path}: storage member {name} is missing")
        nbytes = storage.numel * dtype.itemsize
        if info.file_size != nbytes:
            raise CheckpointError(f"{self.path}: storage {name} holds {info.file_size} bytes, the pickle expects "
                                  f"{nbytes} ({storage.numel} x {storage.type_name})")
        if nbytes == 0:
            return np.zeros(0, dtype)
        if info.compress_type != zipfile.ZIP_STORED:
            return np.frombuffer(self._read_member(info, 1 << 40), dtype)
        with open(self.path, "rb") as raw:
            start = _member_offset(raw, info, self.path)
        if start + nbytes > self.size:
            raise CheckpointError(f"{self.path}: truncated: storage {name} ends at byte {start + nbytes}, "
                                  f"the file has {self.size}")
        if self._map is None:
            with open(self.path, "rb") as raw:
                self._map = map_file(raw, mmap.ACCESS_READ)
        return np.frombuffer(self._map, dtype, storage.numel, start)

    def close(self) -> None:
        self.zf.close()
        self._map = None  # the mapping itself closes when the last view of it is gone


def _not_zip_message(path: str) -> str:
    with open(path, "rb") as f:
        head = f.read(2)
    kind = "a bare pickle" if head[:1] == b"\x80" else "not a zip archive"  # \x80: pickle protocol 2+ marker
    return (f"{path}: {kind}, so not a torch>=1.6 checkpoint. torch's legacy (pre-1.6) format is not "
            f"supported: re-save it with torch>=1.6 (torch.save(torch.load(f), f)) or use model.safetensors")


def _materialize(tz: _TorchZip, name: str, ref: _TensorRef, cache: dict) -> np.ndarray:
    """Copy one tensor out of its storage, honouring offset and strides; bf16 stays raw uint16 bits here."""
    st = ref.storage
    if st.key not in cache:
        cache[st.key] = tz.storage_array(st)
    buf = cache[st.key]
    shape, stride, offset = ref.shape, ref.stride, ref.offset
    if any(n < 0 for n in shape) or any(s < 0 for s in stride) or offset < 0:
        raise CheckpointError(f"{tz.path}: tensor {name!r} has negative size/stride/offset "
                              f"({shape}, {stride}, {offset})")
    out_dtype = buf.dtype.newbyteorder("=")
    if 0 in shape:
        return np.zeros(shape, out_dtype)
    numel = math.prod(shape)
    if numel > buf.size and numel * buf.itemsize > MAX_EXPANDED_BYTES:  # stride-0 broadcasts can exceed storage
        raise CheckpointError(f"{tz.path}: tensor {name!r} of shape {shape} would need {numel * buf.itemsize} "
                              f"bytes from a storage of {buf.nbytes}; refusing")
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if last >= buf.size:
        raise CheckpointError(f"{tz.path}: tensor {name!r} (shape {shape}, stride {stride}, offset {offset}) "
                              f"reaches element {last} of a storage with {buf.size}")
    view = np.lib.stride_tricks.as_strided(buf[offset:], shape, [s * buf.itemsize for s in stride], writeable=False)
    return np.array(view, dtype=out_dtype, order="C")  # own, native-order copy


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32: shift the 16 bits up (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def read_torch_raw(path) -> dict[str, tuple[np.ndarray, str]]:
    """name -> (array, safetensors dtype name); bf16 tensors are their raw uint16 bits."""
    tz = _TorchZip(os.fspath(path))
    try:
        cache: dict = {}
        return {name: (_materialize(tz, name, ref, cache), ref.st_dtype) for name, ref in tz.state.items()}
    finally:
        tz.close()


def read_torch_header(path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (safetensors dtype name, shape), from data.pkl only (no tensor bytes read)."""
    tz = _TorchZip(os.fspath(path))
    try:
        return {name: (ref.st_dtype, ref.shape) for name, ref in tz.state.items()}
    finally:
        tz.close()


def read_torch_checkpoint(path) -> dict[str, np.ndarray]:
    """Read a torch.save'd (zip format) state dict: name -> NumPy array in the stored dtype (bf16 -> float32)."""
    out = {}
    for name, (arr, st) in read_torch_raw(path).items():
        out[name] = bf16_to_float32(arr) if st == "BF16" else arr
    return out


# safetensors writer -------------------------------------------------------------------------------------------

_ALIGN = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}


def write_safetensors(path: str, tensors: dict[str, tuple[np.ndarray, str]], metadata: dict | None = None) -> None:
    """Write name -> (array, safetensors dtype) to `path`, streaming each tensor's bytes (no second full copy).
    Tensors are ordered by alignment then name, and the header padded to 8 bytes, so every tensor is aligned."""
    order = sorted(tensors, key=lambda n: (-_ALIGN.get(tensors[n][1], 1), n))
    header: dict = {"__metadata__": dict(metadata or {"format": "pt"})}
    pos = 0
    for name in order:
        arr, st = tensors[name]
        header[name] = {"dtype": st, "shape": list(arr.shape), "data_offsets": [pos, pos + arr.nbytes]}
        pos += arr.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in order:
            arr = np.ascontiguousarray(tensors[name][0])
            if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and np.little_endian is False):
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            f.write(arr.reshape(-1).view(np.uint8).data)


def convert_to_safetensors(directory, overwrite: bool = False) -> str:
    """Write <directory>/model.safetensors from <directory>/pytorch_model.bin (dtypes kept, bf16 included).
    Written to a temporary file, read back and checked, then renamed into place."""
    from .checkpoint import read_safetensors_raw  # late: checkpoint imports this module

    directory = os.fspath(directory)
    src = os.path.join(directory, "pytorch_model.bin")
    dst = os.path.join(directory, "model.safetensors")
    if not os.path.isfile(src):
        raise CheckpointError(f"{directory}: no pytorch_model.bin to convert")
    if os.path.exists(dst) and not overwrite:
        raise CheckpointError(f"{dst} exists already; pass overwrite=True (refalign convert --overwrite) to replace it")
    tensors = read_torch_raw(src)
    with atomic_output(dst) as tmp:
        write_safetensors(tmp, tensors)
        back = read_safetensors_raw(tmp)  # validates the header we wrote; compares stored bits
        for name, (arr, st) in tensors.items():
            got, got_st = back[name]
            if got_st != st or got.shape != arr.shape or got.tobytes() != np.ascontiguousarray(arr).tobytes():
                raise CheckpointError(f"{tmp}: tensor {name!r} did not read back as written")
        del back
    return dst
