#!/usr/bin/env bash
# Expiry soak (issue 20): 1-unit reservations with a short TTL at the API's full rate, the way
# abandoned carts behave in a sale. wrk -t2 -c32 for MINUTES on 64 (product, store) pairs,
# `POST /reservations` with `ttl_seconds: TTL` (bench/soak.lua), against a release build on a
# temporary SQLite file (synchronous=FULL, expiry every 1 s). Every 10 s: reservations/s, the
# PENDING count, the API's resident memory and the expiry lag p99 of those 10 s (from
# /metrics). At the end: rate, latency p50/p99, and 10 s after the load the overdue PENDING
# count (created more than TTL + 12 s before the end and still PENDING) and the expiry lag p99
# of the whole run. Then the same run with a 600 s TTL (nothing expires during it) and the
# ratio of the two rates: whether expiry starves the writes. Each run starts a fresh API on a
# fresh file.
# Usage: bench/soak.sh [minutes=5] [ttl=5]
# API_BIN=/path/to/inventory-api soaks that binary instead of building the work tree's (to
# compare two builds in one sitting).
# SOAK_POSTGRES=postgres://USER@HOST:PORT (no path, no parameters) soaks the API on that
# PostgreSQL server instead: each run creates a fresh database there (psql), counts in it, and
# drops it at the end (on a failed run too).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
MINUTES=${1:-5}
TTL=${2:-5}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -n "${SOAK_POSTGRES:-}" ]; then
  command -v psql >/dev/null || { echo "psql is missing: apt-get install postgresql-client" >&2; exit 1; }
else
  command -v sqlite3 >/dev/null || { echo "sqlite3 is missing: apt-get install sqlite3" >&2; exit 1; }
fi
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
export BENCH_KEY=bench-key-0123456789
API_PID=
DIR=
PG_DB=
trap '[ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null; wait 2>/dev/null; [ -n "$DIR" ] && rm -rf "$DIR"; [ -n "$PG_DB" ] && pg_drop_db "$SOAK_POSTGRES" "$PG_DB"' EXIT

# samples PORT PID TIMES: every 10 s, TIMES times, one line of what the API is doing.
samples() {
  PORT=$1 PID=$2 TIMES=$3 python3 - <<'PY'
import json, os, time, urllib.request
port, pid, times = os.environ["PORT"], os.environ["PID"], int(os.environ["TIMES"])
key = os.environ["BENCH_KEY"]

def metrics():
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    created, lag = 0.0, {}
    for line in text.splitlines():
        if line.startswith("reservations_total{") and 'operation="create"' in line and 'outcome="ok"' in line:
            created = float(line.rsplit(" ", 1)[1])
        elif line.startswith("reservation_expiry_lag_seconds_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            lag[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
    return created, lag

def p99(now, before):
    bounds = sorted(now)
    counts = [now[b] - before.get(b, 0) for b in bounds]
    total = counts[-1] if counts else 0
    if total == 0:
        return "-"
    return next(f"<= {b:g} s" for b, c in zip(bounds, counts) if c >= 0.99 * total)

def rss():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) / 1024 for l in f if l.startswith("VmRSS"))

def pending():
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/reservations/stats",
                                     headers={"X-API-Key": key})
    return json.load(urllib.request.urlopen(request, timeout=10))["pending"]

created, lag = metrics()
for i in range(1, times + 1):
    time.sleep(10)
    now_created, now_lag = metrics()
    print(f"  {i * 10:4d} s  {(now_created - created) / 10:8.0f} reservations/s  "
          f"pending {pending():9d}  RSS {rss():6.1f} MB  expiry lag p99 {p99(now_lag, lag)}",
          flush=True)
    created, lag = now_created, now_lag
PY
}

# lag_p99 PORT: the expiry lag p99 since the API started (its histogram's buckets).
lag_p99() {
  curl -sf "http://127.0.0.1:$1/metrics" | python3 -c '
import sys
buckets = {}
for line in sys.stdin:
    if line.startswith("reservation_expiry_lag_seconds_bucket{"):
        le = line.split("le=\"", 1)[1].split("\"", 1)[0]
        buckets[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
total = buckets.get(float("inf"), 0)
if total:
    bound = next(b for b in sorted(buckets) if buckets[b] >= 0.99 * total)
    print(f"expiry lag over the whole run: {int(total)} expired, p99 <= {bound:g} s")
else:
    print("expiry lag over the whole run: nothing expired")'
}

# soak TTL: one run on a fresh API and file; prints its figures and sets RATE.
soak() {
  local ttl=$1 port base out end cutoff sampler
  DIR=$(mktemp -d)
  port=$(free_port)
  local url="$DIR/soak.db" engine="SQLite, synchronous=FULL"
  if [ -n "${SOAK_POSTGRES:-}" ]; then
    PG_DB=$(pg_create_db "$SOAK_POSTGRES" soak)
    url="$SOAK_POSTGRES/$PG_DB"
    engine="PostgreSQL $(psql -X -Atc 'SHOW server_version' "$url"), synchronous_commit=$(psql -X -Atc 'SHOW synchronous_commit' "$url")"
  fi
  DATABASE_URL="$url" SERVER_PORT=$port API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
    SQLITE_SYNCHRONOUS=full RESERVATION_EXPIRY_INTERVAL=1s "$API_BIN" &
  API_PID=$!
  base=http://127.0.0.1:$port/api/v1
  wait_http "http://127.0.0.1:$port/health"
  BENCH_PAIRS=$(make_pairs "$base" 64 SOAK)
  export BENCH_PAIRS SOAK_TTL=$ttl
  echo "== $MINUTES min, TTL $ttl s: wrk -t2 -c32 -d${MINUTES}m, 64 pairs ($engine)"
  samples "$port" "$API_PID" $((MINUTES * 6)) &
  sampler=$!
  out=$(wrk -t2 -c32 -d"${MINUTES}m" --timeout 10s --latency -s bench/soak.lua "$base/reservations")
  end=$(date -u +%s.%N)
  wait "$sampler" || true
  echo "$out" | grep -E "Requests/sec|status_|  50%|  99%|Non-2xx|Socket errors" || true
  RATE=$(echo "$out" | awk '/Requests\/sec/ {print int($2)}')
  sleep 10
  cutoff=$(python3 -c "import datetime as d; print((d.datetime.fromtimestamp($end, d.timezone.utc) - d.timedelta(seconds=$ttl + 12)).strftime('%Y-%m-%dT%H:%M:%S.%fZ'))")
  count() {
    if [ -n "${SOAK_POSTGRES:-}" ]; then
      psql -X -Atc "SELECT COUNT(*) FROM reservations WHERE $1" "$url"
    else
      sqlite3 "$DIR/soak.db" "SELECT COUNT(*) FROM reservations WHERE $1"
    fi
  }
  echo "10 s after the load: $(count "status = 'PENDING' AND created_at < '$cutoff'") overdue PENDING" \
    "(created before $cutoff); $(count "status = 'PENDING'") PENDING, $(count "status = 'EXPIRED'") EXPIRED"
  lag_p99 "$port"
  echo "API RSS at the end: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$API_PID/status")"
  kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
  API_PID=
  rm -rf "$DIR"; DIR=
  if [ -n "${SOAK_POSTGRES:-}" ]; then
    pg_drop_db "$SOAK_POSTGRES" "$PG_DB"
    PG_DB=
  fi
}

soak "$TTL"
SHORT=$RATE
soak 600
LONG=$RATE
python3 -c "print(f'rate with TTL $TTL s / rate with TTL 600 s: $SHORT / $LONG = {$SHORT / $LONG:.2f}')"
