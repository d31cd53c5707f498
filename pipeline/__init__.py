"""The fertui engine: sources, processors, the threaded runner and the session log. Imports no UI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fertui")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
