"""radseg.training: PyTorch training of the click model (needs the `train` extra)."""
