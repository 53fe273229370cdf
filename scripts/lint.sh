#!/usr/bin/env bash
# Static checks of the Python layer: lint, formatting, strict typing, and the extension's
# stubs (python/anomaly_postprocess/_native.pyi) against the compiled module. Uses whatever
# `python` is on PATH, so run it inside a venv that has the package installed (editable or
# wheel) and ruff + mypy (the `test` extra), e.g.
#   source .venv/bin/activate && scripts/lint.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python -m ruff check python tests benches
python -m ruff format --check python tests benches
python -m mypy --strict python/anomaly_postprocess
python -m mypy.stubtest anomaly_postprocess._native
