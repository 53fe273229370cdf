"""Throughput features: ``out=``, the thread pool for batches, GIL-free kernels,
in-place strided inputs and ``__array__`` objects.

Correctness only: nothing here asserts a duration (machines are noisy). Parallelism is
checked by its results (a batch on 1 or 2 threads is exactly the stack of single calls;
8 Python threads give exactly the bytes of sequential calls), GIL release by whether
another Python thread gets to run while a kernel is busy, and "used in place" by
tracemalloc seeing no copy of the input.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap

H, W = 37, 53  # odd sizes: no row is a multiple of a vector width


def smooth_maps(shape: tuple[int, ...], seed: int, dtype: Any = np.float32) -> np.ndarray:
    """Smoothed noise in [0, 1): thresholding it gives blobs and specks of many sizes."""
    rng = np.random.default_rng(seed)
    m = rng.random(shape)
    for axis in (-1, -2):
        m = (m + np.roll(m, 1, axis) + np.roll(m, 2, axis) + np.roll(m, -1, axis)) / 4
    lo = m.min(axis=(-2, -1), keepdims=True)
    hi = m.max(axis=(-2, -1), keepdims=True)
    return ((m - lo) / (hi - lo) * 0.999).astype(dtype)


def images(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# The three functions with fixed options, as f(maps, image, **kwargs); ``image`` is
# ignored by the two that take none.
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "color": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, **kw),
    "color raw": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, False, **kw),
    "superimpose": lambda m, image, **kw: ap.superimpose_anomaly_map(m, image, **kw),
    "superimpose opts": lambda m, image, **kw: ap.superimpose_anomaly_map(
        m, image, 0.7, 3, True, **kw
    ),
    "mask": lambda m, image, **kw: ap.compute_mask(m, 0.5, **kw),
    "mask r2": lambda m, image, **kw: ap.compute_mask(m, 0.3, kernel_size=2, **kw),
    "mask r0": lambda m, image, **kw: ap.compute_mask(m, 0.6, 0, **kw),
}


def result_shape(name: str, maps_shape: tuple[int, ...]) -> tuple[int, ...]:
    return maps_shape if name.startswith("mask") else maps_shape + (3,)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    original = ap.get_num_threads()
    yield
    ap.set_num_threads(original)


def assert_same_bytes(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.uint8 and expected.dtype == np.uint8
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected)
    assert actual.tobytes() == expected.tobytes()


# ============================================================================ out=


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=["single", "batch", "2-d batch"])
def test_out_receives_the_result_and_is_returned(
    name: str, dtype: Any, batch: tuple[int, ...]
) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps(batch + (H, W), seed=1, dtype=dtype)
    image = images((H, W, 3), seed=2)
    expected = fn(maps, image)
    out = np.full(result_shape(name, maps.shape), 7, np.uint8)
    result = fn(maps, image, out=out)
    assert result is out
    assert_same_bytes(out, expected)
    # Calling again into the same (now dirty) array gives the same bytes.
    out[...] = 201
    assert fn(maps, image, out=out) is out
    assert_same_bytes(out, expected)


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
def test_out_with_one_image_per_map(name: str) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((2, 3, H, W), seed=3)
    per_map = images((2, 3, H, W, 3), seed=4)
    expected = fn(maps, per_map)
    out = np.empty((2, 3, H, W, 3), np.uint8)
    assert fn(maps, per_map, out=out) is out
    assert_same_bytes(out, expected)
    for index in np.ndindex(2, 3):
        assert_same_bytes(out[index], fn(maps[index], per_map[index]))


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("shape", [(1, H, W), (1, 1, H, W), (H, W, 1)], ids=str)
def test_out_shape_follows_the_squeezed_result(name: str, shape: tuple[int, ...]) -> None:
    """Singleton axes are dropped (SPEC §4), so ``out`` has the single map's shape."""
    fn = FUNCTIONS[name]
    m = smooth_maps(shape, seed=5)
    image = images((H, W, 3), seed=6)
    out = np.empty(result_shape(name, (H, W)), np.uint8)
    assert fn(m, image, out=out) is out
    assert_same_bytes(out, fn(m.reshape(H, W), image))
    with pytest.raises(ValueError, match="out") as info:
        fn(m, image, out=np.empty(result_shape(name, shape), np.uint8))
    assert str(result_shape(name, (H, W))) in str(info.value)


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
def test_out_may_be_a_memmap(name: str, tmp_path: Any) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((3, H, W), seed=7)
    image = images((H, W, 3), seed=8)
    shape = result_shape(name, maps.shape)
    out = np.memmap(tmp_path / "out.bin", dtype=np.uint8, mode="w+", shape=shape)
    assert fn(maps, image, out=out) is out
    out.flush()
    on_disk = np.fromfile(tmp_path / "out.bin", dtype=np.uint8).reshape(shape)
    assert_same_bytes(on_disk, fn(maps, image))
    del out


def test_out_is_keyword_only() -> None:
    m = smooth_maps((H, W), seed=9)
    image = images((H, W, 3), seed=10)
    out3 = np.empty((H, W, 3), np.uint8)
    with pytest.raises(TypeError):
        ap.anomaly_map_to_color_map(m, True, out3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.superimpose_anomaly_map(m, image, 0.4, 0, False, out3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.compute_mask(m, 0.5, 4, np.empty((H, W), np.uint8))  # type: ignore[misc]


def _reject(
    fn: Callable[..., Any],
    maps: np.ndarray,
    image: np.ndarray,
    out: Any,
    exc: type[Exception],
    *fragments: str,
) -> str:
    """Asserts the call raises ``exc`` naming ``out`` and every fragment, and that it
    wrote nothing into ``out`` nor into the inputs."""
    before_maps, before_image = maps.copy(), image.copy()
    before_out = out.copy() if isinstance(out, np.ndarray) else None
    with pytest.raises(exc) as info:
        fn(maps, image, out=out)
    assert type(info.value) is exc
    message = str(info.value)
    assert re.search(r"\bout\b", message), message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), (fragment, message)
    assert np.array_equal(maps, before_maps) and np.array_equal(image, before_image)
    if before_out is not None:
        assert np.array_equal(out, before_out)
    return message


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("batch", [(), (2,)], ids=["single", "batch"])
def test_out_rejections(name: str, batch: tuple[int, ...]) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps(batch + (H, W), seed=11)
    image = images((H, W, 3), seed=12)
    shape = result_shape(name, maps.shape)

    # Wrong dtype -> TypeError naming the expected and the received dtype.
    for dtype in (np.float32, np.int8, np.uint16, np.bool_, np.float64):
        _reject(fn, maps, image, np.zeros(shape, dtype), TypeError, "uint8", np.dtype(dtype).name)
    # Not an array -> TypeError saying what is expected.
    for bad in (
        np.zeros(shape, np.uint8).tolist(),
        bytearray(int(np.prod(shape))),
        "out",
        3,
        memoryview(np.zeros(shape, np.uint8)),
    ):
        _reject(fn, maps, image, bad, TypeError, "uint8")

    # Wrong shape -> ValueError with the expected and the received shape.
    wrong_shapes = [
        shape[:-1] + (shape[-1] + 1,),
        (1,) + shape,
        shape[1:],
        (int(np.prod(shape)),),
        tuple(reversed(shape)),
    ]
    for wrong in wrong_shapes:
        message = _reject(fn, maps, image, np.zeros(wrong, np.uint8), ValueError, "shape")
        assert str(shape) in message and str(wrong) in message, message

    # Not C-contiguous -> ValueError.
    wide = np.zeros(shape[:-1] + (2 * shape[-1],), np.uint8)
    _reject(fn, maps, image, wide[..., ::2], ValueError, "contiguous")
    _reject(fn, maps, image, np.asfortranarray(np.zeros(shape, np.uint8)), ValueError, "contiguous")
    _reject(fn, maps, image, np.zeros(shape, np.uint8)[::-1], ValueError, "contiguous")

    # Read-only -> ValueError.
    read_only = np.zeros(shape, np.uint8)
    read_only.flags.writeable = False
    _reject(fn, maps, image, read_only, ValueError, "writ")
    _reject(fn, maps, image, np.broadcast_to(np.zeros(shape[-1:], np.uint8), shape), ValueError)


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_sharing_memory_with_the_map(name: str, dtype: Any) -> None:
    fn = FUNCTIONS[name]
    image = images((H, W, 3), seed=13)
    shape = result_shape(name, (H, W))
    itemsize = np.dtype(dtype).itemsize
    # One buffer, viewed both as the map and as out (the map's bytes come first).
    size = int(np.prod(shape))
    buffer = np.zeros(H * W * itemsize + size, np.uint8)
    maps = buffer[: H * W * itemsize].view(dtype).reshape(H, W)
    maps[...] = smooth_maps((H, W), seed=14, dtype=dtype)
    _reject(fn, maps, image, buffer[:size].reshape(shape), ValueError, "share")
    # Overlapping only the last byte of the map.
    tail = buffer[H * W * itemsize - 1 :][:size]
    _reject(fn, maps, image, tail.reshape(shape), ValueError, "share")
    # Right after the map: no overlap, so it works.
    after = buffer[H * W * itemsize :]
    assert fn(maps, image, out=after.reshape(shape)) is not None
    assert_same_bytes(after.reshape(shape), fn(maps.copy(), image))


def test_out_sharing_memory_with_the_image() -> None:
    fn = FUNCTIONS["superimpose"]
    m = smooth_maps((H, W), seed=15)
    image = images((H, W, 3), seed=16)
    _reject(fn, m, image, image, ValueError, "share")
    batch_images = images((2, H, W, 3), seed=17)
    _reject(fn, smooth_maps((2, H, W), seed=18), batch_images, batch_images, ValueError, "share")
    # An image that is a view of part of a larger out.
    big = np.zeros((2, H, W, 3), np.uint8)
    big[1] = image
    _reject(fn, smooth_maps((2, H, W), seed=19), big[1], big, ValueError, "share")


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", ["uint8", "bool", "float16", ">f4", "int16"])
def test_out_sharing_memory_with_a_map_that_gets_converted(name: str, dtype: str) -> None:
    """A map of a dtype the kernels do not compute in is converted first; ``out`` must
    still not share memory with the caller's map (SPEC §4: inputs are never modified)."""
    fn = FUNCTIONS[name]
    image = images((H, W, 3), seed=20)
    shape = result_shape(name, (H, W))
    itemsize = np.dtype(dtype).itemsize
    buffer = np.zeros(max(H * W * itemsize, int(np.prod(shape))), np.uint8)
    maps = buffer[: H * W * itemsize].view(dtype).reshape(H, W)
    maps[...] = (
        (smooth_maps((H, W), seed=21) > 0.5)
        if dtype == "bool"
        else (smooth_maps((H, W), seed=21) * (200 if np.dtype(dtype).kind in "iu" else 1)).astype(
            dtype
        )
    )
    out = buffer[: int(np.prod(shape))].reshape(shape)
    before = maps.copy()
    with pytest.raises(ValueError, match=r"\bout\b.*share"):
        fn(maps, image, out=out)
    assert np.array_equal(maps, before), "the caller's map was overwritten through out="


# ============================================================ set/get_num_threads


def test_num_threads_round_trip(restore_threads: None) -> None:
    original = ap.get_num_threads()
    assert type(original) is int and original >= 1
    for n in (1, 2, 3, 1, 8, original):
        ap.set_num_threads(n)
        assert ap.get_num_threads() == n
        assert type(ap.get_num_threads()) is int
    ap.set_num_threads(np.int64(2))  # any integer type (operator.index)
    assert ap.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, -(2**70)], ids=repr)
def test_set_num_threads_rejects_values_below_one(restore_threads: None, bad: int) -> None:
    ap.set_num_threads(3)
    with pytest.raises(ValueError) as info:
        ap.set_num_threads(bad)
    message = str(info.value)
    assert re.search(r"\bn\b", message) and "1" in message and str(bad) in message, message
    assert ap.get_num_threads() == 3  # unchanged


@pytest.mark.parametrize(
    "bad", [2.0, 1.5, "2", None, True, False, [2], np.float64(2), 2 + 0j], ids=repr
)
def test_set_num_threads_rejects_non_integers(restore_threads: None, bad: Any) -> None:
    ap.set_num_threads(3)
    with pytest.raises(TypeError) as info:
        ap.set_num_threads(bad)
    message = str(info.value)
    assert re.search(r"\bn\b", message) and "integer" in message, message
    assert ap.get_num_threads() == 3


def _run_child(code: str, env_value: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ANOMALY_POSTPROCESS_NUM_THREADS"}
    if env_value is not None:
        env["ANOMALY_POSTPROCESS_NUM_THREADS"] = env_value
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


_CHILD = """
    import json, os, warnings
    import numpy as np
    before = len(os.listdir("/proc/self/task"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import anomaly_postprocess as ap
    # A batch, so the pool exists; the OS threads it added are the pool's: n - 1 of
    # them, the calling thread being the n-th.
    ap.compute_mask(np.random.default_rng(0).random((6, 40, 40)), 0.5)
    print(json.dumps({
        "threads": ap.get_num_threads(),
        "pool": len(os.listdir("/proc/self/task")) - before,
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    }))
"""


def _default_threads() -> int:
    child = _run_child(_CHILD, None)
    assert child["warnings"] == []
    return int(child["threads"])


def test_default_threads_are_the_available_cores() -> None:
    child = _run_child(_CHILD, None)
    assert child["warnings"] == []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert child["threads"] == cores
    if child["threads"] > 1:
        assert child["pool"] == child["threads"] - 1


@pytest.mark.parametrize("value", ["3", " 3 ", "1"])
def test_env_var_sets_the_thread_count(value: str) -> None:
    child = _run_child(_CHILD, value)
    assert child["warnings"] == []
    assert child["threads"] == int(value)
    if int(value) > 1:
        # The pool really has that many threads, with the calling thread.
        assert child["pool"] == int(value) - 1


@pytest.mark.parametrize("value", ["abc", "0", "-2", "2.5", "3 threads", "1e2"])
def test_invalid_env_var_warns_and_uses_the_default(value: str) -> None:
    child = _run_child(_CHILD, value)
    assert child["threads"] == _default_threads()
    assert len(child["warnings"]) == 1, child["warnings"]
    category, message = child["warnings"][0]
    assert category == "RuntimeWarning"
    assert "ANOMALY_POSTPROCESS_NUM_THREADS" in message and repr(value) in message, message


def test_empty_env_var_is_the_default() -> None:
    child = _run_child(_CHILD, "")
    assert child["warnings"] == []
    assert child["threads"] == _default_threads()


# ============================================== batches on 1 and 2 threads = singles


# (function, one image per map?): only superimpose takes images.
WITH_IMAGES = [(name, False) for name in FUNCTIONS] + [
    (name, True) for name in FUNCTIONS if name.startswith("superimpose")
]


def _ids(case: tuple[str, bool]) -> str:
    return f"{case[0]}{' per-map images' if case[1] else ''}"


@pytest.mark.parametrize("case", WITH_IMAGES, ids=_ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_on_one_and_two_threads_is_the_stack_of_single_calls(
    restore_threads: None, case: tuple[str, bool], dtype: Any
) -> None:
    name, per_map_images = case
    fn = FUNCTIONS[name]
    batch = (3, 5)
    maps = smooth_maps(batch + (H, W), seed=22, dtype=dtype)
    # Some maps with different ranges, one constant, one nearly so.
    maps[0, 1] *= 0.25
    maps[1, 2] = dtype(0.5)
    maps[2, 4, 0, 0] += dtype(1e-3)
    image = images(batch + (H, W, 3), seed=23) if per_map_images else images((H, W, 3), seed=23)
    singles = np.stack(
        [fn(maps[i], image[i] if per_map_images else image) for i in np.ndindex(*batch)]
    ).reshape(result_shape(name, maps.shape))
    for threads in (1, 2, 1, 2):
        ap.set_num_threads(threads)
        assert_same_bytes(fn(maps, image), singles)
        out = np.empty_like(singles)
        assert fn(maps, image, out=out) is out
        assert_same_bytes(out, singles)
        flat = fn(
            maps.reshape((-1, H, W)), image.reshape((-1, H, W, 3)) if per_map_images else image
        )
        assert_same_bytes(flat, singles.reshape(flat.shape))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", [c for c in WITH_IMAGES if not c[0].startswith("mask")], ids=_ids)
def test_non_finite_in_one_map_of_a_batch(
    restore_threads: None, threads: int, case: tuple[str, bool]
) -> None:
    name, per_map_images = case
    ap.set_num_threads(threads)
    fn = FUNCTIONS[name]
    maps = smooth_maps((7, H, W), seed=24)
    maps[3, 5, 9] = np.nan
    maps[3, 20, 1] = np.inf
    maps[5, 0, 0] = -np.inf
    maps[6, 36, 52] = np.nan
    image = images((7, H, W, 3), seed=25) if per_map_images else images((H, W, 3), seed=25)
    out = np.full(result_shape(name, maps.shape), 9, np.uint8)
    for kwargs in ({}, {"out": out}):
        with pytest.raises(ValueError) as info:
            fn(maps, image, **kwargs)
        message = str(info.value)
        assert "anomaly_map" in message
        assert re.search(r"\b4\b", message), message  # all four non-finite values
        assert re.search(r"map 3\b", message), message  # the first one's map
        assert re.search(r"row 5\b", message) and re.search(r"column 9\b", message), message
    # The same single maps: the good ones work, the bad one names its own first value.
    with pytest.raises(ValueError, match=r"2 NaN.*row 5, column 9"):
        fn(maps[3], image[3] if per_map_images else image)
    fn(maps[4], image[4] if per_map_images else image)


@pytest.mark.parametrize("threads", [1, 2])
def test_nan_in_a_mask_batch_is_never_above(restore_threads: None, threads: int) -> None:
    ap.set_num_threads(threads)
    maps = smooth_maps((6, H, W), seed=26)
    maps[2, 10:20, 10:20] = np.nan
    maps[4] = np.nan
    singles = np.stack([ap.compute_mask(m, 0.4, 1) for m in maps])
    assert_same_bytes(ap.compute_mask(maps, 0.4, 1), singles)
    assert not singles[4].any()


def test_changing_threads_between_calls_keeps_results(restore_threads: None) -> None:
    maps = smooth_maps((9, H, W), seed=27)
    expected = np.stack([ap.anomaly_map_to_color_map(m) for m in maps])
    for n in (2, 1, 3, 2, 5, 1, 2):
        ap.set_num_threads(n)
        assert_same_bytes(ap.anomaly_map_to_color_map(maps), expected)


# ==================================================================== concurrency


def _concurrency_inputs() -> dict[str, np.ndarray]:
    inputs = {
        "f32": smooth_maps((H, W), seed=30),
        "f64": smooth_maps((H, W), seed=31, dtype=np.float64),
        "batch": smooth_maps((5, H, W), seed=32),
        "batch64 T": np.ascontiguousarray(
            smooth_maps((5, H, W), seed=33, dtype=np.float64).transpose(1, 2, 0)
        ).transpose(2, 0, 1),
        "big": smooth_maps((160, 224), seed=34),
        "image": images((H, W, 3), seed=35),
        "images": images((5, H, W, 3), seed=36),
        "big image": images((160, 224, 3), seed=37),
    }
    for array in inputs.values():
        array.flags.writeable = False
    return inputs


# (function, map, image or None, options)
CallSpec = tuple[str, str, "str | None", tuple[Any, ...]]


def _calls(rng: np.random.Generator, count: int) -> list[tuple[CallSpec, bool]]:
    calls: list[tuple[CallSpec, bool]] = []
    for _ in range(count):
        kind = int(rng.integers(0, 3))
        name = str(rng.choice(["f32", "f64", "batch", "batch64 T", "big"]))
        if kind == 0:
            spec: CallSpec = ("color", name, None, (bool(rng.integers(0, 2)),))
        elif kind == 1:
            if name == "big":
                image = "big image"
            elif name.startswith("batch") and rng.integers(0, 2):
                image = "images"
            else:
                image = "image"
            spec = (
                "superimpose",
                name,
                image,
                (float(rng.choice([0.0, 0.4, 0.8])), int(rng.integers(-3, 4))),
            )
        else:
            spec = ("mask", name, None, (float(rng.choice([0.3, 0.5])), int(rng.integers(0, 4))))
        calls.append((spec, bool(rng.integers(0, 2))))  # with or without out=
    return calls


def _run(spec: CallSpec, inputs: dict[str, np.ndarray], out: np.ndarray | None) -> np.ndarray:
    fn, name, image, options = spec
    m = inputs[name]
    if fn == "color":
        return ap.anomaly_map_to_color_map(m, *options, out=out)
    if fn == "superimpose":
        assert image is not None
        alpha, gamma = options
        return ap.superimpose_anomaly_map(m, inputs[image], alpha, gamma, out=out)
    return ap.compute_mask(m, *options, out=out)


def _shape(spec: CallSpec, inputs: dict[str, np.ndarray]) -> tuple[int, ...]:
    shape = inputs[spec[1]].shape
    return shape if spec[0] == "mask" else shape + (3,)


def test_eight_python_threads_give_the_bytes_of_sequential_calls(restore_threads: None) -> None:
    inputs = _concurrency_inputs()
    before = {name: array.tobytes() for name, array in inputs.items()}
    threads, per_thread = 8, 250
    plans = [_calls(np.random.default_rng(1000 + t), per_thread) for t in range(threads)]
    expected: dict[CallSpec, bytes] = {}
    for plan in plans:
        for spec, _ in plan:
            if spec not in expected:
                expected[spec] = _run(spec, inputs, None).tobytes()

    failures: list[str] = []
    barrier = threading.Barrier(threads + 1)
    stop_toggling = threading.Event()

    def worker(plan: list[tuple[CallSpec, bool]]) -> None:
        outs: dict[tuple[int, ...], np.ndarray] = {}
        barrier.wait()
        try:
            for i, (spec, use_out) in enumerate(plan):
                out = None
                if use_out:
                    shape = _shape(spec, inputs)
                    out = outs.setdefault(shape, np.empty(shape, np.uint8))
                    out[...] = 0x5A
                result = _run(spec, inputs, out)
                if out is not None and result is not out:
                    failures.append(f"call {i} {spec}: result is not out")
                if result.tobytes() != expected[spec]:
                    failures.append(f"call {i} {spec}: bytes differ")
        except Exception as error:  # pragma: no cover - reported below
            failures.append(f"{spec}: {type(error).__name__}: {error}")

    def toggler() -> None:
        """Resizes the pool while batches run on it."""
        barrier.wait()
        n = 0
        while not stop_toggling.is_set():
            ap.set_num_threads(1 + n % 3)
            n += 1
            stop_toggling.wait(0.002)

    workers = [threading.Thread(target=worker, args=(plan,)) for plan in plans]
    toggle = threading.Thread(target=toggler)
    for t in workers + [toggle]:
        t.start()
    for t in workers:
        t.join(timeout=300)
    stop_toggling.set()
    toggle.join(timeout=60)
    assert not any(t.is_alive() for t in workers + [toggle]), "a thread hung"
    assert failures == []
    for name, array in inputs.items():  # shared inputs untouched
        assert array.tobytes() == before[name], name


def _another_thread_ran_during(call: Callable[[], Any], iterations: int = 100) -> bool:
    """Whether a second Python thread got to run while ``call`` was looping.

    With a huge switch interval, the interpreter never forces a GIL hand-over, so the
    second thread runs only if ``call`` releases the GIL itself. No timing involved.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        ran = threading.Event()
        seen: list[bool] = []

        def looping() -> None:
            for _ in range(iterations):
                call()
                if ran.is_set():
                    break
            seen.append(ran.is_set())

        a = threading.Thread(target=looping)
        b = threading.Thread(target=ran.set)
        a.start()
        b.start()
        a.join()
        b.join()
        return seen[0]
    finally:
        sys.setswitchinterval(old)


@pytest.mark.skipif(
    hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled(), reason="free-threaded"
)
@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_kernels_release_the_gil(restore_threads: None, name: str, batch: bool) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((4, 256, 256) if batch else (512, 512), seed=40)
    image = images((256, 256, 3) if batch else (512, 512, 3), seed=41)
    out = np.empty(result_shape(name, maps.shape), np.uint8)
    ap.set_num_threads(2)
    assert _another_thread_ran_during(lambda: fn(maps, image, out=out))
    # The probe itself: a call that holds the GIL is detected as such.
    assert not _another_thread_ran_during(lambda: sum(range(20_000)), iterations=20)


# ================================================================ strided inputs


def _layouts(dtype: Any) -> dict[str, np.ndarray]:
    """Batches ``(*B, H, W)`` whose memory is not C-contiguous."""
    base = smooth_maps((4, 6, H, W), seed=50, dtype=dtype)
    return {
        "transposed batch": np.ascontiguousarray(base[0].transpose(1, 2, 0)).transpose(2, 0, 1),
        "transposed maps": np.ascontiguousarray(base[0].transpose(0, 2, 1)).transpose(0, 2, 1),
        "negative steps": base[1, ::-1, ::-1, ::-1],
        "every other column": smooth_maps((3, H, 2 * W), seed=51, dtype=dtype)[:, :, 1::2],
        "unmergeable batch (slice)": base[:, ::2],
        "unmergeable batch (swap)": base.transpose(1, 0, 2, 3)[:, ::-1],
        "unmergeable 3-d batch": smooth_maps((2, 3, 4, H, W), seed=52, dtype=dtype)[
            :, ::2, 1:
        ].swapaxes(0, 2),
        "fortran": np.asfortranarray(base[2]),
        "zero batch stride": np.broadcast_to(base[3, 0], (5, H, W)),
        "zero map stride": np.broadcast_to(base[3, 1, :, :1], (3, H, W)),
        "misc": base[::-3, 1::2, 3:-2, ::-2].transpose(1, 0, 2, 3),
    }


LAYOUTS = list(_layouts(np.float32))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_strided_maps_equal_contiguous_copies(
    restore_threads: None, name: str, dtype: Any, layout: str
) -> None:
    fn = FUNCTIONS[name]
    maps = _layouts(dtype)[layout]
    assert not maps.flags.c_contiguous
    contiguous = np.ascontiguousarray(maps)
    image = images(maps.shape[-2:] + (3,), seed=53)
    for threads in (1, 2):
        ap.set_num_threads(threads)
        expected = fn(contiguous, image)
        assert_same_bytes(fn(maps, image), expected)
        out = np.empty_like(expected)
        assert fn(maps, image, out=out) is out
        assert_same_bytes(out, expected)


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
@pytest.mark.parametrize(
    "layout",
    ["negative steps", "transposed batch", "every other pixel", "fortran", "zero batch stride"],
)
def test_strided_images_equal_contiguous_copies(name: str, layout: str) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((4, H, W), seed=54)
    base = images((4, H, W, 3), seed=55)
    image = {
        "negative steps": base[::-1, ::-1, ::-1, ::-1],
        "transposed batch": np.ascontiguousarray(base.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
        "every other pixel": images((4, H, 2 * W, 3), seed=56)[:, :, ::2],
        "fortran": np.asfortranarray(base),
        "zero batch stride": np.broadcast_to(base[0], (4, H, W, 3)),
    }[layout]
    expected = fn(maps, np.ascontiguousarray(image))
    assert_same_bytes(fn(maps, image), expected)
    assert_same_bytes(
        fn(maps[::-1, ::-1], image[2]),
        fn(np.ascontiguousarray(maps[::-1, ::-1]), np.ascontiguousarray(image[2])),
    )


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "layout", ["transposed batch", "negative steps", "unmergeable batch (slice)", "fortran"]
)
def test_strided_maps_are_not_copied(name: str, dtype: Any, layout: str) -> None:
    """float32/float64 maps are read in place whatever their strides: with ``out=``,
    a call allocates (almost) nothing that numpy's allocator sees."""
    fn = FUNCTIONS[name]
    base = smooth_maps((4, 6, 96, 128), seed=57, dtype=dtype)
    maps = {
        "transposed batch": np.ascontiguousarray(base[0].transpose(1, 2, 0)).transpose(2, 0, 1),
        "negative steps": base[1, ::-1, ::-1, ::-1],
        "unmergeable batch (slice)": base[:, ::2],
        "fortran": np.asfortranarray(base[2]),
    }[layout]
    image = images((96, 128, 3), seed=58)
    out = np.empty(result_shape(name, maps.shape), np.uint8)
    fn(maps, image, out=out)  # warm-up
    tracemalloc.start()
    try:
        fn(maps, image, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < maps.nbytes // 8, (peak, maps.nbytes)
    assert_same_bytes(out, fn(np.ascontiguousarray(maps), image))


# ========================================================= __array__ and PIL images


class TensorLike:
    """A minimal stand-in for a CPU tensor: only ``__array__`` (numpy 2 signature)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.calls = 0

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        self.calls += 1
        if copy:
            return np.array(self._array, dtype=dtype, copy=True)
        return self._array if dtype is None else self._array.astype(dtype, copy=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape


class InterfaceOnly:
    """Exposes its data through ``__array_interface__`` only."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.__array_interface__ = array.__array_interface__


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("wrapper", [TensorLike, InterfaceOnly])
@pytest.mark.parametrize("shape", [(H, W), (1, 1, H, W), (3, H, W), (2, 2, H, W)], ids=str)
def test_array_like_objects(name: str, wrapper: type, shape: tuple[int, ...]) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps(shape, seed=60)
    image = images((H, W, 3), seed=61)
    expected = fn(maps, image)
    assert_same_bytes(fn(wrapper(maps), image), expected)
    if name.startswith("superimpose"):
        assert_same_bytes(fn(wrapper(maps), wrapper(image)), expected)
        per_map = images(shape[:-2] + (H, W, 3), seed=62)
        assert_same_bytes(fn(wrapper(maps), wrapper(per_map)), fn(maps, per_map))
    out = np.empty_like(expected)
    assert fn(wrapper(maps), image, out=out) is out
    assert_same_bytes(out, expected)


def test_array_like_strided_tensor_is_not_copied() -> None:
    base = smooth_maps((128, 160, 3), seed=63)
    tensor = TensorLike(base.transpose(2, 0, 1))  # like tensor.permute(2, 0, 1)
    out = np.empty((3, 128, 160, 3), np.uint8)
    expected = ap.anomaly_map_to_color_map(np.ascontiguousarray(base.transpose(2, 0, 1)))
    ap.anomaly_map_to_color_map(tensor, out=out)
    assert tensor.calls >= 1
    tracemalloc.start()
    try:
        ap.anomaly_map_to_color_map(tensor, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < base.nbytes // 8
    assert_same_bytes(out, expected)


def test_out_sharing_memory_with_a_wrapped_map() -> None:
    buffer = np.zeros(H * W * 4, np.uint8)
    maps = buffer.view(np.float32).reshape(H, W)
    maps[...] = smooth_maps((H, W), seed=64)
    with pytest.raises(ValueError, match=r"\bout\b.*share"):
        ap.compute_mask(TensorLike(maps), 0.5, out=buffer[: H * W].reshape(H, W))


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
def test_pil_image(name: str) -> None:
    Image = pytest.importorskip("PIL.Image")
    fn = FUNCTIONS[name]
    pixels = images((H, W, 3), seed=65)
    pil = Image.fromarray(pixels)
    assert pil.mode == "RGB" and pil.size == (W, H)
    maps = smooth_maps((H, W), seed=66)
    expected = fn(maps, pixels)
    assert_same_bytes(fn(maps, pil), expected)
    out = np.empty_like(expected)
    assert fn(maps, pil, out=out) is out
    assert_same_bytes(out, expected)
    # One PIL image for a whole batch.
    batch = smooth_maps((3, H, W), seed=67)
    assert_same_bytes(fn(batch, pil), fn(batch, pixels))
    assert_same_bytes(fn(TensorLike(batch), pil), fn(batch, pixels))


@pytest.mark.parametrize("mode", ["RGBA", "L", "I;16"])
def test_pil_image_of_another_mode_is_rejected(mode: str) -> None:
    Image = pytest.importorskip("PIL.Image")
    pil = Image.new(mode, (W, H))
    with pytest.raises((TypeError, ValueError), match="image"):
        ap.superimpose_anomaly_map(smooth_maps((H, W), seed=68), pil)


def test_pil_image_of_another_size_is_resized() -> None:
    """Issue 5: an image of another size is resized to the map's, like cv2.resize."""
    import cv2

    Image = pytest.importorskip("PIL.Image")
    pixels = images((H, W + 1, 3), seed=70)
    pil = Image.fromarray(pixels)
    maps = smooth_maps((H, W), seed=69)
    resized = cv2.resize(pixels, (W, H), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(
        ap.superimpose_anomaly_map(maps, pil), ap.superimpose_anomaly_map(maps, resized)
    )
