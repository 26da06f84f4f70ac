"""Deployment exports: ONNX of the inference step (state in, state out) and TensorRT engines."""
