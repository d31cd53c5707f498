"""`fertui export`: a training run -> the model folder the app loads, calibrated."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import native_stderr_silenced, require_train_extra
from pipeline.commands.calibrate import print_calibration


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import default_data, installed_models_dir

    p = sub.add_parser("export", help="turn a training run into the model the app loads (+ MODEL_CARD.md)")
    p.add_argument("--run", type=Path, default=Path("runs/emotion"), help="training run folder (default: %(default)s)")
    p.add_argument(
        "--out", type=Path, default=installed_models_dir(), help="model folder to write (default: %(default)s)"
    )
    p.add_argument("--data", type=Path, default=default_data(), help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--add-member",
        action="store_true",
        help="add the run to the model in --out as one more ensemble member (its probabilities are averaged in)",
    )
    p.add_argument(
        "--flip-tta",
        action="store_true",
        help="also classify each crop's mirror image inside the file (twice the cost per crop; the app's alignment "
        "cycle already mirrors every other crop)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_train_extra("fertui export")
    from rich.console import Console

    from pipeline.modelling.evaluate import report_table
    from pipeline.modelling.release import export_run

    with native_stderr_silenced():
        result = export_run(
            args.run, args.out, data=args.data, flip_tta=args.flip_tta, add_member=args.add_member, realworld=True
        )
    console = Console()
    console.print(report_table(result["test"]))
    print_calibration(console, result)
    exported = result["exported"]
    shipped = ", ".join(f"{name} {acc:.4f}" for name, acc in exported["val_accuracy_as_shipped"].items())
    console.print(f"exported {exported['file']} (epoch {exported['epoch']}); val accuracy as shipped: {shipped}")
    if args.add_member:
        accuracy = result["ensemble_val_accuracy"]
        console.print(
            f"val accuracy (one crop): model before {accuracy['before']:.4f}, this run alone "
            f"{accuracy['this file']:.4f}, the ensemble {accuracy['averaged']:.4f}"
        )
    console.print(f"wrote {args.out} (model files and MODEL_CARD.md)")
    return 0
