"""Exceptions raised by refalign. Every message names the file, key, tensor or argument that was wrong."""


class RefalignError(Exception):
    """Base class of every error refalign raises on purpose."""


class ConfigError(RefalignError, ValueError):
    """config.json (or another JSON settings file) is unreadable or holds an invalid value."""


class UnsupportedModelError(RefalignError, ValueError):
    """A checkpoint's model_type, tokenizer class or image processor type is not one refalign implements (the message
    names it and lists the supported ones)."""


class CheckpointError(RefalignError):
    """A weights file is unreadable, truncated, malformed or does not fit the architecture."""


class UnsafePickleError(CheckpointError):
    """A pickle asked for a callable outside the allowlist; nothing of it was run."""


class WeightsNotFoundError(RefalignError, FileNotFoundError):
    """No checkpoint could be found where refalign looked (nothing is ever downloaded implicitly)."""


class NonFiniteError(RefalignError, ValueError):
    """A model produced NaN or inf (the message names the non-finite weights when there are any)."""


class ImageLoadError(RefalignError, ValueError):
    """An image could not be opened or decoded."""
