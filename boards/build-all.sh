#!/usr/bin/env bash
# Builds every board's release image and prints its size (text/data/bss) and its router's
# footprint (bytes per slot, slots configured, bytes of the router's static storage and of the
# router machine).
#
# Installs nothing. Needs: the rustup targets thumbv7em-none-eabihf and thumbv6m-none-eabi, and
# one of arm-none-eabi-size, llvm-size (on PATH, or rustup's llvm-tools component) or GNU size
# (Debian's binutils reads ARM ELF too).
#
# Each board is built from its own directory: cargo takes the target and runner from the
# .cargo/config.toml of the directory it runs in, not from the manifest's, so
# `cargo build --manifest-path boards/X/Cargo.toml` from elsewhere would build for the host.
#
# Usage: boards/build-all.sh [--check]
#   --check also runs rustfmt --check and clippy -D warnings on every board and on router-fw
#   (for both logging backends), and, once the images are built, router-fw's tests on the host
#   (among them a client joining the QEMU board's image, when qemu-system-arm is installed).
set -euo pipefail
# Each board builds into its own target/ (its own target triple and lockfile); the images are
# looked up there, so a CARGO_TARGET_DIR from the caller's environment must not redirect them.
unset CARGO_TARGET_DIR

here=$(cd "$(dirname "$0")" && pwd)
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if $check; then
  echo "== router-fw"
  (
    cd "$here/../router-fw"
    cargo fmt --check
    for backend in log defmt; do
      cargo clippy --release --locked --target thumbv7em-none-eabihf --features "$backend" -- -D warnings
    done
  )
fi

# board directory and its target triple
boards=(
  "qemu-mps2-an386 thumbv7em-none-eabihf"
  "nucleo-h743zi thumbv7em-none-eabihf"
  "w5500-evb-pico thumbv6m-none-eabi"
)

size_tool() {
  local t
  for t in arm-none-eabi-size llvm-size; do
    if command -v "$t" >/dev/null; then echo "$t"; return; fi
  done
  t=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size 2>/dev/null | head -n 1 || true)
  if [ -n "$t" ]; then echo "$t"; return; fi
  if command -v size >/dev/null; then echo size; return; fi
  echo "no size tool: install binutils (or rustup component add llvm-tools)" >&2
  exit 1
}
size=$(size_tool)

elves=()
for entry in "${boards[@]}"; do
  read -r board target <<<"$entry"
  echo "== $board ($target)"
  (
    cd "$here/$board"
    cargo build --release --locked
    if $check; then
      cargo fmt --check
      cargo clippy --release --locked -- -D warnings
    fi
  )
  elves+=("$here/$board/target/$target/release/vigil-board-$board")
done

echo "== sizes (bytes; flash = text + data, RAM = data + bss)"
"$size" "${elves[@]}"

# Each image carries one line with its router's figures, computed by the compiler for its target
# (vigil_router_fw::footprint); storage = table + socket buffers, router = the router machine
# (in the router task's state), all in .bss.
echo "== router (bytes per slot = per tracked node; storage and router are part of bss)"
for elf in "${elves[@]}"; do
  line=$(grep -aoE 'vigil-footprint slot_bytes=[0-9]+ slots=[0-9]+ storage_bytes=[0-9]+ router_bytes=[0-9]+' "$elf" | head -n 1 || true)
  if [ -z "$line" ]; then
    echo "$(basename "$elf"): no footprint line in the image" >&2
    exit 1
  fi
  echo "$(basename "$elf"): ${line#vigil-footprint }"
done

if $check; then
  echo "== router-fw tests"
  (cd "$here/../router-fw" && VIGIL_QEMU_ELF="${elves[0]}" cargo test --locked)
fi
