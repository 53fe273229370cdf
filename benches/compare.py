"""Side-by-side timings: anomaly_postprocess vs OpenCV vs anomalib's reference.

Run with the `bench` extra installed (OpenCV, scikit-image):

    python benches/compare.py [--sizes 256x256 1024x1024 2048x2448] [--rounds 15]

Everything runs in one process, single-threaded on both sides (`cv2.setNumThreads(1)`;
anomaly_postprocess processes a single map on the calling thread). Each round times
every contender once, in interleaved order, and the table reports per-call medians over
the rounds and the ratio ours / OpenCV. "floor" is the time to copy the input map once
(`np.copyto` of the float32 map), the memory-bandwidth floor for any kernel that reads
it; "x floor" is ours / floor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
from skimage import morphology

import anomaly_postprocess as ap
from machine import cpu_name

# --- the OpenCV pipelines of the issue ------------------------------------------------


def cv_color_map(m: np.ndarray) -> np.ndarray:
    levels = cv2.normalize(m, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def cv_superimpose(m: np.ndarray, image: np.ndarray) -> np.ndarray:
    levels = cv2.convertScaleAbs(m, alpha=255)
    color = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(color, 0.4, image, 0.6, 0)


def cv_mask(m: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    _, mask = cv2.threshold(m, 0.5, 255, cv2.THRESH_BINARY)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)


# --- anomalib's reference (numpy + OpenCV + scikit-image) ------------------------------


def ref_color_map(m: np.ndarray) -> np.ndarray:
    m = (m - m.min()) / np.ptp(m)
    m = (m * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(m, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def ref_superimpose(m: np.ndarray, image: np.ndarray) -> np.ndarray:
    color = cv2.cvtColor(
        cv2.applyColorMap((m * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )
    return cv2.addWeighted(color, 0.4, image, 0.6, 0)


def ref_mask(m: np.ndarray, radius: int) -> np.ndarray:
    mask = np.zeros_like(m).astype(np.uint8)
    mask[m > 0.5] = 1
    mask = morphology.opening(mask, morphology.disk(radius))
    return mask * 255


def median_times(contenders: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    for fn in contenders.values():  # warm up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["256x256", "1024x1024", "2048x2448"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--no-reference", action="store_true", help="skip anomalib's (slow) reference"
    )
    args = parser.parse_args()

    cv2.setNumThreads(1)
    print(
        f"CPU: {cpu_name()}; OpenCV {cv2.__version__}; numpy {np.__version__}; "
        f"anomaly_postprocess {ap.__version__}; "
        f"median of {args.rounds} interleaved rounds, 1 thread"
    )
    header = (
        f"{'size':>10} {'operation':<28} {'ours ms':>8} {'cv2 ms':>8} {'ref ms':>8} "
        f"{'ours/cv2':>8} {'x floor':>8}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        h, w = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        m = rng.random((h, w), dtype=np.float32)
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        scratch = np.empty_like(m)
        floor = median_times({"floor": lambda s=scratch, m=m: np.copyto(s, m)}, args.rounds)[
            "floor"
        ]

        rows: list[tuple[str, dict[str, Callable[[], object]]]] = [
            (
                "anomaly_map_to_color_map",
                {
                    "ours": lambda m=m: ap.anomaly_map_to_color_map(m),
                    "cv2": lambda m=m: cv_color_map(m),
                    "ref": lambda m=m: ref_color_map(m),
                },
            ),
            (
                "superimpose_anomaly_map",
                {
                    "ours": lambda m=m, i=image: ap.superimpose_anomaly_map(m, i),
                    "cv2": lambda m=m, i=image: cv_superimpose(m, i),
                    "ref": lambda m=m, i=image: ref_superimpose(m, i),
                },
            ),
        ]
        for radius in (1, 4, 16):
            kernel = morphology.disk(radius).astype(np.uint8)
            rows.append(
                (
                    f"compute_mask(k={radius})",
                    {
                        "ours": lambda m=m, r=radius: ap.compute_mask(m, 0.5, r),
                        "cv2": lambda m=m, k=kernel: cv_mask(m, k),
                        "ref": lambda m=m, r=radius: ref_mask(m, r),
                    },
                )
            )
        mask_ours: dict[int, float] = {}
        for name, contenders in rows:
            if args.no_reference:
                contenders.pop("ref")
            t = median_times(contenders, args.rounds)
            ref = ms(t["ref"]) if "ref" in t else f"{'-':>8}"
            print(
                f"{size:>10} {name:<28} {ms(t['ours'])} {ms(t['cv2'])} {ref} "
                f"{t['ours'] / t['cv2']:8.3f} {t['ours'] / floor:8.2f}"
            )
            if name.startswith("compute_mask"):
                mask_ours[int(name.split("=")[1].rstrip(")"))] = t["ours"]
        print(
            f"{size:>10} {'mask k=16 / k=1 (ours)':<28} {mask_ours[16] / mask_ours[1]:8.2f}x"
            f"   copy-once floor {ms(floor)} ms"
        )
    print()


if __name__ == "__main__":
    main()
