"""``out=`` overlapping the caller's inputs, ``size=``, and error messages that must
describe what the caller passed (docs/behaviour.md#errors, docs/behaviour.md#memory).

Each case is refused with a ``TypeError``/``ValueError`` whose message names the
argument at fault, and the inputs are left unmodified: ``assert_rejected``, the bad-input
tests' one idiom (conftest.py).
"""

from __future__ import annotations

import collections
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import assert_rejected, random_image

H, W = 16, 20


def map_values(shape: tuple[int, ...] = (H, W), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)


def image_values(shape: tuple[int, ...] = (H, W), seed: int = 1) -> np.ndarray:
    return random_image(seed, shape)


def mask_values(dtype: str, shape: tuple[int, int] = (H, W), seed: int = 2) -> np.ndarray:
    """Blocks of set pixels (values of ``dtype`` > 0) and clear ones (0 or negative)."""
    values = np.random.default_rng(seed).integers(-3, 4, shape)
    values[2:6, 3:9] = 2
    if np.dtype(dtype).kind == "b":
        return values > 0
    if np.dtype(dtype).kind == "u":
        values = np.abs(values)
    return values.astype(dtype)


def sharing(array: np.ndarray, out_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A copy of ``array`` and a C-contiguous uint8 ``out`` of ``out_shape`` that both
    start at the first byte of one buffer: they overlap."""
    size = max(array.nbytes, int(np.prod(out_shape)))
    buffer = np.zeros(size, np.uint8)
    copy = buffer[: array.nbytes].view(array.dtype).reshape(array.shape)
    copy[...] = array
    return copy, buffer[: int(np.prod(out_shape))].reshape(out_shape)


# ------------------------------------------------------------- out= overlapping inputs

MASK_DTYPES = ["uint8", "bool", "int16", ">i2", "int32", "float32", "float64", "int64"]


@pytest.mark.parametrize("dtype", MASK_DTYPES)
def test_mark_boundaries_out_overlapping_the_callers_mask(dtype: str) -> None:
    """The mask is converted to uint8 when it is not uint8/bool: ``out`` is checked
    against the caller's mask, not the converted copy, which it can never overlap."""
    image = image_values()
    mask, out = sharing(mask_values(dtype), (H, W, 3))
    message = assert_rejected(
        lambda: ap.mark_boundaries(image, mask, out=out), "mask", ValueError, inputs=(mask, image)
    )
    assert message.startswith("out must not share memory with mask"), message
    assert "anomaly_map" not in message and "image" not in message.split(":")[0], message


def test_mark_boundaries_out_overlapping_the_image() -> None:
    image, out = sharing(image_values(), (H, W, 3))
    mask = mask_values("int16")
    message = assert_rejected(
        lambda: ap.mark_boundaries(image, mask, out=out), "image", ValueError, inputs=(image, mask)
    )
    assert message.startswith("out must not share memory with image"), message
    assert "anomaly_map" not in message, message


def test_mark_boundaries_out_beside_the_mask_is_fine() -> None:
    """Memory next to the mask in the same buffer is not shared: accepted."""
    mask = mask_values("int16")
    buffer = np.zeros(mask.nbytes + H * W * 3, np.uint8)
    inside = buffer[: mask.nbytes].view(np.int16).reshape(H, W)
    inside[...] = mask
    out = buffer[mask.nbytes :].reshape(H, W, 3)
    image = image_values()
    result = ap.mark_boundaries(image, inside, out=out)
    assert result is out
    assert np.array_equal(out, ap.mark_boundaries(image, mask))
    assert np.array_equal(inside, mask)


def color_table() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (256, 3), dtype=np.uint8)


COLORMAP_OVERLAP_CALLS: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "color map": lambda table, out: ap.anomaly_map_to_color_map(
        map_values(), colormap=table, out=out
    ),
    "superimpose": lambda table, out: ap.superimpose_anomaly_map(
        map_values(), image_values(), colormap=table, out=out
    ),
}


@pytest.mark.parametrize("call", list(COLORMAP_OVERLAP_CALLS))
def test_out_overlapping_the_colormap_table(call: str) -> None:
    """A (256, 3) colour table is an input too: the kernel reads it while writing
    ``out``, so an ``out`` over it would change the caller's table mid-call."""
    assert H * W * 3 >= 256 * 3
    table, out = sharing(color_table(), (H, W, 3))
    message = assert_rejected(
        lambda: COLORMAP_OVERLAP_CALLS[call](table, out), "colormap", ValueError, inputs=(table,)
    )
    assert message.startswith("out must not share memory with colormap"), message


@dataclass(frozen=True)
class Overlap:
    """A call whose ``out`` (of ``out_shape``) overlaps the caller's array ``name``."""

    name: str
    array: Callable[[], np.ndarray]
    out_shape: tuple[int, ...]
    call: Callable[[np.ndarray, np.ndarray], Any]


# Every function with out=. The map dtypes here are converted before the kernel runs
# (int16 to float64, float16 to float32), and the resized arrays are copies.
OVERLAP_CASES: dict[str, Overlap] = {
    "color map, int16 map": Overlap(
        "anomaly_map",
        lambda: (map_values() * 100).astype(np.int16),
        (H, W, 3),
        lambda m, out: ap.anomaly_map_to_color_map(m, out=out),
    ),
    "superimpose, float16 map": Overlap(
        "anomaly_map",
        lambda: map_values().astype(np.float16),
        (H, W, 3),
        lambda m, out: ap.superimpose_anomaly_map(m, image_values(), out=out),
    ),
    "superimpose, image resized to the map": Overlap(
        "image",
        image_values,
        (8, 10, 3),
        lambda image, out: ap.superimpose_anomaly_map(map_values((8, 10)), image, out=out),
    ),
    "superimpose, map resized to the image": Overlap(
        "anomaly_map",
        lambda: map_values().astype(np.float32),
        (H, W, 3),
        lambda m, out: ap.superimpose_anomaly_map(
            m[:8, :10], image_values(), size="image", out=out
        ),
    ),
    "mask, int16 map": Overlap(
        "anomaly_map",
        lambda: (map_values() * 100).astype(np.int16),
        (H, W),
        lambda m, out: ap.compute_mask(m, 50, out=out),
    ),
    "mark_boundaries, int16 mask": Overlap(
        "mask",
        lambda: mask_values("int16"),
        (H, W, 3),
        lambda mask, out: ap.mark_boundaries(image_values(), mask, out=out),
    ),
}


@pytest.mark.parametrize("case", list(OVERLAP_CASES))
def test_every_out_is_checked_against_the_callers_arrays(case: str) -> None:
    c = OVERLAP_CASES[case]
    array, out = sharing(c.array(), c.out_shape)
    message = assert_rejected(lambda: c.call(array, out), c.name, ValueError, inputs=(array,))
    assert message.startswith(f"out must not share memory with {c.name}:"), message


# ----------------------------------------------------------------------------- size=

SIZE_CASES: dict[str, tuple[Any, type[Exception] | None]] = {
    "map": ("map", None),
    "image": ("image", None),
    "numpy str": (np.str_("image"), None),
    "array of one str": (np.array(["map"]), TypeError),
    "array of two str": (np.array(["map", "image"]), TypeError),
    "0-d str array": (np.array("image"), TypeError),
    "list": (["map"], TypeError),
    "tuple": (("image",), TypeError),
    "bytes": (b"map", TypeError),
    "None": (None, TypeError),
    "int": (3, TypeError),
    "bool": (True, TypeError),
    "capitalised": ("Map", ValueError),
    "empty": ("", ValueError),
    "other word": ("both", ValueError),
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_size_must_be_a_str(case: str) -> None:
    """Only a str is a size: an array holding "map" must not pass for "map"."""
    value, exc = SIZE_CASES[case]
    m = map_values((8, 10))
    image = image_values()
    if exc is None:
        result = ap.superimpose_anomaly_map(m, image, size=value)
        assert np.array_equal(result, ap.superimpose_anomaly_map(m, image, size=str(value)))
        assert result.shape == ((8, 10, 3) if value == "map" else (H, W, 3))
        return
    message = assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image, size=value), "size", exc, inputs=(m, image)
    )
    assert message.startswith('size must be "map" or "image"'), message
    if exc is TypeError:  # says what was received
        received = "an array of dtype" if isinstance(value, np.ndarray) else type(value).__name__
        assert received in message, message


# ---------------------------------------------- messages describe what was received


@pytest.mark.parametrize(
    ("shape", "bad", "where"),
    [
        ((5, 7), [(3, 4)], "row 3, column 4"),
        ((5, 7), [(3, 4), (4, 6), (0, 5)], "row 0, column 5"),
        ((2, 5, 7), [(1, 3, 4)], "map 1, row 3, column 4"),
        ((2, 1, 5, 7), [(1, 0, 2, 2), (1, 0, 4, 0)], "map (1, 0), row 2, column 2"),
        ((1, 2, 3, 5, 7), [(0, 1, 2, 4, 6)], "map (1, 2), row 4, column 6"),
        ((5, 7, 1), [(3, 4, 0)], "row 3, column 4"),
    ],
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_non_finite_values_are_counted_and_placed_in_the_callers_map(
    shape: tuple[int, ...], bad: list[tuple[int, ...]], where: str, value: float, dtype: str
) -> None:
    """With ``size="image"`` the map is resized to the image; the error counts and
    places the NaN/±inf values of the map the caller passed, exactly as without a
    resize (``size="map"``), not the 4 or 16 values they spread to when resized."""
    m = map_values(shape).astype(dtype)
    for index in bad:
        m[index] = value
    image = image_values((10, 14))  # twice the map's (5, 7)
    count = len(bad)
    noun = "value" if count == 1 else "values"
    expected = (
        f"anomaly_map must be finite, but it contains {count} NaN/±inf {noun}; "
        f"the first is at {where}"
    )
    grown = assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image, size="image"),
        "anomaly_map",
        ValueError,
        inputs=(m,),
    )
    assert grown == expected, grown
    same = assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image, size="map"),
        "anomaly_map",
        ValueError,
        inputs=(m,),
    )
    assert same == expected, same


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_finite_map_whose_resize_overflows_is_described_as_finite(dtype: str) -> None:
    """Values of both signs at the dtype's limits: the interpolation overflows. The map
    the caller passed holds no NaN/±inf, and the message must not claim it does."""
    top = np.finfo(dtype).max
    m = np.full((3, 3), top, dtype)
    m[1, 1] = -top
    message = assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image_values((7, 7)), size="image"),
        "anomaly_map",
        ValueError,
        inputs=(m,),
    )
    assert message.startswith("anomaly_map is finite, but resizing it to the image's size"), message
    assert f"{dtype}'s limits" in message, message
    assert ap.superimpose_anomaly_map(m, image_values((3, 3)), size="image").shape == (3, 3, 3)


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (None, "NoneType None"),
        (2.0, "float 2.0"),
        (True, "bool True"),
        (
            [[0, 0, 0]] * 255,
            "list that numpy converts to an array of dtype int64 and shape (255, 3)",
        ),
        (np.zeros((256, 3), np.float32), "an array of dtype float32 and shape (256, 3)"),
    ],
    ids=["None", "float", "bool", "short list", "float32 table"],
)
def test_colormap_errors_describe_the_received_value(value: Any, described: str) -> None:
    """``colormap=None`` is not "an array of dtype object and shape ()"."""
    m = map_values()
    for call in (
        lambda: ap.anomaly_map_to_color_map(m, colormap=value),
        lambda: ap.superimpose_anomaly_map(m, image_values(), colormap=value),
    ):
        message = assert_rejected(call, "colormap", ValueError, inputs=(m,))
        assert message.endswith(f"got {described}"), message
        if not isinstance(value, np.ndarray) and np.ndim(value) == 0:
            assert "shape ()" not in message, message


class RGBMapping(collections.abc.Mapping):  # type: ignore[type-arg]
    """A read-only mapping whose iteration gives three valid channel values."""

    def __init__(self) -> None:
        self.data = {0: "red", 128: "green", 255: "blue"}

    def __getitem__(self, key: int) -> str:
        return self.data[key]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return 3


COLOR_CASES: dict[str, tuple[Any, type[Exception] | None]] = {
    "tuple": ((10, 200, 30), None),
    "list": ([10, 200, 30], None),
    "array": (np.array([10, 200, 30], np.uint8), None),
    "numpy ints": ((np.int64(10), np.uint8(200), np.int16(30)), None),
    "dict with int keys": ({10: "r", 200: "g", 30: "b"}, TypeError),
    "dict with str keys": ({"r": 10, "g": 200, "b": 30}, TypeError),
    "ordered dict": (collections.OrderedDict([(10, 0), (200, 0), (30, 0)]), TypeError),
    "mapping proxy": (types.MappingProxyType({10: 0, 200: 0, 30: 0}), TypeError),
    "mapping": (RGBMapping(), TypeError),
    "set": ({10, 200, 30}, TypeError),
    "frozenset": (frozenset({10, 200, 30}), TypeError),
    "dict keys": ({10: 0, 200: 0, 30: 0}.keys(), TypeError),
}


@pytest.mark.parametrize("case", list(COLOR_CASES))
def test_color_must_be_a_sequence_not_a_mapping_or_set(case: str) -> None:
    """Iterating a mapping gives its keys and a set has no order: neither is a colour."""
    value, exc = COLOR_CASES[case]
    image = image_values()
    mask = mask_values("uint8")
    if exc is None:
        expected = ap.mark_boundaries(image, mask, color=(10, 200, 30))
        assert np.array_equal(ap.mark_boundaries(image, mask, color=value), expected)
        return
    message = assert_rejected(
        lambda: ap.mark_boundaries(image, mask, color=value), "color", exc, inputs=(image, mask)
    )
    assert type(value).__name__ in message, message


# -------------------------------------------------------- ANOMALY_POSTPROCESS_NUM_THREADS

_THREADS_CHILD = textwrap.dedent(
    """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import anomaly_postprocess as ap
    print(json.dumps({"threads": ap.get_num_threads(),
                      "warnings": [str(w.message) for w in caught]}))
    """
)


def run_with_threads_variable(value: str) -> dict[str, Any]:
    env = {**os.environ, "ANOMALY_POSTPROCESS_NUM_THREADS": value}
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("value", ["1025", "0", "-3", "99999999999999999999", "two"])
def test_threads_variable_warning_states_the_range(value: str) -> None:
    """1025 is an integer >= 1: the warning must state the real limit, 1 to 1024."""
    child = run_with_threads_variable(value)
    assert len(child["warnings"]) == 1, child["warnings"]
    message = child["warnings"][0]
    assert f"ANOMALY_POSTPROCESS_NUM_THREADS={value!r}" in message, message
    assert "from 1 to 1024" in message, message
    assert ">= 1" not in message, message


@pytest.mark.parametrize("n", [0, 1025])
def test_set_num_threads_states_the_range(n: int) -> None:
    with pytest.raises(ValueError, match=r"n must be an integer from 1 to 1024"):
        ap.set_num_threads(n)
    with pytest.raises(TypeError, match=r"n must be an integer from 1 to 1024"):
        ap.set_num_threads(float(n))


# ------------------------------------------------------------- documentation is true

PUBLIC_FUNCTIONS = [name for name in ap.__all__ if name != "__version__"]


def test_module_docstring_lists_every_public_function() -> None:
    assert len(PUBLIC_FUNCTIONS) == 10, PUBLIC_FUNCTIONS
    doc = ap.__doc__ or ""
    for name in PUBLIC_FUNCTIONS:
        role = "class" if isinstance(getattr(ap, name), type) else "func"  # Frame
        assert f":{role}:`{name}`" in doc, name


def test_gamma_annotation_and_docs_match_what_is_accepted() -> None:
    """gamma takes any finite real number (anomalib annotates it int): the signature
    says float (which includes int), and the docstring says what is accepted."""
    parameter = inspect.signature(ap.superimpose_anomaly_map).parameters["gamma"]
    assert parameter.annotation in ("float", float), parameter.annotation
    assert parameter.default == 0
    doc = ap.superimpose_anomaly_map.__doc__ or ""
    gamma_doc = doc[doc.index("gamma:") : doc.index("normalize:")]
    assert "any finite real number" in gamma_doc, gamma_doc
    assert "Any finite value" not in gamma_doc, gamma_doc
    m, image = map_values(), image_values()
    for gamma in (0, 3, -2.5, np.float32(1.5), np.int8(-4)):
        result = ap.superimpose_anomaly_map(m, image, gamma=gamma)
        assert np.array_equal(result, ap.superimpose_anomaly_map(m, image, gamma=float(gamma)))


def test_python_sources_cite_the_behaviour_document() -> None:
    """Rules are cited as docs/behaviour.md#<anchor>, not as "SPEC §N" or "issue N"."""
    package = Path(ap.__file__).parent
    sources = sorted([*package.glob("*.py"), *package.glob("*.pyi")])
    assert len(sources) >= 6
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "SPEC" not in text and "§" not in text, path
        assert not re.search(r"\bissue \d+", text, re.IGNORECASE), path
