"""The command line on several threads (``--jobs``, docs/behaviour.md#cli): the same
files, byte for byte, and the same failure lines, in the order of the maps, for every
number of jobs; the exit status; the progress bar; no more maps in memory than jobs; and
no thread left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from anomaly_postprocess import cli, compute_mask, superimpose_anomaly_map
from anomaly_postprocess.cli import main
from conftest import error_lines, random_image

OUTPUTS = ("heatmap.png", "overlay.png", "mask.png", "outline.png", "boxes.json")


def good_map(seed: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A float32 map in [0, 1) with a block above the default threshold."""
    values = np.random.default_rng(seed).random(shape, dtype=np.float32) * 0.4
    values[10:30, 12:40] = 0.9
    return values


def good_image(seed: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    return random_image(seed + 100, shape)


def all_files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by relative path, with its bytes."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def make_inputs(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A maps and an images directory with good maps and one of every kind of bad file,
    in no particular order; returns them and the stems of the maps that fail, in
    input (sorted) order."""
    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    for seed, stem in enumerate(["a", "c", "g", "k", "m"]):
        shape = (200, 240) if stem == "a" else (48, 64)  # "a" takes longer than the rest
        np.save(maps / f"{stem}.npy", good_map(seed, shape))
        Image.fromarray(good_image(seed, shape)).save(images / f"{stem}.png")
    (maps / "b.npy").write_bytes(b"\x93NUMPY not really")  # corrupt map
    np.savez(maps / "c.npz", good_map(7))  # the same stem as c.npy: outputs would collide
    nan_map = good_map(8)
    nan_map[3, 4] = np.nan
    np.save(maps / "d.npy", nan_map)
    Image.fromarray(good_image(8)).save(images / "d.png")
    np.save(maps / "e.npy", good_map(9))  # no image named e.*
    np.save(maps / "f.npy", good_map(10))
    (images / "f.png").write_bytes(b"\x89PNG truncated")  # unreadable image
    np.save(maps / "h.npy", good_map(11))  # its mask cannot be written (see run)
    Image.fromarray(good_image(11)).save(images / "h.png")
    # A smaller image than its map: resized, not an error.
    np.save(maps / "j.npy", good_map(12))
    Image.fromarray(good_image(12, (30, 50))).save(images / "j.png")
    return maps, images, ["b", "c", "d", "e", "f", "h"]


def run(
    maps: Path, images: Path, out: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, list[str]]:
    out.mkdir()
    (out / "h_mask.png").mkdir()  # blocks h's mask
    status = main([str(maps), "-i", str(images), "-o", str(out), "-q", *options])
    lines = error_lines(capsys.readouterr().err)
    return status, [line.replace(str(out), "OUT") for line in lines]


def test_every_job_count_writes_the_same_bytes_and_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maps, images, failing = make_inputs(tmp_path)
    results = {
        jobs: run(maps, images, tmp_path / f"out{jobs}", capsys, "--jobs", str(jobs))
        for jobs in (1, 3, 8)
    }

    status, lines = results[1]
    assert status == 1
    assert len(lines) == len(failing)
    for line, stem in zip(lines, failing, strict=True):
        culprit = {"c": "c.npz", "f": "f.png", "h": "h_mask.png"}.get(stem, f"{stem}.npy")
        assert f"{culprit}: " in line, (stem, line)
    assert "same stem as" in lines[1] and "NaN" in lines[2] and "no image in" in lines[3]
    files = all_files(tmp_path / "out1")
    assert sorted(files) == sorted(
        f"{stem}_{name}" for stem in ["a", "c", "g", "j", "k", "m"] for name in OUTPUTS
    )
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "out1" / "j_overlay.png")),
        superimpose_anomaly_map(good_map(12), good_image(12, (30, 50))),
    )
    for jobs in (3, 8):
        assert results[jobs] == results[1], jobs
        assert all_files(tmp_path / f"out{jobs}") == files, jobs


def test_failure_lines_come_in_input_order_whatever_ends_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first map fails last (it waits until the others have ended), yet its line
    comes first; the bar still counts every map as it ends."""
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "a.npy").write_bytes(b"not a map")
    (maps / "b.npy").write_bytes(b"not a map either")
    np.save(maps / "c.npy", good_map(0))
    (maps / "d.npy").write_bytes(b"nor this")
    others_done = threading.Semaphore(0)
    ended: list[str] = []
    process = cli._process

    def slow_first(map_path: Path, *rest: Any) -> dict[str, Path]:
        try:
            if map_path.stem == "a":
                for _ in range(3):  # b, c and d have ended
                    assert others_done.acquire(timeout=60)
            return process(map_path, *rest)
        finally:
            ended.append(map_path.stem)
            if map_path.stem != "a":
                others_done.release()

    monkeypatch.setattr(cli, "_process", slow_first)
    status = main([str(maps), "-o", str(tmp_path / "out"), "-q", "--jobs", "4"])

    assert status == 1
    assert ended[-1] == "a"
    lines = error_lines(capsys.readouterr().err)
    assert [line.split(": ")[0] for line in lines] == [
        str(maps / "a.npy"),
        str(maps / "b.npy"),
        str(maps / "d.npy"),
    ]


def test_no_more_maps_are_worked_on_than_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --jobs 3, three maps are processed at once (a barrier of three lets them
    through only together), never more: only those are in memory."""
    maps = tmp_path / "maps"
    maps.mkdir()
    for index in range(9):
        np.save(maps / f"m{index}.npy", good_map(index))
    together = threading.Barrier(3, timeout=60)
    lock = threading.Lock()
    running = [0, 0]  # now, most
    process = cli._process

    def counted(*arguments: Any) -> dict[str, Path]:
        with lock:
            running[0] += 1
            running[1] = max(running)
        try:
            together.wait()
            return process(*arguments)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(cli, "_process", counted)
    assert main([str(maps), "-o", str(tmp_path / "out"), "-q", "-j", "3"]) == 0
    assert running == [0, 3]
    assert len(list((tmp_path / "out").iterdir())) == 9 * 3  # heatmap, mask, boxes


def test_jobs_default_to_the_available_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert cli.available_cores() == cores
    maps = tmp_path / "maps"
    maps.mkdir()
    for index in range(5):
        np.save(maps / f"m{index}.npy", good_map(index))
    seen: list[int] = []
    in_order = cli._in_order

    def recording(tasks: Any, jobs: int, finished: Callable[[], object]) -> Any:
        seen.append(jobs)
        return in_order(tasks, jobs, finished)

    monkeypatch.setattr(cli, "_in_order", recording)
    monkeypatch.setattr(cli, "available_cores", lambda: 3)
    assert main([str(maps), "-o", str(tmp_path / "a"), "-q"]) == 0
    monkeypatch.setattr(cli, "available_cores", lambda: 64)
    assert main([str(maps), "-o", str(tmp_path / "b"), "-q"]) == 0  # no more than maps
    assert main([str(maps), "-o", str(tmp_path / "c"), "-q", "-j", "2"]) == 0
    assert seen == [3, 5, 2]
    assert all_files(tmp_path / "a") == all_files(tmp_path / "b") == all_files(tmp_path / "c")


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_exit_status_is_zero_when_every_map_is_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    for index in range(4):
        np.save(maps / f"m{index}.npy", good_map(index))
    assert main([str(maps), "-o", str(tmp_path / "out"), "-j", jobs]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == f"Processed 4 of 4 maps into {tmp_path / 'out'}\n"
    for index in range(4):
        mask = np.asarray(Image.open(tmp_path / "out" / f"m{index}_mask.png"))
        assert np.array_equal(mask, compute_mask(good_map(index), 0.5))

    (maps / "m9.npy").write_bytes(b"broken")
    assert main([str(maps), "-o", str(tmp_path / "out"), "-j", jobs]) == 1
    captured = capsys.readouterr()
    assert error_lines(captured.err) == [f"{maps / 'm9.npy'}: not a .npy or .npz file"]
    assert captured.out == f"Processed 4 of 5 maps into {tmp_path / 'out'}; 1 failed\n"


def test_the_progress_bar_counts_every_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    for index in range(5):
        np.save(maps / f"m{index}.npy", good_map(index))
    (maps / "m2.npy").write_bytes(b"broken")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # the bar is for terminals
    assert main([str(maps), "-o", str(tmp_path / "out"), "-j", "2"]) == 1
    stderr = capsys.readouterr().err
    assert "5/5" in stderr
    assert f"{maps / 'm2.npy'}: not a .npy or .npz file\n" in stderr


# The CLI in a child process that counts its threads before and after main(): the jobs'
# threads are gone when main() returns, and the library's own pool was never started
# (each call gets one map, which runs on the calling thread, docs/behaviour.md#threads;
# its threads would be named "anomaly-postprocess-<i>"). tqdm's monitor thread, started
# by its first bar, is started before counting. A joined thread may stay listed for a
# moment while it exits: the count is polled for a while.
_COUNT_THREADS = textwrap.dedent(
    """
    import json, os, sys, time
    import PIL.Image, PIL.PngImagePlugin, tqdm
    from anomaly_postprocess.cli import main

    def names():
        return sorted(
            open(f"/proc/self/task/{task}/comm").read().strip()
            for task in os.listdir("/proc/self/task")
        )

    tqdm.tqdm(total=1, disable=True).close()
    before = names()
    status = main(sys.argv[1:])
    for _ in range(100):
        after = names()
        if len(after) <= len(before):
            break
        time.sleep(0.1)
    print(json.dumps({"status": status, "before": before, "after": after}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in Linux's /proc")
def test_jobs_start_no_library_pool_and_leave_no_thread(tmp_path: Path) -> None:
    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    for index in range(6):
        np.save(maps / f"m{index}.npy", good_map(index))
        Image.fromarray(good_image(index)).save(images / f"m{index}.png")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _COUNT_THREADS,
            str(maps),
            "-i",
            str(images),
            "-o",
            "out",
            "-j",
            "4",
        ],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "ANOMALY_POSTPROCESS_NUM_THREADS"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts["status"] == 0
    assert counts["after"] == counts["before"], counts
    assert not any(name.startswith("anomaly-") for name in counts["after"]), counts
    assert len(list((tmp_path / "out").iterdir())) == 6 * len(OUTPUTS)
