#!/usr/bin/env bash
# What an Idempotency-Key costs (issue 11): 1-unit reservations on one hot product/store
# without a key, with a new key per request (the answer is stored with the change), and with
# one key per connection (every request after the first is a replay), wrk at 32 connections for
# 10 s each, release build, synchronous=FULL. Prints requests/s, latency, statuses, the rows
# written. Usage: bench/idempotency.sh [duration=10s] [connections=32]; API_BIN as bench/api.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONNS=${2:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BENCH_KEY=bench-key-0123456789
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full "$API_BIN" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
H=(-H "X-API-Key: $BENCH_KEY" -H 'Content-Type: application/json')
export BENCH_PRODUCT=$(curl -sf "${H[@]}" -X POST "$BASE/products" \
  -d '{"sku":"BENCH-1","name":"Bench product","price":1.5}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
export BENCH_STORE=BENCH-STORE
curl -sf "${H[@]}" -X POST "$BASE/stock" \
  -d "{\"product_id\":\"$BENCH_PRODUCT\",\"store_id\":\"$BENCH_STORE\",\"initial_quantity\":1000000000}" >/dev/null
rows() { sqlite3 "$DIR/bench.db" "SELECT (SELECT COUNT(*) FROM reservations), (SELECT COUNT(*) FROM idempotency_keys)" 2>/dev/null || echo "(sqlite3 missing)"; }

echo "== no key: wrk -t2 -c$CONNS -d$DURATION"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve.lua "$BASE/reservations" | grep -E "Requests/sec|status_|p50"
echo "reservations|keys: $(rows)"
echo "== a new key per request"
BENCH_KEYS=unique BENCH_RUN=unique wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve_keyed.lua "$BASE/reservations" | grep -E "Requests/sec|_201|p50"
echo "reservations|keys: $(rows)"
echo "== one key per connection thread: replays"
BENCH_KEYS=same BENCH_RUN=same wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve_keyed.lua "$BASE/reservations" | grep -E "Requests/sec|_201|p50"
echo "reservations|keys: $(rows)"
