#!/usr/bin/env bash
# Boots the router in QEMU and checks, from the host, that it reaches its parent: a Vigil
# datagram (magic "VG") must arrive at a host UDP port standing in for the parent within the
# deadline. On failure, prints the firmware's console log.
#
# Needs qemu-system-arm and python3; builds the firmware first (release).
# Environment: PARENT_PORT (host port standing in for the parent, default 17001),
#              ROUTER_PORT (host port forwarded to the router's udp/7000, default 17000),
#              DEADLINE (seconds, default 15).
set -euo pipefail

cd "$(dirname "$0")"
parent_port=${PARENT_PORT:-17001}
router_port=${ROUTER_PORT:-17000}
deadline=${DEADLINE:-15}
elf=target/thumbv7em-none-eabihf/release/vigil-board-qemu-mps2-an386

cargo build --release --locked
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${qemu:-}" ] && kill "$qemu" 2>/dev/null || true' EXIT

# The guest reaches host port P as 10.0.2.2:P; the router's own port stays 7000 inside.
qemu-system-arm -M mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native \
  -nic "user,model=lan9118,hostfwd=udp:127.0.0.1:${router_port}-10.0.2.15:7000" \
  -kernel "$elf" -append "name=smoke-r1 parent=10.0.2.2:${parent_port}" \
  >"$log" 2>&1 &
qemu=$!

if python3 - "$parent_port" "$deadline" <<'EOF'
import socket, sys, time
port, deadline = int(sys.argv[1]), float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
end = time.monotonic() + deadline
while (left := end - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, peer = s.recvfrom(2048)
    except socket.timeout:
        break
    if data[:2] == b"VG":
        print(f"parent got a {len(data)}-byte Vigil datagram from {peer[0]}:{peer[1]}")
        sys.exit(0)
print(f"no Vigil datagram on udp/{port} within {deadline:g} s", file=sys.stderr)
sys.exit(1)
EOF
then
  if grep -q "listening on udp/7000" "$log"; then
    echo "smoke test passed"
    exit 0
  fi
  echo "smoke test failed: the router never logged that it listens" >&2
else
  echo "smoke test failed" >&2
fi
echo "---- firmware console ----" >&2
cat "$log" >&2
exit 1
