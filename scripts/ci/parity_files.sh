# Sourced by the emulated runs (emulated_x86.sh, aarch64.sh): what they run of pytest.
# Each can be overridden from the environment.
# The parity test files of the three functions.
PARITY_FILES=${PARITY_FILES:-"tests/parity/test_color_map.py tests/parity/test_superimpose.py tests/parity/test_compute_mask.py"}
# Extra pytest arguments (e.g. -x, -k 'not large'); none by default: every
# parametrisation of those files runs.
EMULATED_PYTEST_ARGS=${EMULATED_PYTEST_ARGS:-}
VENV=${VENV:-.venv-make}
for parity_file in $PARITY_FILES; do
    [ -f "$parity_file" ] || { echo "$0: parity file $parity_file does not exist" >&2; exit 1; }
done
