#!/usr/bin/env bash
# Relay benchmarks (release build) against a private redis-server on a free port:
#   1. drain a 100,000-event backlog (target >= 20,000 events/s) and, in the same minute,
#      redis-benchmark's pipelined XADD and a bare pipelined XADD of the same entries;
#   2. commit→stream lag with a writer doing ~500 single-event commits/s (p99);
#   3. relay RSS (target < 32 MB).
# Usage: bench/relay_bench.sh [EVENTS] [LAG_RATE] [LAG_SECONDS]
#   RELAY_BIN / BENCH_BIN: the relay and relay_bench binaries to use instead of building the work
#   tree's (to compare two builds in one sitting; the drain ratio is always to the bare XADD
#   measured in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-100000}
RATE=${2:-500}
SECONDS_=${3:-20}

command -v redis-server >/dev/null || { echo "redis-server is not on PATH" >&2; exit 1; }
if [ -z "${RELAY_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -p inventory-relay --bin inventory-relay --example relay_bench
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

export REDIS_PORT=$PORT RELAY_BIN=${RELAY_BIN:-target/release/inventory-relay}
BENCH=${BENCH_BIN:-target/release/examples/relay_bench}
echo "== redis-server $(redis-server --version | awk '{print $3}') on port $PORT, $(nproc) cores"
echo "== drain"
$BENCH drain "$EVENTS"
# redis-benchmark 7.0 has no built-in `-t xadd` test (it prints nothing), so give it the
# command: an entry shaped like the relay's (9 fields, ~400 bytes), pipelined 100 deep.
PAYLOAD='{"product_id":"0190a1b2-c3d4-7e5f-8a9b-000000000001","store_id":"MAD-001","previous_quantity":1,"new_quantity":4,"change":3,"reason":"restock","reserved":1,"version":3}'
echo "== redis-benchmark -p $PORT -P 100 -n $EVENTS -q XADD bench MAXLEN ~ 1000000 * <9 fields like the relay's>"
redis-benchmark -p "$PORT" -P 100 -n "$EVENTS" -q XADD bench MAXLEN '~' 1000000 '*' \
  id 0190a1b2-c3d4-7e5f-8a9b-c0ffee000001 seq 123456 event_type stock.updated \
  aggregate_type stock aggregate_id 0190a1b2-c3d4-7e5f-8a9b-000000000001 store_id MAD-001 \
  created_at 2026-11-30T01:02:03.456Z payload "$PAYLOAD" timestamp 2026-11-30T01:02:03.460Z \
  | tr '\r' '\n' | tail -n 1
redis-cli -p "$PORT" del bench >/dev/null
$BENCH bare "$EVENTS"
echo "== lag at ${RATE} writes/s for ${SECONDS_} s"
$BENCH lag "$RATE" "$SECONDS_"
