"""radseg.training: PyTorch training of the click, propagation and body models (needs the `train` extra)."""
