"""``classkit train``, ``predict``, ``select`` and ``rounds``: the learning loop from the shell."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classkit.engine.errors import ClassKitError
from classkit.engine.project import Project

from ..output import close_progress, emit_json, progress_for, say

REASONS = ("uncertainty", "diversity", "representativeness", "audit")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the classifier head on the labels (one round)")
    p.add_argument("project", type=Path)
    p.add_argument("--head", choices=("linear", "mlp"), default="linear")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5,
                   help="out-of-fold heads for label-error suspects (0 = skip)")
    p.add_argument("--early-stopping", action="store_true",
                   help="also stop training on val loss (off: measured worse on small val sets)")
    p.add_argument("--weight-decay", type=float, metavar="WD",
                   help="L2 penalty on the head's weights (default 0.01, measured in "
                        "docs/benchmarks/learning-loop.md; more for few labels or noisy ones)")
    p.add_argument("--semi", action=argparse.BooleanOptionalAction, default=None,
                   help="also learn from unlabeled images via labels spread over the kNN graph "
                        "(default: auto, on while fewer than 10,000 images are labeled)")
    p.add_argument("--smoothing", choices=("auto", "on", "off"), default="auto",
                   help="neighbour smoothing: each prediction also weighs what its nearest "
                        "neighbours in the kNN graph are labeled or predicted (auto: kept unless "
                        "it makes the calibrated val NLL clearly worse)")
    p.add_argument("--graph-features", choices=("off", "auto", "on"), default=None,
                   help="the head reads each image's embedding plus its 10 nearest neighbours' "
                        "mean (default: the project's setting, off unless changed in the app; "
                        "auto: kept unless the calibrated val NLL is clearly worse). Measured: "
                        "+0.85 / +0.46 points at 100 / 200 labels on Fashion-MNIST, but -0.4 "
                        "to -1.0 from 150 labels on OpenCV's digits, which auto did not catch: "
                        "try it, and compare rounds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="write id,path,predicted,confidence for unlabeled images")
    p.add_argument("project", type=Path)
    p.add_argument("--out", type=Path, help="CSV file to write (default: print a summary)")
    p.add_argument("--all", action="store_true", help="include labeled images too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("select", help="pick the next batch of images to label")
    p.add_argument("project", type=Path)
    p.add_argument("--budget", type=int, required=True, metavar="B")
    p.add_argument("--weights", metavar="U,D,R,A",
                   help="shares of uncertainty, diversity, representativeness, audit (default: "
                        "the project's batch settings, 0.40,0.35,0.15,0.10 unless changed in the app)")
    p.add_argument("--cap-per-cluster", type=int, metavar="N",
                   help="most picks from one visual mode (default: the project's setting, automatic)")
    p.add_argument("--min-per-class", type=int, metavar="N",
                   help="fewest picks per predicted class when classes are imbalanced")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("suspects", help="labels the current model strongly contradicts, to re-check")
    p.add_argument("project", type=Path)
    p.add_argument("--out", type=Path, help="CSV to write: id,path,label,suggested,confidence,score "
                   "(edit its label column, or leave a label to confirm it, and import it back with "
                   "`classkit label --csv`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_suspects)

    p = sub.add_parser("rounds", help="the round ledger: list rounds, or restore one")
    p.add_argument("project", type=Path)
    p.add_argument("--restore", type=int, metavar="N", help="make round N's model current again")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rounds)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``"0.4,0.35,0.15,0.1"`` → a dict over the four reasons (shares need not sum to 1)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ClassKitError(f"--weights: expected four numbers like 0.4,0.35,0.15,0.1, got {text!r}") \
            from None
    if len(values) != 4 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ClassKitError("--weights: four non-negative numbers (uncertainty, diversity, "
                            f"representativeness, audit) with a positive sum, got {text!r}")
    return dict(zip(REASONS, values, strict=True))


def _with_progress(args: argparse.Namespace, job: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    with Project.open(args.project) as project:
        progress = progress_for(args.json)
        try:
            return job(project, progress)
        finally:
            close_progress(progress)


def cmd_train(args: argparse.Namespace) -> int:
    from classkit.engine.learn.graphfeat import features_line
    from classkit.engine.learn.smooth import smoothing_line
    from classkit.engine.loop.metrics_view import estimate_caveats
    from classkit.engine.loop.rounds import train_round

    if args.weight_decay is not None and not 0.0 <= args.weight_decay <= 100.0:
        raise ClassKitError(f"--weight-decay: must be between 0 and 100, got {args.weight_decay:g}")
    out = _with_progress(args, lambda p, prog: train_round(
        p, head=args.head, seed=args.seed, folds=args.folds, early_stopping=args.early_stopping,
        semi=args.semi, smoothing=args.smoothing, features=args.graph_features, progress=prog,
        overrides=None if args.weight_decay is None else {"weight_decay": args.weight_decay}))
    if args.json:
        emit_json(out)
        return 0
    m = out["metrics"]
    say(f"Round {out['round']}: {args.head} head on {m['n_train']} train / {m['n_val']} val / "
        f"{m['n_test']} test images in {out['seconds']:.1f} s; temperature {out['temperature']:.3f}")
    for name in ("val", "test"):
        if name in m:
            say(f"  {name}: accuracy {m[name]['accuracy']:.3f}, macro F1 {m[name]['macro']['f1']:.3f}")
    if "unlabeled" in m:
        why = estimate_caveats(m["n_val"], "skipped" not in out["calibration"],
                               m["unlabeled"].get("picked_share"))
        say(f"  unlabeled: expected accuracy {m['unlabeled']['accuracy']:.3f} on {m['unlabeled']['images']} "
            f"image(s) not labeled yet ({'; '.join(why)})")
    cal = out["calibration"]
    if "before" in cal:
        say(f"  calibration (val): ECE {cal['before']['ece']:.3f} -> {cal['after']['ece']:.3f}, "
            f"NLL {cal['before']['nll']:.3f} -> {cal['after']['nll']:.3f}")
    else:
        say(f"  calibration skipped: {cal.get('skipped', '')}")
    if "semi" in m:
        say(f"  semi-supervised: {m['semi'].get('pseudo_rows', 0)} pseudo-labeled unlabeled images")
    if "smoothing" in m:
        say("  " + smoothing_line(m["smoothing"]))
    if "features" in m:
        say("  " + features_line(m["features"]))
    if "suspects" in m:
        say(f"  label-error suspects: {m['suspects']}"
            + (f" (to re-check: classkit suspects {args.project})" if m["suspects"] else ""))
    sig = out["signals"]
    say(f"  stop signals: val plateau {sig['val_plateau']['plateau']}, audit agreement stable "
        f"{sig['audit_agreement']['stable']}, novelty dropping {sig['novelty']['dropping']}")
    return 0


def _check_out_file(out: Path) -> None:
    """Fail early, in one line, when ``--out`` cannot become a file; make missing parents."""
    from classkit.engine.loop.predictions import check_out_file

    check_out_file(out, "--out ")


def cmd_predict(args: argparse.Namespace) -> int:
    from classkit.engine.loop.predictions import (export_predictions_csv, load_predictions,
                                                  predicted_counts, prediction_rows)

    if args.out:
        _check_out_file(args.out)
    with Project.open(args.project) as project:
        if args.out:
            out = export_predictions_csv(project, args.out, only_unlabeled=not args.all)
            rows: list[dict] = []
        else:
            rows = prediction_rows(project, only_unlabeled=not args.all)
            out = {"version": load_predictions(project).version, "count": len(rows), "out": None,
                   "by_class": predicted_counts(rows)}
    if args.json:
        emit_json({"version": out["version"], "count": out["count"], "out": out["out"], "predictions": rows})
        return 0
    say(f"Predictions {out['version']}: {out['count']} image(s)"
        + (f" written to {args.out}" if args.out else "")
        + (" (every image is labeled; --all includes labeled ones)" if not out["count"] and not args.all
           else ""))
    for name, n in out["by_class"].items():
        say(f"  {name}: {n}")
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    from classkit.engine.loop.selection import select_for_project

    weights = parse_weights(args.weights)
    out = _with_progress(args, lambda p, prog: select_for_project(
        p, args.budget, weights=weights, cap_per_cluster=args.cap_per_cluster,
        min_per_class=args.min_per_class, seed=args.seed, progress=prog))
    if args.json:
        emit_json({k: out[k] for k in ("batch", "round", "items", "composition", "settings")})
        return 0
    from classkit.engine.loop.selection import composition_lines

    say(f"Batch {out['batch']}: {len(out['items'])} image(s)"
        + (" (shares from the project's batch settings)" if args.weights is None else ""))
    for line in composition_lines(out):
        say("  " + line)
    for item in out["items"]:
        say(f"  {item['id']:>8}  {item['reason']:<18} {item['score']:.4f}  {item['path']}")
    if out["classes"] < 2:
        say(f"Next: look through the batch, add the classes you see (classkit classes {args.project} "
            f"--add NAME,NAME,...), then label it (classkit gui {args.project}, or label --csv)")
    return 0


SUSPECT_COLUMNS = ["id", "path", "label", "suggested", "confidence", "score"]


def cmd_suspects(args: argparse.Namespace) -> int:
    from classkit.engine.fsutil import write_csv_atomic
    from classkit.engine.labels.queue import build_queue

    if args.out:
        _check_out_file(args.out)
    with Project.open(args.project) as project:
        rows = [{"id": i.id, "path": i.path, "label": i.label, "suggested": i.suggestion,
                 "confidence": i.confidence, "score": i.score} for i in build_queue(project, "suspects")]
    if args.out:
        try:
            write_csv_atomic(args.out, rows, SUSPECT_COLUMNS)
        except OSError as exc:
            raise ClassKitError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    if args.json:
        emit_json({"count": len(rows), "out": str(args.out) if args.out else None,
                   "suspects": [] if args.out else rows})
        return 0
    say(f"{len(rows)} label-error suspect(s): labels the current model's out-of-fold heads strongly "
        "contradict" + (f", written to {args.out}" if args.out else ""))
    for r in rows if not args.out else []:
        say(f"  {r['id']:>8}  labeled {r['label']!s:<14} model says {r['suggested']!s:<14} "
            f"{(r['confidence'] or 0):.0%}  {r['path']}")
    return 0


def cmd_rounds(args: argparse.Namespace) -> int:
    from classkit.engine.loop.ledger import list_rounds, restore_round

    with Project.open(args.project) as project:
        if args.restore is not None:
            rnd = restore_round(project, args.restore)
            if args.json:
                emit_json({"restored": rnd["round"], "train_version": rnd["train_version"],
                           "prediction_version": rnd["prediction_version"]})
            else:
                say(f"Round {rnd['round']} is current again (model {rnd['train_version']})")
            return 0
        rounds = list_rounds(project)
    if args.json:
        emit_json({"rounds": rounds})
        return 0
    if not rounds:
        say("No rounds yet: label some images, then run `classkit train`.")
    for r in rounds:
        val = r["metrics"].get("val")
        f1 = f"{val['macro']['f1']:.3f}" if val else "-"
        say(f"round {r['round']:>3}  labeled {r['labels']['snapshot'].get('total', '?'):>6}  "
            f"val macro F1 {f1}  T {r['metrics'].get('temperature', 1.0):.3f}  model {r['train_version']}")
    return 0
