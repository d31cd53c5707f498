"""The headless commands of `fertui` (analyze, report, eval, calibrate, train, export), one module each, and what
they share. Each module has `add_parser(subparsers)` and `run(args) -> exit code`; pipeline/commands/cli.py builds
the parser and maps errors to exit codes. Nothing here imports Textual.

Heavy imports (TensorFlow, the models) happen inside the command that needs them, so `fertui --help` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from pipeline.core.errors import FertuiError, UsageError
from pipeline.core.native import native_stderr_silenced

__all__ = [
    "MODELS_HELP",
    "UsageError",
    "add_jitter_crops_option",
    "add_landmark_options",
    "add_lsl_options",
    "check_lsl_options",
    "build_checked_processors",
    "check_focal",
    "check_jitter_crops",
    "native_stderr_silenced",
    "open_checked_source",
    "say",
]

MODELS_HELP = (
    "models folder: the emotion model and mtcnn/ (and face_mesh/, and landmarks/ for --landmarks dlib, if it has "
    "them), each checked against its card "
    "(default: %(default)s)"
)

TRAIN_EXTRA_HINT = "pip install 'fertui[train]' (or uv tool install 'fertui[train]'; a checkout's uv sync has it)"


def require_train_extra(what: str, module: str = "tensorflow") -> None:
    """One line naming the extra when `what` needs a package that only `fertui[train]` installs."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs {module}, which is not installed: {TRAIN_EXTRA_HINT}")


def add_jitter_crops_option(parser: argparse.ArgumentParser) -> None:
    """--jitter-crops: the one setting that trades the emotion stage's time per face for steadier probabilities."""
    parser.add_argument(
        "--jitter-crops",
        type=int,
        default=None,
        metavar="K",
        help="alignments averaged per face in each video frame (default: the model's real-time budget; fewer on a "
        "slower CPU, 1: the plain crop) or in each photo (default: 25)",
    )


def add_landmark_options(parser: argparse.ArgumentParser) -> None:
    """--landmarks and --focal: which 68-point model runs (head pose and the eyes follow from it), and the camera's
    focal length for head pose."""
    from pipeline.engine import DEFAULT_LANDMARK_MODEL, LANDMARK_MODELS

    parser.add_argument(
        "--landmarks",
        choices=LANDMARK_MODELS,
        default=None,
        help=f"68-point landmarks from MediaPipe's face mesh (Apache-2.0, 3D) or dlib's predictor (its licence "
        f"excludes commercial use; the fertui[dlib] extra) (default: {DEFAULT_LANDMARK_MODEL})",
    )
    parser.add_argument(
        "--focal",
        type=float,
        default=None,
        metavar="PX",
        help="the camera's focal length in pixels, for head pose (default: 500 x frame width / 640, as OpenFace)",
    )


def check_focal(focal: float | None) -> None:
    if focal is not None and not 0 < focal < 1e6:
        raise UsageError(f"--focal must be a positive number of pixels, not {focal:g}")


def add_lsl_options(parser: argparse.ArgumentParser) -> None:
    """--lsl and --lsl-markers: the live app's, and `analyze`'s of a camera."""
    parser.add_argument(
        "--lsl",
        action="store_true",
        help="stream faces and probabilities (type Expression) and markers (type Markers) on Lab Streaming Layer",
    )
    parser.add_argument(
        "--lsl-markers",
        default=None,
        metavar="NAME",
        help="record the markers of the LSL stream NAME (a stimulus program's) in the events file",
    )


def check_lsl_options(args: argparse.Namespace) -> None:
    """With --lsl or --lsl-markers, pylsl must load (one line saying how to install it otherwise); imported only
    then, so fertui without them never loads liblsl."""
    if args.lsl_markers is not None and not args.lsl_markers.strip():
        raise UsageError("--lsl-markers wants the name of a marker stream")
    if args.lsl or args.lsl_markers:
        from pipeline.io.lsl import import_pylsl

        import_pylsl("--lsl" if args.lsl else "--lsl-markers")


def check_jitter_crops(crops: int | None) -> None:
    from pipeline.commands.bounds import check_bound

    check_bound("--jitter-crops", crops)


def say(line: str, *, err: bool = True) -> None:
    """Print one line, surviving a terminal that has gone away (SIGHUP after an SSH drop, `2>&1 | head`)."""
    stream = sys.stderr if err else sys.stdout
    try:
        print(line, file=stream, flush=True)
    except (OSError, ValueError):
        mute_stream(stream)


def mute_stream(stream) -> None:
    """Point a stream whose reader went away at /dev/null, so that what is still buffered, later lines and the
    interpreter's last flush neither fail nor turn the exit code into 120."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)


def open_checked_source(spec: str, **options: object):
    from pipeline.io.sources import open_source

    try:
        source = open_source(spec, **options)  # type: ignore[arg-type]  # options are open_source's own keywords
        source.open()
    except FertuiError as exc:
        raise UsageError(str(exc)) from exc
    return source


def build_checked_processors(config):
    from pipeline.engine import build_processors

    try:
        with native_stderr_silenced():
            return build_processors(config)
    except FertuiError as exc:
        raise UsageError(str(exc)) from exc
