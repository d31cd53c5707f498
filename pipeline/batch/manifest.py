"""DIR/manifest.csv: one row per input, what happened to it last, rewritten atomically as each task ends.

A re-run keeps the rows of inputs it does not touch (another shard's, or ones no longer named), so the manifest
stays the study's record. Shards of one batch each keep their own (manifest-shard-I-of-N.csv), since they may
run at the same moment on different machines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipeline.batch.task import TaskSummary
from pipeline.core.errors import FertuiError
from pipeline.core.files import write_private_atomic

MANIFEST_COLUMNS = (
    "input",
    "status",
    "frames",
    "rows",
    "faces",
    "seconds",
    "fps",
    "host",
    "attempts",
    "error",
    "log",
)


def manifest_name(shard: tuple[int, int] | None) -> str:
    return "manifest.csv" if shard is None else f"manifest-shard-{shard[0]}-of-{shard[1]}.csv"


class ManifestError(FertuiError):
    """The manifest cannot be read or written: the batch's own bookkeeping, so the batch stops (one line)."""


class Manifest:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, str]] = {}
        if path.exists() and not path.is_file():
            raise ManifestError(f"{path} is not a file; move it away or choose another --out")
        if path.is_file():
            try:
                with path.open(encoding="utf-8", newline="") as handle:
                    for row in csv.DictReader(handle):
                        if row.get("input"):
                            self.rows[row["input"]] = {c: row.get(c) or "" for c in MANIFEST_COLUMNS}
            except (UnicodeDecodeError, csv.Error) as exc:
                raise ManifestError(
                    f"{path} is not a manifest fertui can read ({type(exc).__name__}: {exc}); "
                    "move it away or choose another --out"
                ) from None
            except OSError as exc:
                raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None

    def status(self, name: str) -> str | None:
        row = self.rows.get(name)
        return row["status"] if row else None

    def record(self, *summaries: TaskSummary) -> None:
        """Note the tasks' outcomes and rewrite the file."""
        for summary in summaries:
            self.rows[summary.input] = self._row(summary)
        self.write()

    @staticmethod
    def _row(summary: TaskSummary) -> dict[str, str]:
        return {
            "input": summary.input,
            "status": summary.status,
            "frames": str(summary.frames),
            "rows": str(summary.rows),
            "faces": str(summary.faces),
            "seconds": f"{summary.seconds:.3f}",
            "fps": f"{summary.fps:.2f}",
            "host": summary.host,
            "attempts": str(summary.attempts),
            "error": summary.error,
            "log": summary.log,
        }

    def write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[name] for name in sorted(self.rows))
        try:
            write_private_atomic(self.path, buffer.getvalue().encode("utf-8"))
        except OSError as exc:
            raise ManifestError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
