"""Elementwise and normalisation primitives shared by both towers (plain NumPy, dtype-preserving).

Every function keeps the dtype of its input: float32 in, float32 out; float64 in, float64 out.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray


def erf(x):
    """The error function from the C library (numpy has none), elementwise, dtype-preserving. A Numba ufunc
    (refalign.fast.special), imported here on first use so that `import refalign.ops` does not load Numba."""
    from .fast.special import erf_ufunc
    return erf_ufunc(x)


def gelu(x: NDArray) -> NDArray:
    """Exact GELU: x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))."""
    one, half, inv_sqrt2 = (x.dtype.type(v) for v in (1.0, 0.5, 1.0 / math.sqrt(2.0)))
    return half * x * (one + erf(x * inv_sqrt2))


def gelu_tanh(x: NDArray) -> NDArray:
    """tanh approximation of GELU (transformers' gelu_new / gelu_pytorch_tanh)."""
    c = x.dtype.type(math.sqrt(2.0 / math.pi))
    return x.dtype.type(0.5) * x * (x.dtype.type(1.0) + np.tanh(c * (x + x.dtype.type(0.044715) * x ** 3)))


def quick_gelu(x: NDArray) -> NDArray:
    return x * sigmoid(x.dtype.type(1.702) * x)


def sigmoid(x: NDArray) -> NDArray:
    """1 / (1 + exp(-x)), written so that neither branch overflows."""
    e = np.exp(-np.abs(x))                      # e^-x for x >= 0, e^x for x < 0: at most 1, never overflows
    return np.where(x >= 0, 1, e) / (1 + e)     # 1 / (1 + e^-x)  |  e^x / (1 + e^x)


def swish(x: NDArray) -> NDArray:
    """swish / SiLU: x * sigmoid(x)."""
    return x * sigmoid(x)


def relu(x: NDArray) -> NDArray:
    return np.maximum(x, x.dtype.type(0))


def relu6(x: NDArray) -> NDArray:
    return np.clip(x, x.dtype.type(0), x.dtype.type(6))


ACTIVATIONS = {
    "gelu": gelu,
    "gelu_python": gelu,
    "gelu_new": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "quick_gelu": quick_gelu,
    "relu": relu,
    "relu6": relu6,
    "silu": swish,
    "swish": swish,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
}


def activation(name: str):
    """The activation function a config names; NotImplementedError for one refalign does not know."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise NotImplementedError(f"activation {name!r} is not implemented (known: {sorted(ACTIVATIONS)})") from None


def softmax(x: NDArray, axis: int = -1) -> NDArray:
    """Softmax with the row maximum subtracted first (no overflow for large logits)."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: NDArray, axis: int = -1) -> NDArray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def layer_norm(x: NDArray, weight: NDArray, bias: NDArray, eps: float) -> NDArray:
    """LayerNorm over the last axis with the biased variance, as torch computes it."""
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + x.dtype.type(eps)) * weight + bias


def linear(x: NDArray, weight: NDArray, bias: NDArray | None = None) -> NDArray:
    """y = x W^T + b with torch's weight layout [out_features, in_features]; x is [..., in_features]."""
    assert x.shape[-1] == weight.shape[1], f"linear: input has {x.shape[-1]} features, weight expects {weight.shape[1]}"
    # one 2-D GEMM over all leading axes (numpy's batched 3-D matmul is several times slower)
    y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
    if bias is not None:
        y += bias
    return y


def batch_norm(x: NDArray, weight: NDArray, bias: NDArray, running_mean: NDArray, running_var: NDArray,
               eps: float, channel_axis: int = 1) -> NDArray:
    """Inference batch norm with running statistics: (x - mean) / sqrt(var + eps) * gamma + beta."""
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    inv = weight / np.sqrt(running_var + x.dtype.type(eps))
    return (x - running_mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)
