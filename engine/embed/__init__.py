"""Image embeddings: model specs, the onnxruntime embedder, the embedding job and storage.

onnxruntime itself is imported on first use (``OnnxEmbedder``), so importing this is cheap.
"""

from .job import embed_project
from .onnx_backend import OnnxEmbedder, probe_output_dim
from .preprocess import load_for_model, load_image
from .spec import ModelRef, ModelSpec, builtin_models, load_spec_file, resolve_model
from .store import (EmbeddingSet, current_embeddings, list_embedding_versions, load_embeddings,
                    use_embeddings)

__all__ = ["EmbeddingSet", "ModelRef", "ModelSpec", "OnnxEmbedder", "builtin_models",
           "current_embeddings", "embed_project", "list_embedding_versions", "load_embeddings",
           "load_for_model", "load_image", "load_spec_file", "probe_output_dim", "resolve_model",
           "use_embeddings"]
