"""Run a picklable function over chunks of items on all cores, with progress and cancel.

Worker processes isolate native-decoder crashes: if a worker dies, the unfinished chunks
are retried one item per task, and the single item that still kills a worker is reported
through ``on_crash`` instead of stopping the run. Results are handed to ``on_result`` in
the calling thread, chunk by chunk, so the caller can commit them as they arrive.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from .errors import Cancelled
from .jobs import CancelToken, ProgressFn, no_progress

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

INLINE_BELOW = 48  # below this many items a pool costs more than it saves


def _context() -> mp.context.BaseContext:
    # forkserver: safe from threaded parents (the Qt app), cheaper than spawn.
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def map_chunks(fn: Callable[..., list[R]], items: Sequence[T], *, args: tuple = (),
               workers: int = 1, chunk_size: int = 32,
               on_result: Callable[[Sequence[T], list[R]], None],
               on_crash: Callable[[T, str], None] | None = None,
               progress: ProgressFn = no_progress, cancel: CancelToken | None = None,
               msg: str = "") -> None:
    """Call ``fn(chunk, *args) -> results`` for every chunk, in parallel when worth it."""
    cancel = cancel or CancelToken()
    total = len(items)
    chunks = [list(items[i:i + chunk_size]) for i in range(0, total, chunk_size)]
    done = 0
    progress(0, total, msg)
    if workers <= 1 or total < INLINE_BELOW:
        for chunk in chunks:
            cancel.raise_if_cancelled()
            on_result(chunk, fn(chunk, *args))
            done += len(chunk)
            progress(done, total, msg)
        return
    counter = [done]

    def run(todo: list[list[T]], n_workers: int, limit: int) -> tuple[list[list[T]], list[list[T]]]:
        return _run_pool(fn, todo, args, n_workers, limit, on_result, progress, cancel,
                         counter, total, msg)

    def inline(todo: list[list[T]]) -> None:
        for chunk in todo:
            cancel.raise_if_cancelled()
            on_result(chunk, fn(chunk, *args))
            counter[0] += len(chunk)
            progress(counter[0], total, msg)

    todo = chunks
    while todo:
        todo, suspects = run(todo, workers, workers * 3)
        if suspects and not _pool_healthy(fn, args):
            # Workers cannot run at all (e.g. no usable __main__ to re-import): that is not
            # the items' fault, so finish in this process instead of blaming them.
            log.warning("worker processes cannot start; continuing in one process")
            inline(suspects + todo)
            return
        # The chunks in flight when a worker died: rerun their items one at a time in one
        # worker, so the item that kills it again is known exactly.
        singles = [[item] for chunk in suspects for item in chunk]
        while singles:
            singles, culprit = run(singles, 1, 1)
            for (item,) in culprit:
                log.error("worker process died on %r", item)
                if on_crash is None:
                    raise RuntimeError(f"a worker process crashed on {item!r}")
                on_crash(item, "worker process died while decoding")
                counter[0] += 1
                progress(counter[0], total, msg)


def _pool_healthy(fn: Callable[..., list[R]], args: tuple) -> bool:
    """Can a fresh worker process run ``fn`` on an empty chunk?"""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
            pool.submit(fn, [], *args).result(timeout=120)
        return True
    except Exception as exc:  # any failure here means the pool, not an item, is broken
        log.warning("worker pool health check failed: %s", exc)
        return False


def _run_pool(fn: Callable[..., list[R]], chunks: list[list[T]], args: tuple, workers: int,
              limit: int, on_result: Callable[[Sequence[T], list[R]], None],
              progress: ProgressFn, cancel: CancelToken, counter: list[int], total: int,
              msg: str) -> tuple[list[list[T]], list[list[T]]]:
    """Run chunks until done or a worker dies; returns (not started, in flight at the death).

    Results reach ``on_result`` in submission order (finished chunks wait in a buffer that
    counts against ``limit``), so the same input always yields the same order, e.g. the
    same image ids, however the workers are scheduled.
    """
    queue = list(reversed(chunks))
    in_flight: dict[Future, tuple[int, list[T]]] = {}
    ready: dict[int, tuple[list[T], list[R]] | None] = {}  # seq -> result, None = lost
    lost: list[list[T]] = []
    broken = False  # a worker died: submit nothing more to this pool
    next_seq = next_out = 0

    def deliver() -> None:
        nonlocal next_out
        while next_out in ready:
            item = ready.pop(next_out)
            next_out += 1
            if item is not None:
                on_result(*item)
                counter[0] += len(item[0])
                progress(counter[0], total, msg)

    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        try:
            while queue or in_flight:
                cancel.raise_if_cancelled()
                while (queue and len(in_flight) + len(ready) < limit
                       and not (lost or broken)):
                    chunk = queue.pop()
                    try:
                        in_flight[pool.submit(fn, chunk, *args)] = (next_seq, chunk)
                        next_seq += 1
                    except BrokenProcessPool:  # died after the last wait(): not this chunk's fault
                        queue.append(chunk)
                        broken = True
                if broken and not in_flight:
                    break
                finished, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    seq, chunk = in_flight.pop(fut)
                    try:
                        ready[seq] = (chunk, fut.result())
                    except BrokenProcessPool:
                        lost.append(chunk)
                        ready[seq] = None
                deliver()
                if lost and not in_flight:
                    break
        except Cancelled:
            deliver()  # keep what finished in order before the cancel
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return list(reversed(queue)), lost
