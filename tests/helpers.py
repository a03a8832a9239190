"""Small helpers shared by the model-level tests."""
from __future__ import annotations

import numpy as np


def rel_err(a, b) -> float:
    """max |a - b| / max |b| over the whole tensor (0 when both are all zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if b.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def to_numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def set_text_attention(model, impl: str) -> None:
    """Select transformers' attention implementation ("eager" or "sdpa") for an AlignModel's text tower.

    sdpa needs one repair: when no token is padded transformers passes no mask to sdpa, which then reads the module's
    `is_causal`; AlignTextSelfAttention has none and the default is causal. BERT attention is bidirectional.
    """
    model.text_model.config._attn_implementation = impl
    model.config.text_config._attn_implementation = impl
    for module in model.text_model.modules():
        if type(module).__name__ == "AlignTextSelfAttention":
            module.is_causal = False


def transformers_align(torch, path, dtype: str):
    """transformers' AlignModel from a checkpoint, in eval mode, in float32 or float64.

    In float64 the text tower is switched to the "sdpa" attention path: transformers' default eager attention computes
    its softmax in float32 even when the model runs in float64 (softmax(..., dtype=float32)), which caps agreement at
    ~1e-8. sdpa evaluates the same formula (QK^T/sqrt(d) + mask, softmax, times V) entirely in float64, so it is the
    float64 reference. In float32 the default eager path is kept.
    """
    from transformers import AlignModel as TAlignModel
    model = TAlignModel.from_pretrained(path).eval()
    if dtype == "float64":
        model = model.double()
        set_text_attention(model, "sdpa")
    return model
