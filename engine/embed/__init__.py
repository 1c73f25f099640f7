"""Image embeddings: model specs, the onnxruntime embedder, the embedding job and storage."""
