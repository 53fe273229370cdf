"""docs/performance.md: the document the benchmark scripts write.

The file is a fixed preamble (how the numbers are taken, below) followed by one section
per script, between HTML comment markers. Each script replaces its own section and keeps
the other's, so the two can be rerun independently; the preamble is rewritten every
time from this module.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from machine import cores, cpu_name, load_average, simd_level

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"

# The sections, in document order, and the command that writes each.
SECTIONS = {
    "compare": "benches/compare.py",
    "frame": "benches/compare.py --frame-only",
    "mask-scaling": "benches/compare.py --mask-scaling",
    "throughput": "benches/throughput.py",
    "cli": "benches/cli.py",
}

# glibc tunables under which freed memory stays with the process ("warm allocator").
WARM_ALLOCATOR = "glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824"

PREAMBLE = f"""\
# Performance

*Written by `benches/compare.py`, `benches/throughput.py` and `benches/cli.py` — do not
edit by hand. Each script rewrites its own section below (and this preamble) and keeps
the others'.* What the package computes is [behaviour.md](behaviour.md); this page is
only about speed.

To regenerate on a quiet machine (a full run takes several minutes):

```sh
make wheel && .venv-make/bin/pip install --force-reinstall "$(ls dist/*.whl)[bench,cli]"
.venv-make/bin/python benches/compare.py        # add --cold, --warm-allocator, --mask-content
                                                # (--frame-only: just the postprocess section)
.venv-make/bin/python benches/compare.py --mask-scaling  # the opening's scaling only
.venv-make/bin/python benches/throughput.py
.venv-make/bin/python benches/cli.py            # the command-line tool
```

## How the numbers are taken

- **Contenders.** *ours*: the package's public functions with default arguments, on
  float32 maps of uniform noise in `[0, 1)` and random uint8 images. *OpenCV*: the
  shortest OpenCV pipelines for the same outputs —
  `normalize(NORM_MINMAX, CV_8U)` + `applyColorMap` + `cvtColor` (colour map);
  `convertScaleAbs` + `applyColorMap` + `cvtColor` + `addWeighted` (overlay);
  `threshold` + `morphologyEx(MORPH_OPEN, disk)` (mask). *anomalib*: anomalib's own
  `post_process` code (numpy + OpenCV + scikit-image), the reference we are bit-exact
  with. *floor*: one `np.copyto` of the map, the memory-bandwidth floor of any kernel
  that reads it ("ours / floor").
- **Order.** Every round times each contender once, in an order shuffled afresh every
  round (seeded). A fixed order gives each contender the same predecessor every time,
  and a call right after a long one (anomalib's, OpenCV's k=16) starts with its input
  evicted from the caches. Tables report per-call medians over the rounds; ratios are
  ours / OpenCV of those medians.
- **Threads.** "single-threaded": `cv2.setNumThreads(1)` and `set_num_threads(1)`.
  "default threads": both libraries at their defaults (OpenCV's `getNumThreads()` at
  start-up, ours from `ANOMALY_POSTPROCESS_NUM_THREADS` or the available cores), which is
  how most users run them. From 1024 × 1024 pixels this package splits a single map
  into bands of rows across its threads (batches use the pool map by map, see
  `throughput.py`), as OpenCV splits some single images across its threads.
- **"OpenCV alone" and "warm allocator".** OpenCV's time depends on what else the
  process allocates. Its temporaries (1–3 MB each) come from glibc's `malloc`, which
  either recycles freed memory or hands back fresh zero-filled pages (about half of
  OpenCV's colour-map time in a process that runs nothing else is page faults). Running
  anomalib's reference in the same rounds raises glibc's thresholds and makes OpenCV
  faster, and so does `GLIBC_TUNABLES={WARM_ALLOCATOR}` (`compare.py --warm-allocator`
  re-runs itself with it). So "OpenCV alone" (`--no-reference`, default tunables) and a
  warm allocator give different ratios; each section says which it was. Our fresh
  results come from recycled, already-mapped memory either way (the output pool,
  [behaviour.md#memory](behaviour.md#memory)).
- **Cold caches** (`compare.py --cold`): before every timed call, on both sides, a
  512 MiB buffer is written (untimed) to evict the map, the image and the code from the
  caches — a map fresh from the model is usually not in cache.
- **The disk's cost.** The k=1 / k=16 rows of the main table follow different
  predecessors (our k=16 call often follows OpenCV's ~20 ms one), and on a shared VM any
  pause of that length leaves the next call's input cold. So k=1 and k=16 are also timed
  interleaved with each other only, each library on its own ("k=16 / k=1"). Uniform
  noise is the easy case for the opening (erosion empties it within a few steps);
  `--mask-content` also times a smooth field with large blobs and one with a few.
- **One frame, all products** (`compare.py`'s `postprocess` section): per map, what an
  inspection line writes — heatmap, overlay, mask, boxes with scores — on
  Gaussian-smoothed noise (σ = 12 pixels, normalised to `[0, 1]`) thresholded at 0.7
  (a few blobs) with the default disk (radius 4). *postprocess*: one
  `postprocess(map, image, 0.7)`; *separate*: `anomaly_map_to_color_map`,
  `superimpose_anomaly_map`, `compute_mask` and `mask_to_boxes(mask, anomaly_map=map)`
  back to back, one contender; *OpenCV*: the colour map, overlay and mask pipelines
  above, then `connectedComponentsWithStats(mask, connectivity=8)`, back to back.
- **Hot-cache kernel timings**, without Python: `cargo bench --bench kernels`
  (criterion).
- Shared virtual machines move these numbers by ±30% from run to run; compare ratios
  from the same run, and read the load average and the note at the top of a section.

## Why it is fast

Runtime-dispatched SIMD clones of every kernel and, where the CPU has AVX-512 VBMI,
hand-written loops that look up a palette channel for 64 levels with two `vpermi2b`
([behaviour.md#simd](behaviour.md#simd)); one min/max pass and one fused pass from float
to RGB (or to the blended pixel) per row, with no full-size temporaries and the
finiteness check inside that pass; the blend as an exact 16-bit integer form for the
weights that have one ([behaviour.md#blend](behaviour.md#blend)); masks bit-packed 64
pixels a word with the threshold fused into the packing, and the disk opening as a stack
of horizontal runs on those words in cache-sized strips; software prefetch 16 KiB ahead
in the streaming passes (maps fresh from elsewhere are cold); fresh results from the
output pool; and the common call reaches the kernel in one native call. The colour map
is bound by memory traffic: its two passes move 11 MB at 1024×1024 where one copy of the
map moves 8 MB.
"""


def _marker(name: str, end: bool = False) -> str:
    return f"<!-- {'end' if end else 'section'}: {name} -->"


def _placeholder(name: str) -> str:
    return f"*Not generated yet: run `python {SECTIONS[name]}`.*\n"


def _versions() -> str:
    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for module, label in (("cv2", "OpenCV"), ("skimage", "scikit-image")):
        if module in sys.modules:
            parts.append(f"{label} {sys.modules[module].__version__}")
    import anomaly_postprocess

    parts.append(f"anomaly_postprocess {anomaly_postprocess.__version__}")
    return ", ".join(parts)


def run_header(script: str, argv: Sequence[str], note: str | None, extra: Sequence[str]) -> str:
    """The facts about one run, in Markdown: the note, machine, versions, date, command."""
    lines = []
    if note:
        lines += [f"> **Note:** {note}", ""]
    tunables = os.environ.get("GLIBC_TUNABLES")
    allocator = (
        "warm (`GLIBC_TUNABLES` as above)"
        if tunables == WARM_ALLOCATOR
        else f"`GLIBC_TUNABLES={tunables}`"
        if tunables
        else "glibc defaults"
    )
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines += [
        f"- CPU: {cpu_name()}, {cores()} cores available; kernels: {simd_level()}",
        f"- {_versions()}",
        f"- allocator: {allocator}; load average at start: {load_average()}",
        *(f"- {item}" for item in extra),
        f"- taken {now} with `{shlex.join(['python', script, *argv])}`",
    ]
    return "\n".join(lines) + "\n"


def _sections_of(text: str) -> dict[str, str]:
    """The sections found in an existing document, by name."""
    found = {}
    for name in SECTIONS:
        pattern = re.escape(_marker(name)) + r"\n(.*?)" + re.escape(_marker(name, end=True))
        match = re.search(pattern, text, flags=re.DOTALL)
        if match:
            found[name] = match.group(1)
    return found


def write_section(path: Path, name: str, body: str) -> None:
    """Writes the document at ``path`` with section ``name`` replaced by ``body``."""
    sections = _sections_of(path.read_text(encoding="utf-8")) if path.exists() else {}
    sections[name] = body.rstrip("\n") + "\n"
    parts = [PREAMBLE]
    for section in SECTIONS:
        parts.append(
            f"{_marker(section)}\n{sections.get(section, _placeholder(section))}"
            f"{_marker(section, end=True)}\n"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """A Markdown table; columns from index ``right`` on are right-aligned (numbers)."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
