"""The one abstraction every pipeline stage implements (the paper's "abstract processor")."""

from __future__ import annotations

from abc import ABC, abstractmethod

from pipeline.core.frames import FrameResult


class Processor(ABC):
    """A stage: `setup` once (load models) in the processing thread, `process` every frame, `close` at the end.

    `process` returns a new FrameResult (never mutates its input). The runner times each call and
    records it under `name` in `FrameResult.timings_ms`.
    """

    name: str = "processor"

    def setup(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Load models and allocate buffers; called once, in the thread that will call `process`."""

    @abstractmethod
    def process(self, result: FrameResult) -> FrameResult:
        """Return `result` with this stage's findings added."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release what `setup` acquired; called once, even after an error."""

    def describe(self) -> dict[str, object]:
        """Settings and model files (with sha256) for the session metadata."""
        return {"name": self.name}

    def model_files(self) -> dict[str, str]:
        """Path -> sha256 of every model file this stage runs (the sidecar's `models` lists them all)."""
        return {}
