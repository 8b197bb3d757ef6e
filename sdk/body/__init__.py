"""Body outline (seed 000): the 18 classical candidates, the outline as points, and the body network's model.

    masks = radseg.body.candidates(slice_2d)          # [(names, bool mask)], identical candidates once
    every = radseg.body.all_candidates(slice_2d)      # {name: bool mask}, all 18 variants
    points = radseg.body.outline_points(vol, mask)    # float64 [n, 3], patient coordinates (LPS mm)
    radseg.body.write_ply("body.ply", points)
    outline = radseg.load("body").segment(volume, spacing=..., modality="CT")   # the network: radseg.body.model
"""
from .candidates import VARIANTS, all_candidates, candidates, candidates_volume, scale_to_uint8
from .points import outline_points, write_ply

__all__ = ["VARIANTS", "all_candidates", "candidates", "candidates_volume", "scale_to_uint8", "outline_points",
           "write_ply"]
