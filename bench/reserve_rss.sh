#!/usr/bin/env bash
# Resident memory under a reservation soak (issue 20, part 2): wrk at 32 connections on 64
# (product, store) pairs, POST /reservations with a short TTL, for a few minutes, against the
# release API on a fresh database. Prints the API's VmRSS (and its anonymous part) every 10 s,
# the rate, and the growth from the end of the warm-up (2 minutes, or a fifth of a shorter run)
# to the end; then 30 s idle. The goal: under 8 MB of growth after the warm-up.
# (bench/soak.sh is the full soak with the expiry figures; this one only watches memory.)
# Usage: bench/reserve_rss.sh [minutes=10] [ttl_seconds=5]
# API_BIN=/path/to/inventory-api measures that binary instead of building the work tree's;
# MALLOC_ARENA_MAX and other environment variables reach the API.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MINUTES=${1:-10}
TTL=${2:-5}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api --bin inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
PORT=$(free_port)
export BENCH_KEY=bench-key-0123456789
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  "$API_BIN" &
API_PID=$!
WRK_PID=
trap 'kill $WRK_PID $API_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
wait_http "http://127.0.0.1:$PORT/health"
export BENCH_PAIRS=$(make_pairs "$BASE" 64 SOAK)
# bench/reserve_pairs.lua with this run's TTL.
sed "s/\"ttl_seconds\":86400/\"ttl_seconds\":$TTL/" bench/reserve_pairs.lua >"$DIR/reserve.lua"

rss() { awk '/VmRSS/ {r=$2} /RssAnon/ {a=$2} END {printf "%.1f %.1f", r/1024, a/1024}' "/proc/$API_PID/status"; }
echo "start: RSS/anon $(rss) MB; wrk -t2 -c32 -d${MINUTES}m, ttl ${TTL}s"
wrk -t2 -c32 -d"${MINUTES}m" --latency -s "$DIR/reserve.lua" "$BASE/reservations" >"$DIR/wrk.out" &
WRK_PID=$!
WARMUP=$(( (MINUTES >= 5 ? 120 : MINUTES * 60 / 5) / 10 * 10 ))
STEPS=$((MINUTES * 6))
for i in $(seq "$STEPS"); do
  sleep 10
  now=$(rss)
  echo "$((i * 10)) s: RSS ${now% *} MB, anon ${now#* } MB"
  if [ $((i * 10)) -eq "$WARMUP" ]; then WARM=${now% *}; fi
done
wait "$WRK_PID" || true
WRK_PID=
END=$(rss | cut -d' ' -f1)
grep -E "Requests/sec|  50%|  99%|status_" "$DIR/wrk.out"
python3 -c "print(f'growth after the {$WARMUP} s warm-up: {$WARM} -> {$END} MB = {$END - $WARM:+.1f} MB')"
sleep 30
echo "after 30 s idle: RSS/anon $(rss) MB"
