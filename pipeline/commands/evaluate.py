"""`fertui eval`: the emotion model on FER-2013, like the paper's Table 3, directly or through the photo path."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands import UsageError, check_jitter_crops, native_stderr_silenced


def add_parser(sub: argparse._SubParsersAction) -> None:
    from pipeline.core.paths import default_data, installed_models_dir

    p = sub.add_parser(
        "eval", help="evaluate the emotion model on FER-2013 (the paper's Table 3) or the real-world development set"
    )
    p.add_argument(
        "--data",
        type=Path,
        default=default_data(),
        help="fer2013.npz (default: %(default)s), or `realworld-dev` (or its folder, with jaffe/ and ckplus48.npz): "
        "JAFFE through the photo path, CK+48 through the crop path",
    )
    p.add_argument("--split", default="test", help="test (PrivateTest, default) or val (PublicTest)")
    p.add_argument("--labels", default="fer2013", help="fer2013 (default) or ferplus (FER+ majority vote)")
    p.add_argument(
        "--model",
        type=Path,
        default=installed_models_dir(),
        help="model folder with MODEL_CARD.md (default: %(default)s)",
    )
    p.add_argument(
        "--path",
        choices=("direct", "photo"),
        default="direct",
        help="direct: the 48x48 images themselves (default); photo: each image upscaled into a scene and run "
        "through the app's photo path (real detector, face_crop, alignment jitters), as `fertui calibrate` does",
    )
    p.add_argument(
        "--jitter-crops",
        type=int,
        default=None,
        metavar="K",
        help="direct path: average each image over K of the app's alignment jitters (default: as many as the app "
        "gives a face in one video frame; image i gets the slice video frame i gets, so every slice of the cycle "
        "is scored; 1: the image alone)",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images of the split")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="write the confusion matrix as a PNG")
    p.set_defaults(handler=run)


REALWORLD = "realworld-dev"


def run_realworld(args: argparse.Namespace) -> int:
    """`fertui eval --data realworld-dev`: the development set through the paths the app runs."""

    from pipeline.core.threads import thread_budget
    from pipeline.engine import STILL_JITTER_CROPS
    from pipeline.modelling.realworld import default_realworld_dir, evaluate_realworld, realworld_tables
    from pipeline.runtime.emotion.classifier import EmotionClassifier

    if args.path != "direct" or args.limit is not None or args.split != "test":
        raise UsageError("--path, --split and --limit are for FER-2013; the development set has its own paths")
    check_jitter_crops(args.jitter_crops)
    root = default_realworld_dir() if str(args.data) == REALWORLD else args.data
    with native_stderr_silenced():
        classifier = EmotionClassifier.load(args.model, num_threads=thread_budget())  # see run()
        report, _ = evaluate_realworld(root, classifier, args.jitter_crops or STILL_JITTER_CROPS)
    if args.plot:
        for name, part in {**report["parts"], "pooled": report["pooled"]}.items():
            target = args.plot.with_name(f"{args.plot.stem}-{name}{args.plot.suffix or '.png'}")
            _plot(part, target, f"{name}: accuracy {part['accuracy']:.3f}, macro recall {part['macro_recall']:.3f}")
    _print(report, args.json, realworld_tables(report))
    return 0


def _plot(report: dict, target: Path, title: str | None = None) -> None:
    from pipeline.modelling.evaluate import plot_confusion

    try:
        plot_confusion(report, target, title)
    except OSError as exc:
        raise UsageError(f"cannot write the plot {target}: {exc.strerror or exc}") from None


def _print(report: dict, as_json: bool, tables: list) -> None:
    """The report as one JSON object, or its rich tables."""
    if as_json:
        import json

        print(json.dumps(report))
        return
    from rich.console import Console

    console = Console()
    for table in tables:
        console.print(table)


def run(args: argparse.Namespace) -> int:

    from pipeline.core.threads import thread_budget
    from pipeline.modelling.data import Split, load_split
    from pipeline.modelling.evaluate import evaluate, report_dict, report_table, risk_coverage_table
    from pipeline.runtime.emotion.classifier import EmotionClassifier

    if str(args.data) == REALWORLD or (args.data.is_dir() and (args.data / "jaffe").is_dir()):
        return run_realworld(args)
    if args.split not in ("test", "val"):
        raise UsageError(f"unknown split '{args.split}' (choose test or val)")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    split = load_split(args.data, args.split, args.labels)
    if args.limit is not None:
        split = Split(split.name, split.images[: args.limit], split.labels[: args.limit], split.labels_name)
    model_dir = args.model.parent if args.model.is_file() else args.model
    with native_stderr_silenced():
        # Nothing runs beside an evaluation, so the model gets every core this process may use (FERTUI_THREADS
        # in a batch worker), as the detector does; the answers are the same with any number of threads.
        classifier = EmotionClassifier.load(model_dir, num_threads=thread_budget())
    if args.model.is_file() and args.model.resolve() != classifier.path.resolve():
        raise UsageError(f"{args.model} is not the model its card names ({classifier.path.name})")
    check_jitter_crops(args.jitter_crops)
    if args.jitter_crops is not None and args.path != "direct":
        raise UsageError("--jitter-crops is for --path direct (the photo path averages a photo's own jitters)")
    if args.path == "direct":
        from pipeline.engine import EngineConfig, video_jitter_crops

        jitter_crops = args.jitter_crops or video_jitter_crops(EngineConfig(), classifier)
        report = evaluate(classifier, split, jitter_crops)
    else:
        from pipeline.modelling.detection_path import run_path

        with native_stderr_silenced():
            path = run_path(split.images, classifier)
        found = Split(split.name, split.images[path.detected], split.labels[path.detected], split.labels_name)
        report = report_dict(path.probs, found, classifier)
        report["path"] = f", photo path: {len(path.detected)} of {len(split)} found"
        report["detection_rate"] = path.detection_rate
    if args.plot:
        _plot(report, args.plot)
    _print(report, args.json, [report_table(report), risk_coverage_table(report)])
    return 0
