"""The one place that chooses: which family a checkpoint is, which tokenizer and which image processor it uses.

    model = refalign.AutoModel.from_pretrained("tiny")            # -> AlignModel (config.json: "model_type": "align")
    processor = refalign.AutoProcessor.from_pretrained("tiny")    # -> AlignProcessor
    tokenizer = refalign.AutoTokenizer.from_pretrained(path)      # tokenizer_config.json's tokenizer_class, or files
    image_processor = refalign.AutoImageProcessor.from_pretrained(path)   # preprocessor_config.json's type

    family      config.json "model_type" (and each sub-config's own model_type)  -> MODELS
    tokenizer   tokenizer_config.json "tokenizer_class", else the files present     -> TOKENIZERS / TOKENIZER_FILES
    images      preprocessor_config.json "image_processor_type" (or the legacy
                "feature_extractor_type", "XFeatureExtractor" -> "XImageProcessor"; transformers 5 keeps these
                settings in processor_config.json's "image_processor", read first)      -> IMAGE_PROCESSORS

Anything not in these tables is one UnsupportedModelError that names it and lists what is supported.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from .errors import ConfigError, UnsupportedModelError, WeightsNotFoundError
from .loading.config import ModelConfig, config_file, read_config_json

# model_type -> "module:class" of the family's model (imported on first use)
MODELS = {
    "align": "refalign.models.align:AlignModel",
    "altclip": "refalign.models.altclip:AltCLIPModel",
    "vision-text-dual-encoder": "refalign.models.vision_text_dual_encoder:VisionTextDualEncoderModel",
}
# tokenizer_config.json's tokenizer_class -> "module:class"
TOKENIZERS = {
    "BertTokenizer": "refalign.tokenizers:BertTokenizer",
    "BertTokenizerFast": "refalign.tokenizers:BertTokenizer",
    "RobertaTokenizer": "refalign.tokenizers:RobertaTokenizer",
    "RobertaTokenizerFast": "refalign.tokenizers:RobertaTokenizer",
    "XLMRobertaTokenizer": "refalign.tokenizers:XLMRobertaTokenizer",
    "XLMRobertaTokenizerFast": "refalign.tokenizers:XLMRobertaTokenizer",
}
# without a tokenizer_class: the first file present decides; a tokenizer.json alone by its model's type
TOKENIZER_FILES = (("vocab.txt", "BertTokenizer"), ("vocab.json", "RobertaTokenizer"),
                   ("sentencepiece.bpe.model", "XLMRobertaTokenizer"), ("tokenizer.json", None))
TOKENIZER_JSON_MODELS = {"BPE": "RobertaTokenizer", "Unigram": "XLMRobertaTokenizer"}   # tokenizer.json's model.type
# preprocessor_config.json's image_processor_type -> "module:class"
IMAGE_PROCESSORS = {
    "EfficientNetImageProcessor": "refalign.image_processors:EfficientNetImageProcessor",
    "EfficientNetImageProcessorFast": "refalign.image_processors:EfficientNetImageProcessor",
    "EfficientNetImageProcessorPil": "refalign.image_processors:EfficientNetImageProcessor",
    "ViTImageProcessor": "refalign.image_processors:ViTImageProcessor",
    "ViTImageProcessorFast": "refalign.image_processors:ViTImageProcessor",
    "ViTImageProcessorPil": "refalign.image_processors:ViTImageProcessor",
    "CLIPImageProcessor": "refalign.image_processors:CLIPImageProcessor",
    "CLIPImageProcessorFast": "refalign.image_processors:CLIPImageProcessor",
    "CLIPImageProcessorPil": "refalign.image_processors:CLIPImageProcessor",
}


def _load(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _unsupported(what: str, value, table, source: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"{source}: {what} {value!r} is not supported by refalign (supported: "
                                 f"{', '.join(sorted(table))})")


def _directory(name_or_path) -> str:
    from .loading.hub import resolve_weights
    path = resolve_weights(name_or_path)
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))


# ----------------------------------------------------------------------------------------------- families
def model_type_of(path) -> str:
    """config.json's model_type for a checkpoint folder (or a file in it), checked against MODELS and each section's
    own model_type against the family's; UnsupportedModelError / ConfigError naming what is wrong."""
    file = config_file(path)
    if not os.path.isfile(file):
        raise WeightsNotFoundError(f"{file}: no config.json (a checkpoint folder needs one)")
    data = read_config_json(file)
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a JSON object at the top level, got {type(data).__name__}")
    model_type = data.get("model_type")
    if model_type is None:
        raise ConfigError(f"{file}: no 'model_type' key, so the model family is unknown (supported: "
                          f"{', '.join(sorted(MODELS))})")
    if model_type not in MODELS:
        raise _unsupported("model_type", model_type, MODELS, file)
    config_class = model_class(model_type).config_class
    for section, allowed in config_class.nested_model_types.items():
        sub = data.get(section)
        nested = sub.get("model_type") if isinstance(sub, dict) else None
        if nested is not None and nested not in allowed:
            raise UnsupportedModelError(f"{file}: {section}.model_type {nested!r} is not supported in a "
                                        f"{model_type!r} checkpoint (supported: {', '.join(sorted(allowed))})")
    return model_type


def model_class(model_type: str):
    """The family's model class for a model_type."""
    if model_type not in MODELS:
        raise _unsupported("model_type", model_type, MODELS, "model_type")
    return _load(MODELS[model_type])


def config_class_for(data: dict) -> type[ModelConfig]:
    """The config class for a parsed config.json (its model_type; ALIGN when it has none, as refalign's first
    family read every config)."""
    model_type = data.get("model_type") if isinstance(data, dict) else None
    return model_class(model_type or "align").config_class


class AutoConfig:
    @staticmethod
    def from_pretrained(name_or_path=None) -> ModelConfig:
        """The family's config from a checkpoint folder's config.json."""
        directory = _directory(name_or_path)
        return model_class(model_type_of(directory)).config_class.from_pretrained(directory)


class AutoModel:
    @staticmethod
    def from_pretrained(name_or_path=None, dtype=np.float32):
        """The family's model (AlignModel, ...) for a checkpoint: a folder or file, "tiny", "org/name" (offline, from
        the Hugging Face cache) or None (REFALIGN_WEIGHTS, weights/align-base in a source checkout, the HF cache)."""
        from .loading.hub import resolve_weights
        path = resolve_weights(name_or_path)
        return model_class(model_type_of(path)).from_pretrained(path, dtype=dtype)


def _tokenizer_json_class(path: str) -> str:
    """The tokenizer class a tokenizer.json implies by its model type (BPE: RoBERTa's, Unigram: XLM-R's)."""
    data = read_config_json(path)
    model_type = data.get("model", {}).get("type") if isinstance(data, dict) and isinstance(data.get("model"), dict) \
        else None
    if model_type not in TOKENIZER_JSON_MODELS:
        raise UnsupportedModelError(f"{path}: model.type {model_type!r} is not supported without a tokenizer_class "
                                    f"(supported: {', '.join(sorted(TOKENIZER_JSON_MODELS))})")
    return TOKENIZER_JSON_MODELS[model_type]


class AutoTokenizer:
    @staticmethod
    def from_pretrained(name_or_path=None, **overrides):
        """The tokenizer tokenizer_config.json names (tokenizer_class), else the one the files present imply."""
        directory = _directory(name_or_path)
        settings_file = os.path.join(directory, "tokenizer_config.json")
        name = None
        if os.path.isfile(settings_file):
            settings = read_config_json(settings_file)
            name = settings.get("tokenizer_class") if isinstance(settings, dict) else None
        if name is None:
            file = next((f for f, _ in TOKENIZER_FILES if os.path.isfile(os.path.join(directory, f))), None)
            if file is None:
                raise WeightsNotFoundError(f"{directory}: no tokenizer files (looked for tokenizer_config.json's "
                                           f"tokenizer_class and {', '.join(f for f, _ in TOKENIZER_FILES)})")
            name = dict(TOKENIZER_FILES)[file] or _tokenizer_json_class(os.path.join(directory, file))
        if name not in TOKENIZERS:
            raise _unsupported("tokenizer_class", name, TOKENIZERS, settings_file)
        return _load(TOKENIZERS[name]).from_pretrained(directory, **overrides)


class AutoImageProcessor:
    @staticmethod
    def from_pretrained(name_or_path=None):
        """The image processor the checkpoint's settings name (image_processor_type, or the legacy
        feature_extractor_type), read where transformers 5 reads them: processor_config.json's "image_processor",
        else preprocessor_config.json; without either, the family's own (align-base's settings for ALIGN)."""
        from .image_processors.base import read_image_processor_dict
        directory = _directory(name_or_path)
        settings, file = read_image_processor_dict(directory)
        name = None if settings is None else settings.get("image_processor_type")
        if settings is not None and name is None and isinstance(settings.get("feature_extractor_type"), str):
            name = settings["feature_extractor_type"].replace("FeatureExtractor", "ImageProcessor")
        if name is None:   # no settings file, or one that names no type: the family's own processor
            own = _family_processor(directory).image_processor_class
            if own is None:
                raise WeightsNotFoundError(f"{directory}: no preprocessor_config.json or processor_config.json naming "
                                           f"an image processor (supported: {', '.join(sorted(IMAGE_PROCESSORS))})")
            return own.from_pretrained(directory)
        if name not in IMAGE_PROCESSORS:
            raise _unsupported("image_processor_type", name, IMAGE_PROCESSORS, file)
        return _load(IMAGE_PROCESSORS[name]).from_pretrained(directory)


def _family_processor(directory: str):
    return model_class(model_type_of(directory)).processor_class


class AutoProcessor:
    @staticmethod
    def from_pretrained(name_or_path=None):
        """The family's processor (AlignProcessor, ...) for a checkpoint; a family that names no tokenizer or image
        processor class (VisionTextDualEncoder) gets the ones its files name."""
        directory = _directory(name_or_path)
        cls = _family_processor(directory)
        if cls.tokenizer_class is None or cls.image_processor_class is None:
            return cls(AutoImageProcessor.from_pretrained(directory), AutoTokenizer.from_pretrained(directory))
        return cls.from_pretrained(directory)


# ----------------------------------------------------------------------------------------------- conveniences
def load_config(path) -> ModelConfig:
    """The config of a checkpoint folder (or of its config.json), read by its family's config class."""
    file = config_file(path)
    return config_class_for(read_config_json(file)).from_json_file(file)


def load_checkpoint(path, dtype=np.float32):
    """(config, strictly checked weights) of a checkpoint of any family."""
    if not os.path.exists(path):
        raise WeightsNotFoundError(f"{os.fspath(path)}: no such file or directory")
    cls = model_class(model_type_of(path))
    from .loading.checkpoint import load_checkpoint as load
    return load(path, cls.config_class, cls.weight_shapes, dtype=dtype)


def check_state_dict(state: dict, config: ModelConfig, source: str) -> dict:
    """The weights a model of `config`'s family reads, strictly checked (see loading.checkpoint.check_state_dict)."""
    from .loading.checkpoint import check_state_dict as check
    required, optional = model_class(config.model_type).weight_shapes(config)
    return check(state, required, optional, source, config.unknown_keys_hint())


def unused_config_keys(data: dict) -> list[tuple[str, str | None]]:
    """Keys of a parsed config.json that nothing reads (likely misspellings), with suggestions."""
    return config_class_for(data).unused_keys(data)


def transformers_only_config_keys(data: dict) -> list[str]:
    """Keys of a parsed config.json that transformers knows but inference does not use."""
    return config_class_for(data).transformers_only_keys(data)
