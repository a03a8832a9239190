"""The contrastive head every dual encoder shares: L2 normalisation, the loss over matching pairs."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ..ops import log_softmax


def l2_normalize(x: NDArray) -> NDArray:
    """Rows divided by their Euclidean norm (transformers does no epsilon clamp either)."""
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True))


def cross_entropy_smoothed(logits: NDArray, smoothing: float) -> NDArray:
    """Mean cross entropy of each row i against target class i, with label smoothing as torch defines it:
    (1 - s) * (-log p[i, i]) + s * mean_j(-log p[i, j])."""
    n = logits.shape[0]
    logp = log_softmax(logits, axis=-1)                       # [n, C]
    nll = -logp[np.arange(n), np.arange(n)]                   # [n]
    uniform = -logp.mean(axis=-1)                             # [n]
    s = logits.dtype.type(smoothing)
    return ((1 - s) * nll + s * uniform).mean()


def contrastive_loss(logits_per_text: NDArray, smoothing: float = 0.0) -> NDArray:
    """The symmetric contrastive loss: the average of the text->image and image->text cross entropies; the i-th
    text matches the i-th image, so the logits must be square."""
    n_text, n_image = logits_per_text.shape
    if n_text != n_image:
        raise ValueError(f"return_loss needs as many texts as images (pairs i<->i), got {n_text} texts and "
                         f"{n_image} images")
    two = logits_per_text.dtype.type(2)
    return (cross_entropy_smoothed(logits_per_text, smoothing)
            + cross_entropy_smoothed(logits_per_text.T, smoothing)) / two
