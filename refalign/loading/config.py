"""Strict reading of config.json into frozen dataclasses, for every family.

A family's configuration is a `ModelConfig` subclass: its own top-level fields plus one dataclass per sub-config
(`text_config`, `vision_config`), each a tower's config class with the family's defaults. Keys missing from the file
take those defaults (transformers' *code* defaults); a present key must have the default's type (ConfigError naming
the file and the dotted key); each section validates its own values. Keys that nothing reads are sorted into
"transformers settings inference ignores" (dropout, initializer_range, generation defaults, ...) and "unknown"
(likely misspellings: warned once, with the nearest key refalign reads, and named again if the weights then do not
fit the config).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError


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


def config_file(path: str | os.PathLike) -> str:
    """config.json of a checkpoint directory, of the folder a weights file is in, or the file itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return os.path.join(path, "config.json")
    if path.endswith(".json"):
        return path
    return os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")


def dotted(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def require(cond: bool, source: str, key: str, msg: str) -> None:
    """ConfigError naming the file and the dotted key unless `cond` holds."""
    if not cond:
        raise ConfigError(f"{source}: invalid value for '{key}': {msg}")


def check_transformer_section(section, source: str, prefix: str, positive: tuple[str, ...],
                              activations: tuple[str, ...]) -> None:
    """The checks every transformer tower's config shares: sizes positive, heads dividing hidden_size, a known
    hidden_act, a positive layer_norm_eps (ConfigError naming the dotted key)."""
    for name in positive:
        value = getattr(section, name)
        require(value > 0, source, f"{prefix}.{name}", f"must be positive, got {value}")
    require(section.hidden_size % section.num_attention_heads == 0, source, f"{prefix}.num_attention_heads",
            f"hidden_size {section.hidden_size} is not a multiple of num_attention_heads {section.num_attention_heads}")
    require(section.hidden_act in activations, source, f"{prefix}.hidden_act",
            f"{section.hidden_act!r} is not one of {activations}")
    require(section.layer_norm_eps > 0, source, f"{prefix}.layer_norm_eps", "must be positive")


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


def build_section(cls, d: dict, source: str, prefix: str, **extra):
    """One dataclass from one JSON object: the fields present are type-checked against their defaults."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: '{prefix}' must be a JSON object, got {type(d).__name__}")
    kwargs = dict(extra)
    for f in dataclasses.fields(cls):
        if f.name in extra or f.name not in d or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        kwargs[f.name] = _coerce(d[f.name], default, source, dotted(prefix, f.name))
    return cls(**kwargs)


def section_to_dict(section) -> dict[str, Any]:
    return {f.name: list(v) if isinstance(v := getattr(section, f.name), tuple) else v
            for f in dataclasses.fields(section) if f.init}


# keys nothing reads ---------------------------------------------------------------------------------------------
# Keys transformers 5.23 knows at every level (transformers/configuration_utils.py: PreTrainedConfig's fields and the
# keyword arguments its __post_init__ consumes; generation/configuration_utils.py: GenerationConfig's default
# generation parameters, which PreTrainedConfig drops), plus the attributes transformers 4.x's PretrainedConfig
# serialised into every config.json (align-base's hub config.json was written by 4.27). None matters for inference.
TRANSFORMERS_COMMON = frozenset({
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
    "use_bfloat16", "gradient_checkpointing",
})


def suggest_key(key: str, candidates: list[str]) -> str | None:
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


def describe_unknown_key(key: str, suggestion: str | None) -> str:
    return f"{key!r} (did you mean {suggestion!r}?)" if suggestion else repr(key)


def unknown_keys_message(unknown, source: str = "config.json") -> str:
    """One sentence naming every unknown key (with suggestions): the text of from_dict's warning."""
    items = [describe_unknown_key(k, s) for k, s in unknown]
    if len(items) == 1:
        return f"{source}: unknown key {items[0]} is ignored"
    return f"{source}: unknown keys {', '.join(items)} are ignored"


# the family config base -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelConfig:
    """Base of a family's config: subclasses add their top-level fields and declare

        model_type         config.json's "model_type" of the family
        sub_configs        {"text_config": TowerConfigClass, "vision_config": ...}: one dataclass per section
        nested_model_types {"text_config": {"align_text_model"}, ...}: what a section's own model_type may be
        transformers_only  {level: keys transformers' config classes have that inference does not need}

    Sections validate themselves (`validate(source, prefix)`); the subclass's `validate(source)` checks the rest.
    """
    model_type: ClassVar[str] = ""
    sub_configs: ClassVar[dict[str, type]] = {}
    transformers_only: ClassVar[dict[str, frozenset]] = {}
    nested_model_types: ClassVar[dict[str, frozenset]] = {}   # {section: the model_type values it may carry}

    # keys of the source dict that nothing reads and transformers does not know either: (dotted key, suggestion).
    # Not part of the configuration (ignored by ==, repr and to_dict); kept for warnings and error hints.
    unknown_keys: tuple[tuple[str, str | None], ...] = field(default=(), compare=False, repr=False, kw_only=True)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json", *, warn: bool = True):
        """Build from a parsed config.json. Keys nothing reads (likely misspellings) are kept in unknown_keys and,
        unless warn=False, listed in one UserWarning."""
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object at the top level, got {type(d).__name__}")
        d = cls.prepare(d, source)
        sections = {}
        for name, section_cls in cls.section_classes(d, source).items():
            sections[name] = build_section(section_cls, d.get(name) or {}, source, name)
            sections[name].validate(source, name)
        top = {f.name: d[f.name] for f in dataclasses.fields(cls)
               if f.name in d and f.name not in cls.sub_configs and f.init and f.name != "unknown_keys"}
        unknown = tuple(cls.unused_keys(d))
        cfg = build_section(cls, top, source, "", unknown_keys=unknown, **sections)
        cfg.validate(source)
        if unknown and warn:
            warnings.warn(unknown_keys_message(unknown, source), UserWarning, stacklevel=2)
        return cfg

    @classmethod
    def prepare(cls, d: dict, source: str) -> dict:
        """The parsed config.json as the sections expect it (a family may rewrite legacy forms here)."""
        return d

    @classmethod
    def section_classes(cls, d: dict, source: str = "config.json") -> dict[str, type]:
        """The dataclass of each section for this config.json (a family whose towers vary picks them here; an error
        names `source`, the file)."""
        return cls.sub_configs

    @classmethod
    def from_json_file(cls, path: str | os.PathLike):
        path = os.fspath(path)
        return cls.from_dict(read_config_json(path), source=path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike):
        """From a checkpoint directory (its config.json), a weights file beside one, or the file itself."""
        return cls.from_json_file(config_file(path))

    def validate(self, source: str) -> None:
        """Top-level checks (sections are checked on their own); ConfigError naming the key. Every dual encoder's
        projection_dim must be positive; a family with more top-level rules extends this."""
        if hasattr(self, "projection_dim"):
            require(self.projection_dim > 0, source, "projection_dim", f"must be positive, got {self.projection_dim}")

    def to_dict(self) -> dict[str, Any]:
        d = section_to_dict(self)
        d.pop("unknown_keys", None)
        for name in self.sub_configs:
            d[name] = section_to_dict(getattr(self, name))
        return d

    # keys nothing reads -------------------------------------------------------------------------------------------
    @classmethod
    def _read_keys(cls, level: str, data: dict) -> list[str]:
        """The keys refalign reads at one level of config.json."""
        level_cls = cls if not level else cls.section_classes(data)[level]
        return [f.name for f in dataclasses.fields(level_cls) if f.init and f.name != "unknown_keys"]

    @classmethod
    def _known_to_transformers(cls, level: str, key: str) -> bool:
        # a leading underscore marks transformers' private bookkeeping (_name_or_path, _commit_hash, ...)
        return key.startswith("_") or key in TRANSFORMERS_COMMON or key in cls.transformers_only.get(level, ())

    @classmethod
    def _sections(cls, data: dict):
        yield "", data
        for sub in cls.sub_configs:
            if isinstance(data.get(sub), dict):
                yield sub, data[sub]

    @classmethod
    def unused_keys(cls, data: dict) -> list[tuple[str, str | None]]:
        """Dotted keys of a config.json dict that refalign does not read and transformers does not know either
        (likely misspellings), each with the read key at that level it most likely means, or None."""
        if not isinstance(data, dict):
            return []
        data = cls.prepare(data, "config.json")
        out = []
        for level, d in cls._sections(data):
            read = cls._read_keys(level, data)
            for key in d:
                if key not in read and not cls._known_to_transformers(level, key):
                    out.append((dotted(level, key), suggest_key(key, read)))
        return out

    @classmethod
    def transformers_only_keys(cls, data: dict) -> list[str]:
        """Dotted keys of a config.json dict that transformers knows but refalign's inference does not use."""
        if not isinstance(data, dict):
            return []
        data = cls.prepare(data, "config.json")
        return [dotted(level, key) for level, d in cls._sections(data)
                for key in d if key not in cls._read_keys(level, data) and cls._known_to_transformers(level, key)]

    def unknown_keys_hint(self) -> str:
        """For a weights/config mismatch: name the unknown config keys as the likely cause ("" if none)."""
        if not self.unknown_keys:
            return ""
        parts = []
        for key, suggestion in self.unknown_keys:
            if suggestion:
                level = key.rpartition(".")[0]
                value = getattr(getattr(self, level) if level else self, suggestion)
                value = list(value) if isinstance(value, tuple) else value
                parts.append(f"{key!r} (did you mean {suggestion!r}? in use: {dotted(level, suggestion)}={value!r})")
            else:
                parts.append(repr(key))
        return ("hint: config.json has keys refalign does not read: " + ", ".join(parts)
                + ". A misspelled config key is the likely cause of this mismatch, rather than the weights.")
