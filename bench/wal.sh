#!/usr/bin/env bash
# WAL size under sustained write load (issue 10): 1-unit reservations over 64 product/store
# pairs with wrk (32 connections) while 8 more clients read every list endpoint, sampling the
# size of inventory.db-wal every second; prints its high-water mark and its size at the end
# and after the load stops. Release build, synchronous=FULL.
# Usage: bench/wal.sh [duration=60s] [DB to copy and start from, default: a new one]
# API_BIN=/path/to/inventory-api benchmarks that binary.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60s}
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
[ -n "${2:-}" ] && cp "$2" "$DIR/wal.db"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BENCH_KEY=bench-key-0123456789
DATABASE_URL="$DIR/wal.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full "$API_BIN" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
H=(-H "X-API-Key: $BENCH_KEY" -H 'Content-Type: application/json')
PAIRS=""
for i in $(seq 8); do
  product=$(curl -sf "${H[@]}" -X POST "$BASE/products" -d "{\"sku\":\"WAL-$i\",\"name\":\"WAL\",\"price\":1}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  for s in $(seq 8); do
    curl -sf "${H[@]}" -X POST "$BASE/stock" \
      -d "{\"product_id\":\"$product\",\"store_id\":\"WAL-$s\",\"initial_quantity\":1000000000}" >/dev/null
    PAIRS="$PAIRS $product:WAL-$s"
  done
done
wal() { stat -c %s "$DIR/wal.db-wal" 2>/dev/null || echo 0; }
BENCH_READS="/api/v1/events/stats /api/v1/reservations/stats /api/v1/stock/store/WAL-1 /api/v1/events?limit=100" \
  wrk -t1 -c8 -d"$DURATION" -s bench/read_all.lua "http://127.0.0.1:$PORT" >/dev/null &
READERS=$!
BENCH_PAIRS="$PAIRS" wrk -t2 -c32 -d"$DURATION" -s bench/reserve_pairs.lua "$BASE/reservations" >"$DIR/wrk.txt" &
WRK=$!
MAX=0
while kill -0 $WRK 2>/dev/null; do
  size=$(wal); [ "$size" -gt "$MAX" ] && MAX=$size
  sleep 1
done
wait $WRK $READERS
END=$(wal)
sleep 3
echo "reservations/s: $(awk '/Requests\/sec/ {print $2}' "$DIR/wrk.txt")"
echo "database: $(( $(stat -c %s "$DIR/wal.db") / 1048576 )) MB"
echo "-wal high-water: $((MAX / 1048576)) MB; at the end of the load: $((END / 1048576)) MB; 3 s idle later: $(( $(wal) / 1048576 )) MB"
