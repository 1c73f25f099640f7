"""benchmarks/kmeans_scale.py still runs both sample rules side by side (a tiny run)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_kmeans_scale_runs_both_rules(tmp_path: Path) -> None:
    out = tmp_path / "k.jsonl"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kmeans_scale.py"), "--n", "3000",
                    "--dim", "16", "--k", "20", "--out", str(out)],
                   check=True, capture_output=True, text=True, timeout=300)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rule"] for r in recs] == ["shipped", "faiss-default"]
    assert all(r["n"] == 3000 and r["k"] == 20 and 0 < r["cohesion_100k"] <= 1 for r in recs)
    assert [r["train_rows"] for r in recs] == [3000, 3000]  # a small project trains on every row
