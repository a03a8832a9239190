"""Multi-head scaled dot-product attention, shared by every transformer tower (BERT-family text towers now; ViT
and CLIP-vision next). Each tower passes its own weights, under its own checkpoint names.

Shapes: B = batch, L = sequence length, H = hidden size, h = heads, d = head_dim = H / h.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..ops import linear, softmax


def padding_mask_bias(attention_mask: NDArray, dtype: np.dtype) -> NDArray:
    """Additive mask over the keys from a (B, L) 0/1 mask: 0 where a key is kept, the dtype's most negative number
    where it is padding (so it gets numerically zero weight after the softmax). (B, L) -> (B, 1, 1, L)."""
    keep = attention_mask.astype(dtype)
    return ((dtype.type(1) - keep) * np.finfo(dtype).min)[:, None, None, :]


def split_heads(x: NDArray, n_heads: int) -> NDArray:
    B, L, H = x.shape
    return x.reshape(B, L, n_heads, H // n_heads).transpose(0, 2, 1, 3)  # (B, L, H) -> (B, h, L, d)


def merge_heads(x: NDArray) -> NDArray:
    B, h, L, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, L, h * d)                 # (B, h, L, d) -> (B, L, H)


def scaled_dot_product(q: NDArray, k: NDArray, v: NDArray, mask_bias: NDArray | None) -> tuple[NDArray, NDArray]:
    """softmax(q k^T / sqrt(d) + mask_bias) v, per head: q, k, v (B, h, L, d) -> context (B, h, L, d), probs."""
    scale = q.dtype.type(1.0 / math.sqrt(q.shape[-1]))
    scores = (q @ k.transpose(0, 1, 3, 2)) * scale  # (B, h, L, d) @ (B, h, d, L) -> (B, h, L, L)
    if mask_bias is not None:
        scores = scores + mask_bias
    probs = softmax(scores, axis=-1)  # max-subtracted, in the compute dtype
    return probs @ v, probs                        # (B, h, L, L) @ (B, h, L, d) -> (B, h, L, d)


def multi_head_attention(x: NDArray, wq: NDArray, bq: NDArray | None, wk: NDArray, bk: NDArray | None, wv: NDArray,
                         bv: NDArray | None, mask_bias: NDArray | None, n_heads: int) -> tuple[NDArray, NDArray]:
    """Self-attention of x (B, L, H) with the query/key/value projections given (torch layout [out, in]): the merged
    context (B, L, H) before the output projection, and the attention probabilities (B, h, L, L)."""
    q = split_heads(linear(x, wq, bq), n_heads)   # (B, L, H) -> (B, h, L, d)
    k = split_heads(linear(x, wk, bk), n_heads)
    v = split_heads(linear(x, wv, bv), n_heads)
    ctx, probs = scaled_dot_product(q, k, v, mask_bias)
    return merge_heads(ctx), probs               # (B, h, L, d) -> (B, L, H)
