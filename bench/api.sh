#!/usr/bin/env bash
# API throughput benchmark (issues 2 and 13): 1-unit reservations with wrk at 32 connections
# for 10 s each, on one hot (product, store) pair and then on 64 pairs, against a release build
# with synchronous=FULL; then the SQLite ceiling of the same statements in the same run
# (api/examples/sqlite_ceiling.rs: the route's operation in group commits of 32, no HTTP) and
# the API's rate as a ratio of it; then reads of one stock row. Prints requests/s, latency,
# status counts, and the API's peak resident memory.
# Usage: bench/api.sh [duration=10s] [connections=32]
# API_BIN=/path/to/inventory-api benchmarks that binary instead of building the work tree's
# (to compare two builds in one sitting); CEILING_BIN likewise for the ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10s}
CONNS=${2:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "${API_BIN:-}" ] || [ -z "${CEILING_BIN:-}" ]; then
  cargo build --release -q -p inventory-api --bins --example sqlite_ceiling
fi
API_BIN=${API_BIN:-./target/release/inventory-api}
CEILING_BIN=${CEILING_BIN:-./target/release/examples/sqlite_ceiling}
DIR=$(mktemp -d)
PORT=$(free_port)
export BENCH_KEY=bench-key-0123456789
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full "$API_BIN" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
wait_http "http://127.0.0.1:$PORT/health"
H=(-H "X-API-Key: $BENCH_KEY" -H 'Content-Type: application/json')
ONE=$(make_pairs "$BASE" 1 ONE)
BENCH_PRODUCT=$(echo "$ONE" | awk -F: '{gsub(/ /,"",$1); print $1}')
BENCH_STORE=${ONE##*:}
export BENCH_PRODUCT BENCH_STORE

rss_peak() { grep VmHWM /proc/$API_PID/status | awk '{print $2/1024 " MB"}'; }
rate() { awk '/Requests\/sec/ {print int($2)}'; }

echo "== reservations, 1 pair: wrk -t2 -c$CONNS -d$DURATION (synchronous=FULL)"
OUT1=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve.lua "$BASE/reservations")
echo "$OUT1" | grep -E "Requests/sec|Latency  |status_|p50|p99|Non-2xx"
echo "reserved afterwards: $(curl -sf "${H[@]}" "$BASE/stock/$BENCH_PRODUCT/$BENCH_STORE" | python3 -c 'import sys,json; print(json.load(sys.stdin)["reserved"])')"

echo "== reservations, 64 pairs: wrk -t2 -c$CONNS -d$DURATION (synchronous=FULL)"
export BENCH_PAIRS=$(make_pairs "$BASE" 64 PAIR)
OUT64=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve_pairs.lua "$BASE/reservations")
echo "$OUT64" | grep -E "Requests/sec|Latency  |status_|  50%|  99%|Non-2xx"
echo "events written: $(events_total "$BASE")"
echo "API peak RSS so far: $(rss_peak)"

echo "== the SQLite ceiling of the same statements (group commits of $CONNS, no HTTP)"
C1=$("$CEILING_BIN" "$DIR" --pairs 1 --batch "$CONNS" --seconds 5)
C64=$("$CEILING_BIN" "$DIR" --pairs 64 --batch "$CONNS" --seconds 5)
echo "1 pair:   $C1"
echo "64 pairs: $C64"
R1=$(echo "$OUT1" | rate); R64=$(echo "$OUT64" | rate)
K1=$(echo "$C1" | awk '{print int($2)}'); K64=$(echo "$C64" | awk '{print int($2)}')
python3 -c "print(f'API / ceiling: 1 pair {$R1}/{$K1} = {$R1/$K1:.2f}; 64 pairs {$R64}/{$K64} = {$R64/$K64:.2f}')"

echo "== reads: wrk -t2 -c$CONNS -d$DURATION GET one stock row"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/read.lua "$BASE/stock/$BENCH_PRODUCT/$BENCH_STORE" | grep -E "Requests/sec|Latency  |p50|p99|Non-2xx"
echo "API peak RSS: $(rss_peak)"
