"""The command line on hostile files (docs/behaviour.md#cli): map files whose headers
lie about their size, empty archives, outputs that cannot be written, and images that
are not plain 8-bit RGB.

Every bad file is reported on one line ``path: reason``, nothing is written for its
map, and the other maps are still processed.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

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
from anomaly_postprocess.cli import main
from conftest import error_lines, random_image, read_png

OUTPUTS = ("heatmap.png", "overlay.png", "mask.png", "outline.png", "boxes.json")
WITHOUT_IMAGE = ("heatmap.png", "mask.png", "boxes.json")
H, W = 24, 32


def good_map(seed: int = 0) -> np.ndarray:
    """A float32 map in [0, 1) with a block above the default threshold."""
    values = np.random.default_rng(seed).random((H, W), dtype=np.float32) * 0.4
    values[5:15, 8:20] = 0.9
    return values


def good_image(seed: int = 1) -> np.ndarray:
    return random_image(seed, (H, W))


def npy_header(shape: tuple[int, ...], descr: str = "<f4", version: int = 1) -> bytes:
    """The header numpy writes for an array of ``shape``: with no data after it, a file
    that claims far more than it holds (128 bytes for a (100000, 100000) map)."""
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    stream = io.BytesIO()
    write = np.lib.format.write_array_header_1_0
    if version == 2:
        write = np.lib.format.write_array_header_2_0
    write(stream, header)
    return stream.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return stream.getvalue()


def patched(archive: bytes, field: str, value: int) -> bytes:
    """The one-member zip ``archive`` with ``field`` of the member set to ``value`` in
    both its local header and the central directory."""
    # field -> (struct format, offset in the local header, offset in the central one)
    fmt, local_offset, central_offset = {
        "flags": ("<H", 6, 8),
        "method": ("<H", 8, 10),
        "file_size": ("<I", 22, 24),
    }[field]
    data = bytearray(archive)
    struct.pack_into(fmt, data, data.index(b"PK\x03\x04") + local_offset, value)
    struct.pack_into(fmt, data, data.index(b"PK\x01\x02") + central_offset, value)
    return bytes(data)


def with_claimed_size(archive: bytes, file_size: int) -> bytes:
    """The one-member zip ``archive`` claiming ``file_size`` uncompressed bytes."""
    return patched(archive, "file_size", file_size)


# --------------------------------------------------------- headers that claim too much

# A (30000, 30000) float32 map is 3.6 GB: more than the child's 2 GiB address space.
BIG = (30000, 30000)
BIG_BYTES = 30000 * 30000 * 4

LYING_FILES: dict[str, tuple[str, bytes]] = {
    "npy 1.0, 128 bytes, (100000, 100000)": ("bomb.npy", npy_header((100000, 100000))),
    "npy 2.0": ("bomb.npy", npy_header(BIG, version=2)),
    "npy, big-endian float64": ("bomb.npy", npy_header(BIG, ">f8")),
    "npy, one value short": (
        "bomb.npy",
        npy_header((H, W)) + np.zeros(H * W - 1, "<f4").tobytes(),
    ),
    "npz, stored member": ("bomb.npz", zip_bytes({"anomaly_map.npy": npy_header(BIG)})),
    "npz, compressed member": (
        "bomb.npz",
        zip_bytes({"anomaly_map.npy": npy_header(BIG)}, zipfile.ZIP_DEFLATED),
    ),
    "npz, directory claims the header's size": (
        "bomb.npz",
        with_claimed_size(
            zip_bytes({"anomaly_map.npy": npy_header(BIG)}, zipfile.ZIP_DEFLATED),
            len(npy_header(BIG)) + BIG_BYTES,
        ),
    ),
    "npz, stored member, directory claims the header's size": (
        "bomb.npz",
        with_claimed_size(
            zip_bytes({"anomaly_map.npy": npy_header(BIG)}),
            len(npy_header(BIG)) + BIG_BYTES,
        ),
    ),
}

# The CLI in a child process whose address space is limited to 2 GiB: a reader that
# believes a lying header fails at once (MemoryError) instead of taking the machine's
# memory.
_LIMITED_CLI = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    from anomaly_postprocess.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run_limited_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANOMALY_POSTPROCESS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _LIMITED_CLI, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("case", list(LYING_FILES))
def test_a_header_claiming_more_than_the_file_holds_is_one_line(tmp_path: Path, case: str) -> None:
    """The header's claimed size is checked against the file's (or the archive
    member's) before anything is allocated; the good maps after it are processed."""
    name, content = LYING_FILES[case]
    maps, out = tmp_path / "maps", tmp_path / "out"
    maps.mkdir()
    (maps / name).write_bytes(content)
    np.save(maps / "good.npy", good_map())  # sorted after "bomb"
    if case.startswith("npy 1.0"):
        assert len(content) == 128

    done = run_limited_cli(str(maps), "-o", str(out), "-q", cwd=tmp_path)

    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = error_lines(done.stderr)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{maps / name}: "), errors[0]
    assert "claims" in errors[0] and "bytes" in errors[0], errors[0]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"good_{output}" for output in WITHOUT_IMAGE
    )
    assert np.array_equal(read_png(out / "good_mask.png"), compute_mask(good_map(), 0.5))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", ["<f4", ">f8", "<f2", "|u1", "<i8", "|b1"])
def test_honest_files_still_load(tmp_path: Path, compression: int, order: str, dtype: str) -> None:
    """Every layout numpy writes loads as np.load gives it, also compressed maps whose
    data is far larger than the archive (a constant map compresses ~1000:1)."""
    values = good_map()
    if np.dtype(dtype).kind == "b":
        values = values > 0.5
    elif np.dtype(dtype).kind in "iu":
        values = values * 100
    array = np.asarray(values, dtype=dtype, order=order)
    constant = np.zeros((400, 500), dtype=dtype)  # 1.6 MB of float64 zeros
    np.save(tmp_path / "plain.npy", array)
    (tmp_path / "packed.npz").write_bytes(
        zip_bytes({"anomaly_map.npy": npy_bytes(array)}, compression)
    )
    (tmp_path / "zeros.npz").write_bytes(zip_bytes({"z.npy": npy_bytes(constant)}, compression))
    out = tmp_path / "out"
    for stem, expected in [("plain", array), ("packed", array), ("zeros", constant)]:
        path = tmp_path / f"{stem}.{'npy' if stem == 'plain' else 'npz'}"
        assert main([str(path), "-o", str(out), "-q", "--normalize"]) == 0
        heatmap = read_png(out / f"{stem}_heatmap.png")
        assert np.array_equal(heatmap, anomaly_map_to_color_map(expected, normalize=True))
        mask = read_png(out / f"{stem}_mask.png")
        assert np.array_equal(mask, compute_mask(expected, 0.5))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda path: np.savez(path), "holds no arrays"),
        (lambda path: np.savez_compressed(path), "holds no arrays"),
        (
            lambda path: path.write_bytes(zip_bytes({"notes.txt": b"not an array"})),
            "'notes.txt' is not a .npy array",
        ),
        (
            lambda path: path.write_bytes(
                zip_bytes({"anomaly_map.npy": npy_bytes(np.array([[0.5, None]], dtype=object))})
            ),
            "holds Python objects",
        ),
        (
            lambda path: path.write_bytes(zip_bytes({"a.npy": b"", "b.npy": b""})),
            "holds 2 arrays ['a', 'b']",
        ),
        (
            lambda path: path.write_bytes(
                patched(zip_bytes({"anomaly_map.npy": npy_bytes(good_map())}), "flags", 1)
            ),
            "cannot read its array 'anomaly_map'",
        ),
        (
            lambda path: path.write_bytes(
                patched(zip_bytes({"anomaly_map.npy": npy_bytes(good_map())}), "method", 99)
            ),
            "cannot read its array 'anomaly_map'",
        ),
    ],
    ids=[
        "savez()",
        "savez_compressed()",
        "not npy member",
        "object array",
        "two members",
        "encrypted member",
        "unknown compression method",
    ],
)
def test_archives_without_a_readable_map_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, reason: str
) -> None:
    path = tmp_path / "x.npz"
    content(path)
    assert main([str(path), "-o", str(tmp_path / "out"), "-q"]) == 1
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}: "), errors[0]
    assert reason in errors[0], errors[0]
    assert "not a .npy or .npz file" not in errors[0], errors[0]
    assert not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------ all outputs of a map or none


@pytest.mark.parametrize("blocked", OUTPUTS)
def test_an_output_that_cannot_be_written_leaves_nothing_for_its_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blocked: str
) -> None:
    """``out/x_<output>`` is a directory: one line names that output, no output of x
    is written (nor any temporary file left behind), earlier outputs of x keep their
    content, and y is processed in full."""
    maps, images, out = tmp_path / "maps", tmp_path / "images", tmp_path / "out"
    for directory in (maps, images, out):
        directory.mkdir()
    for stem, seed in [("x", 0), ("y", 5)]:
        np.save(maps / f"{stem}.npy", good_map(seed))
        Image.fromarray(good_image(seed + 1)).save(images / f"{stem}.png")
    (out / f"x_{blocked}").mkdir()
    earlier = "heatmap.png" if blocked != "heatmap.png" else "mask.png"
    (out / f"x_{earlier}").write_bytes(b"from an earlier run")

    assert main([str(maps), "-i", str(images), "-o", str(out), "-q"]) == 1

    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{out / f'x_{blocked}'}: "), errors[0]
    assert "Is a directory" in errors[0], errors[0]
    assert f"nothing was written for {maps / 'x.npy'}" in errors[0], errors[0]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [f"x_{blocked}", f"x_{earlier}", *(f"y_{name}" for name in OUTPUTS)]
    )
    assert not any((out / f"x_{blocked}").iterdir())
    assert (out / f"x_{earlier}").read_bytes() == b"from an earlier run"
    y_map, y_image = good_map(5), good_image(6)
    assert np.array_equal(read_png(out / "y_overlay.png"), superimpose_anomaly_map(y_map, y_image))


def test_outputs_replace_earlier_ones_with_the_usual_permissions(tmp_path: Path) -> None:
    """Outputs are renamed into place from temporary files: an earlier output is
    replaced, and the files get the permissions the umask gives new files."""
    np.save(tmp_path / "x.npy", good_map())
    out = tmp_path / "out"
    out.mkdir()
    (out / "x_mask.png").write_bytes(b"stale")
    assert main([str(tmp_path / "x.npy"), "-o", str(out), "-q"]) == 0
    assert np.array_equal(read_png(out / "x_mask.png"), compute_mask(good_map(), 0.5))
    umask = os.umask(0)
    os.umask(umask)
    assert sorted(path.name for path in out.iterdir()) == sorted(f"x_{n}" for n in WITHOUT_IMAGE)
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path


def test_an_unwritable_demo_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo_overlay.png").mkdir()
    assert main(["-o", str(tmp_path)]) == 1
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"anomaly-postprocess: {tmp_path / 'demo_overlay.png'}: ")
    assert "none of the demo's outputs was written" in errors[0], errors[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "demo.npy",
        "demo.png",
        "demo_overlay.png",
    ]


# ------------------------------------------------------------------- images that are not 8-bit RGB


def png_bytes(array: np.ndarray, color_type: int) -> bytes:
    """A PNG of ``array`` (uint8 or uint16: bit depth 8 or 16) written by hand, for the
    kinds Pillow cannot write (16-bit RGB, RGBA, gray + alpha). Color types: 0 gray,
    2 RGB, 4 gray + alpha, 6 RGBA."""
    height, width = array.shape[:2]
    depth = 16 if array.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(array.reshape(height, -1).astype(f">u{depth // 8}"))
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def gray16() -> np.ndarray:
    """16-bit values over the whole range (nearly all above 255)."""
    return np.random.default_rng(7).integers(0, 65536, (H, W), dtype=np.uint16)


def rgb16() -> np.ndarray:
    return np.random.default_rng(8).integers(0, 65536, (H, W, 3), dtype=np.uint16)


def rgba8() -> np.ndarray:
    return np.random.default_rng(9).integers(0, 256, (H, W, 4), dtype=np.uint8)


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=-1)


def write_pillow(array: np.ndarray, path: Path, mode: str | None = None, **options: Any) -> None:
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
    image.save(path, **options)


def write_palette(path: Path, transparency: Any = None) -> None:
    image = Image.fromarray(good_image()).quantize(colors=16)
    if transparency is None:
        image.save(path, format="PNG")
    else:
        image.save(path, format="PNG", transparency=transparency)


def palette_rgb(path: Path) -> np.ndarray:
    """The palette's colours of each pixel, looked up by hand."""
    with Image.open(path) as image:
        assert image.mode == "P"
        indices = np.asarray(image)
        palette = np.frombuffer(image.palette.tobytes(), np.uint8).reshape(-1, 3)
    return palette[indices]


# name -> (writes the image file, the 8-bit RGB image the CLI must draw on)
IMAGE_CASES: dict[str, tuple[Any, Any]] = {
    "16-bit gray (I;16)": (
        lambda path: write_pillow(gray16(), path),
        lambda path: gray_to_rgb((gray16() >> 8).astype(np.uint8)),
    ),
    "16-bit gray, written by hand": (
        lambda path: path.write_bytes(png_bytes(gray16(), 0)),
        lambda path: gray_to_rgb((gray16() >> 8).astype(np.uint8)),
    ),
    "16-bit RGB": (
        lambda path: path.write_bytes(png_bytes(rgb16(), 2)),
        lambda path: (rgb16() >> 8).astype(np.uint8),
    ),
    "16-bit RGBA, alpha dropped": (
        lambda path: path.write_bytes(png_bytes(np.dstack([rgb16(), gray16()]), 6)),
        lambda path: (rgb16() >> 8).astype(np.uint8),
    ),
    "16-bit gray + alpha, alpha dropped": (
        lambda path: path.write_bytes(png_bytes(np.dstack([gray16(), gray16()[::-1]]), 4)),
        lambda path: gray_to_rgb((gray16() >> 8).astype(np.uint8)),
    ),
    "8-bit RGBA, alpha dropped": (
        lambda path: write_pillow(rgba8(), path),
        lambda path: rgba8()[..., :3],
    ),
    "8-bit gray + alpha (LA), alpha dropped": (
        lambda path: write_pillow(rgba8()[..., :2], path, "LA"),
        lambda path: gray_to_rgb(rgba8()[..., 0]),
    ),
    "8-bit gray": (
        lambda path: write_pillow(rgba8()[..., 0], path),
        lambda path: gray_to_rgb(rgba8()[..., 0]),
    ),
    "palette": (write_palette, palette_rgb),
    "palette with transparent entries, alpha dropped": (
        lambda path: write_palette(path, bytes([0, 128] + [255] * 14)),
        palette_rgb,
    ),
    "palette with a transparent index, alpha dropped": (
        lambda path: write_palette(path, 3),
        palette_rgb,
    ),
}


@pytest.mark.parametrize("case", list(IMAGE_CASES))
def test_images_are_reduced_to_8_bit_rgb_without_clipping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    """16-bit images keep each value's high byte (>> 8), as the help says; Pillow's
    convert("RGB") would clip 99.6% of a uniform 16-bit image to white."""
    write, expected = IMAGE_CASES[case]
    image_path = tmp_path / "x.png"
    write(image_path)
    rgb = expected(image_path)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    np.save(tmp_path / "x.npy", good_map())
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([str(tmp_path / "x.npy"), "-i", str(image_path), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert [str(w.message) for w in caught] == []  # a warning would be a stray stderr line
    overlay = read_png(out / "x_overlay.png")
    assert np.array_equal(overlay, superimpose_anomaly_map(good_map(), rgb))
    mask = compute_mask(good_map(), 0.5)
    expected = draw_boxes(mark_boundaries(rgb, mask), mask_to_boxes(mask))
    assert np.array_equal(read_png(out / "x_outline.png"), expected)


def test_16_bit_png_opened_as_mode_i_keeps_the_high_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pillow before 11 opened 16-bit grayscale PNGs as mode "I" (32-bit) instead of
    "I;16": such a PNG is still 16-bit and gets the same high byte."""
    real_open = Image.open

    def open_as_mode_i(*args: Any, **kwargs: Any) -> Image.Image:
        with real_open(*args, **kwargs) as image:
            opened_as_i = image.convert("I")
            opened_as_i.format = image.format
        return opened_as_i

    write_pillow(gray16(), tmp_path / "x.png")
    np.save(tmp_path / "x.npy", good_map())
    monkeypatch.setattr(Image, "open", open_as_mode_i)
    args = [str(tmp_path / "x.npy"), "-i", str(tmp_path / "x.png"), "-o", str(tmp_path), "-q"]
    assert main(args) == 0
    rgb = gray_to_rgb((gray16() >> 8).astype(np.uint8))
    monkeypatch.undo()
    assert np.array_equal(
        read_png(tmp_path / "x_overlay.png"), superimpose_anomaly_map(good_map(), rgb)
    )


@pytest.mark.parametrize(
    ("mode", "values", "reason"),
    [
        ("F", np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W), "floating-point"),
        ("I", np.arange(H * W, dtype=np.int32).reshape(H, W) * 5000, "32-bit integer"),
    ],
)
def test_32_bit_images_are_refused_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, values: np.ndarray, reason: str
) -> None:
    """Pillow opens a file by its content: a TIFF named .png can hold 32-bit values
    whose range is unknown. Refused on one line; the next map is still processed."""
    maps, images, out = tmp_path / "maps", tmp_path / "images", tmp_path / "out"
    maps.mkdir()
    images.mkdir()
    np.save(maps / "a.npy", good_map())
    write_pillow(values, images / "a.png", mode, format="TIFF")
    np.save(maps / "b.npy", good_map(3))
    Image.fromarray(good_image()).save(images / "b.png")

    assert main([str(maps), "-i", str(images), "-o", str(out), "-q"]) == 1

    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{images / 'a.png'}: "), errors[0]
    assert reason in errors[0] and f"mode {mode}" in errors[0], errors[0]
    assert sorted(path.name for path in out.iterdir()) == sorted(f"b_{n}" for n in OUTPUTS)


def test_an_image_claiming_too_many_pixels_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 100-byte PNG whose header claims 20000 x 20000 pixels: Pillow refuses it as a
    decompression bomb with an exception that is no OSError; still one line."""
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    png = png_bytes(good_image(), 2)
    start = png.index(b"IHDR") + 4
    bomb = bytearray(png)
    bomb[start : start + len(header)] = header
    crc = struct.pack(">I", zlib.crc32(bytes(bomb[start - 4 : start + len(header)])))
    bomb[start + len(header) : start + len(header) + 4] = crc
    maps, images, out = tmp_path / "maps", tmp_path / "images", tmp_path / "out"
    maps.mkdir()
    images.mkdir()
    (images / "a.png").write_bytes(bytes(bomb))
    np.save(maps / "a.npy", good_map())
    np.save(maps / "b.npy", good_map(3))
    Image.fromarray(good_image()).save(images / "b.png")

    assert main([str(maps), "-i", str(images), "-o", str(out), "-q"]) == 1

    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{images / 'a.png'}: "), errors[0]
    assert "400000000 pixels" in errors[0], errors[0]
    assert sorted(path.name for path in out.iterdir()) == sorted(f"b_{n}" for n in OUTPUTS)


def test_help_says_how_images_are_converted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "16-bit images keep the high byte of each value (value >> 8" in text, text
    assert "alpha channel is dropped" in text, text
    assert "32-bit integer and floating-point images are refused" in text, text
