"""The thread pool and the GIL (docs/behaviour.md#threads): ``set_num_threads`` /
``get_num_threads``, the ``ANOMALY_POSTPROCESS_NUM_THREADS`` environment variable,
batches on 1 and 2 threads, concurrent Python callers, and GIL-free kernels.

Correctness only: apart from generous bounds on a child process that is given a huge
thread count, nothing here asserts a duration (machines are noisy). Parallelism is
checked by its results (a batch on 1 or 2 threads is exactly the stack of single calls;
8 Python threads give exactly the bytes of sequential calls), GIL release by whether
another Python thread gets to run while a kernel is busy. Refused thread counts are rows
of bad_inputs/test_bad_inputs.py.
"""

from __future__ import annotations

import json
import operator
import os
import re
import subprocess
import sys
import textwrap
import threading
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import (
    FUNCTIONS,
    ODD_H,
    ODD_W,
    SMALL_H,
    SMALL_W,
    another_thread_ran_during,
    assert_same_bytes,
    base_values,
    random_image,
    result_shape,
    smooth_maps,
)
from reference import spec_compute_mask

H, W = ODD_H, ODD_W  # odd sizes: no row is a multiple of a vector width


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


# Thread counts set_num_threads accepts: any integer >= 1 (operator.index).
NUM_THREADS_ACCEPTED: dict[str, tuple[Any, int]] = {
    "1": (1, 1),
    "2": (2, 2),
    "numpy int": (np.int64(2), 2),
    "numpy uint8": (np.uint8(1), 1),
}


@pytest.mark.parametrize("case", list(NUM_THREADS_ACCEPTED))
def test_set_num_threads_accepts(case: str, restore_threads: None) -> None:
    value, clean = NUM_THREADS_ACCEPTED[case]
    maps = base_values((4, SMALL_H, SMALL_W))
    ap.set_num_threads(value)
    assert ap.get_num_threads() == operator.index(clean)
    assert np.array_equal(ap.compute_mask(maps, 0.5, 1), spec_compute_mask(maps, 0.5, 1))


# Run in a child process with a 4 GiB address-space limit, so an implementation that
# tries to start that many OS threads fails fast instead of exhausting the machine.
_HUGE_THREADS_CHILD = textwrap.dedent(
    """
    import resource, sys, time, os
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    import anomaly_postprocess as ap
    n = int(sys.argv[1])
    start = time.perf_counter()
    try:
        ap.set_num_threads(n)
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    else:
        outcome = "accepted"
        assert ap.get_num_threads() == n, ap.get_num_threads()
        maps = np.random.default_rng(0).random((4, 30, 40))
        ap.compute_mask(maps, 0.5, 2)
    elapsed = time.perf_counter() - start
    threads = len(os.listdir("/proc/self/task"))
    print(repr((outcome, elapsed, threads)))
    """
)


@pytest.mark.parametrize("n", [10**9, 2**64, 10**30])
def test_set_num_threads_huge(n: int) -> None:
    """A huge thread count is either refused with a ValueError naming ``n``, or accepted
    without starting that many threads; either way promptly and without leaking threads."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HUGE_THREADS_CHILD, str(n)],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "ANOMALY_POSTPROCESS_NUM_THREADS": "2"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"set_num_threads({n}) did not return within 10 s")
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, elapsed, threads = eval(done.stdout.strip().splitlines()[-1])
    assert elapsed < 5.0, (outcome, elapsed)
    assert threads <= 16, (outcome, threads)
    if outcome != "accepted":
        kind, _, message = outcome.partition(": ")
        assert kind in ("ValueError", "TypeError"), outcome
        assert message.startswith("n ") or " n " in message, outcome


# ====================================================== ANOMALY_POSTPROCESS_NUM_THREADS


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
    image = random_image(23, batch + (H, W)) if per_map_images else random_image(23, (H, W))
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
    image = random_image(25, (7, H, W)) if per_map_images else random_image(25, (H, W))
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
        "image": random_image(35, (H, W)),
        "images": random_image(36, (5, H, W)),
        "big image": random_image(37, (160, 224)),
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


# ====================================================================== the GIL
# (another_thread_ran_during: conftest.py)


@pytest.mark.skipif(
    hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled(), reason="free-threaded"
)
@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_kernels_release_the_gil(restore_threads: None, name: str, batch: bool) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((4, 256, 256) if batch else (512, 512), seed=40)
    image = random_image(41, (256, 256) if batch else (512, 512))
    out = np.empty(result_shape(name, maps.shape), np.uint8)
    ap.set_num_threads(2)
    assert another_thread_ran_during(lambda: fn(maps, image, out=out))
    # The probe itself: a call that holds the GIL is detected as such.
    assert not another_thread_ran_during(lambda: sum(range(20_000)), iterations=20, patience=0.0)
