"""The fertui engine: sources, processors, the threaded runner and the session log. Imports no UI."""

from pipeline.core import interrupt as _interrupt

if _interrupt.running_as_the_command():
    # The `fertui` command: a Ctrl-C while the commands are still importing is one line, not a traceback. This is
    # the first module the console script loads, so the handler is in place before anything heavy.
    _interrupt.quiet_until_ready()

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

try:
    __version__ = version("fertui")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
