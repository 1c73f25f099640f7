"""map_chunks: every item once, worker processes, progress, cancel, crash isolation.

Worker functions must be importable top-level functions: the worker processes (forkserver)
import this module by name to unpickle them.
"""
from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from classkit.engine import parallel
from classkit.engine.errors import Cancelled
from classkit.engine.jobs import CancelToken, no_progress
from classkit.engine.parallel import INLINE_BELOW, map_chunks

N = INLINE_BELOW + 52  # enough to use the pool


def square_with_pid(chunk: list[int]) -> list[tuple[int, int, int]]:
    return [(x, x * x, os.getpid()) for x in chunk]


def add_offset(chunk: list[int], offset: int, scale: int) -> list[int]:
    return [x * scale + offset for x in chunk]


def exit_on_13(chunk: list[int]) -> list[int]:
    if 13 in chunk:
        os._exit(1)
    return [x * 2 for x in chunk]


def abort_on_7_and_60(chunk: list[int]) -> list[int]:
    if 7 in chunk or 60 in chunk:
        os.kill(os.getpid(), signal.SIGKILL)
    return [x + 1 for x in chunk]


def raise_on_5(chunk: list[int]) -> list[int]:
    if 5 in chunk:
        raise ValueError("bad item 5")
    return list(chunk)


class _Collector:
    def __init__(self) -> None:
        self.items: list[Any] = []
        self.results: list[Any] = []
        self.progress: list[tuple[int, int]] = []
        self.crashes: list[tuple[Any, str]] = []
        self.threads: set[int] = set()

    def on_result(self, chunk: Any, results: list[Any]) -> None:
        assert len(chunk) == len(results)
        self.items.extend(chunk)
        self.results.extend(results)
        self.threads.add(threading.get_ident())

    def on_progress(self, done: int, total: int, msg: str = "") -> None:
        self.progress.append((done, total))

    def on_crash(self, item: Any, why: str) -> None:
        self.crashes.append((item, why))


@pytest.mark.parametrize("workers, n", [(1, N), (2, 10), (2, N), (3, N + 7)])
def test_every_item_exactly_once(workers: int, n: int) -> None:
    c = _Collector()
    map_chunks(square_with_pid, list(range(n)), workers=workers, chunk_size=8,
               on_result=c.on_result, progress=c.on_progress)
    assert sorted(c.items) == list(range(n))
    assert Counter(c.items).most_common(1)[0][1] == 1
    assert all(x * x == sq and item == x for item, (x, sq, _) in zip(c.items, c.results, strict=False))
    assert c.progress[0] == (0, n) and c.progress[-1] == (n, n)
    assert [d for d, _ in c.progress] == sorted(d for d, _ in c.progress)
    assert c.threads == {threading.get_ident()}  # results arrive in the calling thread
    pids = {pid for _, _, pid in c.results}
    if workers > 1 and n >= INLINE_BELOW:
        assert os.getpid() not in pids and len(pids) >= 1
    else:
        assert pids == {os.getpid()}


def test_args_are_passed() -> None:
    c = _Collector()
    map_chunks(add_offset, list(range(N)), args=(100, 3), workers=2, on_result=c.on_result)
    assert sorted(c.results) == [x * 3 + 100 for x in range(N)]


def test_empty_input() -> None:
    c = _Collector()
    map_chunks(square_with_pid, [], workers=2, on_result=c.on_result, progress=c.on_progress)
    assert c.items == [] and c.progress == [(0, 0)]


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_raises(workers: int) -> None:
    token = CancelToken()
    c = _Collector()

    def on_result(chunk: Any, results: list[Any]) -> None:
        c.on_result(chunk, results)
        token.cancel()

    with pytest.raises(Cancelled):
        map_chunks(square_with_pid, list(range(N)), workers=workers, chunk_size=4,
                   on_result=on_result, cancel=token)
    assert 4 <= len(c.items) < N
    assert len(set(c.items)) == len(c.items)


def test_cancel_before_start() -> None:
    token = CancelToken()
    token.cancel()
    c = _Collector()
    with pytest.raises(Cancelled):
        map_chunks(square_with_pid, list(range(N)), workers=2, on_result=c.on_result,
                   cancel=token)
    assert c.items == []


@pytest.mark.parametrize("chunk_size", [1, 5, 16])
def test_crash_isolated_to_one_item(chunk_size: int) -> None:
    c = _Collector()
    items = list(range(N))
    map_chunks(exit_on_13, items, workers=2, chunk_size=chunk_size, on_result=c.on_result,
               on_crash=c.on_crash, progress=c.on_progress)
    assert [item for item, _ in c.crashes] == [13]
    assert "died" in c.crashes[0][1]
    assert sorted(c.items) == [x for x in items if x != 13]
    assert sorted(c.results) == sorted(2 * x for x in items if x != 13)
    assert c.progress[-1] == (N, N)


def test_two_crashing_items() -> None:
    c = _Collector()
    map_chunks(abort_on_7_and_60, list(range(N)), workers=2, chunk_size=6,
               on_result=c.on_result, on_crash=c.on_crash, progress=c.on_progress)
    assert sorted(item for item, _ in c.crashes) == [7, 60]
    assert sorted(c.items) == [x for x in range(N) if x not in (7, 60)]
    assert c.progress[-1] == (N, N)


def test_crash_without_handler_raises() -> None:
    c = _Collector()
    with pytest.raises(RuntimeError, match="crashed on 13"):
        map_chunks(exit_on_13, list(range(N)), workers=2, chunk_size=4, on_result=c.on_result)


@pytest.mark.parametrize("workers", [1, 2])
def test_function_errors_propagate(workers: int) -> None:
    c = _Collector()
    with pytest.raises(ValueError, match="bad item 5"):
        map_chunks(raise_on_5, list(range(N)), workers=workers, chunk_size=4,
                   on_result=c.on_result)


def test_broken_pool_at_submit_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker can die between two submits: submit() then raises BrokenProcessPool itself."""
    real_submit = ProcessPoolExecutor.submit
    calls = [0]

    def flaky_submit(self: ProcessPoolExecutor, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise BrokenProcessPool("a child process terminated abruptly")
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", flaky_submit)
    c = _Collector()
    map_chunks(square_with_pid, list(range(N)), workers=2, chunk_size=8,
               on_result=c.on_result, on_crash=c.on_crash, progress=c.on_progress)
    assert sorted(c.items) == list(range(N))
    assert c.crashes == []
    assert c.progress[-1] == (N, N)


def test_unstartable_workers_fall_back_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """If no worker can run at all, the items are not blamed: the run finishes in-process."""
    def always_lost(fn: Any, chunks: list, *args: Any) -> tuple[list, list]:
        return [], chunks  # every chunk "in flight when the worker died"

    monkeypatch.setattr(parallel, "_run_pool", always_lost)
    monkeypatch.setattr(parallel, "_pool_healthy", lambda fn, args: False)
    c = _Collector()
    map_chunks(square_with_pid, list(range(N)), workers=2, on_result=c.on_result,
               on_crash=c.on_crash, progress=c.on_progress)
    assert sorted(c.items) == list(range(N)) and c.crashes == []
    assert {pid for _, _, pid in c.results} == {os.getpid()}


def test_no_progress_is_callable() -> None:
    no_progress(1, 2, "x")
    no_progress(1, 2)


def slow_first_chunk(chunk: list[int]) -> list[int]:
    if 0 in chunk:
        import time

        time.sleep(0.5)  # the first chunk finishes last
    return list(chunk)


def test_results_arrive_in_submission_order() -> None:
    seen: list[int] = []
    map_chunks(slow_first_chunk, list(range(N)), workers=2, chunk_size=8,
               on_result=lambda chunk, res: seen.extend(res))
    assert seen == list(range(N))
