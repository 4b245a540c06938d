#!/usr/bin/env bash
# API throughput benchmark (issue 2): 1-unit reservations on one hot product/store, then reads
# of one stock row, with wrk at 32 connections for 10 s each, against a release build with
# synchronous=FULL. Prints requests/s, latency, status counts, `reserved` afterwards, and the
# API's peak resident memory. Usage: bench/api.sh [duration=10s] [connections=32]
# API_BIN=/path/to/inventory-api benchmarks that binary instead of building the work tree's
# (to compare two builds in one sitting).
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

rss_peak() { grep VmHWM /proc/$API_PID/status | awk '{print $2/1024 " MB"}'; }

echo "== reservations: wrk -t2 -c$CONNS -d$DURATION (synchronous=FULL)"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve.lua "$BASE/reservations" | grep -E "Requests/sec|Latency|status_|p50|p99|Non-2xx"
echo "reserved afterwards: $(curl -sf "${H[@]}" "$BASE/stock/$BENCH_PRODUCT/$BENCH_STORE" | python3 -c 'import sys,json; print(json.load(sys.stdin)["reserved"])')"
echo "events written: $(curl -sf "${H[@]}" "$BASE/events/stats" | python3 -c 'import sys,json; print(json.load(sys.stdin)["total"])')"
echo "API peak RSS so far: $(rss_peak)"

echo "== reads: wrk -t2 -c$CONNS -d$DURATION GET one stock row"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/read.lua "$BASE/stock/$BENCH_PRODUCT/$BENCH_STORE" | grep -E "Requests/sec|Latency|p50|p99|Non-2xx"
echo "API peak RSS: $(rss_peak)"
