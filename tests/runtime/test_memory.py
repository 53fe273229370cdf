"""Fresh results of at least 256 KiB come from the output pool (src/pool/, lent to numpy
by src/python/numpy_allocator.rs): recycled, already-mapped buffers, allocated through
numpy's memory-handler API. They are ordinary new arrays that own their memory:
C-contiguous, writable, independent of each other, alive as long as any view of them,
resizable. No timing assertions. See docs/behaviour.md#memory.

The pool's own rules (which buffer is reused, its bounds on count, bytes and one
buffer's size, eviction order) are not visible from Python: the Rust tests in
src/pool/tests.rs assert them.
"""

from __future__ import annotations

import copy
import gc
import pickle
import threading
from collections.abc import Callable

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import random_image

MiB = 1 << 20
SHAPE = (512, 640, 3)  # 960 KiB, pooled


POOL_HANDLER = "anomaly_postprocess output pool"


def address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def handler_name(array: np.ndarray) -> str:
    """The name of the numpy memory handler that allocated ``array``'s data."""
    core = getattr(np, "_core", None) or np.core  # numpy 2 / numpy 1.x
    return str(core.multiarray.get_handler_name(array))


@pytest.fixture
def blobby() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.random((512, 640), dtype=np.float32)


@pytest.fixture
def image() -> np.ndarray:
    return random_image(8, (512, 640))


def public_calls(m: np.ndarray, image: np.ndarray) -> dict[str, Callable[[], np.ndarray]]:
    mask = ap.compute_mask(m, 0.5)
    return {
        "color": lambda: ap.anomaly_map_to_color_map(m),
        "superimpose": lambda: ap.superimpose_anomaly_map(m, image),
        "mask": lambda: ap.compute_mask(np.tile(m, (2, 1)), 0.5, 2),
        "boundaries": lambda: ap.mark_boundaries(image, mask),
        "boxes": lambda: ap.draw_boxes(image, ap.mask_to_boxes(mask)),
    }


def test_public_results_come_from_the_pool(blobby: np.ndarray, image: np.ndarray) -> None:
    for name, call in public_calls(blobby, image).items():
        expected = call().copy()
        out = call()
        assert type(out) is np.ndarray, name
        assert out.dtype == np.uint8 and out.shape == expected.shape, name
        assert out.flags.c_contiguous and out.flags.writeable and out.flags.aligned, name
        assert out.flags.owndata and out.base is None, name
        assert handler_name(out) == POOL_HANDLER, name
        assert address(out) % 64 == 0, name
        assert np.array_equal(out, expected), name
        out[...] = 7  # writable through and through
        assert (out == 7).all()


def test_small_results_are_plain_numpy_arrays() -> None:
    out = ap.anomaly_map_to_color_map(np.linspace(0, 1, 100 * 100).reshape(100, 100))
    assert out.flags.owndata and out.base is None
    assert handler_name(out) == "default_allocator"


@pytest.mark.parametrize("shape", [(1 << 18,), (300, 900), (2, 3, 256, 171), (0, 1 << 20), ()])
def test_new_output_shapes(shape: tuple[int, ...]) -> None:
    out = _native.new_output(shape)
    assert out.shape == shape and out.dtype == np.uint8
    assert out.flags.c_contiguous and out.flags.writeable
    out.fill(0x5A)
    assert (out == 0x5A).all()


def test_new_output_rejects_bad_shapes() -> None:
    with pytest.raises(OverflowError):
        _native.new_output((-1, 5))
    with pytest.raises(ValueError, match="too large"):
        _native.new_output((1 << 40, 1 << 40))


def test_live_results_are_independent() -> None:
    results = [_native.new_output(SHAPE) for _ in range(12)]
    for value, out in enumerate(results):
        out.fill(value)
    for value, out in enumerate(results):
        assert (out == value).all()
    for a in results:
        for b in results:
            assert a is b or not np.shares_memory(a, b)


def test_results_stay_valid_after_others_are_freed(blobby: np.ndarray) -> None:
    kept = ap.anomaly_map_to_color_map(blobby)
    expected = kept.copy()
    for _ in range(5):
        other = ap.anomaly_map_to_color_map(1 - blobby)
        assert not np.shares_memory(kept, other)
        other.fill(0xEE)
        del other
        gc.collect()
        fresh = _native.new_output(kept.shape)
        fresh.fill(0x11)
        assert np.array_equal(kept, expected)


def test_freed_result_memory_is_reused(blobby: np.ndarray) -> None:
    first = ap.anomaly_map_to_color_map(blobby)
    memory = address(first)
    del first
    gc.collect()
    again = ap.anomaly_map_to_color_map(blobby)
    assert address(again) == memory
    assert np.array_equal(again, ap.anomaly_map_to_color_map(blobby))


def test_a_small_result_does_not_take_a_much_larger_buffer() -> None:
    large = _native.new_output((8 * MiB,))
    start, end = address(large), address(large) + large.nbytes
    del large
    small = _native.new_output((1 * MiB,))
    assert not start <= address(small) < end


def test_views_keep_the_memory_alive(blobby: np.ndarray) -> None:
    out = ap.anomaly_map_to_color_map(blobby)
    views = [out[10:200:3, 5::7], out.reshape(-1)[123:4567], out[..., 1].T, out[::-1]]
    expected = [v.copy() for v in views]
    del out
    gc.collect()
    for _ in range(4):  # reuse whatever the pool has: none of it is the views' memory
        other = _native.new_output(SHAPE)
        assert not any(np.shares_memory(other, v) for v in views)
        other.fill(0xC3)
    for view, want in zip(views, expected, strict=True):
        assert np.array_equal(view, want)
    views[0][...] = 1  # still writable
    assert (views[0] == 1).all()


def test_results_own_their_data_and_resize(blobby: np.ndarray) -> None:
    """Like any numpy array: ``resize`` shrinks in place and grows through the pool's
    realloc, keeping the bytes."""
    out = ap.anomaly_map_to_color_map(blobby)
    assert out.flags.owndata and out.base is None
    expected = out.copy()
    out.resize((10, 10, 3))
    assert np.array_equal(out.ravel(), expected.ravel()[:300])
    out.resize(expected.shape)  # back within the same buffer
    grown = ap.anomaly_map_to_color_map(blobby)
    head = grown.ravel()[:1000].copy()
    grown.resize((4 * blobby.shape[0], blobby.shape[1], 3), refcheck=False)
    assert np.array_equal(grown.ravel()[:1000], head)
    assert (grown.ravel()[expected.size :] == 0).all()  # numpy zero-fills what is new
    grown.fill(9)
    assert handler_name(grown) == POOL_HANDLER


def test_the_default_handler_is_restored() -> None:
    _native.new_output(SHAPE)
    assert handler_name(np.empty(SHAPE, np.uint8)) == "default_allocator"
    core = getattr(np, "_core", None) or np.core
    assert core.multiarray.get_handler_name() == "default_allocator"


def test_pickle_copy_and_asarray(blobby: np.ndarray) -> None:
    out = ap.anomaly_map_to_color_map(blobby)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(out, protocol=protocol))
        assert back.dtype == out.dtype and np.array_equal(back, out)
        assert not np.shares_memory(back, out)
    for duplicate in (copy.copy(out), copy.deepcopy(out), out.copy(), np.array(out)):
        assert np.array_equal(duplicate, out) and not np.shares_memory(duplicate, out)
    assert np.asarray(out) is out
    assert np.ascontiguousarray(out) is out


def test_scrambled_frees_keep_live_results_intact() -> None:
    """Results of 256 KiB to 40 MiB freed in a scrambled order, a few at a time: every
    live one keeps its bytes. (The pool's bounds under this workload:
    stays_within_its_bounds_under_a_scrambled_workload in src/pool/tests.rs.)"""
    rng = np.random.default_rng(3)
    sizes = [int(s) for s in rng.integers(256 << 10, 40 * MiB, 40)]
    live: list[tuple[int, np.ndarray]] = []
    for value, size in enumerate(sizes):
        out = _native.new_output((size,))
        assert handler_name(out) == POOL_HANDLER and address(out) % 64 == 0
        out.fill(value)
        live.append((value, out))
        if len(live) > 3:  # free in a scrambled order, a few at a time
            live.pop(int(rng.integers(0, len(live))))
            gc.collect()
        for kept, array in live:
            assert (array[:: 1 << 16] == kept).all() and array[-1] == kept


def test_huge_results_are_ordinary_arrays() -> None:
    """A result larger than the pool keeps (64 MiB; huge_buffers_are_never_retained in
    src/pool/tests.rs) is an ordinary pooled-handler array, released when it dies."""
    huge = _native.new_output(((64 * MiB) + 4096,))
    assert huge.flags.owndata and huge.flags.c_contiguous and huge.flags.writeable
    assert handler_name(huge) == POOL_HANDLER and address(huge) % 64 == 0
    huge[::4096] = 1
    assert int(huge[::4096].sum()) == huge[::4096].size
    del huge
    gc.collect()
    again = _native.new_output(((64 * MiB) + 4096,))
    again.fill(2)
    assert (again[::4096] == 2).all()


def test_threads_get_correct_independent_results(blobby: np.ndarray, image: np.ndarray) -> None:
    maps = [np.roll(blobby, 37 * t, axis=1) for t in range(8)]
    expected = {
        t: (ap.anomaly_map_to_color_map(m), ap.superimpose_anomaly_map(m, image, 0.6))
        for t, m in enumerate(maps)
    }
    barrier = threading.Barrier(8)
    failures: list[str] = []

    def work(t: int) -> None:
        barrier.wait()
        held: list[tuple[int, np.ndarray]] = []
        for i in range(25):
            color = ap.anomaly_map_to_color_map(maps[t])
            overlay = ap.superimpose_anomaly_map(maps[t], image, 0.6)
            if not np.array_equal(color, expected[t][0]):
                failures.append(f"thread {t} round {i}: colour map")
            if not np.array_equal(overlay, expected[t][1]):
                failures.append(f"thread {t} round {i}: overlay")
            mine = _native.new_output(((256 << 10) + 64 * t + i,))
            mine.fill(t * 25 + i)
            held.append((t * 25 + i, mine))
            if len(held) > 3:
                held.pop(0)
            for value, array in held:
                if not (array == value).all():
                    failures.append(f"thread {t} round {i}: held buffer changed")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:10]
    # The pool's bounds after such concurrent use:
    # threads_sharing_the_process_wide_pool_get_independent_buffers in src/pool/tests.rs.


def test_tracemalloc_counts_pooled_results(blobby: np.ndarray) -> None:
    import tracemalloc

    ap.anomaly_map_to_color_map(blobby)  # warm: the pool holds a buffer now
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = ap.anomaly_map_to_color_map(blobby)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown >= out.nbytes  # numpy reports handler allocations like its own
