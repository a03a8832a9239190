"""refalign: pure-NumPy/Numba reference implementations of image-text dual encoders (ALIGN, AltCLIP and
VisionTextDualEncoder), shaped like transformers' classes.

    import refalign
    refalign.similarity("cat.jpg", ["a photo of a cat", "a photo of a dog"], model="tiny")

    from refalign import AutoModel, AutoProcessor                  # the family from config.json's model_type
    model = AutoModel.from_pretrained("kakaobrain/align-base")     # offline: from the Hugging Face cache
    from refalign import AlignModel, AlignProcessor                # or the family classes themselves
    from refalign import AltCLIPModel, VisionTextDualEncoderModel   # (each with its Config and Processor)
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .errors import (CheckpointError, ConfigError, ImageLoadError, NonFiniteError, RefalignError,  # noqa: E402
                     UnsafePickleError, UnsupportedModelError, WeightsNotFoundError)

# The heavier parts load on first use (PEP 562), so `import refalign` stays quick and light.
_LAZY = {
    "AutoConfig": "auto", "AutoModel": "auto", "AutoProcessor": "auto", "AutoTokenizer": "auto",
    "AutoImageProcessor": "auto",
    "AlignConfig": "models.align", "AlignTextConfig": "models.align", "AlignVisionConfig": "models.align",
    "AlignModel": "models.align", "AlignOutput": "models.align", "AlignProcessor": "models.align",
    "Processor": "processing",
    "BertTokenizer": "tokenizers", "RobertaTokenizer": "tokenizers", "XLMRobertaTokenizer": "tokenizers",
    "EfficientNetImageProcessor": "image_processors", "ViTImageProcessor": "image_processors",
    "CLIPImageProcessor": "image_processors", "load_image": "image_processors",
    "VisionTextDualEncoderConfig": "models.vision_text_dual_encoder",
    "VisionTextDualEncoderModel": "models.vision_text_dual_encoder",
    "VisionTextDualEncoderProcessor": "models.vision_text_dual_encoder",
    "AltCLIPConfig": "models.altclip", "AltCLIPTextConfig": "models.altclip", "AltCLIPVisionConfig": "models.altclip",
    "AltCLIPModel": "models.altclip", "AltCLIPOutput": "models.altclip", "AltCLIPProcessor": "models.altclip",
    "similarity": "api", "similarity_scores": "api", "classify": "api", "embed_images": "api", "embed_texts": "api",
    "read_torch_checkpoint": "loading.torch_pickle", "convert_to_safetensors": "loading.torch_pickle",
    "load_state_dict": "loading.checkpoint", "load_checkpoint": "auto",
    "resolve_weights": "loading.hub",
    "compare": "golden", "make_golden": "golden", "read_golden": "golden", "write_golden": "golden",
}

__all__ = ["__version__", "CheckpointError", "ConfigError", "ImageLoadError", "NonFiniteError", "RefalignError",
           "UnsafePickleError", "UnsupportedModelError", "WeightsNotFoundError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'refalign' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
