#!/usr/bin/env bash
# The whole pipeline under load (issues 13 and 19), on SQLite and then on PostgreSQL in the same
# sitting, publishing to one private redis-server on a free port (a stream per part), while wrk
# creates 1-unit reservations (bench/reserve_pairs.lua) on PAIRS (product, store) pairs.
#
# SQLite: a release API and a release relay on one database file (synchronous=FULL). Reports
# reservations/s, checks the stream holds exactly one entry per event once the relay caught up,
# and computes commit→stream p50/p99/p99.9 from the stream entries themselves (relay_bench
# stream-lag: each entry's created_at to its Redis entry ID's millisecond clock), next to the
# relay's own `relay_publish_lag_seconds` histogram. On SQLite created_at is stamped when the
# job runs inside the batch's open transaction (its statements run there and then), just before
# the COMMIT: the figure bounds commit→stream from above by the rest of the batch and its fsync.
#
# PostgreSQL, when PIPELINE_POSTGRES=postgres://USER@HOST:PORT (no path) is set: a fresh
# database on that server (dropped at the end, on a failed run too), two API replicas on it
# (two wrk processes, -t1 and half the connections each), and two relays on it publishing to
# one stream: a leader and a standby. Halfway through the load the leading relay (the one whose
# /metrics says `relay_leader 1`) is killed with SIGKILL. relay_bench stream-gaps then reports
# the takeover as the largest gap between consecutive stream entries' millisecond clocks
# around the kill (beside the largest gap elsewhere, the load's own rhythm), checks the stream
# holds every event exactly once (XLEN = events written under load, unique event ids = XLEN)
# and in seq order within each product, and splits commit→stream into the entries appended
# before the kill, those the takeover held back (waiting at the kill or created before the new
# leader's first entry) and those created after it: the held-back entries wait for the standby
# by design, so the issue's p99 <= 50 ms goal is read on the two others. On PostgreSQL
# created_at is stamped when the job runs against the batch's in-memory unit, after BEGIN and
# the batch's row locks, but before the set-based flush (which waits for the product rows'
# locks and the outbox's seq lock, so for the other replica's COMMIT) and before the batch's
# own COMMIT (api/src/writer/postgres.rs, api/src/store/postgres/flush.rs): the figure is an
# upper bound of commit→stream by the whole flush and commit of the batch, looser than on
# SQLite; the API's `db_commit_duration_seconds` (BEGIN to COMMIT and the answers, per
# replica) is printed beside it as the size of that slack.
#
# Usage: bench/pipeline.sh [duration=10s] [connections=32] [pairs=64]
#   API_BIN / RELAY_BIN / BENCH_BIN: binaries to use instead of building the work tree's.
#   PIPELINE_POSTGRES: the PostgreSQL server for the second part (absent: SQLite only).
# Exits non-zero when a check fails (a lost or duplicated event, out of order, no takeover).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10s}
CONNS=${2:-32}
PAIRS=${3:-64}
for tool in wrk redis-server redis-cli; do
  command -v $tool >/dev/null || { echo "$tool is missing (apt-get install wrk redis-server)" >&2; exit 1; }
done
if [ -n "${PIPELINE_POSTGRES:-}" ]; then
  command -v psql >/dev/null || { echo "psql is missing: apt-get install postgresql-client" >&2; exit 1; }
fi
if [ -z "${API_BIN:-}" ] || [ -z "${RELAY_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q -p inventory-api -p inventory-relay --bins
  cargo build --release -q -p inventory-relay --example relay_bench
fi
API_BIN=${API_BIN:-./target/release/inventory-api}
RELAY_BIN=${RELAY_BIN:-./target/release/inventory-relay}
BENCH_BIN=${BENCH_BIN:-./target/release/examples/relay_bench}

DIR=$(mktemp -d)
PIDS=()
PG_DB=
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
  if [ -n "$PG_DB" ]; then pg_drop_db "$PIPELINE_POSTGRES" "$PG_DB"; fi
}
trap cleanup EXIT
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
xlen() { redis-cli -p "$REDIS_PORT" XLEN "$1"; }
export BENCH_KEY=bench-key-0123456789
FAILED=0

# start_api DATABASE_URL PORT: one API replica in the background, answering.
start_api() {
  DATABASE_URL=$1 SERVER_PORT=$2 API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn SQLITE_SYNCHRONOUS=full \
    "$API_BIN" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$2/health" 300
}

# start_relay DATABASE_URL PORT STREAM: one relay in the background (its HTTP on PORT).
start_relay() {
  DATABASE_URL=$1 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_STREAM=$3 \
    RELAY_HTTP_ADDR="127.0.0.1:$2" LOG_LEVEL=warn "$RELAY_BIN" &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$2/health" 300
}

# prepare BASE STREAM PREFIX: makes the pairs (exports BENCH_PAIRS), waits until the relay
# published the catalogue's own events, empties the stream, and sets BEFORE (the events
# written so far): only the load is timed and counted.
prepare() {
  BENCH_PAIRS=$(make_pairs "$1" "$PAIRS" "$3")
  export BENCH_PAIRS
  for _ in $(seq 100); do [ "$(xlen "$2")" = "$(events_total "$1")" ] && break; sleep 0.1; done
  redis-cli -p "$REDIS_PORT" DEL "$2" >/dev/null
  BEFORE=$(events_total "$1")
}

# settle BASE STREAM: waits for what the load wrote to reach the stream; prints the counts and
# sets LEN and EXPECTED. wrk stops counting at the deadline; the requests still in flight (up to
# one per connection) commit just after it: let them land before counting.
settle() {
  sleep 1
  EXPECTED=$(($(events_total "$1") - BEFORE))
  LEN=0
  for _ in $(seq 300); do
    LEN=$(xlen "$2")
    [ "$LEN" -ge "$EXPECTED" ] && break
    sleep 0.1
  done
  echo "events written under load: $EXPECTED; stream length: $LEN $([ "$LEN" = "$EXPECTED" ] && echo '(equal)' || echo '(MISMATCH)')"
  [ "$LEN" = "$EXPECTED" ] || FAILED=1
}

peak_rss() { awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$1/status"; }

sqlite_pipeline() {
  local api_port relay_port base stream=bench-pipeline
  api_port=$(free_port)
  relay_port=$(free_port)
  start_api "$DIR/bench.db" "$api_port"
  local api_pid=${PIDS[-1]}
  base=http://127.0.0.1:$api_port/api/v1
  start_relay "$DIR/bench.db" "$relay_port" $stream
  local relay_pid=${PIDS[-1]}
  prepare "$base" $stream BENCH
  echo "== SQLite pipeline: wrk -t2 -c$CONNS -d$DURATION, 1-unit reservations on $PAIRS pairs; API + relay + redis-server $(redis-server --version | awk '{print $3}') on $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve_pairs.lua "$base/reservations" \
    | grep -E "Requests/sec|Latency  |status_|Non-2xx|  99%|  50%"
  settle "$base" $stream
  REDIS_PORT=$REDIS_PORT "$BENCH_BIN" stream-lag $stream || FAILED=1
  histogram "http://127.0.0.1:$relay_port/metrics" relay_publish_lag_seconds || true
  echo "API peak RSS: $(peak_rss "$api_pid"); relay peak RSS: $(peak_rss "$relay_pid")"
}

# leader PORT...: the port of the relay whose /metrics says it leads (empty if none does).
leader() {
  local port metrics
  for port in "$@"; do
    metrics=$(curl -sf "http://127.0.0.1:$port/metrics") || continue
    if grep -qE '^relay_leader(\{[^}]*\})? 1$' <<<"$metrics"; then
      echo "$port"
      return
    fi
  done
}

postgres_pipeline() {
  PG_DB=$(pg_create_db "$PIPELINE_POSTGRES" pipeline)
  local url="$PIPELINE_POSTGRES/$PG_DB" stream=bench-pipeline-pg
  local api1 api2 relay1 relay2 base1 base2 api_pids=() relay_pids=()
  api1=$(free_port)
  start_api "$url" "$api1"  # runs the migrations before the others start
  api_pids+=(${PIDS[-1]})
  api2=$(free_port)
  start_api "$url" "$api2"
  api_pids+=(${PIDS[-1]})
  base1=http://127.0.0.1:$api1/api/v1
  base2=http://127.0.0.1:$api2/api/v1
  declare -A relay_pid
  for _ in 1 2; do
    local port
    port=$(free_port)
    start_relay "$url" "$port" $stream
    relay_pid[$port]=${PIDS[-1]}
  done
  local ports=("${!relay_pid[@]}")
  prepare "$base1" $stream PG
  local seconds half
  seconds=$(python3 -c "d='$DURATION'; print(float(d[:-1]) * {'s': 1, 'm': 60, 'h': 3600}[d[-1]] if d[-1] in 'smh' else float(d))")
  half=$(python3 -c "print($seconds / 2)")
  echo "== PostgreSQL pipeline: 2 wrk -t1 -c$((CONNS / 2)) -d$DURATION (one per API replica), 1-unit reservations on $PAIRS pairs; 2 API replicas + 2 relays (leader, standby) + redis-server; PostgreSQL $(psql -X -Atc 'SHOW server_version' "$url"), synchronous_commit=$(psql -X -Atc 'SHOW synchronous_commit' "$url"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk_on bench/reserve_pairs.lua $((CONNS / 2)) "$DURATION" "$base1" "$base2" > "$DIR/pg-wrk" &
  local wrk_pid=$!
  sleep "$half"
  local old new kill_ms
  old=$(leader "${ports[@]}")
  if [ -z "$old" ]; then
    echo "no relay leads at the kill (MISMATCH)"
    FAILED=1
    wait $wrk_pid
    return
  fi
  kill_ms=$(date +%s%3N)
  { kill -9 "${relay_pid[$old]}"; wait "${relay_pid[$old]}"; } 2>/dev/null || true  # no "Killed" line
  local survivor=${ports[0]}
  [ "$survivor" = "$old" ] && survivor=${ports[1]}
  for _ in $(seq 600); do
    new=$(leader "$survivor")
    [ -n "$new" ] && break
    sleep 0.05
  done
  if [ -n "$new" ]; then
    echo "killed the leading relay (kill -9) at +${half} s; the standby's relay_leader reads 1 after $(($(date +%s%3N) - kill_ms)) ms (polled every 50 ms)"
  else
    echo "killed the leading relay (kill -9) at +${half} s; the standby did not lead within 30 s (MISMATCH)"
    FAILED=1
  fi
  wait $wrk_pid
  read -r rate ok other p50 p99 < "$DIR/pg-wrk" || true
  echo "reservations/s $rate (both replicas); latency p50 $p50 ms, p99 $p99 ms (the worse wrk); 201s $ok, other $other"
  settle "$base1" $stream
  REDIS_PORT=$REDIS_PORT "$BENCH_BIN" stream-gaps $stream "$kill_ms" || FAILED=1
  histogram "http://127.0.0.1:$survivor/metrics" relay_publish_lag_seconds | sed 's/^/new leader: /' || true
  for port in "$api1" "$api2"; do
    histogram "http://127.0.0.1:$port/metrics" db_commit_duration_seconds | sed "s/^/API :$port: /" || true
  done
  psql -X -Atc "SELECT 'reserved = pending reservations: ' ||
    ((SELECT sum(reserved) FROM stock) = (SELECT count(*) FROM reservations WHERE status = 'PENDING'))
    || '; events not yet marked published: ' || (SELECT count(*) FROM events WHERE synced_at IS NULL)" "$url"
  echo "API peak RSS: $(peak_rss "${api_pids[0]}"), $(peak_rss "${api_pids[1]}"); surviving relay peak RSS: $(peak_rss "${relay_pid[$survivor]}")"
}

sqlite_pipeline
if [ -n "${PIPELINE_POSTGRES:-}" ]; then
  postgres_pipeline
fi
[ "$FAILED" = 0 ] || { echo "a check failed (see MISMATCH or the error above)" >&2; exit 1; }
