"""Calls work in child processes, whichever way they start (docs/behaviour.md#threads,
docs/behaviour.md#memory).

A forked child has only the thread that forked. Batches used to hang there: they were
handed to the parent's thread pool, whose threads do not exist in the child. The thread
pool and the output pool now keep their locks free across ``fork()`` and the child
builds a new thread pool. Every wait here has a timeout, so a hang fails the test
instead of hanging the run. (src/parallel.rs and src/pool/tests.rs fork while another
thread holds each lock; that cannot be arranged deterministically from Python.)
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

import anomaly_postprocess as ap

TIMEOUT = 60  # seconds; a child that starts from scratch imports numpy first

# Python >= 3.12 warns when forking a process that has threads (ours has the pool's).
pytestmark = pytest.mark.filterwarnings(
    "ignore:This process .* is multi-threaded:DeprecationWarning"
)


def calls(
    maps: np.ndarray, image: np.ndarray
) -> dict[str, tuple[Callable[..., object], tuple[object, ...]]]:
    """Batch calls (the thread pool) whose results come from the output pool."""
    return {
        "mask": (ap.compute_mask, (maps, 0.5)),
        "color": (ap.anomaly_map_to_color_map, (maps,)),
        "overlay": (ap.superimpose_anomaly_map, (maps, image)),
        "threads": (ap.get_num_threads, ()),
    }


@pytest.fixture(autouse=True)
def two_threads() -> Iterator[None]:
    """Batches on two threads: the calling one and one of the pool's."""
    before = ap.get_num_threads()
    ap.set_num_threads(2)
    yield
    ap.set_num_threads(before)


@pytest.fixture(scope="module")
def inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    maps = rng.random((4, 256, 256), dtype=np.float32)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return maps, image


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_batch_in_parent_then_in_child(method: str, inputs: tuple[np.ndarray, np.ndarray]) -> None:
    """Reproduction of the hang: ``compute_mask`` on a batch in the parent, then in a
    child process."""
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"this platform has no {method!r} start method")
    work = calls(*inputs)
    expected = {name: function(*args) for name, (function, args) in work.items()}
    context = multiprocessing.get_context(method)
    with context.Pool(1) as pool:
        pending = {name: pool.apply_async(f, args) for name, (f, args) in work.items()}
        got = {name: result.get(TIMEOUT) for name, result in pending.items()}
    for name, value in expected.items():
        if isinstance(value, np.ndarray):
            assert isinstance(got[name], np.ndarray) and np.array_equal(got[name], value), name
    if method == "fork":  # the child keeps the parent's thread count
        assert got["threads"] == expected["threads"]
    # The parent's pools still work.
    for name, (function, args) in work.items():
        value = function(*args)
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, expected[name]), name


def test_fork_while_another_thread_is_mid_call(inputs: tuple[np.ndarray, np.ndarray]) -> None:
    """One parent thread runs batches (thread pool, output pool) non-stop while the main
    thread forks children that run batches too. Each child must finish, with correct
    results, and so must the busy thread."""
    maps, image = inputs
    maps = np.concatenate([maps] * 4)  # 16 maps: the busy thread's calls take a while
    expected_mask = ap.compute_mask(maps, 0.5)
    expected_color = ap.anomaly_map_to_color_map(maps[:4])
    expected_overlay = ap.superimpose_anomaly_map(maps[:4], image)
    stop = threading.Event()
    problems: list[str] = []
    calls_done = [0]

    def busy() -> None:
        while not stop.is_set():
            try:
                if not np.array_equal(ap.compute_mask(maps, 0.5), expected_mask):
                    problems.append("parent: wrong mask")
                if not np.array_equal(ap.anomaly_map_to_color_map(maps[:4]), expected_color):
                    problems.append("parent: wrong colour map")
                if not np.array_equal(
                    ap.superimpose_anomaly_map(maps[:4], image), expected_overlay
                ):
                    problems.append("parent: wrong overlay")
            except BaseException as error:
                problems.append(f"parent: {type(error).__name__}: {error}")
            calls_done[0] += 1

    def child() -> None:  # raising makes the exit code 1
        assert np.array_equal(ap.compute_mask(maps, 0.5), expected_mask), "child: mask"
        color = ap.anomaly_map_to_color_map(maps[:4])
        assert np.array_equal(color, expected_color), "child: colour map"
        overlay = ap.superimpose_anomaly_map(maps[:4], image)
        assert np.array_equal(overlay, expected_overlay), "child: overlay"

    context = multiprocessing.get_context("fork")
    thread = threading.Thread(target=busy)
    thread.start()
    try:
        for i in range(12):
            process = context.Process(target=child)
            process.start()
            process.join(TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
                pytest.fail(f"child {i} hung")
            assert process.exitcode == 0, f"child {i} failed"
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "the busy parent thread hung"
    assert not problems, problems[:5]
    assert calls_done[0] > 0
