"""`fertui calibrate`: the temperature and the unclear rule, chosen on val through the app's photo path."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import UsageError, native_stderr_silenced

LABEL_SETS = ("fer2013", "ferplus")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import default_data, installed_models_dir
    from pipeline.runtime.emotion.calibration import COVERAGE

    p = sub.add_parser(
        "calibrate",
        help="fit the temperature and choose the unclear rule on val through the app's photo path; write the card "
        "into --out (a copy of the models), or rewrite the card of the folder --models names",
    )
    p.add_argument(
        "--models",
        type=Path,
        default=None,
        help=f"model folder to calibrate (default: the installed {installed_models_dir()}, which is read, never "
        "rewritten); "
        "without --out, its card is rewritten in place",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="a new folder: the models are copied there and the copy's card is rewritten (needed unless --models "
        "names the folder to rewrite)",
    )
    p.add_argument("--data", type=Path, default=default_data(), help="fer2013.npz (default: %(default)s)")
    p.add_argument(
        "--coverage",
        type=float,
        default=None,
        help="share of detected val faces given an emotion name; the rest are unclear (default: the coverage the "
        f"card's rule was chosen at, {COVERAGE} for a card without one)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images of each split")
    p.add_argument(
        "--labels",
        choices=LABEL_SETS,
        default=None,
        help="the labels the model answers to (default: the ones its card was calibrated by); a card calibrated "
        "by the other set is refused",
    )
    p.add_argument(
        "--prior-correction",
        type=float,
        default=None,
        metavar="STRENGTH",
        help="shift every class's log prior by -STRENGTH x log(its share of train by the card's labels) before the "
        "temperature, so a class the training set rarely shows is not under-called (0: no shift; default: keep the "
        "card's)",
    )
    p.set_defaults(handler=run)


def checked_labels(card, labels: str | None) -> str:
    """The label set to calibrate by: the card's own; --labels may only repeat it (or choose for an uncalibrated
    card). A calibrated card and other labels would re-fit its temperature and unclear rule against the wrong truth."""
    if card.temperature is None:
        return labels or card.calibration_labels
    if labels is not None and labels != card.calibration_labels:
        raise UsageError(
            f"--labels {labels}: this model is calibrated by the {card.calibration_labels} labels "
            f"(its card's temperature.labels); calibrate it by those, or leave --labels out"
        )
    return card.calibration_labels


def target_folder(models: Path | None, out: Path | None) -> tuple[Path, Path]:
    """(the folder read, the folder whose card is written). The installed models are rewritten only when --models
    names them; otherwise the card goes into a copy under --out."""
    from pipeline.core.paths import installed_models_dir

    source = models if models is not None else installed_models_dir()
    if out is None:
        if models is None:
            raise UsageError(
                f"calibrate writes a model card: name a new folder with --out DIR (the models in "
                f"{installed_models_dir()} are copied there), or --models DIR to rewrite that folder's card"
            )
        return source, source
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: exists and is not an empty folder")
    return source, out


def copy_models(source: Path, out: Path) -> None:
    import shutil

    try:
        shutil.copytree(source, out, dirs_exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot copy the models there ({exc.strerror or exc})") from exc


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.modelling.evaluate import report_table, risk_coverage_table
    from pipeline.modelling.release import calibrate_model_dir
    from pipeline.runtime.emotion.calibration import COVERAGE
    from pipeline.runtime.emotion.model_card import MODEL_CARD, ModelCard
    from pipeline.runtime.model_files import ModelError

    if args.coverage is not None and not 0.0 < args.coverage <= 1.0:
        raise UsageError("--coverage must be in (0, 1]")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.prior_correction is not None and not 0.0 <= args.prior_correction <= 1.0:
        raise UsageError("--prior-correction must be in [0, 1] (1 divides the training priors out entirely)")
    source, target = target_folder(args.models, args.out)
    try:
        card = ModelCard.read(source)
    except ModelError as exc:
        raise UsageError(str(exc)) from exc
    labels = checked_labels(card, args.labels)
    # Like the labels and the prior correction, the coverage stays the card's unless asked for.
    coverage = args.coverage if args.coverage is not None else float(card.unclear.get("coverage", COVERAGE))
    if target != source:
        copy_models(source, target)
    console = Console()
    with console.status("val and test through the photo path (5-10 minutes on 2 cores)"), native_stderr_silenced():
        result = calibrate_model_dir(
            target,
            data=args.data,
            coverage=coverage,
            limit=args.limit,
            labels=labels,
            realworld=args.limit is None,  # the development set too, for a whole calibration
            prior_strength=args.prior_correction,
        )
    print_calibration(console, result)
    console.print(report_table(result["test_path"]))
    console.print(risk_coverage_table(result["test_path"]))
    console.print(f"wrote {target / MODEL_CARD}")
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
