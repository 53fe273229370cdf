"""The ``anomaly-postprocess`` command: anomaly maps in; heatmap, overlay, mask and
outline PNGs and bounding-box JSON out.

Pillow and tqdm come with the optional ``cli`` extra, so they are imported only when
the command runs.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import math
import os
import re
import shlex
import sys
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
from numpy.lib import format as npy_format
from numpy.typing import NDArray

from . import __version__
from ._api import draw_boxes, mark_boundaries, mask_to_boxes, postprocess
from ._args import map_stack
from ._native import PALETTES, encode_png, resize_image
from .demo import make_demo

PROG = "anomaly-postprocess"
OUTPUT_DIR = Path("anomaly-postprocess-out")
DEMO_OUTPUT_DIR = Path("anomaly-postprocess-demo")
MAP_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
NPZ_MAP_KEY = "anomaly_map"
COLORMAPS = tuple(sorted(PALETTES))  # OpenCV's colormaps, by lower-case name
DEFAULT_COLORMAP = "jet"  # anomalib's
DEFAULT_OUTLINE_COLOR = (255, 0, 0)
SIZES = ("map", "image")  # superimpose_anomaly_map's size= (docs/behaviour.md#resizing)
# Level 1: fdeflate's fast mode (src/png.rs), about as small as zlib's level 1 in a
# tenth of the time; zlib's level 6 writes files about 13% smaller in more than ten
# times the time (benches/cli.py, docs/performance.md).
DEFAULT_PNG_COMPRESSION = 1
MAX_JOBS = 1024  # as the library's set_num_threads: more would only exhaust the threads

_NPY_MAGIC = b"\x93NUMPY"
# A zip archive starts with its first member's local header, or (without members, as
# np.savez() with no arrays writes it) with the end-of-central-directory record.
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# A map file's data is read in pieces of this size, so what is read never exceeds what
# the file (or archive member) really holds, whatever its header claims.
_READ_CHUNK = 1 << 20
# An output of one map: an image written as PNG, or JSON text.
_Output = NDArray[np.uint8] | str
# What reading, checking or rendering one bad input file can raise.
_FILE_ERRORS = (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error)

_DESCRIPTION = """\
Turn anomaly maps into anomalib-style outputs: a colour heatmap (JET by
default), the heatmap superimposed on the inspected image, a thresholded
defect mask, the mask's outline drawn on the image, and the bounding boxes of
the defects as JSON. Run it without arguments to render a built-in demo."""

_EPILOG = f"""\
outputs, written to DIR (default: ./{OUTPUT_DIR}, or
./{DEMO_OUTPUT_DIR} for the demo), for a map file <stem>.npy/.npz:
  <stem>_heatmap.png  the anomaly map in colour (RGB, --colormap)
  <stem>_overlay.png  heatmap blended over the image (only with --images)
  <stem>_mask.png     0/255 mask: map > threshold, opened with a disk, then
                      regions under --min-area pixels removed
  <stem>_outline.png  the image with the mask's outline and the regions'
                      boxes painted on it in --outline-color (only with --images)
  <stem>_boxes.json   the bounding box and score of each region of the mask

<stem>_boxes.json holds one JSON object, for example:
  {{
    "width": 256,
    "height": 256,
    "boxes": [
      {{"x1": 65, "y1": 68, "x2": 198, "y2": 174, "score": 0.949999988079071}},
      {{"x1": 73, "y1": 170, "x2": 95, "y2": 186, "score": 0.949999988079071}}
    ]
  }}
width and height are the map's size in pixels. Each box is one 8-connected
region of <stem>_mask.png: (x1, y1) is its top-left and (x2, y2) its
bottom-right pixel, both inclusive, x counting columns and y rows from 0 at
the top left. Boxes come in the order cv2.connectedComponentsWithStats labels
the regions (roughly top to bottom); an empty mask gives "boxes": []. score
is the map's maximum over the region's pixels, in the map's precision (null
for a region of only NaN values).

exit status: 0 if every map was processed; 1 if any failed (each failure is
reported on stderr as 'path: reason', nothing is written for that map, and
the other maps are still processed); 2 for usage errors."""


class _FileError(Exception):
    """A problem with one input file, reported as ``path: reason``."""

    def __init__(self, path: Path, reason: object) -> None:
        text = " ".join(str(reason).split()) or type(reason).__name__
        super().__init__(f"{path}: {text}")


@contextmanager
def _blame(path: Path) -> Iterator[None]:
    """Turns a failure of the enclosed block into a :class:`_FileError` for ``path``."""
    try:
        yield
    except _FILE_ERRORS as error:
        raise _FileError(path, error) from None
    except MemoryError as error:  # e.g. a real map too large for this machine
        raise _FileError(path, f"not enough memory to process it: {error}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.maps is None and args.images is not None:
        parser.error("--images needs MAPS")
    if args.value_range is not None:
        low, high = args.value_range
        if not low < high:
            parser.error(f"--value-range needs LOW < HIGH, got {low!r} {high!r}")
        if args.normalize:
            parser.error("--value-range and --normalize: use one, not both")
        args.value_range = (low, high)
    for path in (args.maps, args.images):
        if path is not None and not path.exists():
            parser.error(f"{path} does not exist")
    if (
        args.maps is not None
        and args.maps.is_dir()
        and args.images is not None
        and not args.images.is_dir()
    ):
        parser.error("--images must be a directory when MAPS is a directory")

    try:
        import PIL  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as error:
        print(
            f"{PROG}: the command-line tool needs Pillow and tqdm (import of {error.name} failed); "
            "install them with: pip install 'anomaly-postprocess[cli]'",
            file=sys.stderr,
        )
        return 1

    if args.jobs is None:
        args.jobs = available_cores()
    if args.maps is None:
        return _run_demo(args)
    return _run_maps(args)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "maps",
        nargs="?",
        type=Path,
        metavar="MAPS",
        help="an anomaly map file (.npy, or .npz holding a single array or an array "
        f"named '{NPZ_MAP_KEY}') or a directory of them; each file holds one map "
        "(H, W). Without MAPS, render the built-in demo.",
    )
    parser.add_argument(
        "-i",
        "--images",
        type=Path,
        metavar="IMAGES",
        help="the image the map was computed on (PNG/JPEG), or a directory of them "
        "paired with the maps by file stem (a.npy with a.png). An image of another "
        "size than its map is resized (see --size). Needed for the overlay and the "
        "outline; without it only the heatmap, the mask and the boxes are written. "
        "Images are used as "
        "8-bit RGB: grayscale and palette images are converted to RGB; 16-bit images "
        "keep the high byte of each value (value >> 8, as OpenCV's imread does); an "
        "alpha channel is dropped (colours are used as they are, not blended over a "
        "background); 32-bit integer and floating-point images are refused.",
    )
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="map",
        help="when an image's size differs from its map's: 'map' resizes the image to "
        "the map's size (bilinear, bit-exact with OpenCV's cv2.resize INTER_LINEAR, as "
        "anomalib does); 'image' resizes the map to the image's size instead, so the "
        "overlay and the outline keep the image's full resolution (the outline then "
        "draws the mask scaled up or down to the image by nearest neighbour). The "
        "heatmap, the mask and the boxes always have the map's size. (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="the directory to write the outputs to, created if missing (default: see below)",
    )
    parser.add_argument(
        "-t",
        "--threshold",
        type=_finite_float,
        default=0.5,
        metavar="T",
        help="mask the pixels whose map value is strictly above T (default: "
        "%(default)s, anomalib's threshold for its normalized maps). The mask always "
        "uses the stored values, even with --normalize.",
    )
    parser.add_argument(
        "-k",
        "--kernel-size",
        type=_non_negative_int,
        default=4,
        metavar="K",
        help="radius of the disk that opens the mask, removing specks smaller than "
        "the disk; 0 disables it (default: %(default)s)",
    )
    parser.add_argument(
        "--min-area",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="after the opening, remove the mask's regions (8-connected) of fewer "
        "than N pixels, so they get no outline and no box; 0 keeps every region "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "-a",
        "--alpha",
        type=_finite_float,
        default=0.4,
        metavar="A",
        help="weight of the heatmap in the overlay, where the image's weight is one "
        "minus it (default: %(default)s)",
    )
    parser.add_argument(
        "--colormap",
        type=str.lower,
        choices=COLORMAPS,
        default=DEFAULT_COLORMAP,
        metavar="NAME",
        help="OpenCV colormap of the heatmap and the overlay, bit-exact with "
        f"cv2.applyColorMap: {', '.join(COLORMAPS)} (default: %(default)s, as in anomalib)",
    )
    parser.add_argument(
        "--outline-color",
        type=_rgb_color,
        default=DEFAULT_OUTLINE_COLOR,
        metavar="R,G,B",
        help="colour of the outline, three integers 0..255 (default: "
        f"{','.join(map(str, DEFAULT_OUTLINE_COLOR))}, red)",
    )
    parser.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="min-max stretch each map before colouring the heatmap and the overlay, "
        "so its lowest value is dark blue and its highest dark red. Off by default, as "
        "in anomalib's visualizer: maps are expected in [0, 1] (anomalib's normalized "
        "output), values outside saturate, and colours mean the same score in every "
        "image. Use --normalize for raw, unnormalized scores.",
    )
    parser.add_argument(
        "--value-range",
        nargs=2,
        type=_finite_float,
        metavar=("LOW", "HIGH"),
        help="colour the heatmap and the overlay on a fixed range of scores: LOW is dark "
        "blue, HIGH dark red, values outside saturate. The same range for every map, so "
        "a colour means the same score in every image and a good part stays blue (with "
        "--normalize its largest score, however small, is dark red); e.g. 0 and twice "
        "the image threshold. Instead of --normalize, not with it. The mask always uses "
        "the stored values.",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar and no summary; failures are still reported",
    )
    parser.add_argument(
        "--png-compression",
        type=_png_compression,
        default=DEFAULT_PNG_COMPRESSION,
        metavar="LEVEL",
        help="compression level of the PNGs written, 0 (none: fastest, largest files) "
        "to 9 (slowest, smallest): 1 is a fast DEFLATE encoder (fdeflate), 2 to 9 are "
        "zlib's levels (as Pillow's compress_level). The pixels are the same at every "
        "level. (default: %(default)s: more than ten times faster to write than level 6, "
        "for files about 15%% larger)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="process N maps at a time, each on its own thread (reading, computing and "
        "writing all run in parallel); the outputs are the same for every N, and "
        "failures are reported in the order of the maps (default: the number of CPU "
        "cores available to the process)",
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    # argparse's pattern of negative numbers has no exponent (before Python 3.13), so it
    # takes "-1e-3" for an unknown option; --value-range's LOW may be written so.
    parser._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$", re.I)
    return parser


def _png_compression(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 9, got {text!r}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to {MAX_JOBS}, got {text!r}")
    return value


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the system has one
    (``os.process_cpu_count`` on Python >= 3.13), else all of the machine's."""
    if sys.version_info >= (3, 13):
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _rgb_color(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        red, green, blue = (int(part) for part in parts)
    except ValueError:
        red = green = blue = -1
    if not all(0 <= value <= 255 for value in (red, green, blue)):
        raise argparse.ArgumentTypeError(
            f"expected three integers 0..255 separated by commas (R,G,B), got {text!r}"
        )
    return red, green, blue


def _run_demo(args: argparse.Namespace) -> int:
    """Renders the built-in demo and prints where each file went."""
    output_dir = args.output_dir or DEMO_OUTPUT_DIR
    image, anomaly_map = make_demo()
    image_path, map_path = output_dir / "demo.png", output_dir / "demo.npy"
    if not _create_dir(output_dir):
        return 1
    try:
        _write_png(image, image_path, args.png_compression)
        np.save(map_path, anomaly_map)
        outputs = _render(anomaly_map, image, args)
        written = _write_outputs(
            outputs,
            output_dir,
            "demo",
            "none of the demo's outputs was written",
            args.png_compression,
        )
    except OSError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except _FileError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    if not args.quiet:
        print("Built-in demo: a steel plate with a scratch, a rust stain and a speck of dust.")
        for label, path in [("image", image_path), ("anomaly map", map_path), *written.items()]:
            print(f"  {label:<12} {path}")
        print("The same for your own maps, for example:")
        print(f"  {PROG} {shlex.quote(str(map_path))} --images {shlex.quote(str(image_path))}")
    return 0


def _run_maps(args: argparse.Namespace) -> int:
    """Processes every map under ``args.maps``; a bad file is reported and skipped."""
    from tqdm import tqdm

    output_dir = args.output_dir or OUTPUT_DIR
    map_paths = _list_maps(args.maps)
    if not map_paths:
        print(f"{args.maps}: no {' or '.join(MAP_SUFFIXES)} files here", file=sys.stderr)
        return 1
    if not _create_dir(output_dir):
        return 1
    images_by_stem = _images_by_stem(args.images) if args.images and args.images.is_dir() else {}

    tasks: list[Callable[[], dict[str, Path]]] = []
    first_with_stem: dict[str, Path] = {}
    for map_path in map_paths:
        other = first_with_stem.setdefault(map_path.stem, map_path)
        if other is map_path:
            tasks.append(functools.partial(_process, map_path, images_by_stem, output_dir, args))
        else:
            error = _FileError(map_path, f"same stem as {other}, outputs would collide")
            tasks.append(functools.partial(_fail, error))

    written: dict[str, Path] = {}
    failures = 0
    progress = tqdm(
        total=len(map_paths),
        unit="map",
        file=sys.stderr,
        disable=args.quiet or len(map_paths) == 1 or not sys.stderr.isatty(),
    )
    with progress:
        jobs = min(args.jobs, len(tasks))
        for outcome in _in_order(tasks, jobs, finished=progress.update):
            if isinstance(outcome, _FileError):
                failures += 1
                tqdm.write(str(outcome), file=sys.stderr)
            else:
                written = outcome

    if not args.quiet:
        if len(map_paths) == 1:
            for label, path in written.items():
                print(f"{label:<8} {path}")
        else:
            failed = f"; {failures} failed" if failures else ""
            done = len(map_paths) - failures
            print(f"Processed {done} of {len(map_paths)} maps into {output_dir}{failed}")
    return 1 if failures else 0


def _fail(error: _FileError) -> dict[str, Path]:
    raise error


def _in_order(
    tasks: Sequence[Callable[[], dict[str, Path]]], jobs: int, finished: Callable[[], object]
) -> Iterator[dict[str, Path] | _FileError]:
    """The outcome of each task, in the order of ``tasks``: what it returned, or the
    :class:`_FileError` it raised. ``finished()`` is called as each task ends, in
    whatever order they end.

    With ``jobs`` > 1, the tasks run on that many threads (our kernels and PNG encoder
    and Pillow's PNG decoder release the GIL). A task reads its map and image itself, so
    only the maps being worked on are in memory; at most ``2 * jobs`` tasks are handed to the
    threads at a time, so the next ones are ready to start when a thread frees up, and
    Ctrl-C waits for only a few. Outcomes are reported in input order, so the failure
    lines come out the same on every run and for every ``jobs``; an outcome is held
    until every earlier one is known."""
    if jobs == 1:  # no thread: as before --jobs, also for Ctrl-C and tracebacks
        for task in tasks:
            outcome = _outcome(task)
            finished()
            yield outcome
        return
    executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="anomaly-cli-job")
    try:
        running: dict[Future[dict[str, Path] | _FileError], int] = {}
        ended: dict[int, dict[str, Path] | _FileError] = {}
        submitted = reported = 0
        while reported < len(tasks):
            while submitted < len(tasks) and len(running) < 2 * jobs:
                running[executor.submit(_outcome, tasks[submitted])] = submitted
                submitted += 1
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                # result() raises what the task raised besides a _FileError (a bug):
                # the finally below lets the running tasks end and drops the others.
                ended[running.pop(future)] = future.result()
                finished()
            while reported in ended:
                yield ended.pop(reported)
                reported += 1
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _outcome(task: Callable[[], dict[str, Path]]) -> dict[str, Path] | _FileError:
    try:
        return task()
    except _FileError as error:
        return error


def _create_dir(path: Path) -> bool:
    """Creates the output directory ``path``; on failure, says why and returns False."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        print(f"{PROG}: cannot create the output directory {path}: {reason}", file=sys.stderr)
        return False
    return True


def _list_maps(maps: Path) -> list[Path]:
    if maps.is_dir():
        return sorted(
            path
            for path in maps.iterdir()
            if path.suffix.lower() in MAP_SUFFIXES and path.is_file()
        )
    return [maps]


def _images_by_stem(directory: Path) -> dict[str, list[Path]]:
    by_stem: dict[str, list[Path]] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            by_stem.setdefault(path.stem, []).append(path)
    return by_stem


def _image_for(map_path: Path, images: Path | None, by_stem: dict[str, list[Path]]) -> Path | None:
    """The image paired with ``map_path``: ``images`` itself if it is a file, else by stem."""
    if images is None or images.is_file():
        return images
    stem = map_path.stem
    candidates = by_stem.get(stem, [])
    if not candidates:
        names = ", ".join(stem + suffix for suffix in IMAGE_SUFFIXES)
        raise _FileError(map_path, f"no image in {images} named {names}")
    if len(candidates) > 1:
        names = ", ".join(path.name for path in candidates)
        raise _FileError(map_path, f"more than one image in {images}: {names}")
    return candidates[0]


def _process(
    map_path: Path,
    images_by_stem: dict[str, list[Path]],
    output_dir: Path,
    args: argparse.Namespace,
) -> dict[str, Path]:
    """Reads one map (and its image), renders it and writes its PNGs."""
    with _blame(map_path):
        anomaly_map = _load_map(map_path)
    image_path = _image_for(map_path, args.images, images_by_stem)
    image = None
    if image_path is not None:
        with _blame(image_path):
            image = _read_image(image_path)
    with _blame(map_path):
        outputs = _render(anomaly_map, image, args)
    return _write_outputs(
        outputs,
        output_dir,
        map_path.stem,
        f"nothing was written for {map_path}",
        args.png_compression,
    )


def _load_map(path: Path) -> NDArray[Any]:
    """The array in a .npy file, or the map in a .npz file (its only array or ``anomaly_map``)."""
    with path.open("rb") as file:
        magic = file.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            file.seek(0)
            return _read_npy(file, os.fstat(file.fileno()).st_size, "the file")
    if not magic.startswith(_ZIP_MAGICS):
        raise ValueError("not a .npy or .npz file")
    with zipfile.ZipFile(path) as archive:
        # The array names as np.load gives them: the member names without ".npy".
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        if not members:
            raise ValueError("holds no arrays (an empty .npz archive)")
        if len(members) == 1:
            (name, info), *_ = members.items()
        elif NPZ_MAP_KEY in members:
            name, info = NPZ_MAP_KEY, members[NPZ_MAP_KEY]
        else:
            raise ValueError(
                f"holds {len(members)} arrays {list(members)}; expected one, "
                f"or one named '{NPZ_MAP_KEY}'"
            )
        what = f"its array '{name}'"
        try:
            with archive.open(info) as member:
                # file_size is the member's uncompressed size from the zip directory. It
                # is checked against the array header's claim before anything is
                # allocated; the data is then read in pieces, never beyond the claim, so
                # neither the header nor the directory can make us allocate more than
                # the data holds.
                return _read_npy(member, info.file_size, what)
        except (NotImplementedError, RuntimeError) as error:  # zipfile: unsupported
            # compression method, or encrypted
            raise ValueError(f"cannot read {what}: {error}") from None


def _read_npy(stream: IO[bytes], size: int, what: str) -> NDArray[Any]:
    """The array of the .npy data ``stream`` (``size`` bytes in all, header included),
    as ``np.load(..., allow_pickle=False)`` gives it.

    The header's shape and dtype are checked against ``size`` before anything is
    allocated: a 128-byte file whose header claims a (100000, 100000) map is refused
    instead of allocating 40 GB for it."""
    try:
        version = npy_format.read_magic(stream)
    except ValueError:
        raise ValueError(f"{what} is not a .npy array") from None
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]
    if version == (1, 0):
        shape, fortran_order, dtype = npy_format.read_array_header_1_0(stream)
    elif version in ((2, 0), (3, 0)):
        # 3.0 differs from 2.0 only by UTF-8 field names in structured dtypes, which
        # are no map dtype: read as 2.0 (latin-1), such a dtype is refused later.
        shape, fortran_order, dtype = npy_format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"{what} has .npy format version {version}, which is not supported")
    if dtype.hasobject:
        raise ValueError(f"{what} holds Python objects (dtype {dtype}), which are not loaded")
    if any(length < 0 for length in shape):
        raise ValueError(f"{what} has a negative length in its shape {shape}")
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    available = max(size - stream.tell(), 0)
    if nbytes > available:
        raise ValueError(
            f"{what} is truncated or corrupt: its header claims shape {shape} and dtype "
            f"{dtype} ({nbytes} bytes of data), but only {available} bytes follow the header"
        )
    data = bytearray()
    while len(data) < nbytes:
        try:
            chunk = stream.read(min(_READ_CHUNK, nbytes - len(data)))
        except EOFError:  # a compressed stream that ends early
            chunk = b""
        if not chunk:
            raise ValueError(
                f"{what} is truncated: its header claims {nbytes} bytes of data, "
                f"but only {len(data)} follow the header"
            )
        data += chunk
    array: NDArray[Any] = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran_order else "C")


# Pillow's modes of 16-bit grayscale images (PNG opens as "I;16"; older Pillow opened
# 16-bit PNG grayscale as "I", handled below).
_GRAY_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def _read_image(path: Path) -> NDArray[np.uint8]:
    """The image as 8-bit RGB (see ``--images`` in the help for the conversions)."""
    from PIL import Image

    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as error:  # not an OSError: would be a traceback
        raise ValueError(str(error)) from None
    with opened as image:
        mode = image.mode
        if mode in _GRAY_16_BIT_MODES or (mode == "I" and image.format == "PNG"):
            # Pillow's convert("RGB") clips 16-bit values to 255 (a 16-bit image turns
            # almost all white). Keep the high byte instead, as Pillow itself does for
            # 16-bit RGB(A) PNGs and OpenCV's imread for every 16-bit PNG.
            gray = np.clip(np.asarray(image), 0, 65535)
            high = (gray >> 8).astype(np.uint8)
            return np.repeat(high[..., None], 3, axis=-1)
        if mode in ("I", "F"):
            kind = "32-bit integer" if mode == "I" else "32-bit floating-point"
            raise ValueError(
                f"is a {kind} image (Pillow mode {mode}), whose value range is unknown; "
                "save it as an 8-bit or 16-bit image"
            )
        # Palette, grayscale and bilevel images become RGB; an alpha channel is dropped
        # (the colours are used as they are, not blended over a background).
        if mode in ("P", "PA"):
            # The same colours as convert("RGB"), without the UserWarning Pillow prints
            # for a palette with transparency (a second stderr line, for no problem).
            return np.asarray(image.convert("RGBA"))[..., :3]
        return np.asarray(image.convert("RGB"))


def _render(
    anomaly_map: np.ndarray, image: NDArray[np.uint8] | None, args: argparse.Namespace
) -> dict[str, _Output]:
    """The outputs of one map by name: the heatmap, the overlay (with an image), the
    mask, the outline (with an image) and the boxes as JSON text. The heatmap, overlay,
    mask and boxes come from one postprocess call (one sweep over the map)."""
    map_size = _map_size(anomaly_map)
    if image is not None and args.size == "map" and image.shape[:2] != map_size:
        # Resized here, once, for the overlay and the outline alike; the overlay is
        # then superimpose_anomaly_map(anomaly_map, image, size="map")'s bytes.
        image = _resized_image(image, map_size)
    frame = postprocess(
        anomaly_map,
        image,
        args.threshold,
        normalize_heatmap=args.normalize,
        normalize_overlay=args.normalize,
        value_range=args.value_range,
        colormap=args.colormap,
        alpha=args.alpha,
        size=args.size,
        kernel_size=args.kernel_size,
        min_area=args.min_area,
    )
    heatmap, mask = cast("NDArray[np.uint8]", frame.heatmap), cast("NDArray[np.uint8]", frame.mask)
    outputs: dict[str, _Output] = {"heatmap": heatmap}
    if frame.overlay is not None:
        outputs["overlay"] = frame.overlay
    outputs["mask"] = mask
    # One (H, W) map: one (boxes, scores) pair, not a batch's lists.
    boxes = cast("NDArray[np.int64]", frame.boxes)
    scores = cast("NDArray[Any]", frame.scores)
    if image is not None:
        image_size = (image.shape[0], image.shape[1])
        if image_size == map_size:
            outline_mask, outline_boxes = mask, boxes
        else:
            outline_mask = _nearest(mask, image_size)
            outline_boxes = cast("NDArray[np.int64]", mask_to_boxes(outline_mask))
        # The outline, then the regions' boxes over it in the same colour, as anomalib's
        # draw_boxes does (thickness 2).
        outline = mark_boundaries(image, outline_mask, color=args.outline_color)
        outputs["outline"] = draw_boxes(outline, outline_boxes, color=args.outline_color)
    outputs["boxes"] = _boxes_json(mask, boxes, scores)
    return outputs


def _map_size(anomaly_map: np.ndarray) -> tuple[int, int]:
    """The ``(H, W)`` of one map by the library's shape rules (docs/behaviour.md#shapes);
    a ValueError for a batch of maps, before any work."""
    shape = map_stack(anomaly_map).shape
    if len(shape) != 2:
        raise ValueError(
            f"holds a batch of maps of shape {anomaly_map.shape}; expected one map (H, W)"
        )
    return (shape[0], shape[1])


def _resized_image(image: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """``image`` resized to ``size`` as superimpose_anomaly_map(size="map") resizes it:
    cv2.resize's INTER_LINEAR, bit-exact (docs/behaviour.md#resizing)."""
    resized = np.empty((*size, 3), dtype=np.uint8)
    resize_image(image, resized)
    return resized


def _nearest(mask: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """``mask`` scaled to ``size`` by nearest neighbour: each output pixel takes the
    mask pixel its centre falls in, ``floor((i + 1/2) * in / out)`` (exact integers)."""
    rows = ((2 * np.arange(size[0]) + 1) * mask.shape[0]) // (2 * size[0])
    columns = ((2 * np.arange(size[1]) + 1) * mask.shape[1]) // (2 * size[1])
    scaled: NDArray[np.uint8] = mask[rows[:, None], columns]
    return scaled


def _boxes_json(mask: NDArray[np.uint8], boxes: NDArray[np.int64], scores: NDArray[Any]) -> str:
    """The ``<stem>_boxes.json`` text: the mask's size and one box per line, each with its
    score (the map's maximum over the region; ``null`` for a region of only NaN)."""
    height, width = mask.shape
    lines = []
    for row, score in zip(boxes.tolist(), scores.tolist(), strict=True):
        box: dict[str, Any] = dict(zip(("x1", "y1", "x2", "y2"), row, strict=True))
        box["score"] = None if math.isnan(score) else score
        lines.append(json.dumps(box))
    box_list = "[\n" + ",\n".join(f"    {box}" for box in lines) + "\n  ]" if lines else "[]"
    return f'{{\n  "width": {width},\n  "height": {height},\n  "boxes": {box_list}\n}}\n'


def _write_outputs(
    outputs: dict[str, _Output],
    output_dir: Path,
    stem: str,
    consequence: str,
    compression: int,
) -> dict[str, Path]:
    """Writes ``<stem>_<name>.png`` for each image and ``<stem>_<name>.json`` for each
    text, all or none, and returns the paths by name.

    Each output is first written to a temporary file in ``output_dir``; only when all
    of them are written are they renamed to their names. On failure the temporary
    files are removed and a :class:`_FileError` names the output that could not be
    written, followed by ``consequence`` (e.g. "nothing was written for maps/a.npy").
    PNGs are written at level ``compression`` (``--png-compression``)."""
    paths = {
        name: output_dir / f"{stem}_{name}.{'json' if isinstance(content, str) else 'png'}"
        for name, content in outputs.items()
    }
    temporaries: dict[str, Path] = {}
    renamed: list[Path] = []  # outputs renamed into place that did not exist before
    current = next(iter(paths.values()))
    try:
        for name, content in outputs.items():
            current = paths[name]
            temporaries[name] = current.with_name(f".{current.name}.{uuid.uuid4().hex[:12]}.tmp")
            _write_file(content, temporaries[name], compression)
        # os.replace cannot put a file where a directory is: find that before renaming.
        for current in paths.values():
            if current.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(current))
        for name, temporary in list(temporaries.items()):
            current = paths[name]
            existed = os.path.lexists(current)
            os.replace(temporary, current)
            del temporaries[name]
            if not existed:
                renamed.append(current)
    except BaseException as error:
        # Undo what can be undone (also on Ctrl-C): an output that existed before and
        # was replaced ahead of a rename that failed keeps its new content (renames
        # within one directory fail only on rare errors).
        for path in [*temporaries.values(), *renamed]:
            with suppress(OSError):
                path.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        reason = error.strerror or str(error)
        raise _FileError(current, f"cannot write it ({reason}); {consequence}") from None
    return paths


def _write_file(content: _Output, path: Path, compression: int) -> None:
    """Writes ``content``, an image as PNG (at level ``compression``) or a text as
    UTF-8, to the new file ``path``."""
    # "x": a new file, never an existing one; created with the umask's permissions,
    # like every output (unlike tempfile.mkstemp's 0600).
    with path.open("xb") as file:
        if isinstance(content, str):
            file.write(content.encode("utf-8"))
        else:
            _write_png(content, file, compression)


def _write_png(array: NDArray[np.uint8], file: Path | IO[bytes], compression: int) -> None:
    """Writes ``array`` (uint8, gray ``(H, W)`` or RGB ``(H, W, 3)``) as a PNG file at
    ``--png-compression`` level ``compression`` (docs/behaviour.md#cli)."""
    # The extension's encoder (the png crate, src/png.rs), without the GIL: several
    # times faster than Pillow's at the same size (benches/cli.py, docs/performance.md).
    data = encode_png(array, compression)
    if isinstance(file, Path):
        file.write_bytes(data)
    else:
        file.write(data)
