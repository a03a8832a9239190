"""What the ALIGN architecture is made of: the EfficientNet block plan and every parameter's name and shape.

The names are transformers' AlignModel state-dict keys, used unchanged everywhere in refalign.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import AlignConfig, AlignTextConfig, AlignVisionConfig


def round_filters(cfg: AlignVisionConfig, channels: int) -> int:
    """Scale a channel count by width_coefficient and round to a multiple of depth_divisor (never down by >10%)."""
    divisor = cfg.depth_divisor
    scaled = channels * cfg.width_coefficient
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def round_repeats(cfg: AlignVisionConfig, repeats: int) -> int:
    """Scale a stage's block count by depth_coefficient, rounding up."""
    return int(math.ceil(cfg.depth_coefficient * repeats))


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block, as transformers builds it."""
    index: int            # 0-based block number across all stages
    stage: int
    in_dim: int           # channels entering the block
    out_dim: int
    expand_dim: int       # in_dim * expand_ratio (== in_dim when expand_ratio == 1)
    se_dim: int           # squeeze-excitation bottleneck: max(1, int(in_dim * ratio)) -- from the *input* channels
    kernel_size: int
    stride: int           # the stage stride on its first block, 1 after
    expand: bool          # expand_ratio != 1 -> there is an expansion 1x1 conv
    residual: bool        # True for every block but the first of a stage (transformers' id_skip == False)
    adjust_padding: bool  # stride-2 depthwise pad is (k//2-1, k//2) unless index is in depthwise_padding


def block_specs(cfg: AlignVisionConfig) -> list[BlockSpec]:
    specs: list[BlockSpec] = []
    for stage in range(len(cfg.in_channels)):
        stage_in = round_filters(cfg, cfg.in_channels[stage])
        out_dim = round_filters(cfg, cfg.out_channels[stage])
        ratio = cfg.expand_ratios[stage]
        for j in range(round_repeats(cfg, cfg.num_block_repeats[stage])):
            in_dim = stage_in if j == 0 else out_dim
            index = len(specs)
            specs.append(BlockSpec(
                index=index, stage=stage, in_dim=in_dim, out_dim=out_dim, expand_dim=in_dim * ratio,
                se_dim=max(1, int(in_dim * cfg.squeeze_expansion_ratio)), kernel_size=cfg.kernel_sizes[stage],
                stride=cfg.strides[stage] if j == 0 else 1, expand=ratio != 1, residual=j > 0,
                adjust_padding=index not in cfg.depthwise_padding))
    return specs


def stem_channels(cfg: AlignVisionConfig) -> int:
    return round_filters(cfg, 32)


def _bn(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.{p}": (n,) for p in ("weight", "bias", "running_mean", "running_var")}


def vision_shapes(cfg: AlignVisionConfig, prefix: str = "vision_model.") -> dict[str, tuple[int, ...]]:
    """Every parameter / buffer of the vision tower the forward pass reads (num_batches_tracked is not read)."""
    stem = stem_channels(cfg)
    s = {f"{prefix}embeddings.convolution.weight": (stem, cfg.num_channels, 3, 3)}
    s.update(_bn(f"{prefix}embeddings.batchnorm", stem))
    for b in block_specs(cfg):
        p = f"{prefix}encoder.blocks.{b.index}."
        if b.expand:
            s[p + "expansion.expand_conv.weight"] = (b.expand_dim, b.in_dim, 1, 1)
            s.update(_bn(p + "expansion.expand_bn", b.expand_dim))
        s[p + "depthwise_conv.depthwise_conv.weight"] = (b.expand_dim, 1, b.kernel_size, b.kernel_size)
        s.update(_bn(p + "depthwise_conv.depthwise_norm", b.expand_dim))
        s[p + "squeeze_excite.reduce.weight"] = (b.se_dim, b.expand_dim, 1, 1)
        s[p + "squeeze_excite.reduce.bias"] = (b.se_dim,)
        s[p + "squeeze_excite.expand.weight"] = (b.expand_dim, b.se_dim, 1, 1)
        s[p + "squeeze_excite.expand.bias"] = (b.expand_dim,)
        s[p + "projection.project_conv.weight"] = (b.out_dim, b.expand_dim, 1, 1)
        s.update(_bn(p + "projection.project_bn", b.out_dim))
    return s


def text_shapes(cfg: AlignTextConfig, prefix: str = "text_model.") -> dict[str, tuple[int, ...]]:
    """Every parameter of the BERT text tower the forward pass reads (the tanh pooler is listed separately)."""
    h, i = cfg.hidden_size, cfg.intermediate_size
    s = {
        f"{prefix}embeddings.word_embeddings.weight": (cfg.vocab_size, h),
        f"{prefix}embeddings.position_embeddings.weight": (cfg.max_position_embeddings, h),
        f"{prefix}embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, h),
        f"{prefix}embeddings.LayerNorm.weight": (h,),
        f"{prefix}embeddings.LayerNorm.bias": (h,),
    }
    for n in range(cfg.num_hidden_layers):
        p = f"{prefix}encoder.layer.{n}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            s[f"{p}{name}.weight"] = (h, h)
            s[f"{p}{name}.bias"] = (h,)
        s[p + "intermediate.dense.weight"] = (i, h)
        s[p + "intermediate.dense.bias"] = (i,)
        s[p + "output.dense.weight"] = (h, i)
        s[p + "output.dense.bias"] = (h,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            s[f"{p}{ln}.weight"] = (h,)
            s[f"{p}{ln}.bias"] = (h,)
    return s


def text_pooler_shapes(cfg: AlignTextConfig, prefix: str = "text_model.") -> dict[str, tuple[int, ...]]:
    """BERT's tanh pooler: present in align-base's checkpoint, unused by the ALIGN embedding (kept optional)."""
    h = cfg.hidden_size
    return {f"{prefix}pooler.dense.weight": (h, h), f"{prefix}pooler.dense.bias": (h,)}


def align_shapes(cfg: AlignConfig) -> dict[str, tuple[int, ...]]:
    """Required tensors of a full AlignModel checkpoint."""
    s = {"temperature": (), "text_projection.weight": (cfg.projection_dim, cfg.text_config.hidden_size),
         "text_projection.bias": (cfg.projection_dim,)}
    s.update(text_shapes(cfg.text_config))
    s.update(vision_shapes(cfg.vision_config))
    return s


def optional_shapes(cfg: AlignConfig) -> dict[str, tuple[int, ...]]:
    """Tensors a checkpoint may carry that refalign accepts (checked for shape) but does not need."""
    s = text_pooler_shapes(cfg.text_config)
    return s


def is_ignorable(name: str) -> bool:
    """BatchNorm's num_batches_tracked counters only matter for training; position_ids buffers are recomputed."""
    return name.endswith(".num_batches_tracked") or name.endswith("embeddings.position_ids") \
        or name.endswith("embeddings.token_type_ids")
