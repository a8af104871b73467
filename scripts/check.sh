#!/usr/bin/env bash
# Everything CI proves, in the order that fails fastest. Run from anywhere: scripts/check.sh
#   - formatting and clippy -D warnings on the host workspace
#   - the workspace's tests (proto unit/golden/property tests, simulator scenarios, host daemons,
#     end-to-end tests with real processes)
#   - vigil-proto without std for a Cortex-M target (no_std, no alloc)
#   - every board's release image (and its size), router-fw's checks
# Set VIGIL_SKIP_BOARDS=1 to skip the firmware builds while iterating on host code.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "fmt"
cargo fmt --all -- --check

step "clippy (host workspace)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (host workspace)"
cargo test --workspace --locked --no-fail-fast

step "vigil-proto, no_std, thumbv7em-none-eabihf"
cargo build -p vigil-proto --no-default-features --target thumbv7em-none-eabihf --locked
cargo clippy -p vigil-proto --no-default-features --target thumbv7em-none-eabihf --locked -- -D warnings

if [ "${VIGIL_SKIP_BOARDS:-0}" != 1 ]; then
  step "boards and router-fw"
  boards/build-all.sh --check
fi
