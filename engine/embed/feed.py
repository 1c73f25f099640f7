"""Decoded batches for the model: a thread pool that decodes the next batches while or between
inference calls, each batch split over all decode threads and written into one array.

Two schedules (``ahead``):

* ``ahead=2`` (the default, ``embed_project(overlap=True)``): two batches decode while the
  model runs, so the model never waits while decoding keeps up.
* ``ahead=0``: the next batch is decoded, by all decode threads at once, right after the
  model finishes the current one, so onnxruntime has every core to itself.

Measured on the 2-core build machine (bundled efficientnet-lite0, batch 32, 2 onnxruntime
threads, 2 decode threads; medians of interleaved runs, runs where other processes used
>3% CPU discarded): bare ``OnnxEmbedder.embed`` on pre-decoded batches 153-165 images/s.
320x240 JPEGs: overlap 0.88 of bare (0.87 counting model load), alternate 0.82.
1024x768 JPEGs: overlap 0.71, alternate 0.75. On a CPU every decode millisecond is taken
from inference either way, so the ratio is bounded by decode cost; overlapping slows
inference itself ~13% (a decode thread preempting an onnxruntime thread stalls the parallel
operator). With a GPU only overlapping makes sense.

Threads, not processes: PIL releases the GIL while decoding and resizing, results need no
pickling (a 32 x 224 x 224 x 3 batch is 4.8 MB), there is no process start-up, and ingest
already decoded every file once, so a decoder crash would have been caught there. With a
decode-bound model (3,072 images): 2 threads 3,080 images/s, 2 processes 2,100.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from ..jobs import CancelToken
from .preprocess import load_batch

B = TypeVar("B")
Items = Sequence[Sequence[tuple[str, str | None]]]


def decoded_batches(batches: Sequence[B], items: Callable[[B], Items], *, size: int,
                    resize: str, workers: int, ahead: int, cancel: CancelToken,
                    stats: dict[str, float]
                    ) -> Iterator[tuple[B, np.ndarray, list[dict[str, Any] | None]]]:
    """Yield ``(batch, uint8 (n, size, size, 3), issues)`` in order; checks ``cancel`` between.

    ``stats`` gains ``decode_s`` (decode time summed over threads) and ``wait_s`` (time the
    caller spent waiting for a batch).
    """
    if not batches:
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="classkit-decode")
    pending: deque[tuple[B, np.ndarray, list[Future]]] = deque()
    todo = iter(batches)

    def fill(limit: int) -> None:
        while len(pending) < limit and (batch := next(todo, None)) is not None:
            groups = items(batch)
            out = np.empty((len(groups), size, size, 3), np.uint8)
            step = -(-len(groups) // workers)
            futures = [pool.submit(load_batch, groups[i:i + step], size, resize, out[i:i + step])
                       for i in range(0, len(groups), step)]
            pending.append((batch, out, futures))

    try:
        while True:
            fill(max(1, ahead))
            if not pending:
                return
            cancel.raise_if_cancelled()
            batch, out, futures = pending.popleft()
            t0 = time.perf_counter()
            issues: list[dict[str, Any] | None] = []
            for future in futures:
                _, part, seconds = future.result()
                issues += part
                stats["decode_s"] = stats.get("decode_s", 0.0) + seconds
            stats["wait_s"] = stats.get("wait_s", 0.0) + time.perf_counter() - t0
            fill(ahead)  # ahead > 0: the next batches decode while the caller runs the model
            yield batch, out, issues
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
