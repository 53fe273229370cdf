"""OpenCV's x86-64 ``cv2.resize`` bytes for uint8 images, for parity runs on aarch64.

The contract (docs/behaviour.md#resizing) is the bytes ``cv2.resize(...,
interpolation=cv2.INTER_LINEAR)`` gives in OpenCV's x86-64 build. OpenCV's aarch64
wheels hand several uint8 resizes (depending on the channel count and the sizes) to
other HALs that round differently, so up to ~45% of their bytes differ by 1 to 3, while
the package gives the x86-64 bytes on every CPU. There the parity tests compare against
``reference.opencv_x86_resize_u8``, a numpy transcription of that arithmetic which
``tests/parity/test_resize.py`` checks against ``cv2.resize`` on x86-64.

As a pytest plugin (``-p resize_reference`` with this folder on ``PYTHONPATH``, the
tests folder importable) it replaces ``cv2.resize`` for the whole run when
``ANOMALY_POSTPROCESS_RESIZE_REFERENCE=1``; it refuses to on x86-64, where OpenCV's own
answer is the reference. Only ``INTER_LINEAR`` resizes of uint8 images to an explicit
size are emulated. Float maps go to the real ``cv2.resize``: the tests that resize maps
compare with docs/behaviour.md#resizing's tolerance, which allows for OpenCV's builds
without IPP. Anything else raises, so no test silently compares against an unemulated
answer.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np

ENV = "ANOMALY_POSTPROCESS_RESIZE_REFERENCE"


def pytest_configure(config: Any) -> None:
    if os.environ.get(ENV) != "1":
        return
    if platform.machine() in ("x86_64", "AMD64"):
        raise RuntimeError(f"{ENV}=1 on x86-64: OpenCV's own answer is the reference")
    import cv2

    real_resize = cv2.resize

    def resize(src: Any, dsize: Any, *rest: Any, **kw: Any) -> np.ndarray:
        """``cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)`` as on x86-64."""
        from reference import opencv_x86_resize_u8

        image = np.asarray(src)
        interpolation = kw.pop("interpolation", cv2.INTER_LINEAR)
        if image.dtype != np.uint8:
            return real_resize(src, dsize, *rest, interpolation=interpolation, **kw)
        if rest or kw or interpolation != cv2.INTER_LINEAR or image.ndim not in (2, 3):
            raise TypeError(
                "resize_reference emulates cv2.resize only for uint8 (H, W[, C]) images, "
                f"INTER_LINEAR and an explicit size; got {image.dtype}{image.shape}, "
                f"{rest}, {kw}, interpolation={interpolation}"
            )
        dst_w, dst_h = (int(v) for v in dsize)
        stacked = image if image.ndim == 3 else image[:, :, None]
        out = opencv_x86_resize_u8(stacked, dst_h, dst_w)
        # cv2 drops a unit channel axis, as cv2.resize does.
        return out[:, :, 0] if image.ndim == 2 or out.shape[2] == 1 else out

    cv2.resize = resize
    print(f"resize_reference: cv2.resize gives its x86-64 uint8 bytes on this {platform.machine()}")
