"""The command line's PNG files (docs/behaviour.md#cli): the extension's encoder
(``_native.encode_png``, private) writes valid PNGs that Pillow decodes to exactly the
image's pixels, at every ``--png-compression`` level, gray and RGB, odd sizes, one row
or one column, any strides; the tool's outputs hold the library's bytes, as when Pillow
wrote them. Self-contained: imports only numpy, pytest, Pillow and the package.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

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
from anomaly_postprocess._native import encode_png
from anomaly_postprocess.cli import main
from anomaly_postprocess.demo import make_demo

LEVELS = range(10)
SIZES = [(1, 1), (1, 7), (1, 1000), (7, 1), (13, 29), (64, 65), (257, 255)]


def photo(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Smooth ramps plus noise: content the filters and DEFLATE have work on."""
    rng = np.random.default_rng(seed)
    ramps = np.add.outer(np.arange(shape[0]) * 3, np.arange(shape[1]) * 2) // 4
    if len(shape) == 3:
        ramps = ramps[..., None] + np.arange(shape[2]) * 40
    return ((ramps + rng.integers(0, 4, shape)) % 256).astype(np.uint8)


def chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order, after checking each chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        crc = int.from_bytes(data[at + 8 + length : at + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc, kind
        types.append(kind)
        at += 12 + length
    assert at == len(data)
    return types


def check(data: bytes, image: np.ndarray) -> None:
    """``data`` is a valid PNG (Pillow's verify and the chunk CRCs) that decodes to
    exactly ``image``, in mode L (gray) or RGB."""
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "PNG"
        opened.verify()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == ("L" if image.ndim == 2 else "RGB")
        assert opened.size == (image.shape[1], image.shape[0])
        decoded = np.asarray(opened)
    assert decoded.dtype == np.uint8
    assert np.array_equal(decoded, image)
    types = chunks(data)
    assert types[0] == b"IHDR" and types[-1] == b"IEND"
    assert set(types[1:-1]) == {b"IDAT"}


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("channels", [None, 3], ids=["gray", "rgb"])
def test_every_level_writes_a_valid_png_of_the_pixels(
    size: tuple[int, int], channels: int | None
) -> None:
    image = photo(size if channels is None else (*size, channels))
    before = image.copy()
    for level in LEVELS:
        data = encode_png(image, level)
        assert isinstance(data, bytes)
        check(data, image)
        # A round trip: what Pillow decodes, encoded again, gives the same file.
        with Image.open(io.BytesIO(data)) as opened:
            assert encode_png(np.asarray(opened), level) == data
    assert np.array_equal(image, before)  # the input is not modified


def test_level_0_stores_the_rows_and_higher_levels_compress() -> None:
    image = photo((200, 300, 3))
    sizes = [len(encode_png(image, level)) for level in LEVELS]
    assert sizes[0] > 200 * (300 * 3 + 1)  # each row's filter byte and pixels
    assert sizes[1] < sizes[0] / 2
    assert sizes[9] < sizes[1]


def test_strided_and_read_only_images_give_the_bytes_of_a_contiguous_copy() -> None:
    image = photo((40, 50, 3))
    read_only = image.copy()
    read_only.flags.writeable = False
    views = [
        image[::-1],
        image[:, ::2],
        image.transpose(1, 0, 2),
        image[..., 1],  # gray, every third byte
        image[..., 1].T,
        np.asfortranarray(image),
        read_only,
    ]
    for view in views:
        for level in (0, 1, 2):
            data = encode_png(view, level)
            assert data == encode_png(np.ascontiguousarray(view), level)
            check(data, view)


@pytest.mark.parametrize(
    ("image", "level", "error", "message"),
    [
        (
            np.zeros((4, 5), np.float32),
            1,
            TypeError,
            r"image must be a uint8 array of shape \(H, W\) or \(H, W, 3\), got float32 "
            r"array of shape \(4, 5\)",
        ),
        (
            np.zeros((4,), np.uint8),
            1,
            TypeError,
            r"image must be a uint8 array .*, got uint8 array of shape \(4,\)",
        ),
        ([[1, 2]], 1, TypeError, r"image must be a uint8 array .*, got list"),
        (
            np.zeros((4, 5, 4), np.uint8),
            1,
            ValueError,
            r"image must have 1 \(gray\) or 3 \(RGB\) channels, got 4",
        ),
        (
            np.zeros((0, 5), np.uint8),
            1,
            ValueError,
            r"image must be 1 to 2147483647 pixels on each side to be written as PNG, "
            r"got height 0 and width 5",
        ),
        (
            np.zeros((4, 0, 3), np.uint8),
            1,
            ValueError,
            r"got height 4 and width 0",
        ),
        (
            np.zeros((4, 5), np.uint8),
            10,
            ValueError,
            r"compression must be an integer from 0 to 9, got 10",
        ),
    ],
)
def test_bad_images_and_levels_are_refused(
    image: object, level: int, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        encode_png(image, level)  # type: ignore[arg-type]


def demo_outputs() -> dict[str, np.ndarray]:
    """What the tool must write for the built-in demo map and image, by the library."""
    image, anomaly_map = make_demo()
    mask = compute_mask(anomaly_map, 0.5)
    outline = mark_boundaries(image, mask, color=(255, 0, 0))
    return {
        "heatmap": anomaly_map_to_color_map(anomaly_map, normalize=False),
        "overlay": superimpose_anomaly_map(anomaly_map, image, normalize=False),
        "mask": mask,
        "outline": draw_boxes(outline, mask_to_boxes(mask), color=(255, 0, 0)),
    }


@pytest.mark.parametrize("level", LEVELS)
def test_the_tool_writes_the_pixels_pillow_wrote(tmp_path: Path, level: int) -> None:
    """At every level, each output is a valid PNG of the library's bytes: the pixels
    that the tool wrote with Pillow's encoder before it had its own."""
    image, anomaly_map = make_demo()
    np.save(tmp_path / "demo.npy", anomaly_map)
    Image.fromarray(image).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    argv = [str(tmp_path / "demo.npy"), "-i", str(tmp_path / "photo.png"), "-o", str(out)]
    assert main([*argv, "-q", "--png-compression", str(level)]) == 0
    for kind, expected in demo_outputs().items():
        data = (out / f"demo_{kind}.png").read_bytes()
        check(data, expected)
        old = io.BytesIO()
        Image.fromarray(expected).save(old, format="PNG", compress_level=level)
        with Image.open(old) as opened:
            assert np.array_equal(np.asarray(opened), expected)


def test_the_demo_image_is_a_valid_png(tmp_path: Path) -> None:
    assert main(["-o", str(tmp_path), "-q"]) == 0
    image, _ = make_demo()
    check((tmp_path / "demo.png").read_bytes(), image)
