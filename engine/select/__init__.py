"""Active-learning batch selection on arrays: kernels, strategies and the batch recipe.

Array level only (no project or database code): the caller builds a :class:`SelectionContext`
from the current embeddings, labels and model outputs and calls :func:`select_batch`.
``OMP_WAIT_POLICY=PASSIVE`` is set by default before numba loads an OpenMP runtime
(DESIGN.md section 8); set it in the process environment earlier to be sure.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .context import SelectionContext  # noqa: E402
from .recipe import DEFAULT_WEIGHTS, BatchResult, select_batch  # noqa: E402
from .strategies import STRATEGIES, Picks, Strategy  # noqa: E402

__all__ = ["DEFAULT_WEIGHTS", "STRATEGIES", "BatchResult", "Picks", "SelectionContext", "Strategy",
           "select_batch"]
