#!/usr/bin/env bash
# The Linux part of the release workflow (.github/workflows/release.yml), run locally:
#
#   1. the four Linux abi3 wheels the release ships, manylinux_2_17 (manylinux2014) and
#      musllinux_1_2 for x86-64 and aarch64, cross-compiled here with zig (the workflow
#      builds them in manylinux/musllinux containers); each must carry the expected tag,
#      `auditwheel show` must find it consistent with that tag (one documented musl
#      exception, at audit_wheel below), `twine check --strict` must pass, and it must
#      hold the licence, the stubs and py.typed;
#   2. the x86-64 manylinux wheel installed into a bare venv (numpy only) and run
#      (tests/integration/wheel_smoke.py) on every CPython 3.10-3.14 found on this machine;
#   3. the sdist: what it must contain (Cargo.lock, sources, LICENSE, README and the
#      local files the README links) and must not (build output, venvs, CI files);
#      `twine check --strict`; then `pip install <sdist>` in a fresh venv, which builds
#      it from scratch with maturin, and the result imported and run from outside the
#      checkout.
#
# macOS and Windows wheels cannot be built or run here; the workflow builds and tests
# them on their own runners.
#
# Needs: rustup (adds the cross targets if missing) and Python >= 3.10 with venv. The
# tools (maturin, ziglang, auditwheel, twine, trove-classifiers) go into .venv-release,
# kept between runs; results and logs into target/release-check/, replaced on each run.
# Repeated runs reuse cargo's build cache for the wheels; the sdist build is always
# from scratch, as a user's pip does it.
#
# Usage: scripts/check_release.sh       (or `make release-check`; PYTHON=python3.12 to
#        choose the interpreter that runs the tools)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

PYTHON=${PYTHON:-python3}
venv=$root/.venv-release
out=$root/target/release-check
tools=("maturin>=1.9,<2" "ziglang>=0.13" "auditwheel>=6" "twine>=6.1" "trove-classifiers"
    "tomli; python_version < '3.11'")

# target triple | compatibility (maturin --compatibility) | tag the wheel must carry
targets=(
    "x86_64-unknown-linux-gnu|manylinux_2_17|manylinux_2_17_x86_64"
    "aarch64-unknown-linux-gnu|manylinux_2_17|manylinux_2_17_aarch64"
    "x86_64-unknown-linux-musl|musllinux_1_2|musllinux_1_2_x86_64"
    "aarch64-unknown-linux-musl|musllinux_1_2|musllinux_1_2_aarch64"
)

failures=()
fail() { failures+=("$1"); echo "FAIL: $1"; }
step() { echo; echo "== $1"; }
elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
# Runs a command with its output in a log file; on failure, shows the log's end.
logged() {
    local log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 30 "$log"
        return 1
    fi
}
started=$(date +%s)

step "tools (.venv-release)"
stamp="$venv/.tools-$({ printf '%s\n' "${tools[@]}"; "$PYTHON" --version; } | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "${tools[@]}"
    touch "$stamp"
fi
# maturin --zig runs `python -m ziglang` with the first python on PATH.
export PATH="$venv/bin:$PATH"
maturin --version
command -v rustup >/dev/null || { echo "rustup is needed to add the cross targets"; exit 1; }
installed_targets=$(rustup target list --installed)
for spec in "${targets[@]}"; do
    triple=${spec%%|*}
    grep -qx "$triple" <<<"$installed_targets" || rustup target add "$triple"
done

rm -rf "$out"
mkdir -p "$out/logs"

step "metadata"
python - <<'EOF' || fail "pyproject.toml metadata"
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from trove_classifiers import classifiers, deprecated_classifiers

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
bad = [c for c in project["classifiers"] if c not in classifiers or c in deprecated_classifiers]
problems = [f"unknown or deprecated classifier: {c}" for c in bad]
if any(c.startswith("License ::") for c in project["classifiers"]):
    problems.append("a License :: classifier beside a PEP 639 licence expression")
if project.get("license") != "Apache-2.0":
    problems.append(f"license is {project.get('license')!r}, expected 'Apache-2.0'")
for problem in problems:
    print(problem)
print(f"{len(project['classifiers'])} classifiers, license {project.get('license')!r}")
sys.exit(1 if problems else 0)
EOF
grep -q '^license = "Apache-2.0"$' Cargo.toml || fail "Cargo.toml's license is not Apache-2.0"
# The text as apache.org and Debian (/usr/share/common-licenses/Apache-2.0) ship it.
echo "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30  LICENSE" \
    | sha256sum --check --quiet || fail "LICENSE is not the unmodified Apache License 2.0 text"

# `auditwheel show` must find the wheel consistent with its tag.
#
# One exception, for musllinux: a cross-linked musl extension (zig here, musl-cross-make
# in maturin-action's default musl images) names musl's libc by its upstream soname,
# `libc.so`, while auditwheel's musllinux policy lists only Alpine's name for it,
# `libc.musl-<arch>.so.1`. musl's loader takes any `libc.*` as itself, so the wheel
# loads on every musl system; auditwheel still reports `linux_<arch>` and asks to
# eliminate `libc.so`. That case, and only it (no other library, no versioned symbol,
# the symbol policy at the tag), passes with a note. The release workflow builds its
# musllinux wheels in the PyPA musllinux image, whose libc has Alpine's soname, and
# runs auditwheel there without this exception.
audit_wheel() {
    local wheel=$1 tag=$2 ldpaths=()
    # On this glibc host auditwheel would take glibc's libc.so (a linker script) for
    # musl's; an empty search path leaves musl's libc unresolved instead.
    [[ $tag == musllinux* ]] && ldpaths=(--ldpaths "$out/empty") && mkdir -p "$out/empty"
    auditwheel show "${ldpaths[@]}" "$wheel" >"$out/logs/auditwheel-$tag.log" 2>&1 || true
    auditwheel show --json "${ldpaths[@]}" "$wheel" 2>/dev/null | python -c '
import json, sys
tag = sys.argv[1]
report = json.load(sys.stdin)
binary = not report["pure"] and not report["unsupported_isa"]
if binary and report["overall_tag"] == tag:
    sys.exit(0)
if (binary and tag.startswith("musllinux") and report["sym_tag"] == tag
        and not report["versioned_symbols"]
        and list(report["external_libs"]) == ["libc.so"]
        and report["policy_upgrades"].get(tag, {}).get("libs_to_eliminate") == ["libc.so"]):
    print(f"  note: auditwheel accepts {tag} but for musl libc\x27s upstream soname libc.so")
    sys.exit(0)
print(json.dumps(report, indent=2))
sys.exit(1)' "$tag" || { cat "$out/logs/auditwheel-$tag.log"; return 1; }
}

# Checks one built wheel: name, twine, auditwheel, files and metadata.
check_wheel() {
    local wheel=$1 tag=$2 name
    name=$(basename "$wheel")
    [[ $name == anomaly_postprocess-*-cp310-abi3-*"$tag".whl ]] \
        || fail "$name: expected a cp310-abi3 wheel tagged $tag"
    logged "$out/logs/twine-$tag.log" twine check --strict "$wheel" || fail "$name: twine check"
    audit_wheel "$wheel" "$tag" || fail "$name: auditwheel does not accept $tag"
    local listing
    listing=$(python -m zipfile -l "$wheel")
    for path in anomaly_postprocess/_native.abi3.so anomaly_postprocess/_native.pyi \
        anomaly_postprocess/py.typed anomaly_postprocess/__init__.py \
        "anomaly_postprocess-[^/]*\.dist-info/licenses/LICENSE"; do
        grep -qE "^$path " <<<"$listing" || fail "$name: $path missing"
    done
    python -m zipfile -e "$wheel" "$out/unpacked-$tag"
    grep -qx "License-Expression: Apache-2.0" "$out"/unpacked-"$tag"/*.dist-info/METADATA \
        || fail "$name: METADATA has no License-Expression: Apache-2.0"
    cmp -s LICENSE "$out"/unpacked-"$tag"/*.dist-info/licenses/LICENSE \
        || fail "$name: its LICENSE differs from the repository's"
    echo "$name: tag, auditwheel, twine, contents OK"
}

timings=()
for spec in "${targets[@]}"; do
    IFS='|' read -r triple compat tag <<<"$spec"
    step "wheel $triple ($compat)"
    t=$(date +%s)
    if logged "$out/logs/build-$triple.log" \
        maturin build --release --locked --zig --target "$triple" --compatibility "$compat" \
        --out "$out/wheels/$triple"; then
        timings+=("$triple: $(elapsed "$t")")
        grep -E '^warning' "$out/logs/build-$triple.log" | grep -v 'generated [0-9]* warning' \
            | sed "s/^/  compiler $triple: /" || true
        check_wheel "$(ls "$out/wheels/$triple"/*.whl)" "$tag"
    else
        fail "build for $triple"
    fi
done

# Finds CPython X.Y: on PATH, or among pyenv's versions.
find_python() {
    local version=$1 candidate
    for candidate in "$(command -v "python$version" || true)" \
        "$(pyenv root 2>/dev/null || echo /nonexistent)"/versions/"$version".*/bin/"python$version"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] \
            && "$candidate" -c 'import venv' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# A bare venv with numpy from the index and our package only from $1 (a wheel or an
# sdist), then the smoke test and the brief's one-liner run from outside the checkout.
install_and_run() {
    local python=$1 dist=$2 label=$3 dir
    dir="$out/venvs/$label"
    "$python" -m venv "$dir"
    logged "$out/logs/install-$label.log" "$dir/bin/python" -m pip install -q numpy \
        || { fail "$label: numpy install"; return; }
    logged "$out/logs/install-$label.log" "$dir/bin/python" -m pip install -q "$dist" \
        || { fail "$label: pip install $(basename "$dist")"; return; }
    cp tests/integration/wheel_smoke.py "$dir/"
    (cd "$dir" && bin/python wheel_smoke.py \
        && bin/python -c "import anomaly_postprocess as ap, numpy as np; print(ap.compute_mask(np.random.rand(8,8).astype('f4'), .5))" \
        >"$out/logs/run-$label.log") || fail "$label: import and run"
}

step "x86-64 manylinux wheel on CPython 3.10-3.14"
wheel=$(ls "$out/wheels/x86_64-unknown-linux-gnu"/*.whl 2>/dev/null || true)
missing_pythons=()
if [ -n "$wheel" ]; then
    for version in 3.10 3.11 3.12 3.13 3.14; do
        if python_path=$(find_python "$version"); then
            install_and_run "$python_path" "$wheel" "wheel-py$version"
        else
            missing_pythons+=("$version")
        fi
    done
    [ ${#missing_pythons[@]} -eq 0 ] || echo "not on this machine (not run): CPython ${missing_pythons[*]}"
fi

step "sdist"
t=$(date +%s)
logged "$out/logs/sdist.log" maturin sdist --out "$out/sdist" || fail "maturin sdist"
sdist=$(ls "$out/sdist"/*.tar.gz 2>/dev/null || true)
if [ -n "$sdist" ]; then
    logged "$out/logs/twine-sdist.log" twine check --strict "$sdist" || fail "sdist: twine check"
    python - "$sdist" <<'EOF' || fail "sdist contents"
import re
import sys
import tarfile

with tarfile.open(sys.argv[1]) as archive:
    names = archive.getnames()
top = names[0].split("/")[0]
files = {name[len(top) + 1 :] for name in names if name.startswith(top + "/")}
required = [
    "PKG-INFO", "pyproject.toml", "Cargo.toml", "Cargo.lock", "LICENSE", "README.md",
    "src/lib.rs", "src/python/mod.rs", "python/anomaly_postprocess/__init__.py",
    "python/anomaly_postprocess/_native.pyi", "python/anomaly_postprocess/py.typed",
]
# Local files the README links or shows (it is the PyPI page and the sdist's readme).
readme = open("README.md", encoding="utf-8").read()
linked = [
    target.removeprefix("./")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    if not re.match(r"[a-z]+:", target)
]
required += linked
problems = [f"missing: {path}" for path in required if path not in files]
junk = re.compile(
    r"(^|/)(target|\.venv[^/]*|dist|__pycache__|\.hypothesis|\.pytest_cache|\.mypy_cache"
    r"|\.ruff_cache|\.ci|\.github|\.git)(/|$)|\.(so|pyd|dylib|whl|pyc)$|^fuzz/"
)
problems += [f"should not be in the sdist: {path}" for path in sorted(files) if junk.search(path)]
for problem in problems:
    print(problem)
print(f"{len(files)} files in {top}.tar.gz; local files the README links: {sorted(set(linked))}")
sys.exit(1 if problems else 0)
EOF
    step "pip install <sdist> in a fresh venv (a full build from source)"
    install_and_run "$(command -v "$PYTHON")" "$sdist" sdist
    timings+=("sdist build and install: $(elapsed "$t")")
fi

step "summary"
for line in "${timings[@]}"; do echo "  $line"; done
for wheel in "$out"/wheels/*/*.whl; do echo "  $(basename "$wheel")"; done
[ -n "${sdist:-}" ] && echo "  $(basename "$sdist")"
echo "  total: $(elapsed "$started")"
if [ ${#failures[@]} -ne 0 ]; then
    printf 'release check FAILED (%d):\n' ${#failures[@]}
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "release check passed"
