"""The `fertui` command: the live app (default) and the headless subcommands.

Heavy imports (TensorFlow, Textual) happen inside the subcommand that needs them, so `fertui --help`
is instant and `fertui analyze` never loads Textual.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr with exit code 2."""


def _add_train(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA

    p = sub.add_parser("train", help="train the emotion classifier on FER-2013")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument("--labels", choices=("fer2013", "ferplus"), default="fer2013")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--out", type=Path, default=Path("runs/emotion"), help="run folder (default: %(default)s)")
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from pipeline.emotion.train import TrainConfig, train

    config = TrainConfig(
        data=str(args.data),
        labels=args.labels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        limit=args.limit,
    )
    state = train(config, args.out, resume=args.resume)
    print(f"best val accuracy {state['best_val_accuracy']:.4f} at epoch {state['best_epoch']}; run in {args.out}")
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR

    p = sub.add_parser("eval", help="evaluate the emotion model on FER-2013 (the paper's Table 3)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument("--split", default="test", help="test (PrivateTest, default) or val (PublicTest)")
    p.add_argument("--labels", default="fer2013", help="fer2013 (default) or ferplus (FER+ majority vote)")
    p.add_argument(
        "--model", type=Path, default=MODELS_DIR, help="model folder with MODEL_CARD.md (default: %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="write the confusion matrix as a PNG")
    p.set_defaults(handler=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from pipeline.emotion.classifier import EmotionClassifier
    from pipeline.emotion.data import load_split
    from pipeline.emotion.evaluate import evaluate, plot_confusion, report_table

    if args.split not in ("test", "val"):
        raise UsageError(f"unknown split '{args.split}' (choose test or val)")
    split = load_split(args.data, args.split, args.labels)
    model_dir = args.model.parent if args.model.is_file() else args.model
    classifier = EmotionClassifier.load(model_dir)
    if args.model.is_file() and args.model.resolve() != classifier.path.resolve():
        raise UsageError(f"{args.model} is not the model its card names ({classifier.path.name})")
    report = evaluate(classifier, split)
    if args.plot:
        try:
            plot_confusion(report, args.plot)
        except OSError as exc:
            raise UsageError(f"cannot write the plot {args.plot}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(report))
    else:
        from rich.console import Console

        Console().print(report_table(report))
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    from pipeline.emotion import DEFAULT_DATA, MODELS_DIR

    p = sub.add_parser("export", help="turn a training run into the model the app loads (+ MODEL_CARD.md)")
    p.add_argument("--run", type=Path, default=Path("runs/emotion"), help="training run folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=MODELS_DIR, help="model folder to write (default: %(default)s)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="fer2013.npz (default: %(default)s)")
    p.add_argument("--no-flip-tta", action="store_true", help="do not average each face with its mirror image")
    p.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.emotion.evaluate import report_table
    from pipeline.emotion.release import export_run

    result = export_run(args.run, args.out, data=args.data, flip_tta=not args.no_flip_tta)
    console = Console()
    console.print(report_table(result["test"]))
    console.print(f"unclear rule chosen on val: {result['unclear']['criterion']}")
    console.print(f"wrote {args.out / 'emotion.tflite'} and {args.out / 'MODEL_CARD.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fertui", description="Real-time facial expression recognition in the terminal"
    )
    sub = parser.add_subparsers(dest="command")
    _add_train(sub)
    _add_eval(sub)
    _add_export(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pipeline.emotion.classifier import ModelError
    from pipeline.emotion.data import DataError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (UsageError, DataError, ModelError) as exc:
        print(f"fertui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fertui: interrupted", file=sys.stderr)
        return 130


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
