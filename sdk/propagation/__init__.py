"""radseg.propagation: carry a mask through a volume, slice by slice (seed 001)."""
