"""Ctrl-C while `fertui` is still starting: one line and exit 130, never a traceback.

Importing the commands (argparse, numpy in the option defaults, TensorFlow's wrappers) takes a few tenths of a
second, all before `pipeline.commands.cli.main` can catch KeyboardInterrupt, so a Ctrl-C there printed 20-60 lines
of import machinery. Until `ready()`, SIGINT instead writes the line and exits at once: nothing has been opened or
written yet, so there is nothing to close. This module imports only the standard library's smallest parts, so that
it is in place a few milliseconds after the interpreter starts (`pipeline/__init__.py` sets it first of all).
"""

from __future__ import annotations

# _signal is the C module under `signal`: `signal` itself imports enum and functools (30 ms on a busy machine), a
# window in which a Ctrl-C would still end in a traceback. The handlers and constants are the same objects.
import _signal
import os
import sys


def _exit_quietly(signum: int, frame: object) -> None:
    try:  # noqa: SIM105  # not contextlib.suppress: contextlib is one more import before the handler is set
        os.write(2, b"fertui: interrupted\n")
    except OSError:
        pass
    os._exit(128 + signum)


def running_as_the_command() -> bool:
    """True in the `fertui` console script and `python -m pipeline.commands.cli`; False where the package is only
    imported (the tests, a notebook), whose own Ctrl-C is left alone."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name in ("fertui", "fertui.exe", "cli.py")


def quiet_until_ready() -> None:
    """Make an early SIGINT exit quietly (only where Python's own KeyboardInterrupt handler is still in place)."""
    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _exit_quietly)


def ready() -> None:
    """From here SIGINT raises KeyboardInterrupt again, which pipeline.commands.cli.main and the sessions handle."""
    if _signal.getsignal(_signal.SIGINT) is _exit_quietly:
        _signal.signal(_signal.SIGINT, _signal.default_int_handler)


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a Ctrl-C is behind `exc`: a native module whose initialisation was interrupted (TFLite's) turns
    the KeyboardInterrupt into `ImportError: initialization failed`, raised from it."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
