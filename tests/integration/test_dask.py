"""Scale-out with dask: the functions are module-level (picklable), pure and release the
GIL, so a stack of maps chunked along the batch axis runs through them with
``map_blocks`` on dask's threaded scheduler and on a multi-process distributed cluster,
giving exactly the bytes of a local loop.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import random_image

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

N, H, W = 8, 64, 80
CHUNK = 2  # maps per block: never 1, see test_blocks_of_one_map_need_the_batch_axis_kept


def _stack() -> np.ndarray:
    rng = np.random.default_rng(2024)
    m = rng.random((N, H, W))
    for axis in (-1, -2):
        m = (m + np.roll(m, 1, axis) + np.roll(m, -1, axis)) / 3
    m[3] *= 0.5  # maps with different ranges
    m[5] = 0.25  # a constant map
    return m.astype(np.float32)


MAPS = _stack()
IMAGE = random_image(7, (H, W))
IMAGES = random_image(8, (N, H, W))

# Local loops: what every dask computation must equal, byte for byte.
EXPECTED = {
    "color": np.stack([ap.anomaly_map_to_color_map(m) for m in MAPS]),
    "color raw": np.stack([ap.anomaly_map_to_color_map(m, normalize=False) for m in MAPS]),
    "superimpose": np.stack([ap.superimpose_anomaly_map(m, IMAGE) for m in MAPS]),
    "superimpose opts": np.stack(
        [ap.superimpose_anomaly_map(m, IMAGE, alpha=0.7, gamma=2, normalize=True) for m in MAPS]
    ),
    "superimpose per-map": np.stack(
        [ap.superimpose_anomaly_map(m, image) for m, image in zip(MAPS, IMAGES, strict=True)]
    ),
    "mask": np.stack([ap.compute_mask(m, 0.5) for m in MAPS]),
    "mask r2": np.stack([ap.compute_mask(m, 0.45, kernel_size=2) for m in MAPS]),
}


def _stack_array() -> Any:
    return da.from_array(MAPS, chunks=(CHUNK, H, W))


def build(name: str) -> Any:
    """The dask graph for one case: ``map_blocks`` over the chunked stack."""
    maps = _stack_array()
    rgb = {"dtype": np.uint8, "new_axis": 3, "chunks": maps.chunks + ((3,),)}
    if name == "color":
        return maps.map_blocks(ap.anomaly_map_to_color_map, **rgb)
    if name == "color raw":
        return maps.map_blocks(ap.anomaly_map_to_color_map, False, **rgb)
    if name == "superimpose":
        # One image for every block: bound with a partial (pickled with the task).
        return maps.map_blocks(functools.partial(ap.superimpose_anomaly_map, image=IMAGE), **rgb)
    if name == "superimpose opts":
        image = IMAGE

        def overlay(block: np.ndarray) -> np.ndarray:  # a closure
            return ap.superimpose_anomaly_map(block, image, alpha=0.7, gamma=2, normalize=True)

        return maps.map_blocks(overlay, **rgb)
    if name == "superimpose per-map":
        images = da.from_array(IMAGES, chunks=(CHUNK, H, W, 3))
        # Blocks of maps and of images side by side: explicit indices, since
        # map_blocks would align the 3-d maps with the images' trailing axes.
        return da.blockwise(
            ap.superimpose_anomaly_map, "bhwc", maps, "bhw", images, "bhwc", dtype=np.uint8
        )
    if name == "mask":
        return maps.map_blocks(ap.compute_mask, 0.5, dtype=np.uint8)
    if name == "mask r2":
        return maps.map_blocks(
            functools.partial(ap.compute_mask, threshold=0.45, kernel_size=2), dtype=np.uint8
        )
    raise AssertionError(name)


def check(result: np.ndarray, name: str) -> None:
    expected = EXPECTED[name]
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.uint8
    assert result.shape == expected.shape
    assert np.array_equal(result, expected)
    assert result.tobytes() == expected.tobytes()


# ------------------------------------------------------------------ threaded scheduler


@pytest.mark.parametrize("name", list(EXPECTED))
def test_map_blocks_on_the_threaded_scheduler(name: str) -> None:
    graph = build(name)
    assert graph.numblocks[0] == N // CHUNK
    assert graph.dtype == np.uint8 and graph.shape == EXPECTED[name].shape
    check(graph.compute(scheduler="threads", num_workers=4), name)


def test_all_cases_in_one_threaded_compute() -> None:
    """Several graphs computed together: blocks of different functions interleave."""
    names = list(EXPECTED)
    results = dask.compute(*[build(name) for name in names], scheduler="threads", num_workers=4)
    for name, result in zip(names, results, strict=True):
        check(result, name)


def test_blocks_of_one_map_need_the_batch_axis_kept() -> None:
    """A block of one map ``(1, H, W)`` is a single map under docs/behaviour.md#shapes
    (leading singleton axes are dropped), so its result has no batch axis. Reshaping to
    the block's shape makes ``map_blocks`` right for any chunking, also uneven chunks with
    1-map blocks."""
    maps = da.from_array(MAPS, chunks=((3, 1, 2, 1, 1),) + ((H,), (W,)))

    def color(block: np.ndarray) -> np.ndarray:
        return ap.anomaly_map_to_color_map(block).reshape(block.shape + (3,))

    def mask(block: np.ndarray) -> np.ndarray:
        return ap.compute_mask(block, 0.5).reshape(block.shape)

    colors = maps.map_blocks(color, dtype=np.uint8, new_axis=3, chunks=maps.chunks + ((3,),))
    masks = maps.map_blocks(mask, dtype=np.uint8)
    got_colors, got_masks = dask.compute(colors, masks, scheduler="threads")
    check(got_colors, "color")
    check(got_masks, "mask")


# ------------------------------------------------------------------ distributed cluster


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker"):
        logging.getLogger(name).setLevel(logging.ERROR)
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
        scheduler_port=0,
        worker_dashboard_address=None,
    )
    try:
        with distributed.Client(cluster, timeout="60s") as c:
            c.wait_for_workers(2, timeout=60)
            yield c
    finally:
        cluster.close(timeout=30)


def test_workers_are_other_processes(client: Any) -> None:
    pids = client.run(os.getpid)
    assert len(pids) == 2
    assert os.getpid() not in pids.values()
    assert len(set(pids.values())) == 2


@pytest.mark.parametrize("name", list(EXPECTED))
def test_map_blocks_on_a_process_cluster(client: Any, name: str) -> None:
    check(build(name).compute(scheduler=client), name)


def test_all_cases_at_once_on_a_process_cluster(client: Any) -> None:
    names = list(EXPECTED)
    futures = client.compute([build(name) for name in names])
    try:
        for name, future in zip(names, futures, strict=True):
            check(future.result(timeout=120), name)
    finally:
        client.cancel(futures)


def test_workers_compute_single_calls_like_this_process(client: Any) -> None:
    """Direct ``client.submit`` of the public functions (pickled by reference)."""
    futures = [
        client.submit(ap.anomaly_map_to_color_map, MAPS[1], pure=False),
        client.submit(ap.superimpose_anomaly_map, MAPS[2], IMAGE, 0.3, 1, True, pure=False),
        client.submit(ap.compute_mask, MAPS[4], 0.5, kernel_size=3, pure=False),
        client.submit(ap.compute_mask, MAPS, 0.45, kernel_size=2, pure=False),
    ]
    expected = [
        ap.anomaly_map_to_color_map(MAPS[1]),
        ap.superimpose_anomaly_map(MAPS[2], IMAGE, 0.3, 1, True),
        ap.compute_mask(MAPS[4], 0.5, kernel_size=3),
        EXPECTED["mask r2"],
    ]
    for future, want in zip(futures, expected, strict=True):
        got = future.result(timeout=120)
        assert got.dtype == np.uint8 and np.array_equal(got, want)


def test_worker_errors_come_back_as_value_errors(client: Any) -> None:
    bad = MAPS.copy()
    bad[6, 1, 2] = np.nan
    graph = da.from_array(bad, chunks=(CHUNK, H, W)).map_blocks(
        ap.anomaly_map_to_color_map,
        dtype=np.uint8,
        new_axis=3,
        chunks=((CHUNK,) * (N // CHUNK), (H,), (W,), (3,)),
    )
    with pytest.raises(
        ValueError, match=r"anomaly_map must be finite.*1 NaN.*map 0, row 1, column 2"
    ):
        graph.compute(scheduler=client)


# ---------------------------------------------------------------------------- pickling

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "anomaly_map_to_color_map": ap.anomaly_map_to_color_map,
    "superimpose_anomaly_map": ap.superimpose_anomaly_map,
    "compute_mask": ap.compute_mask,
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_functions_pickle_by_reference(name: str, protocol: int) -> None:
    fn = FUNCTIONS[name]
    data = pickle.dumps(fn, protocol=protocol)
    assert b"anomaly_postprocess" in data and len(data) < 200  # a reference, not code
    assert pickle.loads(data) is fn


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_functions_round_trip_through_cloudpickle(name: str) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    fn = FUNCTIONS[name]
    assert cloudpickle.loads(cloudpickle.dumps(fn)) is fn


def test_partials_and_closures_round_trip() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    overlay = functools.partial(ap.superimpose_anomaly_map, image=IMAGE, alpha=0.6)
    again = pickle.loads(pickle.dumps(overlay))
    assert again.func is ap.superimpose_anomaly_map
    assert np.array_equal(again(MAPS[0]), overlay(MAPS[0]))

    threshold = 0.45

    def mask(block: np.ndarray) -> np.ndarray:
        return ap.compute_mask(block, threshold, kernel_size=2)

    restored = cloudpickle.loads(cloudpickle.dumps(mask))
    assert np.array_equal(restored(MAPS), EXPECTED["mask r2"])
