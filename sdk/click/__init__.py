"""The click model: preprocessing shared with training (`preprocess`), simulated users (`robot`)."""
from . import preprocess, robot  # noqa: F401

__all__ = ["preprocess", "robot"]
