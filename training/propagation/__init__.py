"""radseg.training.propagation: the propagation model of seed 001 (slice + neighbouring mask -> mask)."""
