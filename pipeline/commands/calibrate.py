"""`fertui calibrate`: the temperature and the unclear rule, chosen on val through the app's photo path."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import UsageError, native_stderr_silenced


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR
    from pipeline.emotion.calibration import COVERAGE

    p = sub.add_parser(
        "calibrate",
        help="fit the temperature and choose the unclear rule on val through the app's photo path; rewrite the card",
    )
    p.add_argument("--models", type=Path, default=MODELS_DIR, help="model folder (default: %(default)s)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--coverage",
        type=float,
        default=COVERAGE,
        help="share of detected val faces given an emotion name; the rest are unclear (default: %(default)s)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images of each split")
    p.add_argument(
        "--labels",
        choices=("fer2013", "ferplus"),
        default="fer2013",
        help="the labels the model answers to: fer2013 (default) or ferplus (a model trained on the FER+ votes)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.emotion.evaluate import report_table, risk_coverage_table
    from pipeline.emotion.release import calibrate_model_dir

    if not 0.0 < args.coverage <= 1.0:
        raise UsageError("--coverage must be in (0, 1]")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    console = Console()
    with console.status("val and test through the photo path (5-10 minutes on 2 cores)"), native_stderr_silenced():
        result = calibrate_model_dir(
            args.models,
            data=args.data,
            coverage=args.coverage,
            limit=args.limit,
            labels=args.labels,
            realworld=args.limit is None,  # the development set too, for a whole calibration
        )
    print_calibration(console, result)
    console.print(report_table(result["test_path"]))
    console.print(risk_coverage_table(result["test_path"]))
    console.print(f"wrote {args.models / 'MODEL_CARD.md'}")
    return 0


def print_calibration(console, result: dict) -> None:
    from rich.table import Table

    temperature = result["temperature"]
    console.print(
        f"temperature {temperature['value']:.3f} (val negative log-likelihood {temperature['val_nll']['before']} -> "
        f"{temperature['val_nll']['after']}); unclear: {result['unclear']['criterion']}"
    )
    table = Table(title="expected calibration error on test (15 bins)")
    for column in ("path", "faces", "before", "after", "accuracy"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for row in result["calibration"]["ece"]:
        table.add_row(
            row["path"], str(row["n"]), f"{row['before']:.4f}", f"{row['after']:.4f}", f"{row['accuracy']:.4f}"
        )
    console.print(table)
