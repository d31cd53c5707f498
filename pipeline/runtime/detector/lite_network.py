"""One MTCNN network as a TFLite model, run on inputs of a few fixed shapes, one interpreter per shape."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from pipeline.core.threads import thread_budget
from pipeline.runtime.tflite import make_interpreter

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (malloc_trim and mallopt are glibc's), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


@functools.cache
def keep_large_buffers_out_of_the_heap() -> None:
    """Serve every allocation above 128 KB by its own mmap, returned to the system when freed.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so after the first photo an
    interpreter's tensor arenas come from the heap, and interpreters planned for ever-changing photo sizes leave
    holes there that RSS keeps (benchmarks/detector_memory.py: 200 sizes peak 285 MB with the dynamic threshold,
    263 MB fixed). Fixing the threshold turns that adjustment off for the whole process, once.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


def release_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim). Interpreters of ever-changing sizes
    otherwise leave their arenas as holes in the heap that later, larger ones cannot reuse, and RSS creeps up."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


class LiteNetwork:
    """A TFLite network (the bytes of a .tflite file) run on float32 inputs of pixel values 0..255.

    TFLite (XNNPACK) runs R-Net and O-Net batches 2-6x faster than the same graph in TensorFlow on this CPU,
    and P-Net's pyramid about 15% faster (benchmarks/detector.py). Each input shape (a batch bucket, a pyramid
    level) gets its own interpreter, planned once, because resizing an interpreter's input re-plans it;
    `retain` drops those a caller no longer needs (the levels of an earlier photo size), and `max_kept` bounds
    how many are held at once: the least recently used goes first.
    Not thread-safe, like the interpreters it holds.
    """

    def __init__(
        self,
        model: bytes,
        input_shape: tuple[int | None, ...],
        threads: int | None = None,
        max_kept: int | None = None,
    ) -> None:
        """`input_shape`: (batch, height, width, 3), None where it varies from call to call."""
        self.model = model
        self.input_shape = input_shape
        self.threads = threads or min(4, thread_budget())
        self.max_kept = max_kept
        keep_large_buffers_out_of_the_heap()
        # input shape -> (interpreter, input tensor index, output tensor index), most recently used last
        self._interpreters: OrderedDict[tuple[int, ...], tuple[Any, int, int]] = OrderedDict()

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """The network's single output for a float32 input of pixel values 0..255."""
        interpreter, input_index, output_index = self._interpreter(inputs.shape)
        interpreter.set_tensor(input_index, inputs)
        interpreter.invoke()
        return interpreter.get_tensor(output_index)

    @property
    def planned_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes that hold a planned interpreter now."""
        return list(self._interpreters)

    def retain(self, shapes: Iterable[tuple[int, ...]]) -> None:
        """Drop the interpreters of every shape but `shapes` (their memory goes before new ones are planned)."""
        keep = set(shapes)
        dropped = [shape for shape in self._interpreters if shape not in keep]
        for shape in dropped:
            del self._interpreters[shape]
        if dropped:
            release_freed_memory()

    def _interpreter(self, shape: tuple[int, ...]) -> tuple[Any, int, int]:
        if shape in self._interpreters:
            self._interpreters.move_to_end(shape)
        else:
            if self.max_kept is not None and len(self._interpreters) >= self.max_kept:
                # its arenas are mmapped blocks (keep_large_buffers_out_of_the_heap): freeing returns them, no trim
                self._interpreters.popitem(last=False)
            interpreter = make_interpreter(self.model, self.threads)
            input_index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(input_index, list(shape))
            interpreter.allocate_tensors()
            output_index = interpreter.get_output_details()[0]["index"]
            self._interpreters[shape] = (interpreter, input_index, output_index)
        return self._interpreters[shape]
