"""Readers for ../shared/data: volumes in display orientation, the patient split, a RAM cache of 2D slices."""
from .volumes import Volume, load_display  # noqa: F401
