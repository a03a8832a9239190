"""ModelOutput: the base of refalign's output dataclasses, used like transformers' ModelOutput.

transformers' outputs are ordered dicts of their fields that are not None, so code written for them does
`out.logits_per_image`, `out["logits_per_image"]`, `out[0]`, `out.to_tuple()`, `out.keys()`, `for k, v in out.items()`.
refalign's outputs are dataclasses with the same fields (NumPy arrays instead of tensors) and answer the same calls.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterator


class ModelOutput:
    """Mixin for the output dataclasses: dict- and tuple-like access over the fields that are not None, in field
    order (as transformers' ModelOutput)."""

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def values(self) -> list[Any]:
        return [getattr(self, k) for k in self.keys()]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self.keys()]

    def to_tuple(self) -> tuple:
        """The fields that are not None, in order; nested outputs become tuples too."""
        return tuple(v.to_tuple() if isinstance(v, ModelOutput) else v for v in self.values())

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.keys():
                fields = [f.name for f in dataclasses.fields(self)]
                why = "is None in this output" if key in fields else f"is not a field of {type(self).__name__}"
                raise KeyError(f"{key!r} {why}; present: {self.keys()}")
            return getattr(self, key)
        if isinstance(key, (int, slice)):
            return self.to_tuple()[key]
        raise TypeError(f"{type(self).__name__} indices must be field names, integers or slices, not "
                        f"{type(key).__name__}")

    def __contains__(self, key) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        def short(v):
            if hasattr(v, "shape") and hasattr(v, "dtype"):
                return f"array(shape={tuple(v.shape)}, dtype={v.dtype})"
            if isinstance(v, (list, tuple)):
                return f"{type(v).__name__}[{len(v)} arrays]"
            return repr(v)
        return f"{type(self).__name__}(" + ", ".join(f"{k}={short(v)}" for k, v in self.items()) + ")"


def check_return_tensors(return_tensors, who: str) -> None:
    """refalign returns NumPy arrays: return_tensors may be None or "np"; a framework's name is refused by name."""
    if return_tensors is None or return_tensors == "np":
        return
    frameworks = {"pt": "PyTorch tensors", "tf": "TensorFlow tensors", "jax": "JAX arrays", "mlx": "MLX arrays"}
    what = frameworks.get(return_tensors) if isinstance(return_tensors, str) else None
    if what:
        raise ValueError(f"{who}: return_tensors={return_tensors!r} asks for {what}; refalign runs without any "
                         f"framework and returns NumPy arrays: use return_tensors='np' (or leave it out)")
    raise ValueError(f"{who}: return_tensors={return_tensors!r} is not understood; use 'np' (or leave it out)")
