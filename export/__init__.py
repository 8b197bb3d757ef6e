"""radseg.export: a trained checkpoint -> ONNX model + manifest, verified against torch on real inputs."""
