"""Body outline (seed 000): the 18 classical candidates, and the body network's model.

    masks = radseg.body.candidates(slice_2d)          # [(name, bool mask)], identical candidates once
    every = radseg.body.all_candidates(slice_2d)      # {name: bool mask}, all 18 variants
"""
from .candidates import VARIANTS, all_candidates, candidates, candidates_volume, scale_to_uint8

__all__ = ["VARIANTS", "all_candidates", "candidates", "candidates_volume", "scale_to_uint8"]
