"""The ViT image tower (transformers' ViTModel; DeiTModel with its distillation token) as plain NumPy functions.

Read top to bottom: config -> tensor names and shapes -> embeddings -> pre-LN encoder layer -> the tower
(`vit_forward`). Attention and the patch convolution are shared with the other towers (refalign.layers).

    x  = [cls (, distillation)] + patch_conv(pixels) , + position_embeddings          hidden_states[0]
    x  = x + attention(layernorm_before(x)) ; x = x + mlp(layernorm_after(x))       hidden_states[1..L]
    last_hidden_state = layernorm(x)        (so hidden_states[-1] is *before* the final layernorm)
    pooler_output     = tanh(dense(last_hidden_state[:, 0]))                          (when the checkpoint has one)

Weights are keyed by the checkpoint's names ("vision_model.encoder.layer.0.attention.attention.query.weight", torch
layout [out, in]). Every function keeps the dtype of the weights and pixels it is given.
Shapes: B = batch, N = patches, T = N + 1 (+1 for DeiT) tokens, D = hidden size, I = intermediate size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..layers.attention import multi_head_attention
from ..layers.patch_embedding import check_image_input, patch_embed
from ..loading.checkpoint import require_tensors
from ..loading.config import check_transformer_section
from ..ops import activation, layer_norm, linear
from ..outputs import ModelOutput

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "gelu_python", "quick_gelu")


@dataclass(frozen=True)
class ViTConfig:
    """The config.json keys a ViT (or DeiT) tower reads (defaults: ViT-B/16 at 224, as transformers' code)."""
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    qkv_bias: bool = True
    pooler_output_size: int | None = None   # None: hidden_size
    pooler_act: str = "tanh"

    def validate(self, source: str, prefix: str) -> None:
        """ConfigError naming the dotted key of the first impossible value."""
        check_transformer_section(self, source, prefix, ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                  "intermediate_size", "image_size", "patch_size", "num_channels"), ACTIVATIONS)

    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(repr=False)
class ViTOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPooling for ViTModel (NumPy)."""
    last_hidden_state: NDArray                 # [B, T, D], after the final layernorm
    pooler_output: NDArray | None = None       # [B, D]: tanh(dense(token 0)); None without a pooler
    hidden_states: list[NDArray] | None = None  # L + 1 tensors [B, T, D]: embeddings, then each layer (before the LN)
    attentions: list[NDArray] | None = None    # L tensors [B, h, T, T]


def vit_shapes(cfg: ViTConfig, prefix: str = "vision_model.", distillation: bool = False) -> dict[str, tuple]:
    """Every tensor of the tower the forward pass reads (the pooler is listed by vit_pooler_shapes)."""
    D, I, C, p = cfg.hidden_size, cfg.intermediate_size, cfg.num_channels, cfg.patch_size
    extra = 2 if distillation else 1
    e = prefix + "embeddings."
    s = {e + "cls_token": (1, 1, D), e + "position_embeddings": (1, cfg.num_patches() + extra, D),
         e + "patch_embeddings.projection.weight": (D, C, p, p), e + "patch_embeddings.projection.bias": (D,)}
    if distillation:
        s[e + "distillation_token"] = (1, 1, D)
    for n in range(cfg.num_hidden_layers):
        lp = f"{prefix}encoder.layer.{n}."
        for name in ("attention.attention.query", "attention.attention.key", "attention.attention.value"):
            s[f"{lp}{name}.weight"] = (D, D)
            if cfg.qkv_bias:
                s[f"{lp}{name}.bias"] = (D,)
        s.update({lp + "attention.output.dense.weight": (D, D), lp + "attention.output.dense.bias": (D,),
                  lp + "intermediate.dense.weight": (I, D), lp + "intermediate.dense.bias": (I,),
                  lp + "output.dense.weight": (D, I), lp + "output.dense.bias": (D,)})
        for ln in ("layernorm_before", "layernorm_after"):
            s.update({f"{lp}{ln}.weight": (D,), f"{lp}{ln}.bias": (D,)})
    s.update({prefix + "layernorm.weight": (D,), prefix + "layernorm.bias": (D,)})
    return s


def vit_pooler_shapes(cfg: ViTConfig, prefix: str = "vision_model.") -> dict[str, tuple]:
    D, P = cfg.hidden_size, cfg.pooler_output_size or cfg.hidden_size
    return {prefix + "pooler.dense.weight": (P, D), prefix + "pooler.dense.bias": (P,)}


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

def embeddings(params: dict, p: str, pixel_values: NDArray) -> NDArray:
    """[cls, (distillation,) patches] + position embeddings: [B, C, H, W] -> [B, T, D]."""
    x = patch_embed(pixel_values, params[p + "patch_embeddings.projection.weight"],
                    params[p + "patch_embeddings.projection.bias"])                 # [B, N, D]
    B = x.shape[0]
    tokens = [np.broadcast_to(params[p + "cls_token"], (B, 1, x.shape[2]))]
    if p + "distillation_token" in params:                                         # DeiT
        tokens.append(np.broadcast_to(params[p + "distillation_token"], (B, 1, x.shape[2])))
    x = np.concatenate(tokens + [x], axis=1)                                       # [B, T, D]
    return x + params[p + "position_embeddings"]                                   # [1, T, D] broadcast


def encoder_layer(params: dict, p: str, x: NDArray, cfg: ViTConfig, act) -> tuple[NDArray, NDArray]:
    """Pre-LN: x + attention(LN(x)), then x + fc2(act(fc1(LN(x))))."""
    eps, a = cfg.layer_norm_eps, p + "attention."
    h = layer_norm(x, params[p + "layernorm_before.weight"], params[p + "layernorm_before.bias"], eps)
    ctx, probs = multi_head_attention(h, params[a + "attention.query.weight"], params.get(a + "attention.query.bias"),
                                      params[a + "attention.key.weight"], params.get(a + "attention.key.bias"),
                                      params[a + "attention.value.weight"], params.get(a + "attention.value.bias"),
                                      None, cfg.num_attention_heads)                 # no padding among patches
    x = x + linear(ctx, params[a + "output.dense.weight"], params[a + "output.dense.bias"])
    h = layer_norm(x, params[p + "layernorm_after.weight"], params[p + "layernorm_after.bias"], eps)
    h = act(linear(h, params[p + "intermediate.dense.weight"], params[p + "intermediate.dense.bias"]))  # [B, T, I]
    return x + linear(h, params[p + "output.dense.weight"], params[p + "output.dense.bias"]), probs


# the modules of one encoder layer, under refalign.fast.encoder's neutral names (pre-LN: ln1 before attention)
FAST_LAYER_MODULES = dict(q="attention.attention.query", k="attention.attention.key", v="attention.attention.value",
                          o="attention.output.dense", ln1="layernorm_before", fc1="intermediate.dense",
                          fc2="output.dense", ln2="layernorm_after")


def layer_weights(params: dict, p: str):
    """Encoder layer `p`'s tensors as refalign.fast.encoder.LayerWeights (q/k/v biases None without qkv_bias)."""
    from ..fast.encoder import layer_weights
    return layer_weights(params, p, FAST_LAYER_MODULES)


def pooler(params: dict, p: str, x: NDArray, act) -> NDArray:
    """act(dense(token 0)), tanh by default: [B, T, D] -> [B, P] (the class token; DeiT's pooler reads token 0 too)."""
    return act(linear(x[:, 0], params[p + "dense.weight"], params[p + "dense.bias"]))


# ---------------------------------------------------------------------------------------------------------------
# The tower
# ---------------------------------------------------------------------------------------------------------------

def vit_forward(params: dict[str, NDArray], cfg: ViTConfig, pixel_values: NDArray, prefix: str = "vision_model.",
                output_hidden_states: bool = False, output_attentions: bool = False) -> ViTOutput:
    """ViTModel.forward (DeiTModel's when the checkpoint has a distillation token): [B, C, H, W] -> ViTOutput."""
    require_tensors(params, vit_shapes(cfg, prefix, prefix + "embeddings.distillation_token" in params))
    check_image_input(pixel_values, cfg.num_channels, cfg.image_size)
    from ..fast.encoder import pre_ln_layer           # here: loading weights does not start Numba
    from ..fast.parallel import forward_threads
    with forward_threads():  # the whole tower: OpenBLAS single-threaded throughout (see refalign.fast.parallel)
        act = activation(cfg.hidden_act)
        x = embeddings(params, prefix + "embeddings.", pixel_values)
        B, T, D = x.shape
        hidden_states, attentions = [x], []
        x2 = np.ascontiguousarray(x.reshape(B * T, D))
        for n in range(cfg.num_hidden_layers):
            x2, probs = pre_ln_layer(x2, layer_weights(params, f"{prefix}encoder.layer.{n}."), B,
                                     cfg.num_attention_heads, cfg.layer_norm_eps, cfg.hidden_act, act,
                                     keep_probs=output_attentions)
            if output_hidden_states:   # (kept only when asked: a finished layer's memory is reused while hot)
                hidden_states.append(x2.reshape(B, T, D))
            attentions.append(probs)
        x = x2.reshape(B, T, D)
        last = layer_norm(x, params[prefix + "layernorm.weight"], params[prefix + "layernorm.bias"], cfg.layer_norm_eps)
        pooled = None
        if prefix + "pooler.dense.weight" in params:
            require_tensors(params, vit_pooler_shapes(cfg, prefix))
            pooled = pooler(params, prefix + "pooler.", last, activation(cfg.pooler_act))
    return ViTOutput(last_hidden_state=last, pooler_output=pooled,
                     hidden_states=hidden_states if output_hidden_states else None,
                     attentions=attentions if output_attentions else None)

