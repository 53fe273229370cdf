# The two set-up commands of the README:
#   make demo   build the wheel, install it with the `cli` extra, render the built-in demo
#   make test   build the wheel, check it in a venv holding only numpy, run every test
# Both create what they need (.venv-make for tests and the demo, .venv-wheel for the bare
# install check) and work on a fresh machine with the Rust toolchain and Python >= 3.10.

PYTHON ?= python3
VENV := .venv-make
WHEEL_VENV := .venv-wheel
WHEEL_DIR := dist

.PHONY: demo test wheel venv clean fuzz lint

$(VENV)/.ready: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip "maturin>=1.9.2,<2"
	touch $@

venv: $(VENV)/.ready

wheel: venv
	rm -rf $(WHEEL_DIR)
	$(VENV)/bin/maturin build --release --out $(WHEEL_DIR)

demo: wheel
	$(VENV)/bin/python -m pip install -q --force-reinstall --no-deps $(WHEEL_DIR)/*.whl
	$(VENV)/bin/python -m pip install -q "$$(ls $(WHEEL_DIR)/*.whl)[cli]"
	$(VENV)/bin/anomaly-postprocess

test: wheel
	cargo test --quiet
	rm -rf $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q $(WHEEL_DIR)/*.whl
	$(WHEEL_VENV)/bin/python tests/integration/wheel_smoke.py
	$(VENV)/bin/python -m pip install -q --force-reinstall --no-deps $(WHEEL_DIR)/*.whl
	$(VENV)/bin/python -m pip install -q "$$(ls $(WHEEL_DIR)/*.whl)[test]"
	ANOMALY_POSTPROCESS_EXPECT_WHEEL=1 $(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(WHEEL_VENV) $(WHEEL_DIR) target

# Fuzz every kernel for FUZZ_SECONDS each (cargo-fuzz + libFuzzer; debug assertions and
# overflow checks on, see fuzz/Cargo.toml). cargo-fuzz needs nightly-only compiler
# flags; RUSTC_BOOTSTRAP=1 lets the machine's stable toolchain accept them.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := color_map superimpose mask regions boxes resize frame

fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_TARGETS); do \
		RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 || exit 1; \
	done

# ruff, mypy --strict and stubtest against the wheel installed by `make test`.
lint:
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/lint.sh

# The Linux part of .github/workflows/release.yml, locally (scripts/check_release.sh): the
# manylinux_2_17 and musllinux_1_2 wheels for x86-64 and aarch64, cross-built with zig and
# checked with auditwheel and twine; the x86-64 wheel run on each CPython 3.10-3.14 found
# here; the sdist's contents checked and the sdist built from scratch by pip and run.
# Tools go into .venv-release, results into target/release-check. Five release builds (four
# wheels, and the sdist's from scratch): 20-25 min from cold on the shared 2-core machine,
# about 10 min once cargo's cache holds the wheels (the sdist is always built afresh, and
# each CPython gets a fresh venv with numpy).
.PHONY: release-check
release-check:
	PYTHON=$(PYTHON) scripts/check_release.sh

# The code paths this machine's CPU does not take, under qemu-user (installs what it
# needs; run after `make test`, whose test build and .venv-make it reuses): x86-64
# without AVX-512 and without AVX, and the aarch64 build, wheel and parity tests.
# PARITY_FILES and EMULATED_PYTEST_ARGS in the environment narrow the pytest runs.
.PHONY: test-emulated test-emulated-x86 test-aarch64

test-emulated-x86:
	VENV=$(VENV) scripts/ci/emulated_x86.sh

test-aarch64:
	VENV=$(VENV) scripts/ci/aarch64.sh

test-emulated: test-emulated-x86 test-aarch64
