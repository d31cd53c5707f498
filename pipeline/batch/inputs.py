"""What a batch's command line names, as inputs: one video file, or one folder of photos, each.

- A file given by name is an input, whatever it is (one that is not a video or an image fails as its task).
- A folder is searched recursively: every video file in it is an input, and every folder that holds images
  is one input (its photos analysed one by one, as `fertui analyze FOLDER` does). Hidden entries are skipped.
- `@list.txt` names one path per line (blank lines and `#` comments skipped); relative paths are relative to
  the list file's folder, so a list travels with its study.

Each input's `name` is its path relative to the folder all inputs share, so logs are named without collisions
and the same inputs always get the same names, whichever machine or shard runs them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UsageError
from pipeline.io.sources import IMAGE_SUFFIXES, quiet_opencv

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".mts", ".m2ts", ".3gp", ".ogv"}
)


@dataclass(frozen=True)
class BatchInput:
    path: Path  # absolute
    name: str  # relative to the inputs' common folder, with "/" separators: "p01/session1.mp4", "p01/photos"

    def log_name(self, fmt: str) -> str:
        """The log's path relative to the batch's --out folder: the input's name plus the format."""
        return f"{self.name}.{fmt}"

    @property
    def key(self) -> str:
        """A file-name-safe, unique form of the name (for temporary files and Dask task keys)."""
        digest = hashlib.sha1(self.name.encode("utf-8")).hexdigest()[:10]
        return f"{Path(self.name).name}-{digest}"


def _list_file_paths(list_file: Path) -> list[Path]:
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the input list {list_file}: {getattr(exc, 'strerror', None) or exc}") from None
    paths = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            path = Path(line).expanduser()
            paths.append(path if path.is_absolute() else list_file.parent / path)
    return paths


def _visible(name: str) -> bool:
    return not name.startswith(".")


def _walk(folder: Path) -> Iterator[Path]:
    """Video files and folders that hold images, under `folder`, in sorted order."""
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if _visible(d))
        names = sorted(f for f in files if _visible(f))
        if any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in names):
            yield Path(directory)
        for name in names:
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                yield Path(directory) / name


def expand(specs: Sequence[str]) -> list[Path]:
    """The input paths the command line names (absolute, each once, in the order first named)."""
    named: list[Path] = []
    for spec in specs:
        if spec.startswith("@"):
            named.extend(_list_file_paths(Path(spec[1:]).expanduser()))
        else:
            named.append(Path(spec).expanduser())
    found: dict[Path, None] = {}
    for path in named:
        path = path.absolute()
        for item in _walk(path) if path.is_dir() else (path,):
            found.setdefault(item, None)
    return list(found)


def holds_readable_image(folder: Path) -> bool:
    """Whether any image file in `folder` decodes (stops at the first that does): a folder where none does has
    nothing to analyse."""
    from pipeline.io.sources import read_image

    try:
        names = sorted(p for p in folder.iterdir() if _visible(p.name) and p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError:
        return True  # the task reports why the folder cannot be read
    return any(read_image(path) is not None for path in names)


def name_inputs(paths: Iterable[Path]) -> list[BatchInput]:
    """Inputs named relative to the folder they all share, sorted by name."""
    paths = list(paths)
    if not paths:
        return []
    root = Path(os.path.commonpath([path.parent for path in paths]))
    return sorted((BatchInput(path, path.relative_to(root).as_posix()) for path in paths), key=lambda i: i.name)


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (1 <= I <= N) as (I, N)."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
        raise UsageError(f"--shard must be I/N with 1 <= I <= N (for example 3/8), not {text!r}")
    return int(index), int(count)


def shard(inputs: Sequence[BatchInput], index: int, count: int) -> list[BatchInput]:
    """Shard `index` of `count` (1-based): every count-th input of the sorted list, so long and short inputs
    spread across shards and the shards together cover every input exactly once."""
    ordered = sorted(inputs, key=lambda i: i.name)
    return [item for position, item in enumerate(ordered) if position % count == index - 1]


def expected_frames(item: BatchInput) -> int:
    """About how many frames the input has (for the progress bar's ETA): a video's frame count, a folder's
    image files; 0 when that cannot be told (the task will say why)."""
    import cv2

    try:
        if item.path.is_dir():
            return sum(1 for p in item.path.iterdir() if _visible(p.name) and p.suffix.lower() in IMAGE_SUFFIXES)
        if item.path.suffix.lower() in IMAGE_SUFFIXES:
            return 1
        with quiet_opencv():
            capture = cv2.VideoCapture(str(item.path))
        try:
            return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        finally:
            capture.release()
    except OSError:
        return 0
