"""Shared by the kernel and similarity benchmarks: synthetic data shaped like embeddings."""
from __future__ import annotations

import numpy as np


def blob_rows(n: int, d: int, blobs: int, latent: int, noise: float = 0.25,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) float32 unit rows in ``blobs`` Gaussian blobs of log-normal sizes (each a
    ``latent``-dim subspace plus isotropic noise), and the blob of each row. Chunked: no
    full-size temporaries."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((blobs, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = rng.standard_normal((latent, d), dtype=np.float32) / np.sqrt(d)
    spread = rng.uniform(0.3, 0.8, blobs).astype(np.float32)
    weights = np.exp(0.7 * rng.standard_normal(blobs))
    blob = rng.choice(blobs, size=n, p=weights / weights.sum()).astype(np.int32)
    out = np.empty((n, d), np.float32)
    for lo in range(0, n, 65536):
        b = blob[lo:lo + 65536]
        z = rng.standard_normal((b.size, latent), dtype=np.float32) / np.sqrt(latent)
        x = centres[b] + spread[b, None] * (z @ basis)
        x += rng.standard_normal((b.size, d), dtype=np.float32) * (noise / np.sqrt(d))
        out[lo:lo + b.size] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out, blob
