"""ALIGN configuration: the hub's config.json read into small frozen dataclasses.

Keys missing from the file take the defaults of transformers' *code* (AlignTextConfig / AlignVisionConfig /
AlignConfig), which differ from its docstrings in places (vision hidden_dim is 2560 and image_size 600 in code).
align-base's own config.json sets image_size 289 and hidden_dim 640.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

TEXT_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "gelu_python", "quick_gelu")
VISION_ACTIVATIONS = ("swish", "silu", "relu", "gelu", "gelu_new", "sigmoid", "tanh", "relu6")


@dataclass(frozen=True)
class AlignTextConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass(frozen=True)
class AlignVisionConfig:
    num_channels: int = 3
    image_size: int = 600
    width_coefficient: float = 2.0
    depth_coefficient: float = 3.1
    depth_divisor: int = 8
    kernel_sizes: tuple[int, ...] = (3, 3, 5, 3, 5, 5, 3)
    in_channels: tuple[int, ...] = (32, 16, 24, 40, 80, 112, 192)
    out_channels: tuple[int, ...] = (16, 24, 40, 80, 112, 192, 320)
    depthwise_padding: tuple[int, ...] = ()
    strides: tuple[int, ...] = (1, 2, 2, 2, 1, 2, 1)
    num_block_repeats: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)
    expand_ratios: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6)
    squeeze_expansion_ratio: float = 0.25
    hidden_act: str = "swish"
    hidden_dim: int = 2560  # only used as the pooling kernel size (AvgPool2d(hidden_dim, ceil_mode=True))
    pooling_type: str = "mean"
    batch_norm_eps: float = 1e-3

    @property
    def num_hidden_layers(self) -> int:
        """Number of MBConv blocks: sum of ceil(depth_coefficient * repeats)."""
        return sum(int(math.ceil(self.depth_coefficient * n)) for n in self.num_block_repeats)


@dataclass(frozen=True)
class AlignConfig:
    text_config: AlignTextConfig = field(default_factory=AlignTextConfig)
    vision_config: AlignVisionConfig = field(default_factory=AlignVisionConfig)
    projection_dim: int = 640
    temperature_init_value: float = 1.0
    # keys of the source dict that nothing reads and transformers does not know either: (dotted key, suggestion).
    # Not part of the configuration (ignored by ==, repr and to_dict); kept for warnings and error hints.
    unknown_keys: tuple[tuple[str, str | None], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json", *, warn: bool = True) -> "AlignConfig":
        """Build from a parsed config.json. Keys nothing reads (likely misspellings) are kept in unknown_keys and,
        unless warn=False, listed in one UserWarning."""
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object at the top level, got {type(d).__name__}")
        text = _build(AlignTextConfig, d.get("text_config") or {}, source, "text_config")
        vision = _build(AlignVisionConfig, d.get("vision_config") or {}, source, "vision_config")
        top = {k: d[k] for k in ("projection_dim", "temperature_init_value") if k in d}
        unknown = tuple(unused_config_keys(d))
        cfg = _build(cls, top, source, "", text_config=text, vision_config=vision, unknown_keys=unknown)
        _validate(cfg, source)
        if unknown and warn:
            warnings.warn(unknown_keys_message(unknown, source), UserWarning, stacklevel=2)
        return cfg

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "AlignConfig":
        path = os.fspath(path)
        return cls.from_dict(read_config_json(path), source=path)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("unknown_keys")
        for sub in ("text_config", "vision_config"):
            d[sub] = {k: list(v) if isinstance(v, tuple) else v for k, v in d[sub].items()}
        return d


def read_config_json(path: str | os.PathLike) -> Any:
    """The parsed JSON of a config file; ConfigError naming the file when it is absent or not JSON."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(value: Any, default: Any, source: str, key: str) -> Any:
    """Check one JSON value against the type of the field's default; raise ConfigError naming the key."""
    bad = ConfigError(f"{source}: invalid value for '{key}': {value!r}")
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{source}: '{key}' must be a list of integers, got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int) and not (key.endswith("pad_token_id") and value is None):
        if key.endswith("image_size") and isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{source}: '{key}' must be a finite number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {value!r}")
        return value
    return value


def _build(cls, d: dict, source: str, prefix: str, **extra):
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: '{prefix}' must be a JSON object, got {type(d).__name__}")
    kwargs = dict(extra)
    for f in dataclasses.fields(cls):
        if f.name in extra or f.name not in d:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        kwargs[f.name] = _coerce(d[f.name], default, source, _key(prefix, f.name))
    return cls(**kwargs)


def _validate(cfg: AlignConfig, source: str) -> None:
    t, v = cfg.text_config, cfg.vision_config

    def need(cond: bool, key: str, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{source}: invalid value for '{key}': {msg}")

    for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                 "max_position_embeddings", "type_vocab_size"):
        need(getattr(t, name) > 0, f"text_config.{name}", f"must be positive, got {getattr(t, name)}")
    need(t.hidden_size % t.num_attention_heads == 0, "text_config.num_attention_heads",
         f"hidden_size {t.hidden_size} is not a multiple of num_attention_heads {t.num_attention_heads}")
    need(t.hidden_act in TEXT_ACTIVATIONS, "text_config.hidden_act", f"{t.hidden_act!r} is not one of {TEXT_ACTIVATIONS}")
    need(t.layer_norm_eps > 0, "text_config.layer_norm_eps", "must be positive")
    need(v.hidden_act in VISION_ACTIVATIONS, "vision_config.hidden_act",
         f"{v.hidden_act!r} is not one of {VISION_ACTIVATIONS}")
    need(v.pooling_type in ("mean", "max"), "vision_config.pooling_type", f"{v.pooling_type!r} is not 'mean' or 'max'")
    n = len(v.in_channels)
    for name in ("kernel_sizes", "out_channels", "strides", "num_block_repeats", "expand_ratios"):
        need(len(getattr(v, name)) == n, f"vision_config.{name}",
             f"has {len(getattr(v, name))} entries but in_channels has {n}")
    need(all(s in (1, 2) for s in v.strides), "vision_config.strides", f"only strides 1 and 2 exist, got {v.strides}")
    need(all(k > 0 and k % 2 == 1 for k in v.kernel_sizes), "vision_config.kernel_sizes",
         f"kernel sizes must be odd and positive, got {v.kernel_sizes}")
    need(all(r >= 1 for r in v.expand_ratios), "vision_config.expand_ratios", f"must be >= 1, got {v.expand_ratios}")
    for name in ("num_channels", "image_size", "depth_divisor", "hidden_dim"):
        need(getattr(v, name) > 0, f"vision_config.{name}", f"must be positive, got {getattr(v, name)}")
    need(v.width_coefficient > 0 and v.depth_coefficient > 0, "vision_config.width_coefficient",
         "width and depth coefficients must be positive")
    need(v.batch_norm_eps > 0, "vision_config.batch_norm_eps", "must be positive")
    need(cfg.projection_dim > 0, "projection_dim", f"must be positive, got {cfg.projection_dim}")


# config keys nothing reads -----------------------------------------------------------------------------------------
# Keys transformers 5.23 knows (transformers/configuration_utils.py: PreTrainedConfig's fields and the keyword
# arguments its __post_init__ consumes; generation/configuration_utils.py: GenerationConfig's default generation
# parameters, which PreTrainedConfig drops), plus the attributes transformers 4.x's PretrainedConfig serialised into
# every config.json (align-base's hub config.json was written by 4.27). None of them matters for inference.
_TRANSFORMERS_COMMON = frozenset({
    # PreTrainedConfig fields and __post_init__ keywords (5.23); model_type is written by to_dict
    "transformers_version", "architectures", "output_hidden_states", "return_dict", "dtype", "torch_dtype",
    "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type", "num_labels",
    "name_or_path", "output_attentions", "attn_implementation", "experts_implementation", "per_layer_config",
    "tie_last_hidden_states", "model_type", "quantization_config",
    # GenerationConfig._get_default_generation_params() (5.23)
    "max_length", "min_length", "do_sample", "use_cache", "early_stopping", "num_beams", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "epsilon_cutoff", "eta_cutoff",
    "encoder_repetition_penalty", "num_assistant_tokens", "num_assistant_tokens_schedule",
    "assistant_confidence_threshold", "assistant_lookbehind", "target_lookbehind", "num_beam_groups",
    "diversity_penalty",
    # transformers 4.x PretrainedConfig attributes (serialised at every level of a 4.x config.json)
    "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "decoder_start_token_id", "add_cross_attention",
    "cross_attention_hidden_size", "finetuning_task", "is_decoder", "prefix", "pruned_heads", "task_specific_params",
    "tf_legacy_loss", "tie_encoder_decoder", "tie_word_embeddings", "tokenizer_class", "torchscript",
    "use_bfloat16",
})
_TRANSFORMERS_ONLY = {  # per level, beyond the common keys: Align*Config fields inference does not need
    "": frozenset({"initializer_range"}),
    "text_config": frozenset({"hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
                              "position_embedding_type"}),  # the last one: transformers 4.x's AlignTextConfig
    "vision_config": frozenset({"initializer_range", "batch_norm_momentum", "drop_connect_rate",
                                "num_hidden_layers"}),  # recomputed from num_block_repeats by transformers too
}
_LEVELS = {"": AlignConfig, "text_config": AlignTextConfig, "vision_config": AlignVisionConfig}


def _read_keys(level: str) -> list[str]:
    """The keys refalign reads at one level of config.json."""
    return [f.name for f in dataclasses.fields(_LEVELS[level]) if f.name != "unknown_keys"]


def _known_to_transformers(level: str, key: str) -> bool:
    # a leading underscore marks transformers' private bookkeeping (_name_or_path, _commit_hash,
    # _attn_implementation_autoset, ...)
    return key.startswith("_") or key in _TRANSFORMERS_COMMON or key in _TRANSFORMERS_ONLY[level]


def _suggest(key: str, candidates: list[str]) -> str | None:
    """The key refalign reads that `key` most likely misspells, or None."""
    low = key.lower()
    by_lower = {c.lower(): c for c in candidates}
    if low in by_lower:  # wrong case
        return by_lower[low]
    close = difflib.get_close_matches(low, list(by_lower), n=1, cutoff=0.75)
    if close:
        return by_lower[close[0]]
    # a prefix either way (layer_norm_epsilon / layer_norm_eps, hidden_activation / hidden_act)
    pref = [c for c in candidates if len(min(c, low, key=len)) >= 5 and (low.startswith(c) or c.startswith(low))]
    return max(pref, key=len) if pref else None


def _levels(data: dict):
    """(level name, that level's dict) for the top level and each sub-config that is a JSON object."""
    yield "", data
    for sub in ("text_config", "vision_config"):
        if isinstance(data.get(sub), dict):
            yield sub, data[sub]


def unused_config_keys(data: dict) -> list[tuple[str, str | None]]:
    """Dotted keys of a config.json dict that refalign does not read and transformers does not know either
    (likely misspellings), each with the read key at that level it most likely means, or None."""
    if not isinstance(data, dict):
        return []
    out = []
    for level, d in _levels(data):
        read = _read_keys(level)
        for key in d:
            if key not in read and not _known_to_transformers(level, key):
                out.append((_key(level, key), _suggest(key, read)))
    return out


def transformers_only_config_keys(data: dict) -> list[str]:
    """Dotted keys of a config.json dict that transformers knows but refalign's inference does not use."""
    if not isinstance(data, dict):
        return []
    read_levels = {"": set(_read_keys("")), "text_config": set(_read_keys("text_config")),
                   "vision_config": set(_read_keys("vision_config"))}
    return [_key(level, key) for level, d in _levels(data)
            for key in d if key not in read_levels[level] and _known_to_transformers(level, key)]


def describe_unknown_key(key: str, suggestion: str | None) -> str:
    return f"{key!r} (did you mean {suggestion!r}?)" if suggestion else repr(key)


def unknown_keys_message(unknown, source: str = "config.json") -> str:
    """One sentence naming every unknown key (with suggestions): the text of from_dict's warning."""
    items = [describe_unknown_key(k, s) for k, s in unknown]
    if len(items) == 1:
        return f"{source}: unknown key {items[0]} is ignored"
    return f"{source}: unknown keys {', '.join(items)} are ignored"


def unknown_keys_hint(cfg: AlignConfig) -> str:
    """For a weights/config mismatch: name the unknown config keys as the likely cause (empty string if none)."""
    if not cfg.unknown_keys:
        return ""
    parts = []
    for key, suggestion in cfg.unknown_keys:
        if suggestion:
            level = key.rpartition(".")[0]
            value = getattr(getattr(cfg, level) if level else cfg, suggestion)
            value = list(value) if isinstance(value, tuple) else value
            parts.append(f"{key!r} (did you mean {suggestion!r}? in use: {_key(level, suggestion)}={value!r})")
        else:
            parts.append(repr(key))
    return ("hint: config.json has keys refalign does not read: " + ", ".join(parts)
            + ". A misspelled config key is the likely cause of this mismatch, rather than the weights.")


def load_config(path: str | os.PathLike) -> AlignConfig:
    """Read config.json from a checkpoint directory (or the file itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    return AlignConfig.from_json_file(path)
