"""A SentencePiece model file (``sentencepiece.bpe.model``, ``spiece.model``), read without sentencepiece or protobuf.

The file is one protobuf message, ``ModelProto`` (sentencepiece_model.proto). Only the fields a tokenizer needs are
read; every other field is skipped by its wire type:

    ModelProto       1 pieces (repeated SentencePiece)   2 trainer_spec (TrainerSpec)   3 normalizer_spec
    SentencePiece    1 piece (string)   2 score (float)   3 type (enum: 1 normal, 2 unknown, 3 control,
                     4 user defined, 5 unused, 6 byte; default 1)
    TrainerSpec      3 model_type (enum: 1 unigram, 2 bpe, 3 word, 4 char; default 1)   35 byte_fallback (bool)
                     40 unk_id   41 bos_id   42 eos_id   43 pad_id (int32; defaults 0, 1, 2, -1)
    NormalizerSpec   1 name (string)   2 precompiled_charsmap (bytes)   3 add_dummy_prefix   4 remove_extra_whitespaces
                     5 escape_whitespaces (bools, default true)

The protobuf wire format: a message is a run of fields, each a varint key ``field_number << 3 | wire_type`` and a
value: wire type 0 a varint (7 bits a byte, low bits first, high bit set on all bytes but the last), 1 eight bytes,
2 a varint length and that many bytes (strings, bytes, nested messages), 5 four bytes (a float is IEEE little
endian). A negative int32 is written as a 10-byte varint of its 64-bit two's complement.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from ..errors import CheckpointError, WeightsNotFoundError

__all__ = ["SentencePieceModel", "NORMAL", "UNKNOWN", "CONTROL", "USER_DEFINED", "UNUSED", "BYTE",
           "MODEL_TYPES", "read_sentencepiece_model"]

# SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


@dataclass
class SentencePieceModel:
    """What a tokenizer needs from a SentencePiece model: its pieces (in id order) and the normaliser settings."""

    pieces: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    model_type: int = 1
    byte_fallback: bool = False
    unk_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    pad_id: int = -1
    normalizer_name: str = ""
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    escape_whitespaces: bool = True


class _ProtobufError(ValueError):
    pass


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at pos."""
    value = shift = 0
    while True:
        if pos >= end:
            raise _ProtobufError(f"a varint runs past the end of its message at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _ProtobufError(f"a varint longer than 10 bytes ends at byte {pos}")


def _fields(buf: bytes, pos: int, end: int):
    """(field number, wire type, value) of each field of the message in buf[pos:end]: an int for varints, the
    (start, end) of the bytes for length-delimited fields, the raw bytes for fixed-size ones."""
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _ProtobufError(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _ProtobufError(f"field {number} claims {length} bytes at byte {pos} but its message ends at "
                                     f"byte {end}")
            value, pos = (pos, pos + length), pos + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _ProtobufError(f"field {number} needs {size} bytes at byte {pos} past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        else:  # 3 / 4 (groups, unused by SentencePiece), 6 / 7 (invalid)
            raise _ProtobufError(f"field {number} has wire type {wire}, which a SentencePiece model never uses")
        yield number, wire, value


def _expect(number: int, wire: int, wanted: int, name: str) -> None:
    if wire != wanted:
        raise _ProtobufError(f"field {number} ({name}) has wire type {wire}, expected {wanted}")


def _int32(value: int) -> int:
    """An int32 read from a varint (negative numbers are 64-bit two's complement)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(buf: bytes, span: tuple[int, int], what: str) -> str:
    try:
        return buf[span[0]:span[1]].decode("utf-8")
    except UnicodeDecodeError:
        raise _ProtobufError(f"{what} is not UTF-8 text") from None


def _read_piece(buf: bytes, span: tuple[int, int], index: int, model: SentencePieceModel) -> None:
    piece, score, kind = None, 0.0, NORMAL
    for number, wire, value in _fields(buf, *span):
        if number == 1:
            _expect(number, wire, 2, "piece")
            piece = _text(buf, value, f"piece {index}")
        elif number == 2:
            _expect(number, wire, 5, "score")
            (score,) = struct.unpack("<f", value)
        elif number == 3:
            _expect(number, wire, 0, "type")
            kind = _int32(value)
    if piece is None:
        raise _ProtobufError(f"piece {index} has no text")
    model.pieces.append(piece)
    model.scores.append(score)
    model.types.append(kind)


def _read_trainer_spec(buf: bytes, span: tuple[int, int], model: SentencePieceModel) -> None:
    ids = {40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}
    for number, wire, value in _fields(buf, *span):
        if number == 3:
            _expect(number, wire, 0, "model_type")
            model.model_type = _int32(value)
        elif number == 35:
            _expect(number, wire, 0, "byte_fallback")
            model.byte_fallback = bool(value)
        elif number in ids:
            _expect(number, wire, 0, ids[number])
            setattr(model, ids[number], _int32(value))


def _read_normalizer_spec(buf: bytes, span: tuple[int, int], model: SentencePieceModel) -> None:
    flags = {3: "add_dummy_prefix", 4: "remove_extra_whitespaces", 5: "escape_whitespaces"}
    for number, wire, value in _fields(buf, *span):
        if number == 1:
            _expect(number, wire, 2, "name")
            model.normalizer_name = _text(buf, value, "the normalizer name")
        elif number == 2:
            _expect(number, wire, 2, "precompiled_charsmap")
            model.precompiled_charsmap = buf[value[0]:value[1]]
        elif number in flags:
            _expect(number, wire, 0, flags[number])
            setattr(model, flags[number], bool(value))


def read_sentencepiece_model(path) -> SentencePieceModel:
    """Parse a SentencePiece model file. A missing file raises WeightsNotFoundError, a file that is no
    SentencePiece model (a corrupt or truncated protobuf, a model without pieces) CheckpointError naming it."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        raise WeightsNotFoundError(f"SentencePiece model {path!r} does not exist") from None
    except OSError as e:
        raise CheckpointError(f"cannot read SentencePiece model {path!r}: {e}") from e
    model = SentencePieceModel()
    try:
        for number, wire, value in _fields(buf, 0, len(buf)):
            if number == 1:
                _expect(number, wire, 2, "pieces")
                _read_piece(buf, value, len(model.pieces), model)
            elif number == 2:
                _expect(number, wire, 2, "trainer_spec")
                _read_trainer_spec(buf, value, model)
            elif number == 3:
                _expect(number, wire, 2, "normalizer_spec")
                _read_normalizer_spec(buf, value, model)
    except _ProtobufError as e:
        raise CheckpointError(f"{path}: not a valid SentencePiece model (corrupt protobuf: {e})") from None
    if not model.pieces:
        raise CheckpointError(f"{path}: not a valid SentencePiece model (it has no pieces)")
    return model
