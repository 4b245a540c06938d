#!/usr/bin/env bash
# The whole pipeline under load (issue 13): a release API and a release relay on one database
# file (synchronous=FULL), publishing to a private redis-server on a free port, while wrk
# creates 1-unit reservations on PAIRS (product, store) pairs. Reports reservations/s, checks
# the stream holds exactly one entry per event once the relay caught up, and computes
# commit→stream p50/p99/p99.9 from the stream entries themselves (relay_bench stream-lag:
# each entry's created_at, stamped inside its transaction just before COMMIT, to its Redis
# entry ID's millisecond clock: an upper bound of commit→stream), next to the relay's own
# `relay_publish_lag_seconds` histogram.
# Usage: bench/pipeline.sh [duration=10s] [connections=32] [pairs=64]
#   API_BIN / RELAY_BIN / BENCH_BIN: binaries to use instead of building the work tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-10s}
CONNS=${2:-32}
PAIRS=${3:-64}
for tool in wrk redis-server redis-cli; do
  command -v $tool >/dev/null || { echo "$tool is missing (apt-get install wrk redis-server)" >&2; exit 1; }
done
if [ -z "${API_BIN:-}" ] || [ -z "${RELAY_BIN:-}" ] || [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q -p inventory-api -p inventory-relay --bins
  cargo build --release -q -p inventory-relay --example relay_bench
fi
API_BIN=${API_BIN:-./target/release/inventory-api}
RELAY_BIN=${RELAY_BIN:-./target/release/inventory-relay}
BENCH_BIN=${BENCH_BIN:-./target/release/examples/relay_bench}

DIR=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

export BENCH_KEY=bench-key-0123456789
API_PORT=$(free_port)
RELAY_PORT=$(free_port)
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$API_PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full "$API_BIN" &
API_PID=$!
PIDS+=($API_PID)
BASE=http://127.0.0.1:$API_PORT/api/v1
wait_http "http://127.0.0.1:$API_PORT/health"
STREAM=bench-pipeline
DATABASE_URL="$DIR/bench.db" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_STREAM=$STREAM \
  RELAY_HTTP_ADDR="127.0.0.1:$RELAY_PORT" LOG_LEVEL=warn "$RELAY_BIN" &
RELAY_PID=$!
PIDS+=($RELAY_PID)
wait_http "http://127.0.0.1:$RELAY_PORT/health" 200
export BENCH_PAIRS=$(make_pairs "$BASE" "$PAIRS")
# The catalogue's own events are published before the load starts; only the load is timed.
for _ in $(seq 100); do
  [ "$(redis-cli -p "$REDIS_PORT" XLEN $STREAM)" = "$(events_total "$BASE")" ] && break; sleep 0.1
done
redis-cli -p "$REDIS_PORT" DEL $STREAM >/dev/null
BEFORE=$(events_total "$BASE")

echo "== pipeline: wrk -t2 -c$CONNS -d$DURATION, 1-unit reservations on $PAIRS pairs; API + relay + redis-server $(redis-server --version | awk '{print $3}') on $(nproc) cores"
wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s bench/reserve_pairs.lua "$BASE/reservations" \
  | grep -E "Requests/sec|Latency  |status_|Non-2xx|  99%|  50%"
# wrk stops counting at the deadline; the requests still in flight (up to one per connection)
# commit just after it. Let them land before counting what the load wrote.
sleep 1
AFTER=$(events_total "$BASE")
EXPECTED=$((AFTER - BEFORE))
LEN=0
for _ in $(seq 300); do
  LEN=$(redis-cli -p "$REDIS_PORT" XLEN $STREAM)
  [ "$LEN" -ge "$EXPECTED" ] && break
  sleep 0.1
done
echo "events written under load: $EXPECTED; stream length: $LEN $([ "$LEN" = "$EXPECTED" ] && echo '(equal)' || echo '(MISMATCH)')"
REDIS_PORT=$REDIS_PORT "$BENCH_BIN" stream-lag $STREAM
curl -sf "http://127.0.0.1:$RELAY_PORT/metrics" | python3 -c '
import sys
rows = [l for l in sys.stdin if l.startswith("relay_publish_lag_seconds_bucket")]
b = [(float(l.split("le=\"")[1].split("\"")[0]), float(l.rsplit(" ", 1)[1])) for l in rows]
total = b[-1][1] if b else 0
def q(p): return next((le for le, n in b if n >= total * p), float("nan"))
print(f"relay_publish_lag_seconds (created_at -> broker ack), {total:.0f} samples: "
      f"p50 <= {q(0.5)} s, p99 <= {q(0.99)} s, p99.9 <= {q(0.999)} s buckets")'
echo "API peak RSS: $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/$API_PID/status); relay peak RSS: $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/$RELAY_PID/status)"
[ "$LEN" = "$EXPECTED" ]
