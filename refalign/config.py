"""ALIGN configuration: the hub's config.json read into small frozen dataclasses.

Keys missing from the file take the defaults of transformers' *code* (AlignTextConfig / AlignVisionConfig /
AlignConfig), which differ from its docstrings in places (vision hidden_dim is 2560 and image_size 600 in code).
align-base's own config.json sets image_size 289 and hidden_dim 640.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
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

    @classmethod
    def from_dict(cls, d: dict, source: str = "config.json") -> "AlignConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object at the top level, got {type(d).__name__}")
        text = _build(AlignTextConfig, d.get("text_config") or {}, source, "text_config")
        vision = _build(AlignVisionConfig, d.get("vision_config") or {}, source, "vision_config")
        top = {k: d[k] for k in ("projection_dim", "temperature_init_value") if k in d}
        cfg = _build(cls, top, source, "", text_config=text, vision_config=vision)
        _validate(cfg, source)
        return cfg

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "AlignConfig":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(data, source=path)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for sub in ("text_config", "vision_config"):
            d[sub] = {k: list(v) if isinstance(v, tuple) else v for k, v in d[sub].items()}
        return d


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


def load_config(path: str | os.PathLike) -> AlignConfig:
    """Read config.json from a checkpoint directory (or the file itself)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    return AlignConfig.from_json_file(path)
