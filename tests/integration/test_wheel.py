"""Under `make test` the suite must exercise the installed wheel, not the source tree."""

import os
from pathlib import Path

import pytest

import anomaly_postprocess
from anomaly_postprocess import _native

EXPECT_WHEEL = os.environ.get("ANOMALY_POSTPROCESS_EXPECT_WHEEL") == "1"


@pytest.mark.skipif(not EXPECT_WHEEL, reason="only meaningful under `make test`")
def test_package_comes_from_the_installed_wheel() -> None:
    package_dir = Path(anomaly_postprocess.__file__).resolve().parent
    assert "site-packages" in package_dir.parts, package_dir
    assert Path(_native.__file__).resolve().parent == package_dir
    assert (package_dir / "py.typed").exists()
    assert (package_dir / "_native.pyi").exists()
