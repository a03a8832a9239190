"""One module per checkpoint sub-tree (a tower): its config fields, its tensor names and shapes, and its forward pass
as plain NumPy functions under the checkpoint's own key names, readable top to bottom (bert.py: the BERT text
encoder; efficientnet.py: the EfficientNet image encoder). Towers alone use refalign.fast's kernels and threads."""
from __future__ import annotations

import sys


def forget_packed_weights(arrays) -> int:
    """Drop the packed float32 copies the towers' products made of these weights (refalign.fast.gemm); returns the
    bytes freed. Nothing to do (and Numba not started) when no product has run in this process."""
    gemm = sys.modules.get("refalign.fast.gemm")
    return gemm.forget(arrays) if gemm is not None else 0


def forward_threads():
    """refalign.fast.parallel.forward_threads, for what runs around the towers too (a model's projections and heads:
    refalign.models.base.runs_as_forward). Imported on first use: loading weights does not start Numba."""
    from ..fast.parallel import forward_threads as scope
    return scope()
