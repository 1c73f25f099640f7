"""Bundled embedder models and their registry (ONNX files with model cards)."""
