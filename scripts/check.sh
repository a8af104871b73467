#!/usr/bin/env bash
# Everything CI proves. Run from anywhere: scripts/check.sh
#   - formatting and clippy -D warnings on the host workspace
#   - the workspace's tests (proto unit/golden/property tests, simulator scenarios, host daemons,
#     end-to-end tests with real processes)
#   - the simulator's swarm over 500 seeds (exits non-zero on any invariant violated)
#   - vigil-proto without std for a Cortex-M target (no_std, no alloc)
#   - the fuzz targets build and their committed seed corpora are current (scripts/check-fuzz.sh)
#   - the .deb and .rpm packages: the .deb installed, its units verified (scripts/test-packages.sh)
#   - every board's release image (and its size), router-fw's checks and tests
#
# Every step runs even when an earlier one fails; the failed steps are listed at the end and the
# exit status is non-zero if any failed.
#
# Needs Rust (rustup, stable) with rustfmt and clippy, the Cortex-M targets (thumbv7em-none-eabihf,
# thumbv6m-none-eabi), binutils and a C++ compiler (g++: the fuzz crate builds libFuzzer).
# Optional, each suite skipping with one line naming the Debian package when its tool is missing:
# gcc (the C library test), chromium (the web view), qemu-system-arm (firmware in QEMU),
# prometheus (promtool on /metrics), root with iproute2 and nftables (the network-namespace fault
# suite), and root with dpkg and rpm (the packages: the .deb is installed and purged again).
# `.ci/run` installs all of it and sets VIGIL_*_REQUIRED=1 so nothing skips in CI.
# Set VIGIL_SKIP_BOARDS=1 to skip the firmware builds while iterating on host code.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
step() {
  local name=$1
  shift
  printf '\n== %s\n' "$name"
  if ! "$@"; then
    failed+=("$name")
    printf '!! step failed: %s\n' "$name"
  fi
}

# One line per missing prerequisite, before anything runs.
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    echo "missing: Rust target $target (rustup target add $target): the no_std and board steps will fail"
  fi
done
optional() { # program, Debian package, what skips without it
  command -v "$1" >/dev/null || echo "note: $1 missing (Debian package $2): $3 will skip"
}
command -v c++ >/dev/null || echo "missing: a C++ compiler (Debian package g++): the fuzz step will fail"
optional gcc gcc "the C library test"
optional chromium chromium "the web view test"
optional qemu-system-arm qemu-system-arm "the firmware-in-QEMU tests"
optional nft nftables "the network-namespace fault suite"
optional rpmbuild rpm "the .rpm package"
[ "$(id -u)" = 0 ] || echo "note: not root: the network-namespace fault suite and the package install test will skip"

step "fmt" cargo fmt --all -- --check
step "clippy (host workspace)" cargo clippy --workspace --all-targets --locked -- -D warnings
step "tests (host workspace)" cargo test --workspace --locked --no-fail-fast
step "swarm: 500 random clusters under random faults, invariants checked at every step" \
  cargo run --release --locked -p vigil-sim --bin vigil-sim -- swarm --seeds 1..500
step "vigil-proto, no_std, thumbv7em-none-eabihf (build)" \
  cargo build -p vigil-proto --no-default-features --target thumbv7em-none-eabihf --locked
step "vigil-proto, no_std, thumbv7em-none-eabihf (clippy)" \
  cargo clippy -p vigil-proto --no-default-features --target thumbv7em-none-eabihf --locked -- -D warnings
step "fuzz targets build, seed corpora current" scripts/check-fuzz.sh
step "packages: .deb installed and its units verified, .rpm inspected" scripts/test-packages.sh
if [ "${VIGIL_SKIP_BOARDS:-0}" != 1 ]; then
  step "boards and router-fw" boards/build-all.sh --check
else
  echo "note: VIGIL_SKIP_BOARDS=1: firmware builds skipped"
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED steps:\n'
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all steps passed"
