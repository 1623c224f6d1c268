"""Measurements of .tflite models with the runtimes that run them: LiteRT and TFLite Micro.

No TensorFlow here (the benchmark times models it did not make, like the MLPerf Tiny peer).
Latency: median wall time of ``Interpreter.invoke()`` on LiteRT with its default delegate (XNNPACK)
and one thread, after warm-up, on a fixed random input. Arena: the TFLite Micro Python runtime's
RecordingMicroAllocator total after one invoke, checked by running again in an arena of exactly
that size (or, where memory planning needs more temporary space than that, the smallest size that
runs).
"""

from __future__ import annotations

import re
import statistics
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kws import quiet

_ARENA_RE = re.compile(r"Arena allocation total (\d+) bytes")


def op_names(model: bytes) -> tuple[str, ...]:
    """The distinct operators of a .tflite model, sorted (before any delegate takes them over)."""
    interpreter = Interpreter(model_content=model)
    # Ops are listed from the flatbuffer; delegates only apply at allocate_tensors.
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    return tuple(sorted({op["op_name"] for op in ops}))


def random_input(details: dict, rng: np.random.Generator) -> np.ndarray:
    """A random tensor for an input: uniform [-1, 1) for floats, the full range for integers."""
    shape, dtype = tuple(details["shape"]), details["dtype"]
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(-1, 1, shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def litert_latency_us(model: bytes, runs: int = 200, warmup: int = 20, num_threads: int = 1
                      ) -> float:
    """Median µs of one invoke on LiteRT (``num_threads`` threads, default delegate)."""
    interpreter = Interpreter(model_content=model, num_threads=num_threads)
    with quiet.native_stderr():  # LiteRT's "Created ... XNNPACK delegate" line
        interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for details in interpreter.get_input_details():
        interpreter.set_tensor(details["index"], random_input(details, rng))
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000.0


def _tflm_interpreter(model: bytes, arena_size: int | None = None):
    from tflite_micro.python.tflite_micro import runtime  # pylint: disable=import-outside-toplevel

    return runtime.Interpreter.from_bytes(model, arena_size=arena_size)


def tflm_run(model: bytes, inputs: list[np.ndarray], arena_size: int | None = None) -> np.ndarray:
    """Outputs [n, ...] of TFLite Micro (reference kernels) on each input of ``inputs`` (no batch
    axis: each is one example). RuntimeError if TFLM lacks an op or the arena is too small."""
    interpreter = _tflm_interpreter(model, arena_size)
    outputs = []
    for x in inputs:
        interpreter.set_input(np.asarray(x)[None], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    return np.stack(outputs)


def _runs_in(model: bytes, example: np.ndarray, arena_size: int) -> bool:
    with quiet.captured_stderr_fd():  # TFLM prints each failed allocation
        try:
            tflm_run(model, [example], arena_size=arena_size)
        except RuntimeError:
            return False
    return True


def tflm_arena_bytes(model: bytes) -> int:
    """Tensor-arena bytes TFLite Micro needs for ``model``, measured (see the module docstring).

    The recorded total is where the search starts: while planning memory TFLM can need temporary
    space beyond what stays allocated (seen on streaming BC-ResNet), so the result is the smallest
    size, to 16 bytes, in which the model allocates and runs.
    """
    interpreter = _tflm_interpreter(model)
    details = interpreter.get_input_details(0)
    example = np.zeros(tuple(details["shape"])[1:], details["dtype"])
    interpreter.set_input(example[None], 0)
    interpreter.invoke()
    with quiet.captured_stderr_fd() as lines:
        interpreter.print_allocations()
    totals = [int(m.group(1)) for line in lines for m in [_ARENA_RE.search(line)] if m]
    if len(totals) != 1:
        raise RuntimeError("TFLite Micro printed no arena total:\n" + "".join(lines))
    low = totals[0]
    if _runs_in(model, example, low):
        return low
    step = 1024
    while not _runs_in(model, example, low + step):
        if step > 64 * low:
            raise RuntimeError(f"TFLite Micro could not run the model in {low + step:,} bytes "
                               "of arena")
        step *= 2
    high = low + step  # runs; low does not; both stay 16-byte steps from the recorded total
    while high - low > 16:
        middle = low + (high - low) // 32 * 16
        if _runs_in(model, example, middle):
            high = middle
        else:
            low = middle
    return high
