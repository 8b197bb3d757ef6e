"""Training of the click model: the U-Net (`model`), the robot-in-the-loop trainer (`train`)."""
