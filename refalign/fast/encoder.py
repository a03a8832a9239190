"""The transformer encoder layers of every tower (BERT / RoBERTa / XLM-R text, ViT and CLIP-vision images) through
refalign's kernels and threads: the same formulas as the readable layers in refalign.towers.* (tested against them in
tests/test_encoder_fast.py), arranged for speed.

    dense layers     banded products (refalign.fast.parallel.matmul_wt, OpenBLAS single-threaded per band) with
                     the bias, the activation (exact GELU or quick_gelu) and the residual add done per band, right
                     after the band's product, while it is in cache
    attention        per (text or image, block of heads): scores = q k^T (one BLAS call), softmax in place with the
                     scale and padding mask fused (kernels.softmax_), context = probs v (one BLAS call, written
                     straight into its columns of the merged [tokens, hidden] array). Blocks are sized to stay in
                     L2 (~256 KB of scores); the blocks are shared out over refalign's threads. The probabilities
                     are only kept when the caller asks for them.
    LayerNorm        kernels.layer_norm_residual, one pass per row (fused with the residual add in post-LN layers)

Activations are [N, H] C-contiguous arrays with N = B * L tokens (B texts or images, L tokens each); no copies
between layers.  Callers run these inside parallel.forward_threads().
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from . import kernels as K
from .parallel import matmul_wt, packs, run_bands

_SCORES_BLOCK_BYTES = 256 * 1024   # scores of one attention block: within a core's L2 cache


@dataclass(frozen=True)
class LayerWeights:
    """One encoder layer's tensors under neutral names (torch layout: Linear weights [out, in]); biases may be None.
    ln1 / ln2: the LayerNorm before attention / MLP (pre-LN) or after attention / MLP (post-LN)."""
    q_w: NDArray
    q_b: NDArray | None
    k_w: NDArray
    k_b: NDArray | None
    v_w: NDArray
    v_b: NDArray | None
    o_w: NDArray
    o_b: NDArray | None
    ln1_w: NDArray
    ln1_b: NDArray
    fc1_w: NDArray
    fc1_b: NDArray | None
    fc2_w: NDArray
    fc2_b: NDArray | None
    ln2_w: NDArray
    ln2_b: NDArray


def layer_weights(params: dict, p: str, modules: dict[str, str]) -> LayerWeights:
    """A layer's LayerWeights from the tower's module names: `modules` maps q, k, v, o, ln1, fc1, fc2, ln2 to the
    module under the layer prefix `p`, whose tensors are <module>.weight and <module>.bias (None when absent, e.g.
    ViT with qkv_bias false; the towers have checked every tensor they need before this)."""
    fields = {}
    for short, module in modules.items():
        fields[short + "_w"] = params[p + module + ".weight"]
        fields[short + "_b"] = params.get(p + module + ".bias")
    return LayerWeights(**fields)


def dense(x: NDArray, w: NDArray, b: NDArray | None, act: str | None = None,
          residual: NDArray | None = None) -> NDArray:
    """[N, in] -> [N, out]: x w^T + b [then act] [then + residual], the epilogue on each band of the product."""
    if b is None and act is None and residual is None:
        return matmul_wt(x, w)
    return matmul_wt(x, w, K.bias_act_epilogue(b, act, residual))


def qkv(x: NDArray, w: LayerWeights) -> tuple[NDArray, NDArray, NDArray]:
    """The query, key and value projections of x [N, H]: three [N, H]. With packed weights (parallel.packs) one
    product against q, k and v stacked (the same values; q, k, v are then column views of its [N, 3H] result)."""
    if not (packs(x, w.q_w) and w.q_w.shape == w.k_w.shape == w.v_w.shape):
        return dense(x, w.q_w, w.q_b), dense(x, w.k_w, w.k_b), dense(x, w.v_w, w.v_b)
    h = w.q_w.shape[0]
    biases = (w.q_b, w.k_b, w.v_b)
    bias = None if all(b is None for b in biases) else np.concatenate(
        [b if b is not None else np.zeros(h, x.dtype) for b in biases])
    out = matmul_wt(x, (w.q_w, w.k_w, w.v_w), None if bias is None else K.bias_act_epilogue(bias))
    return out[:, :h], out[:, h:2 * h], out[:, 2 * h:]


def attention(q: NDArray, k: NDArray, v: NDArray, batch: int, n_heads: int, mask_bias: NDArray | None = None,
              keep_probs: bool = False) -> tuple[NDArray, NDArray | None]:
    """softmax(q k^T / sqrt(d) + mask) v per text and head: q, k, v [B*L, H] (heads side by side in the columns)
    -> the merged context [B*L, H] and, with keep_probs, the probabilities [B, h, L, L].
    mask_bias: None or [B, 1, 1, L] (layers.attention.padding_mask_bias). q, k, v may be column views of a wider
    array (see qkv); the context is a new C-contiguous array. Twin: layers.attention.scaled_dot_product."""
    N, H = q.shape
    L, d = N // batch, H // n_heads
    scale = 1.0 / math.sqrt(d)
    heads = lambda t: t.reshape(batch, L, n_heads, d).transpose(0, 2, 1, 3)   # [B*L, H] -> [B, h, L, d] (a view)
    qh, kh, vh = heads(q), heads(k), heads(v)
    ctx = np.empty((N, H), q.dtype)
    ch = heads(ctx)
    probs = np.empty((batch, n_heads, L, L), q.dtype) if keep_probs else None
    per_block = max(1, min(n_heads, _SCORES_BLOCK_BYTES // (L * L * q.itemsize)))
    blocks = [(b, h0, min(n_heads, h0 + per_block)) for b in range(batch) for h0 in range(0, n_heads, per_block)]

    def run(i0: int, i1: int) -> None:
        scratch = None if keep_probs else np.empty((per_block, L, L), q.dtype)
        for b, h0, h1 in blocks[i0:i1]:
            s = probs[b, h0:h1] if keep_probs else scratch[:h1 - h0]
            np.matmul(qh[b, h0:h1], kh[b, h0:h1].transpose(0, 2, 1), out=s)          # [n, L, d] @ [n, d, L]
            K.softmax_(s, scale, None if mask_bias is None else mask_bias[b, 0, 0])
            np.matmul(s, vh[b, h0:h1], out=ch[b, h0:h1])                            # [n, L, L] @ [n, L, d]

    run_bands(run, len(blocks), batch * n_heads * L * L)
    return ctx, probs


def _activate(y: NDArray, act_fn, fused: str | None) -> NDArray:
    return y if fused is not None else act_fn(y)


def pre_ln_layer(x: NDArray, w: LayerWeights, batch: int, n_heads: int, eps: float, act_name: str, act_fn,
                 keep_probs: bool = False) -> tuple[NDArray, NDArray | None]:
    """ViT / CLIP: x + attention(LN1(x)), then + fc2(act(fc1(LN2(.)))). x: [B*T, D] -> [B*T, D]."""
    fused = K.fused_activation(act_name)
    h = K.layer_norm_residual(x, None, w.ln1_w, w.ln1_b, eps)
    q, k, v = qkv(h, w)
    ctx, probs = attention(q, k, v, batch, n_heads, None, keep_probs)            # no padding among patches
    x = dense(ctx, w.o_w, w.o_b, residual=x)                                      # x + out_proj(ctx)
    h = K.layer_norm_residual(x, None, w.ln2_w, w.ln2_b, eps)
    h = _activate(dense(h, w.fc1_w, w.fc1_b, fused), act_fn, fused)               # [B*T, I]
    return dense(h, w.fc2_w, w.fc2_b, residual=x), probs                          # x + fc2(h)


def post_ln_layer(x: NDArray, w: LayerWeights, batch: int, n_heads: int, eps: float, act_name: str, act_fn,
                  mask_bias: NDArray | None, keep_probs: bool = False) -> tuple[NDArray, NDArray | None]:
    """BERT / RoBERTa / XLM-R: LN1(x + out(attention(x))), then LN2(. + fc2(act(fc1(.)))). x: [B*L, H]."""
    fused = K.fused_activation(act_name)
    q, k, v = qkv(x, w)
    ctx, probs = attention(q, k, v, batch, n_heads, mask_bias, keep_probs)
    x = K.layer_norm_residual(dense(ctx, w.o_w, w.o_b), x, w.ln1_w, w.ln1_b, eps)
    h = _activate(dense(x, w.fc1_w, w.fc1_b, fused), act_fn, fused)               # [B*L, I]
    return K.layer_norm_residual(dense(h, w.fc2_w, w.fc2_b), x, w.ln2_w, w.ln2_b, eps), probs
