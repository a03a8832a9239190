"""The CLIP vision tower (transformers' CLIPVisionModel; AltCLIP's and many VisionTextDualEncoder checkpoints' image
tower) as plain NumPy functions.

Read top to bottom: config -> tensor names and shapes -> embeddings -> pre-LN encoder layer -> the tower
(`clip_vision_forward`). Attention and the patch convolution are shared with the other towers (refalign.layers).

    x = [class_embedding] + patch_conv(pixels) (no bias), + position_embedding
    x = pre_layrnorm(x)                                                  hidden_states[0] (the name's typo is CLIP's)
    x = x + self_attn(layer_norm1(x)) ; x = x + fc2(act(fc1(layer_norm2(x))))     hidden_states[1..L]
    last_hidden_state = x                                                (no final layernorm over every token)
    pooler_output     = post_layernorm(last_hidden_state[:, 0])         (the class token only)

Weights are keyed by the checkpoint's names ("vision_model.encoder.layers.0.self_attn.q_proj.weight"; transformers 4
saved them under a doubled "vision_model.vision_model." prefix, accepted by refalign.loading.key_variants).
Shapes: B = batch, N = patches, T = N + 1 tokens, D = hidden size.
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

ACTIVATIONS = ("quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish", "gelu_python")


@dataclass(frozen=True)
class CLIPVisionConfig:
    """The config.json keys the CLIP vision tower reads (defaults: CLIP ViT-B/32 at 224, as transformers' code)."""
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 32
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5

    def validate(self, source: str, prefix: str) -> None:
        """ConfigError naming the dotted key of the first impossible value."""
        check_transformer_section(self, source, prefix, ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                  "intermediate_size", "image_size", "patch_size", "num_channels"), ACTIVATIONS)

    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(repr=False)
class CLIPVisionOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPooling for CLIPVisionModel (NumPy)."""
    last_hidden_state: NDArray                 # [B, T, D], the last layer's output
    pooler_output: NDArray                     # [B, D]: post_layernorm(class token)
    hidden_states: list[NDArray] | None = None  # L + 1 tensors [B, T, D]: after pre_layrnorm, then each layer
    attentions: list[NDArray] | None = None    # L tensors [B, h, T, T]


def clip_vision_shapes(cfg: CLIPVisionConfig, prefix: str = "vision_model.") -> dict[str, tuple]:
    """Every tensor of the tower the forward pass reads."""
    D, I, C, p = cfg.hidden_size, cfg.intermediate_size, cfg.num_channels, cfg.patch_size
    e = prefix + "embeddings."
    s = {e + "class_embedding": (D,), e + "patch_embedding.weight": (D, C, p, p),
         e + "position_embedding.weight": (cfg.num_patches() + 1, D)}
    for ln in ("pre_layrnorm", "post_layernorm"):
        s.update({f"{prefix}{ln}.weight": (D,), f"{prefix}{ln}.bias": (D,)})
    for n in range(cfg.num_hidden_layers):
        lp = f"{prefix}encoder.layers.{n}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s.update({f"{lp}self_attn.{name}.weight": (D, D), f"{lp}self_attn.{name}.bias": (D,)})
        s.update({lp + "mlp.fc1.weight": (I, D), lp + "mlp.fc1.bias": (I,), lp + "mlp.fc2.weight": (D, I),
                  lp + "mlp.fc2.bias": (D,)})
        for ln in ("layer_norm1", "layer_norm2"):
            s.update({f"{lp}{ln}.weight": (D,), f"{lp}{ln}.bias": (D,)})
    return s


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

def embeddings(params: dict, p: str, pixel_values: NDArray) -> NDArray:
    """[class_embedding, patches] + position_embedding: [B, C, H, W] -> [B, T, D]."""
    x = patch_embed(pixel_values, params[p + "patch_embedding.weight"], None)     # [B, N, D], no bias
    B, _, D = x.shape
    cls = np.broadcast_to(params[p + "class_embedding"], (B, 1, D))
    return np.concatenate([cls, x], axis=1) + params[p + "position_embedding.weight"]  # [T, D] broadcast


def encoder_layer(params: dict, p: str, x: NDArray, cfg: CLIPVisionConfig, act) -> tuple[NDArray, NDArray]:
    """Pre-LN: x + out_proj(attention(layer_norm1(x))), then x + fc2(act(fc1(layer_norm2(x))))."""
    eps, a = cfg.layer_norm_eps, p + "self_attn."
    h = layer_norm(x, params[p + "layer_norm1.weight"], params[p + "layer_norm1.bias"], eps)
    ctx, probs = multi_head_attention(h, params[a + "q_proj.weight"], params[a + "q_proj.bias"],
                                      params[a + "k_proj.weight"], params[a + "k_proj.bias"],
                                      params[a + "v_proj.weight"], params[a + "v_proj.bias"],
                                      None, cfg.num_attention_heads)                 # no padding among patches
    x = x + linear(ctx, params[a + "out_proj.weight"], params[a + "out_proj.bias"])
    h = layer_norm(x, params[p + "layer_norm2.weight"], params[p + "layer_norm2.bias"], eps)
    h = act(linear(h, params[p + "mlp.fc1.weight"], params[p + "mlp.fc1.bias"]))                 # [B, T, I]
    return x + linear(h, params[p + "mlp.fc2.weight"], params[p + "mlp.fc2.bias"]), probs


# the modules of one encoder layer, under refalign.fast.encoder's neutral names (pre-LN: ln1 before attention)
FAST_LAYER_MODULES = dict(q="self_attn.q_proj", k="self_attn.k_proj", v="self_attn.v_proj", o="self_attn.out_proj",
                          ln1="layer_norm1", fc1="mlp.fc1", fc2="mlp.fc2", ln2="layer_norm2")


def layer_weights(params: dict, p: str):
    """Encoder layer `p`'s tensors as refalign.fast.encoder.LayerWeights."""
    from ..fast.encoder import layer_weights
    return layer_weights(params, p, FAST_LAYER_MODULES)


# ---------------------------------------------------------------------------------------------------------------
# The tower
# ---------------------------------------------------------------------------------------------------------------

def clip_vision_forward(params: dict[str, NDArray], cfg: CLIPVisionConfig, pixel_values: NDArray,
                        prefix: str = "vision_model.", output_hidden_states: bool = False,
                        output_attentions: bool = False) -> CLIPVisionOutput:
    """CLIPVisionModel.forward: [B, C, H, W] -> CLIPVisionOutput."""
    require_tensors(params, clip_vision_shapes(cfg, prefix))
    check_image_input(pixel_values, cfg.num_channels, cfg.image_size)
    from ..fast.encoder import pre_ln_layer           # here: loading weights does not start Numba
    from ..fast.parallel import forward_threads
    with forward_threads():  # the whole tower: OpenBLAS single-threaded throughout (see refalign.fast.parallel)
        act, eps = activation(cfg.hidden_act), cfg.layer_norm_eps
        x = embeddings(params, prefix + "embeddings.", pixel_values)
        x = layer_norm(x, params[prefix + "pre_layrnorm.weight"], params[prefix + "pre_layrnorm.bias"], eps)
        B, T, D = x.shape
        hidden_states, attentions = [x], []
        x2 = np.ascontiguousarray(x.reshape(B * T, D))
        for n in range(cfg.num_hidden_layers):
            x2, probs = pre_ln_layer(x2, layer_weights(params, f"{prefix}encoder.layers.{n}."), B,
                                     cfg.num_attention_heads, eps, cfg.hidden_act, act, keep_probs=output_attentions)
            if output_hidden_states:   # (kept only when asked: a finished layer's memory is reused while hot)
                hidden_states.append(x2.reshape(B, T, D))
            attentions.append(probs)
        x = x2.reshape(B, T, D)
        pooled = layer_norm(x[:, 0], params[prefix + "post_layernorm.weight"], params[prefix + "post_layernorm.bias"],
                            eps)                                                         # [B, D]
    return CLIPVisionOutput(last_hidden_state=x, pooler_output=pooled,
                            hidden_states=hidden_states if output_hidden_states else None,
                            attentions=attentions if output_attentions else None)

