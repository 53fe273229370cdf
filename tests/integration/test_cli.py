"""The ``anomaly-postprocess`` command line and its built-in demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from anomaly_postprocess import (
    anomaly_map_to_color_map,
    compute_mask,
    draw_boxes,
    mark_boundaries,
    mask_to_boxes,
    superimpose_anomaly_map,
)
from anomaly_postprocess.cli import COLORMAPS, main
from anomaly_postprocess.demo import make_demo
from conftest import error_lines, read_png

DEMO_IMAGE, DEMO_MAP = make_demo()
OUTPUT_FILES = ("heatmap.png", "overlay.png", "mask.png", "outline.png", "boxes.json")
WITHOUT_IMAGE = ("heatmap.png", "mask.png", "boxes.json")


def write_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path)


def read_boxes(path: Path) -> dict[str, Any]:
    """The parsed ``<stem>_boxes.json``, checked against the schema of the --help epilog."""
    document = json.loads(path.read_text(encoding="utf-8"))
    assert list(document) == ["width", "height", "boxes"]
    for box in document["boxes"]:
        assert list(box) == ["x1", "y1", "x2", "y2", "score"]
        assert all(type(box[key]) is int for key in ("x1", "y1", "x2", "y2"))
        assert box["score"] is None or type(box["score"]) is float
    return dict(document)


def boxes_of(mask: np.ndarray, anomaly_map: np.ndarray) -> dict[str, Any]:
    """What ``<stem>_boxes.json`` must hold for ``mask`` computed from ``anomaly_map``:
    ``mask_to_boxes``' boxes and scores (the map's maximum over each region)."""
    boxes, scores = mask_to_boxes(mask, anomaly_map=anomaly_map)
    return {
        "width": mask.shape[1],
        "height": mask.shape[0],
        "boxes": [
            dict(zip(("x1", "y1", "x2", "y2", "score"), [*row, score], strict=True))
            for row, score in zip(boxes.tolist(), scores.tolist(), strict=True)
        ],
    }


def outline_of(
    image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 0, 0)
) -> np.ndarray:
    """What ``<stem>_outline.png`` must hold: ``mark_boundaries``' outline of ``mask``,
    then the mask's boxes drawn over it in the same colour (``draw_boxes``, thickness 2)."""
    outline = mark_boundaries(image, mask, color=color)
    return draw_boxes(outline, mask_to_boxes(mask), color=color)


# --- the demo ---------------------------------------------------------------------------


def test_make_demo_is_deterministic_and_model_like() -> None:
    image, anomaly_map = make_demo()
    assert np.array_equal(image, DEMO_IMAGE) and np.array_equal(anomaly_map, DEMO_MAP)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert anomaly_map.shape == (256, 256) and anomaly_map.dtype == np.float32
    assert anomaly_map.min() >= 0 and anomaly_map.max() <= 1
    assert np.median(anomaly_map) < 0.3  # mostly a defect-free surface
    defect_fraction = np.mean(compute_mask(anomaly_map, 0.5) == 255)
    assert 0.005 < defect_fraction < 0.1
    # The dust speck is above the threshold but smaller than the default opening disk.
    unopened = compute_mask(anomaly_map, 0.5, kernel_size=0)
    assert np.any(unopened > compute_mask(anomaly_map, 0.5))


def test_demo_run_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-o", str(tmp_path)]) == 0

    names = [f"demo_{name}" for name in OUTPUT_FILES]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["demo.png", "demo.npy", *names]
    )
    heatmap = read_png(tmp_path / "demo_heatmap.png")
    overlay = read_png(tmp_path / "demo_overlay.png")
    mask = read_png(tmp_path / "demo_mask.png")
    outline = read_png(tmp_path / "demo_outline.png")
    assert heatmap.shape == overlay.shape == outline.shape == (256, 256, 3)
    assert mask.shape == (256, 256)
    assert np.array_equal(mask, compute_mask(DEMO_MAP, 0.5, kernel_size=4))
    assert np.array_equal(heatmap, anomaly_map_to_color_map(DEMO_MAP, normalize=False))
    assert np.array_equal(overlay, superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE))
    assert np.array_equal(outline, outline_of(DEMO_IMAGE, mask))
    boxes = read_boxes(tmp_path / "demo_boxes.json")
    assert boxes == boxes_of(mask, DEMO_MAP)
    assert len(boxes["boxes"]) == 2  # the scratch and the stain; the dust speck is opened away
    assert np.array_equal(read_png(tmp_path / "demo.png"), DEMO_IMAGE)
    assert np.array_equal(np.load(tmp_path / "demo.npy"), DEMO_MAP)

    out = capsys.readouterr().out
    for name in names:
        assert str(tmp_path / name) in out


def test_python_dash_m_runs_the_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anomaly_postprocess", "--output-dir", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for name in (f"demo_{name}" for name in OUTPUT_FILES):
        assert (tmp_path / "out" / name).is_file()
        assert str(Path("out") / name) in result.stdout


# --- files and directories ----------------------------------------------------------------


def test_directory_mode_reports_bad_files_and_processes_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maps, images, out = tmp_path / "maps", tmp_path / "images", tmp_path / "out"
    maps.mkdir()
    images.mkdir()
    small_image, small_map = DEMO_IMAGE[:96, :128], DEMO_MAP[:96, :128]
    good = {
        "plain": DEMO_MAP,
        "single": small_map[None],  # (1, H, W) in an .npz with one array
        "keyed": DEMO_MAP.astype(np.float64),  # in an .npz next to other arrays
    }
    np.save(maps / "plain.npy", good["plain"])
    np.savez(maps / "single.npz", good["single"])
    np.savez(maps / "keyed.npz", anomaly_map=good["keyed"], pred_score=np.float32(0.9))
    (maps / "corrupt.npy").write_bytes(b"\x93NUMPY this is not an array")
    nan_map = DEMO_MAP.copy()
    nan_map[10, 20] = np.nan
    np.save(maps / "nan.npy", nan_map)
    (maps / "notes.txt").write_text("not a map")  # ignored: not .npy/.npz
    for stem, image in [("plain", DEMO_IMAGE), ("single", small_image), ("keyed", DEMO_IMAGE)]:
        write_png(image, images / f"{stem}.png")
    write_png(DEMO_IMAGE, images / "nan.png")
    write_png(DEMO_IMAGE, images / "corrupt.png")

    assert main([str(maps), "--images", str(images), "-o", str(out), "-q"]) == 1

    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 2
    assert errors[0].startswith(f"{maps / 'corrupt.npy'}: ")
    assert errors[1].startswith(f"{maps / 'nan.npy'}: ")
    assert "NaN" in errors[1] and "row 10, column 20" in errors[1]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"{stem}_{name}" for stem in good for name in OUTPUT_FILES
    )
    for stem, anomaly_map in good.items():
        image = read_png(images / f"{stem}.png")
        mask = compute_mask(anomaly_map, 0.5)
        assert np.array_equal(read_png(out / f"{stem}_mask.png"), mask)
        assert np.array_equal(read_png(out / f"{stem}_outline.png"), outline_of(image, mask))
        assert read_boxes(out / f"{stem}_boxes.json") == boxes_of(mask, anomaly_map)
        assert np.array_equal(
            read_png(out / f"{stem}_heatmap.png"),
            anomaly_map_to_color_map(anomaly_map, normalize=False),
        )
        assert np.array_equal(
            read_png(out / f"{stem}_overlay.png"), superimpose_anomaly_map(anomaly_map, image)
        )


def test_without_images_only_heatmap_mask_and_boxes_are_written(tmp_path: Path) -> None:
    np.save(tmp_path / "part.npy", DEMO_MAP)
    assert main([str(tmp_path / "part.npy"), "-o", str(tmp_path / "out")]) == 0
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(
        f"part_{name}" for name in WITHOUT_IMAGE
    )
    mask = read_png(tmp_path / "out" / "part_mask.png")
    assert read_boxes(tmp_path / "out" / "part_boxes.json") == boxes_of(mask, DEMO_MAP)


def test_a_single_map_is_paired_with_a_single_image_whatever_its_name(tmp_path: Path) -> None:
    np.save(tmp_path / "map.npy", DEMO_MAP)
    write_png(DEMO_IMAGE, tmp_path / "photo.png")
    args = [str(tmp_path / "map.npy"), "-i", str(tmp_path / "photo.png"), "-o", str(tmp_path)]
    assert main(args) == 0
    overlay = read_png(tmp_path / "map_overlay.png")
    assert np.array_equal(overlay, superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE))


# --- images of another size than their map (--size, docs/behaviour.md#resizing) -----------


def run_with_image(
    tmp_path: Path, anomaly_map: np.ndarray, image: np.ndarray, *options: str
) -> dict[str, Any]:
    """Runs the CLI on one map and its image; returns the outputs as in run_on_demo_map."""
    tmp_path.mkdir(exist_ok=True)
    np.save(tmp_path / "part.npy", anomaly_map)
    write_png(image, tmp_path / "part.png")
    out = tmp_path / "out"
    args = [str(tmp_path / "part.npy"), "-i", str(tmp_path / "part.png"), "-o", str(out)]
    assert main([*args, "-q", *options]) == 0
    outputs: dict[str, Any] = {
        kind: read_png(out / f"part_{kind}.png")
        for kind in ("heatmap", "overlay", "mask", "outline")
    }
    outputs["boxes"] = read_boxes(out / "part_boxes.json")
    return outputs


# Images the demo map (256x256) was not computed at: smaller and not square, twice as
# large, and the 100x256 crop that the tool refused before it resized.
OTHER_SIZES = {
    "200x300": cv2.resize(DEMO_IMAGE, (300, 200), interpolation=cv2.INTER_AREA),
    "512x512": cv2.resize(DEMO_IMAGE, (512, 512), interpolation=cv2.INTER_CUBIC),
    "100x256": DEMO_IMAGE[:100],
}


@pytest.mark.parametrize("name", list(OTHER_SIZES))
@pytest.mark.parametrize("options", [(), ("--size", "map")], ids=["default", "--size map"])
def test_an_image_of_another_size_is_resized_to_the_map(
    tmp_path: Path, name: str, options: tuple[str, ...]
) -> None:
    image = OTHER_SIZES[name]
    outputs = run_with_image(tmp_path, DEMO_MAP, image, *options)
    # The library's overlay for that pair, byte for byte, at the map's size.
    expected_overlay = superimpose_anomaly_map(DEMO_MAP, image, size="map")
    assert outputs["overlay"].shape == (256, 256, 3)
    assert np.array_equal(outputs["overlay"], expected_overlay)
    # The outline is drawn on the image the overlay used: resized as cv2.resize does.
    resized = cv2.resize(image, (256, 256), interpolation=cv2.INTER_LINEAR)
    mask = compute_mask(DEMO_MAP, 0.5)
    assert np.array_equal(outputs["outline"], outline_of(resized, mask))
    assert np.array_equal(outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, normalize=False))
    assert np.array_equal(outputs["mask"], mask)
    assert outputs["boxes"] == boxes_of(mask, DEMO_MAP)


def nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """``mask`` scaled by Pillow's nearest-neighbour resize (each pixel takes the source
    pixel under its centre)."""
    return np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))


@pytest.mark.parametrize("name", list(OTHER_SIZES))
def test_size_image_keeps_the_image_resolution(tmp_path: Path, name: str) -> None:
    image = OTHER_SIZES[name]
    height, width = image.shape[:2]
    outputs = run_with_image(tmp_path, DEMO_MAP, image, "--size", "image", "-a", "0.5")
    expected_overlay = superimpose_anomaly_map(DEMO_MAP, image, alpha=0.5, size="image")
    assert outputs["overlay"].shape == (height, width, 3)
    assert np.array_equal(outputs["overlay"], expected_overlay)
    # The map's outputs keep the map's size; the outline is the mask, scaled to the
    # image by nearest neighbour, drawn on the image itself.
    mask = compute_mask(DEMO_MAP, 0.5)
    assert np.array_equal(outputs["mask"], mask)
    assert outputs["boxes"] == boxes_of(mask, DEMO_MAP)
    assert np.array_equal(outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, normalize=False))
    assert np.array_equal(outputs["outline"], outline_of(image, nearest(mask, height, width)))
    if name == "512x512":  # twice the map's size: each mask pixel becomes a 2x2 block
        blocks = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)
        assert np.array_equal(outputs["outline"], outline_of(image, blocks))


def test_size_does_not_matter_when_the_sizes_agree(tmp_path: Path) -> None:
    by_map = run_with_image(tmp_path / "map", DEMO_MAP, DEMO_IMAGE, "--size", "map")
    by_image = run_with_image(tmp_path / "image", DEMO_MAP, DEMO_IMAGE, "--size", "image")
    for kind in ("heatmap", "overlay", "mask", "outline"):
        assert np.array_equal(by_map[kind], by_image[kind]), kind
    assert np.array_equal(by_map["overlay"], superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE))


def test_a_directory_of_images_of_other_sizes_is_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    maps, images, out = tmp_path / "maps", tmp_path / "images", tmp_path / "out"
    maps.mkdir()
    images.mkdir()
    for name, image in OTHER_SIZES.items():
        np.save(maps / f"{name}.npy", DEMO_MAP)
        write_png(image, images / f"{name}.png")
    assert main([str(maps), "-i", str(images), "-o", str(out), "--size", "image"]) == 0
    assert error_lines(capsys.readouterr().err) == []
    for name, image in OTHER_SIZES.items():
        overlay = read_png(out / f"{name}_overlay.png")
        assert np.array_equal(overlay, superimpose_anomaly_map(DEMO_MAP, image, size="image"))


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("missing image", "no image in"),
        ("unreadable image", "cannot identify image file"),
        ("npz with several arrays", "holds 2 arrays"),
        ("batch of maps", "holds a batch of maps"),
        ("complex map", "got dtype complex64"),
        ("not numpy", "not a .npy or .npz file"),
    ],
)
def test_bad_pairs_fail_with_a_one_line_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, reason: str
) -> None:
    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    bad_map = maps / ("bad.npz" if setup == "npz with several arrays" else "bad.npy")
    bad_image = images / "bad.png"
    write_png(DEMO_IMAGE, bad_image)
    if setup == "missing image":
        np.save(bad_map, DEMO_MAP)
        bad_image.unlink()
    elif setup == "unreadable image":
        np.save(bad_map, DEMO_MAP)
        bad_image.write_bytes(b"\x89PNG truncated")
    elif setup == "npz with several arrays":
        np.savez(bad_map, first=DEMO_MAP, second=DEMO_MAP)
    elif setup == "batch of maps":
        np.save(bad_map, np.stack([DEMO_MAP, DEMO_MAP]))
    elif setup == "complex map":
        np.save(bad_map, DEMO_MAP.astype(np.complex64))
    else:
        bad_map.write_text("0.1 0.2\n0.3 0.4\n")
    np.save(maps / "good.npy", DEMO_MAP)
    write_png(DEMO_IMAGE, images / "good.png")

    assert main([str(maps), "-i", str(images), "-o", str(tmp_path / "out"), "-q"]) == 1

    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1
    culprit = bad_image if setup == "unreadable image" else bad_map
    assert errors[0].startswith(f"{culprit}: ")
    assert reason in errors[0]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(
        f"good_{name}" for name in OUTPUT_FILES
    )


# --- options -----------------------------------------------------------------------------


def run_on_demo_map(tmp_path: Path, *options: str) -> dict[str, Any]:
    """Runs the CLI on the demo map and image with ``options``; returns the outputs: the
    images by kind, and the parsed JSON as "boxes"."""
    tmp_path.mkdir(exist_ok=True)
    np.save(tmp_path / "demo.npy", DEMO_MAP)
    write_png(DEMO_IMAGE, tmp_path / "demo.png")
    out = tmp_path / "out"
    args = [str(tmp_path / "demo.npy"), "-i", str(tmp_path / "demo.png"), "-o", str(out)]
    assert main([*args, *options]) == 0
    outputs: dict[str, Any] = {
        kind: read_png(out / f"demo_{kind}.png")
        for kind in ("heatmap", "overlay", "mask", "outline")
    }
    outputs["boxes"] = read_boxes(out / "demo_boxes.json")
    return outputs


def test_kernel_size_and_threshold_are_honoured(tmp_path: Path) -> None:
    opened = run_on_demo_map(tmp_path / "k4", "--kernel-size", "4")["mask"]
    raw = run_on_demo_map(tmp_path / "k0", "--kernel-size", "0")["mask"]
    assert not np.array_equal(opened, raw)
    assert np.array_equal(raw, compute_mask(DEMO_MAP, 0.5, kernel_size=0))

    strict = run_on_demo_map(tmp_path / "t", "-t", "0.9", "-k", "2")["mask"]
    assert np.array_equal(strict, compute_mask(DEMO_MAP, 0.9, kernel_size=2))
    assert np.sum(strict == 255) < np.sum(opened == 255)


def test_normalize_and_alpha_are_honoured(tmp_path: Path) -> None:
    outputs = run_on_demo_map(tmp_path, "--normalize", "--alpha", "0.7")
    assert np.array_equal(outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, normalize=True))
    assert np.array_equal(
        outputs["overlay"], superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE, alpha=0.7, normalize=True)
    )
    assert np.array_equal(outputs["mask"], compute_mask(DEMO_MAP, 0.5))  # never normalized


@pytest.mark.parametrize("colormap", ["turbo", "viridis", "INFERNO"])
def test_colormap_colours_heatmap_and_overlay(tmp_path: Path, colormap: str) -> None:
    outputs = run_on_demo_map(tmp_path, "--colormap", colormap)
    name = colormap.lower()
    assert np.array_equal(
        outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, normalize=False, colormap=name)
    )
    assert np.array_equal(
        outputs["overlay"], superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE, colormap=name)
    )
    assert not np.array_equal(outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, False))
    assert np.array_equal(outputs["mask"], compute_mask(DEMO_MAP, 0.5))  # not coloured


def test_colormap_works_with_normalize(tmp_path: Path) -> None:
    outputs = run_on_demo_map(tmp_path, "--colormap", "hot", "--normalize", "-a", "0.6")
    assert np.array_equal(
        outputs["heatmap"], anomaly_map_to_color_map(DEMO_MAP, normalize=True, colormap="hot")
    )
    assert np.array_equal(
        outputs["overlay"],
        superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE, alpha=0.6, normalize=True, colormap="hot"),
    )


def test_colormap_choices_are_the_library_palettes() -> None:
    from anomaly_postprocess._native import PALETTES

    assert sorted(COLORMAPS) == sorted(PALETTES)
    assert {"jet", "turbo", "viridis", "inferno"} <= set(COLORMAPS)


def test_min_area_removes_small_regions_from_mask_outline_and_boxes(tmp_path: Path) -> None:
    # Without the opening the dust speck stays in the mask, as a third, small region.
    unfiltered = run_on_demo_map(tmp_path / "a0", "-k", "0")
    filtered = run_on_demo_map(tmp_path / "a50", "-k", "0", "--min-area", "50")
    expected = compute_mask(DEMO_MAP, 0.5, kernel_size=0, min_area=50)
    assert np.array_equal(filtered["mask"], expected)
    assert np.array_equal(unfiltered["mask"], compute_mask(DEMO_MAP, 0.5, kernel_size=0))
    assert not np.array_equal(filtered["mask"], unfiltered["mask"])
    assert len(unfiltered["boxes"]["boxes"]) == 3
    assert filtered["boxes"] == boxes_of(expected, DEMO_MAP)
    assert len(filtered["boxes"]["boxes"]) == 2
    assert np.array_equal(filtered["outline"], outline_of(DEMO_IMAGE, expected))

    everything = run_on_demo_map(tmp_path / "huge", "--min-area", "1000000")
    assert not everything["mask"].any()
    assert everything["boxes"]["boxes"] == []
    assert np.array_equal(everything["outline"], DEMO_IMAGE)


def test_boxes_json_matches_mask_to_boxes(tmp_path: Path) -> None:
    outputs = run_on_demo_map(tmp_path / "default")
    assert outputs["boxes"] == boxes_of(outputs["mask"], DEMO_MAP)
    corners = [{k: box[k] for k in ("x1", "y1", "x2", "y2")} for box in outputs["boxes"]["boxes"]]
    assert corners == [
        {"x1": 65, "y1": 68, "x2": 198, "y2": 174},  # the scratch
        {"x1": 73, "y1": 170, "x2": 95, "y2": 186},  # the rust stain
    ]
    # Inclusive corners: every box's edges touch the mask, and nothing lies outside them.
    mask = outputs["mask"]
    for box in outputs["boxes"]["boxes"]:
        inside = mask[box["y1"] : box["y2"] + 1, box["x1"] : box["x2"] + 1]
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
    covered = np.zeros_like(mask, dtype=bool)
    for box in outputs["boxes"]["boxes"]:
        covered[box["y1"] : box["y2"] + 1, box["x1"] : box["x2"] + 1] = True
    assert not mask[~covered].any()

    empty = run_on_demo_map(tmp_path / "empty", "-t", "0.99")  # above the map's maximum
    assert empty["boxes"] == {"width": 256, "height": 256, "boxes": []}


def test_boxes_json_of_a_non_square_map_gives_width_and_height(tmp_path: Path) -> None:
    np.save(tmp_path / "wide.npy", DEMO_MAP[40:140, :])
    assert main([str(tmp_path / "wide.npy"), "-o", str(tmp_path), "-q"]) == 0
    boxes = read_boxes(tmp_path / "wide_boxes.json")
    assert (boxes["width"], boxes["height"]) == (256, 100)
    assert boxes == boxes_of(read_png(tmp_path / "wide_mask.png"), DEMO_MAP[40:140, :])


def test_outline_is_mark_boundaries_in_the_chosen_colour(tmp_path: Path) -> None:
    red = run_on_demo_map(tmp_path / "red")
    assert np.array_equal(red["outline"], outline_of(DEMO_IMAGE, red["mask"]))
    green = run_on_demo_map(tmp_path / "green", "--outline-color", "0, 255,0")
    expected = outline_of(DEMO_IMAGE, green["mask"], color=(0, 255, 0))
    assert np.array_equal(green["outline"], expected)
    assert not np.array_equal(green["outline"], red["outline"])


# --- --png-compression ---------------------------------------------------------------------


def test_png_compression_changes_the_files_not_the_pixels(tmp_path: Path) -> None:
    levels = {
        level: run_on_demo_map(tmp_path / level, "--png-compression", level) for level in "019"
    }
    default = run_on_demo_map(tmp_path / "default")
    for kind in ("heatmap", "overlay", "mask", "outline"):
        for level in "09":
            assert np.array_equal(levels[level][kind], levels["1"][kind]), (kind, level)
        assert np.array_equal(default[kind], levels["1"][kind]), kind
    assert np.array_equal(levels["9"]["overlay"], superimpose_anomaly_map(DEMO_MAP, DEMO_IMAGE))

    def size(level: str, kind: str) -> int:
        return (tmp_path / level / "out" / f"demo_{kind}.png").stat().st_size

    for kind in ("heatmap", "overlay", "outline"):
        assert size("0", kind) > size("1", kind) > size("9", kind), kind
        assert size("0", kind) > 256 * 256 * 3  # level 0 stores the rows uncompressed
    # The default is level 1: the same bytes.
    for kind in ("heatmap", "overlay", "mask", "outline"):
        assert (tmp_path / "default" / "out" / f"demo_{kind}.png").read_bytes() == (
            tmp_path / "1" / "out" / f"demo_{kind}.png"
        ).read_bytes()


def test_png_compression_applies_to_the_demo(tmp_path: Path) -> None:
    assert main(["-o", str(tmp_path / "0"), "-q", "--png-compression", "0"]) == 0
    assert main(["-o", str(tmp_path / "9"), "-q", "--png-compression", "9"]) == 0
    for name in ("demo.png", "demo_overlay.png"):
        stored, packed = tmp_path / "0" / name, tmp_path / "9" / name
        assert stored.stat().st_size > 256 * 256 * 3 > packed.stat().st_size
        assert np.array_equal(read_png(stored), read_png(packed))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--png-compression", "10"],
            "argument --png-compression: expected an integer from 0 to 9, got '10'",
        ),
        (
            ["--png-compression", "-1"],
            "argument --png-compression: expected an integer from 0 to 9, got '-1'",
        ),
        (
            ["--png-compression", "1.5"],
            "argument --png-compression: expected an integer from 0 to 9, got '1.5'",
        ),
        (
            ["--png-compression", "fast"],
            "argument --png-compression: expected an integer from 0 to 9, got 'fast'",
        ),
        (["--jobs", "0"], "argument -j/--jobs: expected an integer from 1 to 1024, got '0'"),
        (["-j", "-2"], "argument -j/--jobs: expected an integer from 1 to 1024, got '-2'"),
        (["-j", "2.0"], "argument -j/--jobs: expected an integer from 1 to 1024, got '2.0'"),
        (["--jobs", "1025"], "argument -j/--jobs: expected an integer from 1 to 1024, got '1025'"),
        (["--jobs", "all"], "argument -j/--jobs: expected an integer from 1 to 1024, got 'all'"),
        (["--size", "Image"], "argument --size: invalid choice: 'Image'"),
        (["--size", "both"], "argument --size: invalid choice: 'both'"),
    ],
)
def test_bad_png_compression_jobs_and_size_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    errors = error_lines(capsys.readouterr().err)
    assert errors[-1] == f"anomaly-postprocess: error: {message}" or errors[-1].startswith(
        f"anomaly-postprocess: error: {message} (choose from"
    ), errors[-1]


def test_help_lists_every_output_and_the_boxes_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for name in OUTPUT_FILES:
        assert f"<stem>_{name}" in text
    for option in (
        "--colormap",
        "--min-area",
        "--outline-color",
        "turbo",
        "viridis",
        "--size",
        "--png-compression",
        "--jobs",
    ):
        assert option in text
    for key in ('"width"', '"height"', '"boxes"', '"x1"', '"y1"', '"x2"', '"y2"', "inclusive"):
        assert key in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--images", "images"],  # images without maps
        ["does-not-exist.npy"],
        ["--kernel-size", "-1"],
        ["--kernel-size", "2.5"],
        ["--threshold", "nan"],
        ["--alpha", "inf"],
        ["--frobnicate"],
        ["--colormap", "no-such-map"],
        ["--colormap", "2"],  # names only on the command line
        ["--min-area", "-1"],
        ["--min-area", "many"],
        ["--outline-color", "255,0"],
        ["--outline-color", "0,0,256"],
        ["--outline-color", "red"],
    ],
)
def test_usage_errors_exit_with_status_2(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_missing_cli_extra_is_explained(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes `import PIL` fail
    assert main(["-o", str(tmp_path)]) == 1
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1
    assert "pip install 'anomaly-postprocess[cli]'" in errors[0]
    assert not any(tmp_path.iterdir())
