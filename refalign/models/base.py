"""What every family's model shares: loading from a checkpoint, input checks, a per-model lock, and the declaration
of its golden tensors. A family (models/<model_type>.py) subclasses DualEncoderModel and says what is its own:
its config class, its tensors (`weight_shapes`), its towers and head (`__call__`, `get_text_features`,
`get_image_features`), its processor and its golden plan.
"""
from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import ConfigError
from ..loading.checkpoint import compute_dtype, load_checkpoint
from ..loading.config import ModelConfig, config_file, read_config_json

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class GoldenPlan:
    """A family's golden tensor names in forward order:

        inputs                          e.g. inputs.input_ids, ..., inputs.pixel_values (all but pixels: integers)
        text.hidden_states.00 .. NN     the embeddings, then each text layer
        text_tail                       e.g. text.last_hidden_state, text.text_features
        vision.hidden_states.00 .. MM   the stem / patch embeddings, then each block or layer
        vision_tail                     e.g. vision.last_hidden_state, vision.image_features
        heads                           text_embeds, image_embeds, logits_per_text, logits_per_image
        loss                            when there are as many texts as images
    """
    inputs: tuple[str, ...]
    text_tail: tuple[str, ...]
    vision_tail: tuple[str, ...]
    heads: tuple[str, ...] = ("text_embeds", "image_embeds", "logits_per_text", "logits_per_image")
    float_inputs: tuple[str, ...] = ("inputs.pixel_values",)

    @property
    def integer_names(self) -> frozenset:
        """Inputs compared exactly (token ids, masks)."""
        return frozenset(n for n in self.inputs if n not in self.float_inputs)

    def names(self, num_text_layers: int, num_vision_blocks: int, with_loss: bool) -> list[str]:
        """Every tensor name of a golden, in forward order."""
        for arg, value in (("num_text_layers", num_text_layers), ("num_vision_blocks", num_vision_blocks)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        names = list(self.inputs)
        names += [f"text.hidden_states.{i:02d}" for i in range(num_text_layers + 1)]
        names += list(self.text_tail)
        names += [f"vision.hidden_states.{i:02d}" for i in range(num_vision_blocks + 1)]
        names += list(self.vision_tail)
        names += list(self.heads)
        return names + (["loss"] if with_loss else [])


def runs_as_forward(method):
    """For a model's forward methods (towers, features, __call__): the body runs holding the model's lock and inside
    refalign.fast.parallel.forward_threads (OpenBLAS single-threaded, refalign's threads pinned), heads and
    projections included. A multi-threaded OpenBLAS call there (a projection of 8 captions) left OpenBLAS's worker
    spinning into the next forward, on the CPU a helper is pinned to (measured: ALIGN's text tower 13% slower back
    to back). Nested calls (__call__ -> text_model) enter once in effect."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        from ..towers import forward_threads
        with self._lock, forward_threads():
            return method(self, *args, **kwargs)
    return run


class DualEncoderModel:
    """Base of the family models. `params` holds the checkpoint's tensors under their key names (in the compute
    dtype); `source` is the checkpoint folder or file it came from (None when built in memory)."""

    config_class: type[ModelConfig]
    golden: GoldenPlan

    def __init__(self, config: ModelConfig, params: dict[str, NDArray], dtype=np.float32, source: str | None = None):
        self.config = config
        self.dtype = compute_dtype(dtype)
        self.params = params
        self.source = source
        for name, value in params.items():
            if value.dtype.kind == "f" and value.dtype != self.dtype:
                raise ValueError(f"weight {name} is {value.dtype}, but the model computes in {self.dtype}")
        # A per-model lock: each forward already uses all of refalign's threads (refalign.fast.parallel), so
        # forwards of one model from several Python threads take turns instead of oversubscribing the cores.
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- what a family declares
    @classmethod
    def weight_shapes(cls, config: ModelConfig) -> tuple[Shapes, Shapes]:
        """(required, optional) tensor names and shapes of a checkpoint of this family."""
        raise NotImplementedError

    # ----------------------------------------------------------------- loading
    @classmethod
    def from_pretrained(cls, name_or_path=None, dtype=np.float32):
        """Load from a directory or file, "tiny" (the bundled checkpoint), "org/name" (offline, from the Hugging Face
        cache) or None (REFALIGN_WEIGHTS, weights/align-base in a source checkout, the HF cache)."""
        from ..loading.hub import resolve_weights
        dt = compute_dtype(dtype)
        path = resolve_weights(name_or_path)
        cls.check_model_type(path)
        config, params = load_checkpoint(path, cls.config_class, cls.weight_shapes, dtype=dt)
        return cls(config, params, dtype=dt, source=str(path))

    @classmethod
    def check_model_type(cls, path) -> None:
        """A config.json that names another model_type is refused (one without model_type is read as this family)."""
        file = config_file(path)
        data = read_config_json(file) if os.path.isfile(file) else {}
        found = data.get("model_type") if isinstance(data, dict) else None
        if found is not None and found != cls.config_class.model_type:
            raise ConfigError(f"{file}: model_type is {found!r}, but {cls.__name__} loads "
                              f"{cls.config_class.model_type!r} checkpoints (refalign.AutoModel picks the class "
                              f"from model_type)")

    # ----------------------------------------------------------------- inputs
    TOWER_PREFIXES = {"text": ("text_model.", "text_projection."), "vision": ("vision_model.", "visual_projection.")}

    def release_weight_pages(self, tower: str) -> int:
        """Drop the pages of one tower's memory-mapped weights ("text" or "vision") from the resident set, and the
        packed float32 copies its products made of them (refalign.fast.gemm); they come back on the tower's next
        use (see memory.release_pages). Returns the bytes released."""
        from ..memory import release_pages
        from ..towers import forget_packed_weights
        if tower not in self.TOWER_PREFIXES:
            raise ValueError(f"tower must be one of {sorted(self.TOWER_PREFIXES)}, got {tower!r}")
        prefixes = self.TOWER_PREFIXES[tower]
        arrays = [v for k, v in self.params.items() if k.startswith(prefixes)]
        return release_pages(arrays) + forget_packed_weights(arrays)

    def _ids(self, name: str, value, like=None) -> NDArray | None:
        if value is None:
            return None
        arr = np.asarray(value)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.dtype.kind not in "iub":
            raise ValueError(f"{name} must be a 2-D integer array [batch, seq_len], got shape {arr.shape} "
                             f"dtype {arr.dtype}")
        if like is not None and arr.shape != like.shape:
            raise ValueError(f"{name} has shape {arr.shape} but input_ids has shape {like.shape}")
        return arr.astype(np.int64, copy=False)

    def _text_inputs(self, input_ids, attention_mask, token_type_ids) -> tuple[NDArray, NDArray | None, NDArray | None]:
        """(ids, mask, token types) as int64 [B, L] arrays, checked against each other; input_ids is required."""
        ids = self._ids("input_ids", input_ids)
        if ids is None:
            raise ValueError("input_ids is required")
        mask = self._ids("attention_mask", attention_mask, like=ids)
        types = self._ids("token_type_ids", token_type_ids, like=ids)
        return ids, mask, types

    def _pixels(self, pixel_values) -> NDArray:
        arr = np.asarray(pixel_values)
        if arr.dtype.kind != "f":
            raise ValueError(f"pixel_values must be floating point (use the model's processor), got dtype {arr.dtype}")
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"pixel_values must be 4-D [batch, channels, height, width], got shape {arr.shape}")
        return arr.astype(self.dtype, copy=False)
