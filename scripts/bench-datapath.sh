#!/usr/bin/env bash
# The datagram path, measured: one `vigil router` and a plain UDP echo, each on its own core,
# loaded the same way by the load generator (host/examples/loadgen.rs) on another core, in one run.
#
#   bash scripts/bench-datapath.sh [SECONDS] [CLIENTS] [SOCKETS]
#
# Environment: SERVER_CPU (default 1) and LOAD_CPU (default 0) pin the measured side and the
# generator; VIGIL=/path/to/vigil measures another build of the router (e.g. an older one).
# Prints one line per side, the router's socket counters, and the ratio router / echo.
set -euo pipefail

seconds=${1:-10}
clients=${2:-2000}
sockets=${3:-8}
server_cpu=${SERVER_CPU:-1}
load_cpu=${LOAD_CPU:-0}
cd "$(dirname "$0")/.."

cargo build --release --locked -q -p vigil-host --bin vigil --example loadgen
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
vigil=${VIGIL:-$target/release/vigil}
loadgen=$target/release/examples/loadgen

dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# Waits (bounded) until FILE has a line matching PATTERN.
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 100); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$pattern' in $file:" >&2
    cat "$file" >&2
    exit 1
}

"$vigil" keygen --out "$dir/key" >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) cores; server on CPU $server_cpu, generator on CPU $load_cpu"

taskset -c "$server_cpu" "$loadgen" echo --listen 127.0.0.1:0 >"$dir/echo.out" 2>&1 &
pids+=($!)
wait_for "$dir/echo.out" "echo listening on"
echo_addr=$(sed -n 's/^echo listening on //p' "$dir/echo.out")
echo_line=$(taskset -c "$load_cpu" "$loadgen" ping --echo --to "$echo_addr" --key-file "$dir/key" \
    --clients "$clients" --sockets "$sockets" --seconds "$seconds")
echo "$echo_line"
kill "${pids[0]}"

# The router's parent is an address nobody answers: it takes children all the same. Its table
# holds every client (capacity is 7/8 of the slots) with the default's room to spare.
slots=$(( clients * 2 > 8192 ? clients * 2 : 8192 ))
taskset -c "$server_cpu" "$vigil" router --name bench --listen 127.0.0.1:0 --parent 127.0.0.1:9 \
    --table-slots "$slots" \
    --key-file "$dir/key" --state-dir "$dir/state" --metrics 127.0.0.1:0 --ready-file "$dir/ready" \
    >"$dir/router.log" 2>&1 &
pids+=($!)
wait_for "$dir/ready" "metrics"
udp=$(sed -n 's/^udp = "\(.*\)"$/\1/p' "$dir/ready")
metrics=$(sed -n 's/^metrics = "\(.*\)"$/\1/p' "$dir/ready")
router_line=$(taskset -c "$load_cpu" "$loadgen" ping --to "$udp" --key-file "$dir/key" \
    --clients "$clients" --sockets "$sockets" --seconds "$seconds")
echo "$router_line"
curl -s "http://$metrics/metrics" | grep -E '^vigil_(udp_|dropped_total)' | grep -v ' 0$' || true

rate() { sed -n 's/.*s: \([0-9]*\) pings\/s answered.*/\1/p' <<<"$1"; }
python3 -c "import sys; r, e = int(sys.argv[1]), int(sys.argv[2]); print(f'router / echo = {r / e:.2f}')" \
    "$(rate "$router_line")" "$(rate "$echo_line")"
