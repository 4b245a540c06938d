#!/usr/bin/env bash
# Tiny vs large database, side by side (issue 10): the latency of each request of the issue's
# table, reservations/s (wrk, 32 connections, 64 product/store pairs), the API's resident
# memory high-water after the read suite, and /health latency while 16 clients hammer every
# read endpoint. Same release binary, synchronous=FULL, retention off.
#
# Usage: bench/scale.sh [LARGE_DB] [wrk duration=10s]
#   LARGE_DB: a database built by api/examples/gen_large_db.rs; built there (SCALE=1: the
#   issue's 1,000,000 stock rows / 2,000,000 reservations / 5,000,000 events) when missing.
#   The write test adds reservations to it. SCALE=0.1 builds a tenth. The tiny database is
#   built fresh each run (scale 0.001: 1,000 stock rows, 5,000 events).
# API_BIN=/path/to/inventory-api and GEN_BIN=/path/to/gen_large_db skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
SCALE=${SCALE:-1}
WORK=$(mktemp -d)
LARGE=${1:-$WORK/large.db}
DURATION=${2:-10s}
if [ -z "${API_BIN:-}" ] || [ -z "${GEN_BIN:-}" ]; then
  cargo build --release -q -p inventory-api --bin inventory-api --example gen_large_db
  API_BIN=${API_BIN:-./target/release/inventory-api}
  GEN_BIN=${GEN_BIN:-./target/release/examples/gen_large_db}
fi
API_PID=
cleanup() { [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null; [ -n "$API_PID" ] && wait "$API_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

[ -e "$LARGE" ] || nice "$GEN_BIN" "$LARGE" --scale "$SCALE"
nice "$GEN_BIN" "$WORK/tiny.db" --scale 0.001 >/dev/null

export BENCH_KEY=bench-key-0123456789
H=(-H "X-API-Key: $BENCH_KEY")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT/api/v1

start_api() {
  DATABASE_URL="$1" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
    SQLITE_SYNCHRONOUS=full "$API_BIN" &
  API_PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.1; done
  echo "the API did not start on $1" >&2; exit 1
}
stop_api() { kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=; }

# Median of 5 calls, in ms; the last call's body stays in $WORK/body.
latency() {
  local times=() t
  for _ in 1 2 3 4 5; do
    t=$(curl -s -o "$WORK/body" -w '%{time_total} %{http_code}' "${H[@]}" "$BASE$1")
    [ "${t#* }" = 200 ] || { echo "GET $1 answered ${t#* }" >&2; }
    times+=("${t% *}")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{printf "%.1f", $1 * 1000}'
}

declare -A RESULT
measure() {
  local name=$1 db=$2
  start_api "$db"
  local product store pairs
  product=$(sqlite3 "$db" "SELECT product_id FROM stock ORDER BY product_id LIMIT 1 OFFSET (SELECT COUNT(*)/2 FROM stock)")
  store=$(sqlite3 "$db" "SELECT store_id FROM stock WHERE product_id = '$product' LIMIT 1")
  local reads=(
    "/events/stats"
    "/events?aggregate_id=$product&limit=100"
    "/events?event_type=reservation.expired&limit=100"
    "/reservations/stats"
    "/stock/store/$store"
    "/stock/low-stock"
  )
  local i=0
  for path in "${reads[@]}"; do
    RESULT[$name,$i]="$(latency "$path") ms"
    # `latency` runs in a subshell; the body it saved is still on disk.
    [ "$i" = 4 ] && RESULT[$name,$i]="${RESULT[$name,$i]}, $(($(stat -c %s "$WORK/body") / 1024)) KB"
    i=$((i + 1))
  done
  RESULT[$name,rss]=$(awk '/VmHWM/ {printf "%.0f MB", $2 / 1024}' "/proc/$API_PID/status")

  # /health while 16 clients read every endpoint above.
  BENCH_READS="${reads[*]/#//api/v1}" wrk -t2 -c16 -d"$DURATION" -s bench/read_all.lua \
    "http://127.0.0.1:$PORT" >"$WORK/reads.txt" &
  local wrk_pid=$! health=()
  sleep 1
  for _ in $(seq 20); do
    health+=("$(curl -s -o /dev/null -w '%{time_total} %{http_code}' --max-time 5 "http://127.0.0.1:$PORT/health")")
    sleep 0.3
  done
  wait $wrk_pid
  RESULT[$name,health]=$(printf '%s\n' "${health[@]}" | sort -n | awk '
    { t[NR] = $1 * 1000; if ($2 != 200) bad++ }
    END { printf "p50 %.1f ms, max %.1f ms, non-200: %d/%d", t[int((NR + 1) / 2)], t[NR], bad, NR }')
  RESULT[$name,readrps]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/reads.txt")

  # Writes: 64 pairs with room for every reservation.
  pairs=$(sqlite3 "$db" "SELECT product_id || ':' || store_id FROM stock ORDER BY product_id DESC, store_id LIMIT 64" | tr '\n' ' ')
  sqlite3 -cmd ".timeout 10000" "$db" "UPDATE stock SET quantity = 1000000000 WHERE product_id || ':' || store_id IN (SELECT product_id || ':' || store_id FROM stock ORDER BY product_id DESC, store_id LIMIT 64)"
  BENCH_PAIRS="$pairs" wrk -t2 -c32 -d"$DURATION" -s bench/reserve_pairs.lua "$BASE/reservations" >"$WORK/writes.txt"
  RESULT[$name,writes]="$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$WORK/writes.txt") ($(grep -o 'status_other=[0-9]*' "$WORK/writes.txt"))"
  stop_api
}

measure tiny "$WORK/tiny.db"
measure large "$LARGE"

labels=(
  "GET /events/stats"
  "GET /events?aggregate_id=<product>&limit=100"
  "GET /events?event_type=reservation.expired&limit=100"
  "GET /reservations/stats"
  "GET /stock/store/{store}"
  "GET /stock/low-stock"
)
size() { sqlite3 "$1" "SELECT (SELECT COUNT(*) FROM stock) || ' stock rows, ' || (SELECT COUNT(*) FROM reservations) || ' reservations, ' || (SELECT COUNT(*) FROM events) || ' events'"; }
echo "tiny:  $(size "$WORK/tiny.db")"
echo "large: $(size "$LARGE"), $(du -h "$LARGE" | cut -f1)"
echo
echo "| request | tiny DB | large DB |"
echo "|---|---|---|"
for i in "${!labels[@]}"; do
  echo "| \`${labels[$i]}\` | ${RESULT[tiny,$i]} | ${RESULT[large,$i]} |"
done
echo "| reservations/s (wrk, 32 conns, 64 pairs, $DURATION) | ${RESULT[tiny,writes]} | ${RESULT[large,writes]} |"
echo "| API RSS high-water after the read suite | ${RESULT[tiny,rss]} | ${RESULT[large,rss]} |"
echo "| \`/health\` while 16 clients read every endpoint | ${RESULT[tiny,health]} | ${RESULT[large,health]} |"
echo "| read requests/s of those 16 clients | ${RESULT[tiny,readrps]} | ${RESULT[large,readrps]} |"
