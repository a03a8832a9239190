"""refalign: a pure-NumPy/Numba reference implementation of ALIGN (kakaobrain/align-base)."""
__version__ = "0.1.0"

from .config import AlignConfig, AlignTextConfig, AlignVisionConfig
from .errors import (CheckpointError, ConfigError, ImageLoadError, RefalignError, UnsafePickleError,
                     WeightsNotFoundError)
