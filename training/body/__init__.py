"""Training the body-outline network (seed 000): source scans, the scripted rater, the accepted set, the trainer."""
