"""benchmarks/round_scale.py still runs a whole round (train, then select) on its synthetic
float16 project: a tiny run, so the benchmark cannot drift from the engine's API unnoticed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_round_scale_runs_a_round(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "round_scale.py"), "--n", "3000", "--dim", "32",
                    "--classes", "4", "--labeled", "120,240", "--budget", "40", "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stage"] for r in recs] == ["build", "train", "select", "select", "train", "select", "select"]
    trains = [r for r in recs if r["stage"] == "train"]
    assert [r["labeled"] for r in trains] == [120, 240]
    assert all(r["timings"].get("train_s", 0) > 0 and r["baseline"]["total_s"] > 0 for r in trains)
    sels = [r for r in recs if r["stage"] == "select"]
    assert all(r["picked"] == 40 and sum(r["by_reason"].values()) == 40 for r in sels)
    assert "k-means" in sels[0]["steps"] and "k-means" not in sels[1]["steps"]  # clusters once


def test_round_scale_times_graph_features_beside_the_plain_head(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "round_scale.py"), "--n", "2000", "--dim", "16",
                    "--classes", "4", "--labeled", "120", "--no-select", "--graph-features", "off,on",
                    "--out", str(out)], check=True, capture_output=True, text=True, timeout=300)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stage"] for r in recs] == ["build", "train", "train"]
    assert [(r["graph_features"], r["used"]) for r in recs[1:]] == [("off", False), ("on", True)]
