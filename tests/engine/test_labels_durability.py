"""A process killed right after a label keeps it: a subprocess labels through the app's code
path (LabelModel -> LabelWriter -> add_labels), reports the commit, and is SIGKILLed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classkit.engine.labels import current_labels, label_history
from classkit.engine.project import Project
from tests.engine.test_labels_events import add_images

CHILD = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from classkit.app.map import pin_none; pin_none()
from PySide6.QtCore import QCoreApplication
from classkit.app.label.label_model import LabelModel
app = QCoreApplication([])
m = LabelModel()
m.projectPath = sys.argv[1]
m.committed.connect(lambda out: (print("COMMITTED", out["ids"][0], flush=True), time.sleep(60)))
m.loadQueue("ids", [int(x) for x in sys.argv[2].split(",")])
def tick():
    if m.total and m.classes and not tick.done:
        tick.done = True
        m.labelKey("2", False)  # class "dog" (key 2)
tick.done = False
from PySide6.QtCore import QTimer
t = QTimer(); t.timeout.connect(tick); t.start(5)
app.exec()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_label_survives_sigkill(project: Project, tmp_path: Path) -> None:
    ids = add_images(project, 3)
    root = str(project.root)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, root, ",".join(map(str, ids))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("COMMITTED") or not line:
                break
        os.kill(proc.pid, signal.SIGKILL)  # right after the commit was reported
    finally:
        proc.wait(10)
    assert line.startswith("COMMITTED"), proc.stderr.read()[-2000:]
    assert proc.returncode == -signal.SIGKILL
    image_id = int(line.split()[1])
    with Project.open(Path(root)) as fresh:
        assert current_labels(fresh) == {image_id: "dog"}
        ev = label_history(fresh, image_id)[-1]
        assert ev["source"] == "manual" and ev["lead_time_ms"] is not None
    print(json.dumps({"killed_after_commit": True}))
