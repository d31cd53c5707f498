"""How many threads fertui's native work (LiteRT, OpenCV, BLAS) may use in this process.

One session uses the whole machine by default. `fertui batch` runs N sessions side by side, one per worker
process, and gives each cores // N threads, so N workers do not oversubscribe the CPU.
"""

from __future__ import annotations

import os

THREADS_ENV = "FERTUI_THREADS"
BLAS_ENVS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a batch scheduler sets it), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """FERTUI_THREADS when set (a batch worker's share), else every core this process may use."""
    value = os.environ.get(THREADS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cores()


def limit_threads(threads: int) -> None:
    """Keep this process's native libraries to `threads` threads: for models loaded after this call (LiteRT),
    OpenCV at once, and BLAS in processes started from this one."""
    import cv2

    os.environ[THREADS_ENV] = str(threads)
    for name in BLAS_ENVS:
        os.environ[name] = str(threads)
    cv2.setNumThreads(threads)
