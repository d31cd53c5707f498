"""Which logs a summary reads, and whose they are.

A folder is a `fertui batch` output when it holds `manifest.csv` (or shards' `manifest-shard-*.csv`): its logs are
the inputs marked done or skipped. Any other folder is searched for logs that have their `.meta.json` sidecar.
A participant comes from `--by NAME=REGEX` (searched in the log's path, relative to the folder it was found in;
the value is the group called NAME, else the first group, else the match) or from `--participants map.csv` (a
`participant` column and a `log` or `input` column naming the log or the batch input; every other column is
carried into the table). Without either, a log is its own participant.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.io.log_format import meta_path_for

LOG_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet", ".pq")
MAP_KEYS = ("log", "input", "path")


@dataclass
class LogEntry:
    path: Path
    name: str  # the log's path as given, or relative to the folder it was found in
    input: str | None = None  # the batch input it was made from, when known
    meta: dict[str, object] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # participant and the map's other columns

    @property
    def source(self) -> Path | None:
        """The video a batch log was made from (its events file may lie beside it)."""
        batch = self.meta.get("batch")
        path = batch.get("path") if isinstance(batch, dict) else None
        return Path(path) if isinstance(path, str) and path else None

    @property
    def stills(self) -> bool:
        config = self.meta.get("config")
        return bool(isinstance(config, dict) and config.get("stills"))


def _meta(log: Path) -> dict[str, object]:
    path = meta_path_for(log)
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a fertui sidecar ({exc})") from exc
    return meta if isinstance(meta, dict) else {}


def _from_manifests(folder: Path, manifests: list[Path]) -> list[LogEntry]:
    entries: dict[str, LogEntry] = {}
    for manifest in manifests:
        try:
            with manifest.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsageError(f"{manifest}: cannot read ({exc})") from exc
        for row in rows:
            if row.get("status") not in ("done", "skipped") or not row.get("log"):
                continue
            log = folder / row["log"]
            if not log.is_file():
                raise UsageError(f"{manifest}: {row['log']} is marked {row['status']} but is not there")
            entries[row["log"]] = LogEntry(log, row["log"], row.get("input") or None, _meta(log))
    return [entries[name] for name in sorted(entries)]


def _from_folder(folder: Path) -> list[LogEntry]:
    manifests = sorted(folder.glob("manifest*.csv"))
    if manifests:
        return _from_manifests(folder, manifests)
    logs = sorted(
        Path(os.fspath(meta)[: -len(".meta.json")])
        for meta in folder.rglob("*.meta.json")
        if ".partial" not in meta.parts
    )
    entries = []
    for log in logs:
        if log.is_file() and log.suffix.lower() in LOG_SUFFIXES:
            meta = _meta(log)
            batch = meta.get("batch")
            name = log.relative_to(folder).as_posix()
            entries.append(LogEntry(log, name, batch.get("input") if isinstance(batch, dict) else None, meta))
    return entries


def find_logs(paths: list[Path]) -> list[LogEntry]:
    """The logs named: files as they are, folders as a batch output or a folder of logs."""
    entries: list[LogEntry] = []
    for path in paths:
        if path.is_dir():
            found = _from_folder(path)
            if not found:
                raise UsageError(f"{path}: no session logs (no manifest.csv, and no LOG beside a LOG.meta.json)")
            entries += found
        elif path.is_file():
            meta = _meta(path)
            batch = meta.get("batch")
            entries.append(
                LogEntry(path, path.as_posix(), batch.get("input") if isinstance(batch, dict) else None, meta)
            )
        else:
            raise UsageError(f"{path}: no such file or folder")
    return entries


def parse_by(texts: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    """`--by participant=p(\\d+)` -> [("participant", pattern)]; UsageError for a malformed one."""
    parsed = []
    for text in texts:
        name, sep, pattern = text.partition("=")
        if not sep or not name.isidentifier() or not pattern:
            raise UsageError(f"--by {text!r}: give NAME=REGEX, such as participant=(p\\d+)")
        try:
            parsed.append((name, re.compile(pattern)))
        except re.error as exc:
            raise UsageError(f"--by {text!r}: not a regular expression ({exc})") from exc
    return parsed


def assign_by(entries: list[LogEntry], by: list[tuple[str, re.Pattern[str]]]) -> None:
    for entry in entries:
        for name, pattern in by:
            match = pattern.search(entry.name)
            if match is None:
                raise UsageError(f"{entry.name}: --by {name}={pattern.pattern} does not match this log's path")
            groups = match.groupdict()
            value = groups.get(name) or (match.group(1) if match.re.groups else match.group(0))
            entry.fields[name] = value or ""


def read_map(path: Path) -> tuple[str, list[dict[str, str]]]:
    """The participant map's key column and rows (UsageError, one line, when malformed)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: cannot read the participant map ({exc})") from exc
    key = next((k for k in MAP_KEYS if k in columns), None)
    if key is None or "participant" not in columns:
        raise UsageError(f"{path}: a participant map needs a participant column and a log or input column")
    if any(None in row or not row.get(key) or not row.get("participant") for row in rows):
        raise UsageError(f"{path}: a row without {key} or participant, or with extra cells")
    return key, rows


def assign_map(entries: list[LogEntry], path: Path) -> None:
    key, rows = read_map(path)
    by_key: dict[str, dict[str, str]] = {}
    for row in rows:
        by_key[row[key]] = row
        by_key.setdefault(os.fspath((path.parent / row[key]).resolve()), row)
    for entry in entries:
        candidates = [entry.name, entry.input or "", os.fspath(entry.path), os.fspath(entry.path.resolve())]
        row = next((by_key[c] for c in candidates if c in by_key), {})
        if not row:
            raise UsageError(f"{path}: no row for {entry.name} (its {key} column names logs or batch inputs)")
        entry.fields.update({c: v for c, v in row.items() if c not in MAP_KEYS})


def assign_participants(entries: list[LogEntry], by: list[str], map_path: Path | None) -> None:
    if map_path is not None:
        assign_map(entries, map_path)
    assign_by(entries, parse_by(by))
    for entry in entries:
        entry.fields.setdefault("participant", entry.name)
