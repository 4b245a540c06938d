#!/usr/bin/env bash
# The writer's cost of one expiry against one reservation, as instruction counts (valgrind
# --tool=callgrind: repeatable on a shared, noisy machine), in batches of the sizes a real
# soak sees. Three phases on one database, 64 (product, store) pairs:
#  1. native release API: wrk -c32 for FILL (TTL 3600 s), a backlog of PENDING reservations;
#  2. the same API under callgrind: wrk -c32 for DURATION (TTL 3600 s), counted: the API
#     process's instructions per reservation;
#  3. every PENDING deadline moved into the past (sqlite3, from outside), the expiry task
#     drains the backlog in its batches, counted: the API process's instructions per expiry.
# Prints, per reservation and per expiry: the whole process's instructions, the B-tree
# descents, the inclusive cost of the expiry path's calls (bench/callgrind_parts.py) and the
# top functions by self cost.
# Usage: bench/profile_expiry.sh [duration=15s] [fill=10s]
#   API_BIN=/path/to/inventory-api profiles that binary instead of building the work tree's.
#   KEEP=dir keeps the callgrind output there (for callgrind_annotate / kcachegrind).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-15s}
FILL=${2:-10s}
for tool in valgrind callgrind_control callgrind_annotate wrk sqlite3; do
  command -v $tool >/dev/null || { echo "$tool is missing (apt-get install valgrind wrk sqlite3)" >&2; exit 1; }
done
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
OUT=${KEEP:-$DIR}
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.out*
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT/api/v1
export BENCH_KEY=bench-key-0123456789 SOAK_TTL=3600
API_PID=
trap '[ -n "$API_PID" ] && kill $API_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
api() { # api [wrapper...]: starts the API on the database (expiry every 1 s)
  DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
    SQLITE_SYNCHRONOUS=full RESERVATION_EXPIRY_INTERVAL=1s "$@" "$API_BIN" 2>>"$DIR/api.log" &
  API_PID=$!
  wait_http "http://127.0.0.1:$PORT/health" 600
}
count() { sqlite3 "$DIR/bench.db" "PRAGMA busy_timeout = 10000; SELECT COUNT(*) FROM reservations WHERE $1" | tail -n 1; }

api
export BENCH_PAIRS=$(make_pairs "$BASE" 64 PROF)
wrk -t2 -c32 -d"$FILL" -s bench/soak.lua "$BASE/reservations" >/dev/null
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
api valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out"
# Warm up (connections, statement cache, allocator), then count only the load.
wrk -t2 -c32 -d2s -s bench/soak.lua "$BASE/reservations" >/dev/null
BEFORE=$(count 1)
callgrind_control -z "$API_PID" >/dev/null 2>&1
callgrind_control -i on "$API_PID" >/dev/null
wrk -t2 -c32 -d"$DURATION" -s bench/soak.lua "$BASE/reservations" >"$OUT/wrk.txt"
callgrind_control -i off "$API_PID" >/dev/null
callgrind_control -d reserve "$API_PID" >/dev/null
N=$(($(count 1) - BEFORE))
E=$(count "status = 'PENDING'")
callgrind_control -z "$API_PID" >/dev/null 2>&1
callgrind_control -i on "$API_PID" >/dev/null
sqlite3 "$DIR/bench.db" ".timeout 10000" "UPDATE reservations SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE status = 'PENDING'"
for _ in $(seq 600); do
  [ "$(count "status = 'PENDING'")" = 0 ] && break
  sleep 1
done
callgrind_control -i off "$API_PID" >/dev/null
callgrind_control -d expire "$API_PID" >/dev/null
echo "== callgrind, 64 pairs: $N reservations (wrk -c32 $DURATION, TTL 3600 s), then a backlog of $E expired"
report() { # report FILE UNITS NAME: instructions per unit, whole process and by part
  echo "-- per $3 ($2 counted)"
  callgrind_annotate --inclusive=yes --tree=calling --threshold=100 "$1" 2>/dev/null |
    python3 bench/callgrind_parts.py "$2"
  echo "   top functions by self cost:"
  callgrind_annotate --threshold=100 "$1" 2>/dev/null | awk -v n="$2" '/file:function/ {p=1; k=0; next}
    p && /^ *[0-9]/ {c=$1; gsub(",", "", c); s=$0; sub(/^.*%\) +/, "", s); sub(/ \[.*/, "", s);
      sub(/^.*:/, "", s); printf "   %9d  %s\n", c / n, s; if (++k >= 15) exit}'
}
# The dumps in order: .1 the reservations, .2 the expiries.
report "$OUT/callgrind.out.1" "$N" reservation
report "$OUT/callgrind.out.2" "$E" expiry
