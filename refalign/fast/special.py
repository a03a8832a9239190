"""Special functions NumPy lacks, as Numba ufuncs (compiled and cached on first use): erf."""
from __future__ import annotations

import math

from . import jit


@jit.vectorize(["float32(float32)", "float64(float64)"])
def erf_ufunc(x):
    """The error function from the C library, elementwise, dtype-preserving."""
    return math.erf(x)
