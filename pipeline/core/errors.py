"""One root for fertui's own errors, so a front end catches them once.

Every subclass is a problem the user can act on, and its message is the one line they are shown (exit code 2):
a missing or altered model, unreadable data, a source that cannot be opened, a log that cannot be written.
SourceLost is the exception: the runner catches it and retries a live source; it never reaches the user.
"""

from __future__ import annotations


class FertuiError(Exception):
    """A problem fertui reports in one line; see the subclasses."""


class UsageError(FertuiError):
    """Bad input from the user (an option out of range, a command that needs what is not installed)."""
