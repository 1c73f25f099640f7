"""`classkit train / predict / select / rounds` end to end on a small real project."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from classkit.cli.main import main
from classkit.engine.demo import CLASSES, make_demo_data

from .helpers import run_json


@pytest.fixture(scope="module")
def labeled_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("loopcli")
    tree = make_demo_data(base / "data", per_class=24)["imagefolder"]
    proj = base / "p"
    assert main(["init", str(proj), "--classes", ",".join(CLASSES)]) == 0
    assert main(["ingest", str(proj), str(tree), "--json"]) == 0
    assert main(["embed", str(proj), "--model", "squeezenet1.1", "--json"]) == 0
    rows = ["path,label"] + [f"{p},{p.parent.name}" for name in CLASSES
                             for p in sorted((tree / name).glob("*.jpg"))[:16]]
    (base / "labels.csv").write_text("\n".join(rows) + "\n")
    assert main(["label", str(proj), "--csv", str(base / "labels.csv"), "--source", "manual",
                 "--json"]) == 0
    return proj


def test_train_predict_select_rounds(labeled_project: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    proj = str(labeled_project)
    out = run_json(capsys, "train", proj, "--folds", "3")
    assert out["round"] == 1 and out["metrics"]["n_train"] + out["metrics"]["n_val"] \
        + out["metrics"]["n_test"] == 48
    assert out["temperature"] > 0 and "signals" in out

    csv_path = tmp_path / "pred.csv"
    pred = run_json(capsys, "predict", proj, "--out", str(csv_path))
    assert pred["count"] == 24 and pred["out"] == str(csv_path)
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 and list(rows[0]) == ["id", "path", "predicted", "confidence"]
    assert sum(Path(r["path"]).parent.name == r["predicted"] for r in rows) >= 20
    assert all(0 < float(r["confidence"]) <= 1 for r in rows)

    sel = run_json(capsys, "select", proj, "--budget", "9", "--weights", "0.5,0.3,0.1,0.1",
                   "--cap-per-cluster", "3")
    assert set(sel) >= {"batch", "items", "composition"}
    assert len(sel["items"]) == 9 and len({i["id"] for i in sel["items"]}) == 9
    assert set(sel["items"][0]) >= {"id", "path", "reason", "score"}
    assert sum(sel["composition"]["by_reason"].values()) == 9

    assert main(["select", proj, "--budget", "5", "--weights", "1,2"]) == 1
    assert "--weights" in capsys.readouterr().err
    assert main(["select", proj, "--budget", "0"]) == 1
    capsys.readouterr()

    es = run_json(capsys, "train", proj, "--head", "mlp", "--folds", "0", "--early-stopping",
                  "--no-semi", "--weight-decay", "0.05", "--smoothing", "off", "--graph-features", "off")
    assert "smoothing" not in es["metrics"] and out["metrics"]["smoothing"]["mode"] == "auto"
    assert "features" not in es["metrics"] and "features" not in out["metrics"]  # off by default
    assert es["metrics"]["early_stopping"] == (es["metrics"]["n_val"] >= 10)
    assert "semi" not in es["metrics"] and "semi" in out["metrics"]
    ledger = run_json(capsys, "rounds", proj)["rounds"]
    assert [r["round"] for r in ledger] == [1, 2]
    assert ledger[1]["settings"]["head"]["kind"] == "mlp" and ledger[1]["settings"]["early_stopping"]
    assert ledger[0]["settings"]["head"]["weight_decay"] == 0.01      # the default
    assert ledger[1]["settings"]["head"]["weight_decay"] == 0.05      # --weight-decay
    assert ledger[0]["settings"]["semi"] and not ledger[1]["settings"]["semi"]
    assert (ledger[0]["settings"]["smoothing"], ledger[1]["settings"]["smoothing"]) == ("auto", "off")
    assert (ledger[0]["settings"]["features"], ledger[1]["settings"]["features"]) == ("off", "off")
    restored = run_json(capsys, "rounds", proj, "--restore", "1")
    assert restored["restored"] == 1 and restored["train_version"] == ledger[0]["train_version"]
    assert main(["train", proj, "--weight-decay", "-1"]) == 1
    assert capsys.readouterr().err.startswith("classkit: error: --weight-decay: must be between")
    assert main(["rounds", proj, "--restore", "9"]) == 1
    assert "no round 9" in capsys.readouterr().err
    # human-readable forms run too; train says whether predictions are smoothed, and why
    assert main(["train", proj, "--folds", "0", "--smoothing", "on", "--graph-features", "on"]) == 0
    said = capsys.readouterr().out
    assert "neighbour smoothing: on (on" in said and "graph features: on (on" in said
    assert re.search(r"unlabeled: expected accuracy [01]\.\d{3} on 24 image\(s\) not labeled yet", said)
    # 48 labels: 9 val images, too few for a temperature; once said "calibrated on 9"
    assert "calibration skipped" in said
    assert re.search(r"rough for now: not calibrated yet, only 9 val image\(s\)\)", said)
    assert "picked by active learning" not in said  # the labels came with the dataset, not batches
    with pytest.raises(SystemExit):
        main(["train", proj, "--smoothing", "sometimes"])
    assert "invalid choice: 'sometimes'" in capsys.readouterr().err
    assert main(["rounds", proj]) == 0 and "round   1" in capsys.readouterr().out


def test_suspects_list_csv_and_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`classkit suspects`: wrong labels a person gave are listed with the held-out heads'
    class; the review sheet imports back as the person's word: a corrected label replaces the
    wrong one, a label kept as it was counts as confirmed, and both leave the list."""
    tree = make_demo_data(tmp_path / "data", per_class=20)["imagefolder"]
    proj = str(tmp_path / "p")
    assert main(["init", proj, "--classes", ",".join(CLASSES)]) == 0
    assert main(["ingest", proj, str(tree), "--kind", "imagefolder", "--json"]) == 0
    assert main(["suspects", proj]) == 1
    assert "no trained model yet" in capsys.readouterr().err
    assert main(["embed", proj, "--model", "squeezenet1.1", "--json"]) == 0
    victims = sorted((tree / CLASSES[0]).glob("*.jpg"))[:2]
    (tmp_path / "wrong.csv").write_text("path,label\n" + "".join(f"{v},{CLASSES[1]}\n" for v in victims))
    assert main(["label", proj, "--csv", str(tmp_path / "wrong.csv"), "--source", "manual", "--json"]) == 0
    capsys.readouterr()
    run_json(capsys, "train", proj, "--folds", "5")
    listed = run_json(capsys, "suspects", proj)
    hit = [s for s in listed["suspects"] if Path(s["path"]) in victims]
    assert listed["count"] == len(listed["suspects"]) >= 2 and len(hit) == 2
    assert all(h["label"] == CLASSES[1] and h["suggested"] == CLASSES[0] for h in hit)
    out = tmp_path / "sus" / "suspects.csv"
    assert main(["suspects", proj, "--out", str(out)]) == 0
    assert "written to" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "path", "label", "suggested", "confidence", "score"]
    kept = next(r for r in rows if Path(r["path"]) == victims[1])
    for r in rows:
        if r is not kept:
            r["label"] = r["suggested"]  # accept the model's word, except for one the person keeps
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = run_json(capsys, "label", proj, "--csv", str(out))
    assert summary["review"] and summary["source"] == "manual"
    assert summary["confirmed"] >= 1 and summary["kept_human"] == 0
    assert summary["labeled"] == len(rows)
    assert run_json(capsys, "suspects", proj)["count"] == 0
    history = run_json(capsys, "label", proj, "--history", kept["id"])
    assert history["label"] == CLASSES[1] and "confirmed" in history["events"][-1]["reason"]


def test_select_a_first_look_before_any_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_demo_data(tmp_path / "data", per_class=4)["imagefolder"]
    proj = tmp_path / "p"
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(tree), "--json"]) == 0
    assert main(["embed", str(proj), "--model", "squeezenet1.1", "--json"]) == 0
    capsys.readouterr()
    assert main(["select", str(proj), "--budget", "4"]) == 0
    out = capsys.readouterr().out
    assert "Batch 1: 4 image(s)" in out and "cold start" in out
    assert f"add the classes you see (classkit classes {proj} --add NAME" in out
    assert main(["train", str(proj)]) == 1  # labels need classes first


def test_select_says_why_a_batch_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = make_demo_data(tmp_path / "data", per_class=4)["imagefolder"]
    proj = tmp_path / "p"
    assert main(["init", str(proj)]) == 0
    assert main(["ingest", str(proj), str(tree), "--kind", "imagefolder", "--json"]) == 0
    assert main(["embed", str(proj), "--model", "squeezenet1.1", "--json"]) == 0
    capsys.readouterr()
    sel = run_json(capsys, "select", str(proj), "--budget", "5")
    assert sel["items"] == [] and sel["composition"]["empty_because"].startswith(
        f"all {4 * len(CLASSES)} image(s) are labeled or marked")
    assert main(["select", str(proj), "--budget", "5"]) == 0
    assert "nothing picked: all" in capsys.readouterr().out

