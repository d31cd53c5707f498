"""Where a batch's tasks run: a pool of local worker processes, or an existing dask.distributed cluster.

Both hand back TaskSummary objects as tasks end (`finished`), take a stop (`stop`: running tasks end at their
next frame on local workers; on Dask, what has not started is cancelled) and retry a task whose worker died.
The longest inputs are started first, so a long video does not start last and hold the batch up alone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from pipeline.batch.inputs import BatchInput
from pipeline.batch.task import STOP_REQUESTED, BatchSettings, TaskStatus, TaskSummary, attempts_so_far, run_task
from pipeline.core.errors import UsageError
from pipeline.engine.session import SIGNALS


class Executor(Protocol):
    def start(self, items: Sequence[BatchInput]) -> None: ...

    def finished(self, timeout: float) -> list[TaskSummary]:
        """The summaries of tasks that ended, waiting at most `timeout` seconds for one."""
        ...

    @property
    def pending(self) -> int:
        """Tasks not yet ended (waiting or running)."""
        ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _watch_for_stop(stop: Any, parent: int) -> None:
    """In a worker: stop the running task when the batch stops, or when the batch process itself is gone."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            break
    STOP_REQUESTED.set()


def _start_worker(stop: Any, parent: int) -> None:
    # Ctrl-C reaches the whole process group, a cluster's job manager may signal every process: either way the
    # worker ends its session cleanly (its partial files removed) and reports the task interrupted.
    for sig in SIGNALS:
        signal.signal(sig, lambda *_: STOP_REQUESTED.set())
    threading.Thread(target=_watch_for_stop, args=(stop, parent), daemon=True, name="fertui-stop-watch").start()


class LocalPool:
    """`jobs` worker processes on this machine, each running one task at a time with cores // jobs threads."""

    def __init__(self, settings: BatchSettings, jobs: int, retries: int) -> None:
        self.settings = settings
        self.jobs = jobs
        self.retries = retries
        self._context = multiprocessing.get_context("spawn")  # fresh interpreters: no inherited threads or locks
        self._stop = self._context.Event()
        self._waiting: deque[tuple[BatchInput, int]] = deque()  # (input, attempts this run has already made)
        self._running: dict[Future[TaskSummary], tuple[BatchInput, int]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._stopping = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(self._stop, os.getpid()),
        )

    def start(self, items: Sequence[BatchInput]) -> None:
        self._waiting.extend((item, 0) for item in items)
        self._pool = self._new_pool()
        self._fill()

    def _fill(self) -> None:
        # No more in flight than there are workers, so every submitted task is running: when a worker dies,
        # the tasks that died with the pool are exactly the ones in `_running`.
        while self._waiting and len(self._running) < self.jobs and not self._stopping:
            item, tries = self._waiting.popleft()
            assert self._pool is not None
            self._running[self._pool.submit(run_task, item, self.settings)] = (item, tries + 1)

    def _retry_or_fail(self, item: BatchInput, tries: int, error: str) -> TaskSummary | None:
        if tries <= self.retries and not self._stopping:
            self._waiting.appendleft((item, tries))
            return None
        status: TaskStatus = "interrupted" if self._stopping else "failed"
        return TaskSummary(item.name, status, attempts=attempts_so_far(self.settings, item), error=error)

    def finished(self, timeout: float) -> list[TaskSummary]:
        if not self._running:
            return []
        done, _ = wait(self._running, timeout=timeout, return_when=FIRST_COMPLETED)
        summaries: list[TaskSummary] = []
        broken = False
        for future in done:
            item, tries = self._running.pop(future)
            try:
                summaries.append(future.result())
                continue
            except BrokenProcessPool:
                broken = True
                error = "its worker process died (killed, or out of memory)"
            except Exception as exc:  # an error in fertui itself, not in the input: worth another attempt
                error = one_line(exc)
            summary = self._retry_or_fail(item, tries, error)
            if summary is not None:
                summaries.append(summary)
        if broken:
            # A dead worker breaks the whole pool: its other tasks died with it. Start a new pool for the rest.
            for item, tries in self._running.values():
                summary = self._retry_or_fail(item, tries, "its worker pool broke when another worker died")
                if summary is not None:
                    summaries.append(summary)
            self._running.clear()
            assert self._pool is not None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        self._fill()
        return summaries

    @property
    def pending(self) -> int:
        return len(self._waiting) + len(self._running)

    def stop(self) -> None:
        self._stopping = True
        self._waiting.clear()
        self._stop.set()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster:
    """One task per input on an existing dask.distributed scheduler; workers write to the shared --out folder.

    A task whose worker dies is run again on another (the scheduler's `allowed-failures`), a task that raises
    is retried `retries` times; inputs that fail on their own merit come back as "failed" summaries.
    """

    def __init__(self, settings: BatchSettings, address: str, retries: int, connect_timeout: float = 20.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(
                "--executor dask needs dask.distributed, which is not installed: pip install 'fertui[dask]'"
            ) from None
        self.settings = settings
        self.retries = retries
        try:
            self._client = Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {one_line(exc)}") from None
        self._futures: dict[Any, BatchInput] = {}
        self._completed: Any = None

    def start(self, items: Sequence[BatchInput]) -> None:
        from distributed import as_completed

        run = uuid.uuid4().hex[:8]  # a re-run's tasks must not meet the previous run's keys on the scheduler
        for item in items:
            key = f"fertui-batch-{item.key}-{run}"
            future = self._client.submit(run_task, item, self.settings, key=key, pure=False, retries=self.retries)
            self._futures[future] = item
        self._completed = as_completed(list(self._futures))

    def finished(self, timeout: float) -> list[TaskSummary]:
        if not self._futures:
            return []
        if not self._completed.has_ready():
            time.sleep(timeout)  # polled, so that the main thread stays free to take signals
            return []
        summaries = []
        for future in self._completed.next_batch(block=False):
            item = self._futures.pop(future, None)
            if item is not None:
                summaries.append(self._summary(future, item))
        return summaries

    def _summary(self, future: Any, item: BatchInput) -> TaskSummary:
        if future.status == "finished":
            return future.result()
        attempts = attempts_so_far(self.settings, item)
        if future.status == "cancelled":
            return TaskSummary(item.name, "interrupted", attempts=attempts, error="cancelled")
        return TaskSummary(item.name, "failed", attempts=attempts, error=one_line(future.exception()))

    @property
    def pending(self) -> int:
        return len(self._futures)

    def stop(self) -> None:
        """Cancel what has not ended. A task already running on a worker finishes there (Dask cannot interrupt
        it) and leaves a complete log that the next run skips."""
        self._client.cancel(list(self._futures))

    def close(self) -> None:
        self._client.close()
