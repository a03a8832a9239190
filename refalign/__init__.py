"""refalign: a pure-NumPy/Numba reference implementation of ALIGN (kakaobrain/align-base).

    import refalign
    refalign.similarity("cat.jpg", ["a photo of a cat", "a photo of a dog"], model="tiny")

    from refalign import AlignModel, AlignProcessor          # shaped like transformers' classes
    model = AlignModel.from_pretrained("kakaobrain/align-base")  # offline: from the Hugging Face cache
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .config import AlignConfig, AlignTextConfig, AlignVisionConfig  # noqa: E402
from .errors import (CheckpointError, ConfigError, ImageLoadError, NonFiniteError, RefalignError,  # noqa: E402
                     UnsafePickleError, WeightsNotFoundError)

# The heavier parts load on first use (PEP 562), so `import refalign` stays quick and light.
_LAZY = {
    "AlignModel": "modeling", "AlignOutput": "modeling",
    "AlignProcessor": "processor",
    "BertTokenizer": "tokenization",
    "EfficientNetImageProcessor": "image_processing", "load_image": "image_processing",
    "similarity": "api", "similarity_scores": "api", "classify": "api", "embed_images": "api", "embed_texts": "api",
    "read_torch_checkpoint": "torch_pickle", "convert_to_safetensors": "torch_pickle",
    "load_checkpoint": "checkpoint", "load_state_dict": "checkpoint",
    "resolve_weights": "hub",
    "compare": "golden", "make_golden": "golden", "read_golden": "golden", "write_golden": "golden",
}

__all__ = ["__version__", "AlignConfig", "AlignTextConfig", "AlignVisionConfig", "CheckpointError", "ConfigError",
           "ImageLoadError", "NonFiniteError", "RefalignError", "UnsafePickleError", "WeightsNotFoundError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'refalign' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
