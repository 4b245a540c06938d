#!/usr/bin/env bash
# Relay benchmarks (release build) against a private redis-server on a free port:
#   1. drain a 100,000-event backlog (target >= 20,000 events/s) and, in the same minute,
#      redis-benchmark's pipelined XADD and a bare pipelined XADD of the same entries;
#   2. commit→stream lag with a writer doing ~500 single-event commits/s (p99);
#   3. relay RSS (target < 32 MB).
# Usage: bench/relay_bench.sh [EVENTS] [LAG_RATE] [LAG_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-100000}
RATE=${2:-500}
SECONDS_=${3:-20}

command -v redis-server >/dev/null || { echo "redis-server is not on PATH" >&2; exit 1; }
cargo build --release -p inventory-relay --bin inventory-relay --example relay_bench

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
REDIS_PID=$!
trap 'kill "$REDIS_PID" 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

export REDIS_PORT=$PORT RELAY_BIN=target/release/inventory-relay
BENCH=target/release/examples/relay_bench
echo "== redis-server $(redis-server --version | awk '{print $3}') on port $PORT, $(nproc) cores"
echo "== drain"
$BENCH drain "$EVENTS"
echo "== redis-benchmark -p $PORT -t xadd -P 100 -n $EVENTS -d 400 -q"
redis-benchmark -p "$PORT" -t xadd -P 100 -n "$EVENTS" -d 400 -q
$BENCH bare "$EVENTS"
echo "== lag at ${RATE} writes/s for ${SECONDS_} s"
$BENCH lag "$RATE" "$SECONDS_"
