"""The `fertui` command: the live app (default) and the headless subcommands (pipeline/commands/).

This module only builds the parser, dispatches and turns fertui's errors into one line and an exit code; the
commands live in their own modules, and Textual is imported only when the live app runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from pipeline.commands import analyze, batch, calibrate, evaluate, export, live, report, summarize, train
from pipeline.core import interrupt
from pipeline.core.errors import FertuiError

EXIT_BAD_INPUT = 2
DEBUG_ENV = "FERTUI_DEBUG"
"""Set (to anything) to let an error that is not fertui's own end in its full traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fertui", description="Real-time facial expression recognition in the terminal"
    )
    live.add_options(parser)
    sub = parser.add_subparsers(dest="command")
    train.add_parser(sub)
    analyze.add_parser(sub)
    batch.add_parser(sub)
    report.add_parser(sub)
    summarize.add_parser(sub)
    evaluate.add_parser(sub)
    export.add_parser(sub)
    calibrate.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter is not for users
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None) or live.run
    interrupt.ready()  # Ctrl-C from here on is the KeyboardInterrupt below, or a session's own signal handling
    try:
        return handler(args)
    except FertuiError as exc:
        print(f"fertui: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("fertui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`fertui eval --json | head`): stop quietly, as a shell tool does.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # not fertui's own: still one line, and the traceback where it can be read
        if interrupt.caused_by_interrupt(exc):
            print("fertui: interrupted", file=sys.stderr)
            return 130
        if os.environ.get(DEBUG_ENV):
            raise
        where = save_traceback()
        detail = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        hint = f"the traceback is in {where}" if where else "the traceback could not be saved"
        print(f"fertui: {type(exc).__name__}: {detail} ({hint}; {DEBUG_ENV}=1 prints it)", file=sys.stderr)
        return EXIT_BAD_INPUT


def save_traceback() -> str | None:
    """Write the current exception's traceback to an owner-only file in the temporary folder; its path."""
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="fertui-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"fertui {' '.join(sys.argv[1:])}\n")
            traceback.print_exc(file=handle)
    except OSError:
        return None
    return path


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
