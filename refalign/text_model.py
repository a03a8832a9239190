"""ALIGN's text tower: a BERT encoder as plain NumPy functions, plus ALIGN's text projection.

Read top to bottom: embeddings -> self-attention -> attention block -> feed-forward -> encoder layer -> pooler ->
the whole tower (`text_forward`) -> ALIGN's text embedding (`text_features`).

Weights come in a dict keyed by the checkpoint's own names, e.g. "text_model.encoder.layer.0.attention.self.query.
weight" (torch layout: Linear weights are [out_features, in_features]). Every function keeps the dtype it is given:
float64 weights and float64 activations stay float64 from the embedding lookup to the projection; the caller
chooses the compute dtype by the dtype of the weights it passes.

Shapes: B = batch, L = sequence length, H = hidden_size, h = num_attention_heads, d = head_dim = H / h,
I = intermediate_size, P = projection_dim.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from numpy.typing import NDArray

from .architecture import text_pooler_shapes, text_shapes
from .config import AlignTextConfig
from .errors import CheckpointError
from .ops import activation, gelu, layer_norm, linear, softmax
from .outputs import ModelOutput
from .parallel import single_threaded_blas

PREFIXES = ("text_model.", "bert.", "")  # ALIGN checkpoint, BertFor*-style checkpoint, plain BertModel checkpoint


@dataclass(repr=False)
class TextOutput(ModelOutput):
    """Mirrors transformers' BaseModelOutputWithPoolingAndCrossAttentions for the BERT tower (NumPy)."""
    last_hidden_state: NDArray           # (B, L, H)
    pooler_output: NDArray | None        # (B, H): tanh(linear(CLS)); None when the checkpoint has no pooler
    hidden_states: list[NDArray] | None  # num_hidden_layers + 1 tensors (B, L, H): embeddings, then each layer
    attentions: list[NDArray] | None     # num_hidden_layers tensors (B, h, L, L): softmax probabilities


def bert_prefix(keys: Iterable[str]) -> str:
    """The namespace the BERT weights live under: "text_model." (ALIGN), "bert." or "" (plain BertModel)."""
    keys = set(keys)
    for prefix in PREFIXES:
        if f"{prefix}embeddings.word_embeddings.weight" in keys:
            return prefix
    raise CheckpointError("no BERT weights found: none of "
                          + ", ".join(repr(f"{p}embeddings.word_embeddings.weight") for p in PREFIXES)
                          + " is in the checkpoint")


# ---------------------------------------------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------------------------------------------

def embeddings(params: dict, p: str, input_ids: NDArray, token_type_ids: NDArray, eps: float) -> NDArray:
    """word + absolute position (0..L-1) + token type, then LayerNorm."""
    L = input_ids.shape[1]
    x = params[p + "word_embeddings.weight"][input_ids]             # (B, L) -> (B, L, H)
    x = x + params[p + "token_type_embeddings.weight"][token_type_ids]
    x = x + params[p + "position_embeddings.weight"][:L]             # (L, H) broadcast over the batch
    return layer_norm(x, params[p + "LayerNorm.weight"], params[p + "LayerNorm.bias"], eps)


def split_heads(x: NDArray, n_heads: int) -> NDArray:
    B, L, H = x.shape
    return x.reshape(B, L, n_heads, H // n_heads).transpose(0, 2, 1, 3)  # (B, L, H) -> (B, h, L, d)


def merge_heads(x: NDArray) -> NDArray:
    B, h, L, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, L, h * d)                 # (B, h, L, d) -> (B, L, H)


def self_attention(params: dict, p: str, x: NDArray, mask_bias: NDArray, n_heads: int) -> tuple[NDArray, NDArray]:
    """Multi-head scaled dot-product attention. mask_bias: (B, 1, 1, L), 0 where a key is kept and the dtype's most
    negative number where it is padding, so padded keys get (numerically) zero weight after the softmax."""
    q = split_heads(linear(x, params[p + "query.weight"], params[p + "query.bias"]), n_heads)  # (B, h, L, d)
    k = split_heads(linear(x, params[p + "key.weight"], params[p + "key.bias"]), n_heads)
    v = split_heads(linear(x, params[p + "value.weight"], params[p + "value.bias"]), n_heads)
    ctx, probs = scaled_dot_product(q, k, v, mask_bias)
    return merge_heads(ctx), probs                                # (B, h, L, d) -> (B, L, H)


def scaled_dot_product(q: NDArray, k: NDArray, v: NDArray, mask_bias: NDArray) -> tuple[NDArray, NDArray]:
    """softmax(q k^T / sqrt(d) + mask_bias) v, per head: q, k, v (B, h, L, d) -> context (B, h, L, d), probs."""
    scale = q.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    scores = (q @ k.transpose(0, 1, 3, 2)) * scale + mask_bias  # (B, h, L, d) @ (B, h, d, L) -> (B, h, L, L)
    probs = softmax(scores, axis=-1)  # max-subtracted, in the compute dtype
    return probs @ v, probs                                       # (B, h, L, L) @ (B, h, L, d) -> (B, h, L, d)


def attention_block(params: dict, p: str, x: NDArray, mask_bias: NDArray, n_heads: int,
                    eps: float) -> tuple[NDArray, NDArray]:
    """Self-attention, output projection, residual, then LayerNorm (post-LN, as in the original BERT)."""
    a, probs = self_attention(params, p + "self.", x, mask_bias, n_heads)
    a = linear(a, params[p + "output.dense.weight"], params[p + "output.dense.bias"])
    return layer_norm(a + x, params[p + "output.LayerNorm.weight"], params[p + "output.LayerNorm.bias"], eps), probs


def feed_forward(params: dict, p: str, x: NDArray, act, eps: float) -> NDArray:
    """H -> I -> activation -> H, residual, LayerNorm."""
    y = act(linear(x, params[p + "intermediate.dense.weight"], params[p + "intermediate.dense.bias"]))  # (B, L, I)
    y = linear(y, params[p + "output.dense.weight"], params[p + "output.dense.bias"])                  # (B, L, H)
    return layer_norm(y + x, params[p + "output.LayerNorm.weight"], params[p + "output.LayerNorm.bias"], eps)


def encoder_layer(params: dict, p: str, x: NDArray, mask_bias: NDArray, cfg: AlignTextConfig,
                  act) -> tuple[NDArray, NDArray]:
    x, probs = attention_block(params, p + "attention.", x, mask_bias, cfg.num_attention_heads, cfg.layer_norm_eps)
    return feed_forward(params, p, x, act, cfg.layer_norm_eps), probs


def _encoder_layer_fast(params: dict, p: str, x: NDArray, mask_bias: NDArray, cfg: AlignTextConfig,
                        act) -> tuple[NDArray, NDArray]:
    """encoder_layer through refalign.kernels and refalign.parallel (same formulas; tested against encoder_layer):
    each dense layer is a banded product with its bias (and exact GELU) added per band, attention is banded over
    the batch, LayerNorm is fused with its residual add.  Runs inside parallel.single_threaded_blas."""
    from . import kernels as K
    from .parallel import matmul_wt, run_bands
    B, L, H = x.shape
    a, eps, n_heads = p + "attention.", cfg.layer_norm_eps, cfg.num_attention_heads
    fused_gelu = act is gelu

    def dense(inp: NDArray, name: str, with_gelu: bool = False) -> NDArray:   # (N, in) -> (N, out), + bias [GELU]
        return matmul_wt(inp, params[name + ".weight"], K.bias_act_epilogue(params[name + ".bias"], with_gelu))

    x2 = x.reshape(B * L, H)                                                    # (B, L, H) -> (B*L, H)
    q, k, v = (split_heads(dense(x2, f"{a}self.{m}").reshape(B, L, H), n_heads) for m in ("query", "key", "value"))
    probs = np.empty((B, n_heads, L, L), dtype=x.dtype)
    ctx = np.empty_like(q)                                                      # (B, h, L, d)

    def attention_band(b0: int, b1: int) -> None:  # the texts b0:b1
        ctx[b0:b1], probs[b0:b1] = scaled_dot_product(q[b0:b1], k[b0:b1], v[b0:b1], mask_bias[b0:b1])

    run_bands(attention_band, B, probs.size)
    y = dense(merge_heads(ctx).reshape(B * L, H), a + "output.dense")
    x1 = K.layer_norm_residual(y, x2, params[a + "output.LayerNorm.weight"], params[a + "output.LayerNorm.bias"],
                               eps)                                             # LN(attn + x), (B*L, H)
    inter = dense(x1, p + "intermediate.dense", with_gelu=fused_gelu)         # (B*L, H) -> (B*L, I)
    if not fused_gelu:
        inter = act(inter)
    y = dense(inter, p + "output.dense")                                       # (B*L, I) -> (B*L, H)
    out = K.layer_norm_residual(y, x1, params[p + "output.LayerNorm.weight"], params[p + "output.LayerNorm.bias"], eps)
    return out.reshape(B, L, H), probs


def pooler(params: dict, p: str, x: NDArray) -> NDArray:
    """BERT's pooler: tanh(linear(hidden state of the first token)). Not used by ALIGN's text embedding."""
    return np.tanh(linear(x[:, 0], params[p + "dense.weight"], params[p + "dense.bias"]))  # (B, L, H) -> (B, H)


# ---------------------------------------------------------------------------------------------------------------
# The tower
# ---------------------------------------------------------------------------------------------------------------

def text_forward(params: dict[str, np.ndarray], cfg: AlignTextConfig, input_ids, attention_mask=None,
                 token_type_ids=None, prefix: str = "text_model.", output_hidden_states: bool = False,
                 output_attentions: bool = False) -> TextOutput:
    """Run the BERT encoder. input_ids: (B, L) integers; attention_mask: (B, L) of 0/1 (1 = real token; all ones
    when omitted); token_type_ids: (B, L) (zeros when omitted). The compute dtype is that of the weights."""
    dtype = _check_params(params, cfg, prefix)
    input_ids, attention_mask, token_type_ids = _check_inputs(cfg, input_ids, attention_mask, token_type_ids)

    # Additive mask over the keys: (1 - mask) * most-negative-number, broadcast over heads and queries.
    keep = attention_mask.astype(dtype)
    mask_bias = ((dtype.type(1) - keep) * np.finfo(dtype).min)[:, None, None, :]  # (B, L) -> (B, 1, 1, L)

    act = activation(cfg.hidden_act)
    x = embeddings(params, prefix + "embeddings.", input_ids, token_type_ids, cfg.layer_norm_eps)  # (B, L, H)
    hidden_states, attentions = [x], []
    with single_threaded_blas():  # products banded over refalign's threads (see refalign.parallel)
        for n in range(cfg.num_hidden_layers):
            x, probs = _encoder_layer_fast(params, f"{prefix}encoder.layer.{n}.", x, mask_bias, cfg, act)
            hidden_states.append(x)
            attentions.append(probs)
    assert x.dtype == dtype, f"compute dtype drifted from {dtype} to {x.dtype}"

    pooled = pooler(params, prefix + "pooler.", x) if f"{prefix}pooler.dense.weight" in params else None
    return TextOutput(last_hidden_state=x, pooler_output=pooled,
                      hidden_states=hidden_states if output_hidden_states else None,
                      attentions=attentions if output_attentions else None)


def text_features(params: dict[str, np.ndarray], cfg: AlignTextConfig, input_ids, attention_mask=None,
                  token_type_ids=None) -> NDArray:
    """ALIGN's text embedding (unnormalised): text_projection applied to the last hidden state of the first
    ([CLS]) token -- not to the tanh pooler output. (B, L) ids -> (B, projection_dim)."""
    for key in ("text_projection.weight", "text_projection.bias"):
        if key not in params:
            raise CheckpointError(f"missing tensor {key!r}: text_features needs ALIGN's text projection")
    w, b = params["text_projection.weight"], params["text_projection.bias"]
    if w.ndim != 2 or w.shape[1] != cfg.hidden_size or b.shape != w.shape[:1]:
        raise CheckpointError(f"text_projection.weight/.bias have shapes {w.shape}/{b.shape}, expected "
                              f"(projection_dim, {cfg.hidden_size}) and (projection_dim,)")
    out = text_forward(params, cfg, input_ids, attention_mask, token_type_ids, prefix="text_model.")
    if w.dtype != out.last_hidden_state.dtype or b.dtype != w.dtype:
        raise CheckpointError(f"text_projection is {w.dtype}/{b.dtype} but the text tower computes in "
                              f"{out.last_hidden_state.dtype}")
    return linear(out.last_hidden_state[:, 0], w, b)  # (B, H) -> (B, P)


# ---------------------------------------------------------------------------------------------------------------
# Checks: a wrong key, shape, dtype or input stops here with its name, instead of broadcasting into garbage
# ---------------------------------------------------------------------------------------------------------------

def _check_params(params: dict, cfg: AlignTextConfig, prefix: str) -> np.dtype:
    """Every tensor the tower reads is present, has the shape the config implies and one common float dtype."""
    expected = text_shapes(cfg, prefix)
    if f"{prefix}pooler.dense.weight" in params:
        expected.update(text_pooler_shapes(cfg, prefix))
    first = f"{prefix}embeddings.word_embeddings.weight"
    if first not in params:
        hint = ""
        try:
            hint = f" (the weights look like prefix={bert_prefix(params)!r})"
        except CheckpointError:
            pass
        raise CheckpointError(f"missing tensor {first!r} for prefix={prefix!r}{hint}")
    dtype = np.asarray(params[first]).dtype
    if dtype not in (np.float32, np.float64):
        raise CheckpointError(f"{first} is {dtype}; the text tower computes in float32 or float64")
    for key, shape in expected.items():
        if key not in params:
            raise CheckpointError(f"missing tensor {key!r}")
        t = params[key]
        if tuple(t.shape) != shape:
            raise CheckpointError(f"tensor {key!r} has shape {tuple(t.shape)}, expected {shape} from the config")
        if t.dtype != dtype:
            raise CheckpointError(f"tensor {key!r} is {t.dtype} but {first} is {dtype}: pass all weights in one dtype")
    return dtype


def _as_int_array(name: str, value) -> NDArray:
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular (batch, seq_len) array of integers: {e}") from None
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
    return a


def _check_inputs(cfg: AlignTextConfig, input_ids, attention_mask, token_type_ids):
    ids = _as_int_array("input_ids", input_ids)
    if ids.ndim != 2:
        raise ValueError(f"input_ids must be 2-D (batch, seq_len), got shape {ids.shape}")
    B, L = ids.shape
    if B == 0 or L == 0:
        raise ValueError(f"input_ids is empty (shape {ids.shape})")
    if L > cfg.max_position_embeddings:
        raise ValueError(f"input_ids: the sequence is longer ({L} tokens) than the model's "
                         f"{cfg.max_position_embeddings} positions (max_position_embeddings); truncate it")
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0 or hi >= cfg.vocab_size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"input_ids holds token id {bad}, outside the vocabulary [0, {cfg.vocab_size})")

    if attention_mask is None:
        mask = np.ones((B, L), dtype=np.int64)
    else:
        mask = np.asarray(attention_mask)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask has shape {mask.shape} but input_ids has shape {ids.shape}")
        if not (mask.dtype == bool or np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
            raise ValueError(f"attention_mask must hold 0/1 values, got dtype {mask.dtype}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("attention_mask must hold only 0 (padding) and 1 (token), got values "
                             f"{np.unique(mask)[:8].tolist()}")

    if token_type_ids is None:
        types = np.zeros((B, L), dtype=np.int64)
    else:
        types = _as_int_array("token_type_ids", token_type_ids)
        if types.shape != ids.shape:
            raise ValueError(f"token_type_ids has shape {types.shape} but input_ids has shape {ids.shape}")
        if types.min() < 0 or types.max() >= cfg.type_vocab_size:
            raise ValueError(f"token_type_ids must lie in [0, {cfg.type_vocab_size}) (type_vocab_size), got "
                             f"values from {types.min()} to {types.max()}")
    return ids, mask, types
