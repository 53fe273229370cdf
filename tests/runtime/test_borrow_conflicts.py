"""No Rust panic reaches Python when calls' arrays conflict (docs/behaviour.md#memory,
docs/behaviour.md#errors).

The native layer borrows every input for reading and ``out=`` for writing while a
kernel runs (without the GIL). A borrow that conflicts, because ``out=`` overlaps an
input of the same call that the Python layer does not check (``colormap=``), or because
another thread's call is writing an input of this one or using its ``out=``, is a
``ValueError`` naming the argument; it used to be ``pyo3_runtime.PanicException``
(a ``BaseException``). Calls that succeed give exactly the result of running alone:
writes never interleave and reads never see a half-written array.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest

import anomaly_postprocess as ap

# Large enough that a kernel runs for milliseconds, far longer than the Python part of
# a call, so that threads released together really do collide.
N = 2048
ROUNDS = 12
OUT_IN_USE = "out= is being used by another call"


@pytest.fixture(scope="module", autouse=True)
def give_memory_back() -> Iterator[None]:
    """The threads here leave freed image-sized blocks in glibc's per-thread arenas:
    hundreds of MiB that this process keeps resident. A process it starts inherits that
    in its peak-RSS figure (``ru_maxrss``), which tests/integration/test_stress.py
    measures; so hand the memory back to the system once this module is done."""
    yield
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


@pytest.fixture(scope="module")
def maps() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    base = rng.random((N, N), dtype=np.float32)
    return [base, np.roll(base, 701, axis=1)]


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(12)
    return [rng.integers(0, 256, (N, N, 3), dtype=np.uint8) for _ in range(2)]


@pytest.fixture(scope="module")
def mask(maps: list[np.ndarray]) -> np.ndarray:
    return ap.compute_mask(maps[0], 0.5, 2)


# ---------------------------------------------------------------------------------------
# One call: out= overlapping colormap=

# The Python layer refuses it first (docs/behaviour.md#memory); the binding layer's own
# borrow check would say "out= ... overlaps colormap=; pass a separate array".
_OUT_OVER_TABLE = r"^out must not share memory with colormap: .*pass a separate array as out"


@pytest.mark.parametrize("batch", [(), (2,)])
def test_colormap_inside_out_is_a_value_error(batch: tuple[int, ...]) -> None:
    """Reproduction (a) of the panic: ``colormap=o[0], out=o``."""
    rng = np.random.default_rng(0)
    anomaly_map = rng.random(batch + (256, 256))
    out = np.zeros(batch + (256, 256, 3), np.uint8)
    table = out[(0,) * len(batch) + (0,)]  # a (256, 3) uint8 view of out's first row
    assert table.shape == (256, 3) and table.flags.c_contiguous
    with pytest.raises(ValueError, match=_OUT_OVER_TABLE):
        ap.anomaly_map_to_color_map(anomaly_map, colormap=table, out=out)
    image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=_OUT_OVER_TABLE):
        ap.superimpose_anomaly_map(anomaly_map, image, colormap=table, out=out)
    assert not out.any()  # nothing was written
    # The same table, copied, is fine and gives the same bytes as a new result.
    own = table.copy()
    expected = ap.anomaly_map_to_color_map(anomaly_map, colormap=own)
    assert ap.anomaly_map_to_color_map(anomaly_map, colormap=own, out=out) is out
    assert np.array_equal(out, expected)


def test_colormap_overlapping_out_elsewhere_is_a_value_error() -> None:
    out = np.zeros((64, 64, 3), np.uint8)
    table = out.reshape(-1)[1000 : 1000 + 768].reshape(256, 3)
    with pytest.raises(ValueError, match=_OUT_OVER_TABLE):
        ap.anomaly_map_to_color_map(np.eye(64), colormap=table, out=out)
    assert not out.any()


# ---------------------------------------------------------------------------------------
# One call: more axes than rust-numpy can view


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="numpy 1 has at most 32 axes"
)
def test_more_than_32_axes_is_a_value_error() -> None:
    """numpy 2 allows 64 axes; rust-numpy panics on a view of more than 32. A batch of
    maps with that many batch axes is a ValueError instead."""
    maps = np.zeros((2,) + (1,) * 37 + (4, 4))
    image = np.zeros((4, 4, 3), np.uint8)
    calls: list[Callable[[], object]] = [
        lambda: ap.anomaly_map_to_color_map(maps),
        lambda: ap.superimpose_anomaly_map(maps, image),
        lambda: ap.compute_mask(maps, 0.5),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="anomaly_map must have at most 32 dimensions, got 40"):
            call()
    # 32 axes in all are fine.
    maps = np.zeros((2,) + (1,) * 29 + (4, 4))
    assert ap.compute_mask(maps, 0.5).shape == maps.shape


# ---------------------------------------------------------------------------------------
# Threads


@dataclass
class Writer:
    """A public function with ``out=``; ``call(variant, out)`` runs it on input variant
    0 or 1, and ``results[variant]`` is what it gives alone."""

    name: str
    call: Callable[[int, np.ndarray], np.ndarray]
    results: list[np.ndarray]
    #: The output argument's name, which a conflict names.
    out_name: str = "out"

    @property
    def in_use(self) -> str:
        return OUT_IN_USE.replace("out=", f"{self.out_name}=", 1)


WRITERS = [
    "anomaly_map_to_color_map",
    "superimpose_anomaly_map",
    "compute_mask",
    "mark_boundaries",
    "draw_boxes",
    "postprocess",
]


def writer(name: str, maps: list[np.ndarray], images: list[np.ndarray], mask: np.ndarray) -> Writer:
    """The function ``name`` (one of ``WRITERS``: every public function with ``out=``)."""
    boxes = ap.mask_to_boxes(mask)
    calls: dict[str, Callable[[int, np.ndarray | None], np.ndarray]] = {
        "anomaly_map_to_color_map": lambda v, out: ap.anomaly_map_to_color_map(maps[v], out=out),
        "superimpose_anomaly_map": lambda v, out: ap.superimpose_anomaly_map(
            maps[v], images[v], 0.6, out=out
        ),
        "compute_mask": lambda v, out: ap.compute_mask(maps[v], 0.5, 3, min_area=5, out=out),
        "mark_boundaries": lambda v, out: ap.mark_boundaries(images[v], mask, out=out),
        # A wide pen keeps the call busy for milliseconds (at thickness 5 it took 0.75 ms,
        # and rounds often ran without two calls overlapping).
        "draw_boxes": lambda v, out: ap.draw_boxes(images[v], boxes, thickness=41, out=out),
        # Its overlay into out (out_overlay), with a mask and boxes besides.
        "postprocess": lambda v, out: (
            ap.postprocess(
                maps[v], images[v], 0.5, heatmap=False, kernel_size=2, out_overlay=out
            ).overlay
        ),
    }
    assert sorted(calls) == sorted(WRITERS)
    call = calls[name]
    out_name = "out_overlay" if name == "postprocess" else "out"
    return Writer(name, call, [call(0, None), call(1, None)], out_name)


class Outcomes:
    """What each thread's calls did, per round: what the body returned (a small value:
    results are checked in the thread and dropped, so that rounds do not pile up
    image-sized arrays), or the exception."""

    def __init__(self, threads: int) -> None:
        self.rounds: list[list[object]] = [[None] * threads for _ in range(ROUNDS)]

    def record(self, round_: int, thread: int, call: Callable[[], object]) -> None:
        try:
            self.rounds[round_][thread] = call()
        except BaseException as error:  # a PanicException is a BaseException
            self.rounds[round_][thread] = error

    def errors(self) -> list[BaseException]:
        return [o for r in self.rounds for o in r if isinstance(o, BaseException)]


def run_rounds(
    bodies: list[Callable[[int], object]], after_round: Callable[[int, list[object]], None]
) -> Outcomes:
    """Runs ``bodies[t](round)`` on thread t, all threads released together each round;
    ``after_round(round, outcomes)`` runs while every thread waits, between rounds."""
    outcomes = Outcomes(len(bodies))
    current = [0]

    def between_rounds() -> None:
        after_round(current[0], outcomes.rounds[current[0]])
        current[0] += 1

    start = threading.Barrier(len(bodies))
    end = threading.Barrier(len(bodies), action=between_rounds)
    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for r in range(ROUNDS):
                start.wait()
                outcomes.record(r, t, lambda r=r: bodies[t](r))
                end.wait()
        except BaseException as error:  # an assertion in after_round, or a broken barrier
            failures.append(error)
            start.abort()
            end.abort()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive(), "a thread hung"
    real = [f for f in failures if not isinstance(f, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    assert not failures, failures
    return outcomes


def check_errors(outcomes: Outcomes, messages: dict[str, str]) -> int:
    """Every exception is a ValueError with one of ``messages`` (argument -> start);
    returns how many there were."""
    errors = outcomes.errors()
    for error in errors:
        assert type(error) is ValueError, (
            f"{type(error).__module__}.{type(error).__name__}: {error}"
        )
        assert any(str(error).startswith(m) for m in messages.values()), str(error)
    return len(errors)


@pytest.mark.parametrize("name", WRITERS)
def test_threads_sharing_one_out(
    name: str, maps: list[np.ndarray], images: list[np.ndarray], mask: np.ndarray
) -> None:
    """Reproduction (b): four threads pass the same ``out=`` at once, two of them on
    other inputs. Each call succeeds or is a ValueError; after each round ``out`` holds
    exactly the result of one call that succeeded (never a mix)."""
    w = writer(name, maps, images, mask)
    out = np.zeros_like(w.results[0])
    threads = 4

    def after_round(r: int, results: list[object]) -> None:
        done = [t for t, o in enumerate(results) if o is True]
        assert done, f"round {r}: no call succeeded: {results}"
        assert any(np.array_equal(out, w.results[t % 2]) for t in done), f"round {r}"

    bodies = [lambda r, t=t: w.call(t % 2, out) is out for t in range(threads)]
    outcomes = run_rounds(bodies, after_round)
    conflicts = check_errors(outcomes, {"out": w.in_use})
    assert conflicts > 0, "no call collided: the test did not exercise a conflict"


@dataclass
class Reader:
    """A call that reads ``x`` (the writer's ``out=``) as an input named ``name``."""

    name: str
    call: Callable[[np.ndarray], object]


def readers(writer_name: str, maps: list[np.ndarray], images: list[np.ndarray]) -> list[Reader]:
    if writer_name == "compute_mask":  # out is a (H, W) mask
        return [
            Reader("mask", lambda x: ap.mark_boundaries(images[0], x)),
            Reader("mask", lambda x: ap.mask_to_boxes(x)),
        ]
    other_mask = ap.compute_mask(maps[1], 0.7, 0)
    return [  # out is a (H, W, 3) image
        Reader("image", lambda x: ap.superimpose_anomaly_map(maps[0], x, 0.3)),
        Reader("image", lambda x: ap.mark_boundaries(x, other_mask)),
        Reader("image", lambda x: ap.draw_boxes(x, [[10, 20, 1500, 1900]])),
        Reader("image", lambda x: ap.postprocess(maps[1], x, heatmap=False).overlay),
    ]


@pytest.mark.parametrize("name", WRITERS)
def test_out_of_one_call_is_input_of_another(
    name: str, maps: list[np.ndarray], images: list[np.ndarray], mask: np.ndarray
) -> None:
    """A thread writes ``out=x`` (alternating between two inputs) while two others read
    ``x`` as their image or mask. Every call succeeds or is a ValueError naming its
    argument; a read that succeeds saw ``x`` whole, before or after a write."""
    w = writer(name, maps, images, mask)
    x = w.results[1].copy()  # always one of the writer's two results
    reads = readers(name, maps, images)
    expected = [[np.asarray(r.call(c)) for c in w.results] for r in reads]

    def after_round(r: int, results: list[object]) -> None:
        assert any(np.array_equal(x, c) for c in w.results), f"round {r}: out is torn"
        assert results[0] is True or isinstance(results[0], BaseException), results[0]
        for i, right in enumerate(results[1:]):
            assert right is True or isinstance(right, BaseException), f"round {r} reader {i}"

    def reads_whole(i: int) -> bool:
        """Reader ``i``'s result is its result on one of the writer's results."""
        got = np.asarray(reads[i].call(x))
        return any(np.array_equal(got, e) for e in expected[i])

    bodies: list[Callable[[int], object]] = [lambda r: w.call(r % 2, x) is x]
    bodies += [lambda r, i=i: reads_whole(i) for i in range(len(reads))]
    outcomes = run_rounds(bodies, after_round)
    names = {read.name for read in reads}
    messages = {n: f"{n}= is being written by another call" for n in names}
    conflicts = check_errors(outcomes, {**messages, "out": w.in_use})
    assert conflicts > 0, "no call collided: the test did not exercise a conflict"
