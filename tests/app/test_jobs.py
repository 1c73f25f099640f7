"""JobRunner: progress on the GUI thread (throttled), cancel, errors reported with detail."""
from __future__ import annotations

import logging
import threading
import time

import pytest
from PySide6.QtCore import QThread

from classkit.app.jobs import Err, JobRunner, Ok
from classkit.engine.errors import ClassKitError


def _counting_job(n: int, *, progress, cancel) -> int:
    for i in range(n):
        cancel.raise_if_cancelled()
        progress(i + 1, n, f"step {i + 1}")
        time.sleep(0.002)
    return n * 10


def test_progress_and_result_arrive_on_the_gui_thread(qtbot) -> None:
    runner = JobRunner()
    gui = QThread.currentThread()
    seen: list[tuple[int, int, bool]] = []
    runner.jobsChanged.connect(lambda: seen.extend(
        (j["done"], j["total"], QThread.currentThread() is gui) for j in runner.jobs))
    results = []
    with qtbot.waitSignal(runner.jobFinished, timeout=10_000) as blocker:
        job_id = runner.start("count", _counting_job, 200, on_result=results.append)
        assert runner.busy and runner.jobs[0]["state"] == "queued"
    assert blocker.args == [job_id, "count", 2000]
    assert results == [Ok(2000)]
    assert runner.jobs == [] and not runner.busy
    assert all(on_gui for _, _, on_gui in seen)
    dones = [d for d, _, _ in seen if d]
    assert dones and dones[-1] == 200  # the last update always gets through
    assert len(dones) < 100  # throttled: 200 steps in ~0.4 s give ~10-20 updates


def test_cancel_stops_a_running_job(qtbot) -> None:
    runner = JobRunner()
    started = threading.Event()

    def slow(*, progress, cancel) -> None:
        started.set()
        for _ in range(1000):
            cancel.raise_if_cancelled()
            time.sleep(0.01)

    results = []
    with qtbot.waitSignal(runner.jobCancelled, timeout=10_000) as blocker:
        job_id = runner.start("slow", slow, on_result=results.append)
        assert started.wait(5)
        runner.cancel(job_id)
        assert runner.jobs[0]["state"] == "cancelling"
    assert blocker.args == [job_id, "slow"]
    assert isinstance(results[0], Err) and results[0].cancelled


def test_a_queued_job_cancelled_never_runs(qtbot) -> None:
    runner = JobRunner()  # one job at a time
    gate = threading.Event()
    ran = []
    first = runner.start("first", lambda *, progress, cancel: gate.wait(5))
    second = runner.start("second", lambda *, progress, cancel: ran.append(1))
    runner.cancel(second)
    with qtbot.waitSignals([runner.jobFinished, runner.jobCancelled], timeout=10_000):
        gate.set()
    assert ran == [] and first != second


@pytest.mark.parametrize("exc, message", [
    (ClassKitError("project folder is missing"), "project folder is missing"),
    (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
])
def test_errors_are_reported_with_detail_and_logged(qtbot, caplog, exc, message) -> None:
    runner = JobRunner()

    def boom(*, progress, cancel) -> None:
        raise exc

    caplog.set_level(logging.ERROR, logger="classkit.app.jobs")
    with qtbot.waitSignal(runner.jobFailed, timeout=10_000) as blocker:
        runner.start("boom", boom)
    _, name, got, detail = blocker.args
    assert (name, got) == ("boom", message)
    assert "Traceback" in detail and type(exc).__name__ in detail
    assert any("boom" in r.getMessage() and message in r.getMessage() for r in caplog.records)


def test_a_failing_result_handler_is_reported_not_swallowed(qtbot) -> None:
    runner = JobRunner()

    def handler(result) -> None:
        raise RuntimeError("bug in the handler")

    with qtbot.waitSignal(runner.jobFailed, timeout=10_000) as blocker:
        runner.start("ok", lambda *, progress, cancel: 1, on_result=handler)
    assert "handling the result of ok failed" in blocker.args[2]
    assert "bug in the handler" in blocker.args[3]


def test_light_jobs_do_not_wait_behind_a_heavy_one(qtbot) -> None:
    runner = JobRunner()
    gate = threading.Event()
    runner.start("map", lambda *, progress, cancel: gate.wait(10))
    with qtbot.waitSignal(runner.jobFinished, timeout=5_000) as blocker:
        runner.start("open", lambda *, progress, cancel: "opened", lane="light")
    assert blocker.args[1:] == ["open", "opened"]
    assert [j["name"] for j in runner.jobs] == ["map"]
    gate.set()
    assert runner.wait(10_000)
