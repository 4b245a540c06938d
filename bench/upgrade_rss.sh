#!/usr/bin/env bash
# Memory after an in-place upgrade (issue 17, part 2): builds a large database at an old schema
# (api/examples/gen_large_db.rs --schema; by default the first migration, so the start runs all
# the others, the counters' backfill among them), starts the release API on it, and prints its
# resident memory (VmRSS) when it starts answering and after a few list and stats reads; then
# stops it and starts the same binary a second time on the upgraded file (a plain start) and
# prints the same figures, and the ratio of the two.
# Usage: bench/upgrade_rss.sh [scale=0.25] [schema=20261130000001]
#   scale 1 is the issue's database (1M stock rows, 2M reservations, 5M events, about 4 GB at
#   the current schema); building it takes twice as long as a plain gen_large_db run.
# API_BIN / GEN_BIN measure those binaries instead of building the work tree's; DB=path reuses
# a database built earlier at the old schema (it is copied first, the original stays old).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SCALE=${1:-0.25}
SCHEMA=${2:-20261130000001}
if [ -z "${API_BIN:-}" ] || [ -z "${GEN_BIN:-}" ]; then
  cargo build --release -q -p inventory-api --bin inventory-api --example gen_large_db
fi
API_BIN=${API_BIN:-./target/release/inventory-api}
GEN_BIN=${GEN_BIN:-./target/release/examples/gen_large_db}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/upgrade_rss.XXXXXX")
PORT=$(free_port)
export BENCH_KEY=bench-key-0123456789
API_PID=
trap '[ -n "$API_PID" ] && kill $API_PID 2>/dev/null; wait 2>/dev/null; rm -rf "$DIR"' EXIT

if [ -n "${DB:-}" ]; then
  cp "$DB" "$DIR/upgrade.db"
else
  echo "== building the database: gen_large_db --scale $SCALE --schema $SCHEMA"
  "$GEN_BIN" "$DIR/upgrade.db" --scale "$SCALE" --schema "$SCHEMA" 2>&1 | grep -v '^[0-9]* operations$'
fi
echo "file: $(du -h "$DIR/upgrade.db" | cut -f1), migrations applied: $(sqlite3 "$DIR/upgrade.db" 'SELECT COUNT(*) FROM _sqlx_migrations')"

rss() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$API_PID/status"; }
hwm() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$API_PID/status"; }
# What the resident memory is: anonymous (heap, stacks), file pages, shared memory (the -shm).
parts() {
  awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} /RssShmem/ {s=$2}
       END {printf "anon %.1f, file %.1f, shmem %.1f", a/1024, f/1024, s/1024}' "/proc/$API_PID/status"
}

# The reads: every list page of one store (1,000 rows a page), the stock of one product, the
# pending reservations of a store, the audit log's first pages, and both stats, 3 times over.
reads() {
  local base=http://127.0.0.1:$PORT/api/v1 h=(-H "X-API-Key: $BENCH_KEY") cursor product
  for _ in 1 2 3; do
    cursor=""
    for _ in $(seq 100); do
      page=$(curl -sf "${h[@]}" "$base/stock/store/ST-001?limit=1000${cursor:+&cursor=$cursor}")
      cursor=$(echo "$page" | python3 -c 'import sys,json; print(json.load(sys.stdin).get("next_cursor") or "")')
      [ -z "$cursor" ] && break
    done
    product=$(echo "$page" | python3 -c 'import sys,json; print(json.load(sys.stdin)["items"][0]["product_id"])')
    curl -sf "${h[@]}" "$base/stock/product/$product" >/dev/null
    curl -sf "${h[@]}" "$base/stock/low-stock?limit=1000" >/dev/null
    curl -sf "${h[@]}" "$base/reservations/store/ST-002/pending?limit=1000" >/dev/null
    curl -sf "${h[@]}" "$base/events?limit=1000" >/dev/null
    curl -sf "${h[@]}" "$base/events/stats" >/dev/null
    curl -sf "${h[@]}" "$base/reservations/stats" >/dev/null
  done
}

# measure LABEL: starts the API on the file, waits for /health, prints its memory before and
# after the reads, stops it.
measure() {
  local started=$SECONDS
  DATABASE_URL="$DIR/upgrade.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
    "$API_BIN" &
  API_PID=$!
  wait_http "http://127.0.0.1:$PORT/health" 36000
  local answering=$(rss) took=$((SECONDS - started)) parts_answering=$(parts)
  reads
  sleep 1
  local after=$(rss)
  echo "$1: answering after ${took} s, RSS $answering MB ($parts_answering);" \
    "after the reads $after MB ($(parts)); peak $(hwm) MB"
  eval "${2}_ANSWERING=$answering ${2}_AFTER=$after"
  kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
  API_PID=
}

echo "== first start: applies the migrations after $SCHEMA"
measure "upgrade start" UP
echo "migrations applied now: $(sqlite3 "$DIR/upgrade.db" 'SELECT COUNT(*) FROM _sqlx_migrations')"
echo "== second start on the upgraded file"
measure "plain start  " PLAIN
python3 -c "print(f'upgrade / plain: answering {$UP_ANSWERING}/{$PLAIN_ANSWERING} = {$UP_ANSWERING/$PLAIN_ANSWERING:.2f}x, after the reads {$UP_AFTER}/{$PLAIN_AFTER} = {$UP_AFTER/$PLAIN_AFTER:.2f}x')"
