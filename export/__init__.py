"""radseg.export: checkpoint -> ONNX + manifest (+ TensorRT engine, Triton repository)."""
