#!/usr/bin/env bash
# PostgreSQL benchmark (issue 18), first part: the per-request-transaction ceiling. The three
# statements a reservation runs (the guarded UPDATE of the stock row, INSERT reservation,
# INSERT event), one transaction per reservation, on the real schema (migrations/postgres/, its
# counter triggers included), measured with pgbench on one hot (product, store) pair and on 64
# pairs. A private server in a temporary folder, fsync=on and synchronous_commit=on, stopped by
# its PID at the end. Prints transactions/s (= reservations/s) for each shape.
# Second part: the group-commit shape the API's PostgreSQL writer uses (docs/postgres.md): 32
# reservations per transaction, written set-based, from as many connections as there are API
# replicas (each replica has one writer connection), with and without the `pg_notify` the
# outbox append sends, to measure what NOTIFY's commit-time lock (one per database, held
# through the WAL flush) costs when replicas commit concurrently.
# Third part: the API itself on PostgreSQL (release build, the same private server), with 1
# and then 2 replicas on one database (wrk, $CLIENTS connections in all: 2 replicas get half
# each from two wrk processes), on 1 hot pair and on 64 pairs; reservations/s, p50/p99, errors,
# the ratio to the per-request ceiling above, and reserved == pending reservations afterwards.
# Run bench/api.sh in the same sitting for SQLite's figures beside these.
# Usage: bench/pg.sh [seconds=10] [clients=32]
# API_BIN=/path/to/inventory-api benchmarks that binary instead of building the work tree's.
# COUNTERS=off disables the counter triggers, to show what the slotted counters cost.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SECONDS_EACH=${1:-10}
CLIENTS=${2:-32}

bindir=${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}
if [ ! -x "$bindir/initdb" ]; then
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api --bins
fi
API_BIN=${API_BIN:-./target/release/inventory-api}
for tool in initdb pg_ctl pgbench psql; do
  [ -x "$bindir/$tool" ] || { echo "PostgreSQL's $tool is missing: apt-get install postgresql" >&2; exit 1; }
done

DIR=$(mktemp -d)
run=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses root: the server runs as postgres, in a folder it owns.
  chown postgres: "$DIR"
  run=(runuser -u postgres --)
fi
PORT=$(free_port)
API_PIDS=()
stop_server() {
  for pid in "${API_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -f "$DIR/data/postmaster.pid" ]; then
    pid=$(head -1 "$DIR/data/postmaster.pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$DIR"
}
trap stop_server EXIT

"${run[@]}" "$bindir/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
"${run[@]}" "$bindir/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -o \
  "-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$DIR -c fsync=on \
   -c synchronous_commit=on -c full_page_writes=on -c max_connections=100 -c shared_buffers=256MB" \
  start >/dev/null
psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${psql[@]}" -c "CREATE DATABASE bench"
for f in migrations/postgres/*.sql; do "${psql[@]}" -d bench -f "$f"; done
# 64 products with one stock row each in store-1; so much stock that no reservation is refused.
"${psql[@]}" -d bench <<'SQL'
INSERT INTO products (id, sku, name, price_cents, created_at, updated_at)
SELECT ('00000000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid, 'SKU-' || n, 'Product ' || n,
       1999, now(), now()
FROM generate_series(1, 64) AS n;
INSERT INTO stock (product_id, store_id, quantity, reserved, created_at, updated_at)
SELECT id, 'store-1', 1000000000000, 0, now(), now() FROM products;
SQL

if [ "${COUNTERS:-on}" = off ]; then
  "${psql[@]}" -d bench -c "ALTER TABLE events DISABLE TRIGGER USER" \
    -c "ALTER TABLE reservations DISABLE TRIGGER USER"
fi

SCRIPT="$DIR/reserve.sql"
cat > "$SCRIPT" <<'SQL'
\set n random(1, :pairs)
BEGIN;
UPDATE stock SET reserved = reserved + 1, version = version + 1, updated_at = now()
 WHERE product_id = ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid
   AND store_id = 'store-1' AND quantity - reserved >= 1;
INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, status, expires_at, created_at, updated_at)
VALUES (gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid, 'store-1',
        'customer-1', 1, 'PENDING', now() + interval '10 minutes', now(), now());
INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, partition_key, payload, created_at)
VALUES (gen_random_uuid(), 'stock.reserved', 'stock', 'p' || :n, 'store-1', 'p' || :n,
        '{"product_id":"00000000-0000-7000-8000-000000000001","store_id":"store-1","quantity":1,"reserved":1,"available":999,"reservation_id":"00000000-0000-7000-8000-0000000000aa","customer_id":"customer-1"}',
        now());
END;
SQL
chmod a+r "$SCRIPT"

echo "PostgreSQL $("${psql[@]}" -d bench -Atc 'SHOW server_version'), fsync=$("${psql[@]}" -d bench -Atc 'SHOW fsync'), synchronous_commit=$("${psql[@]}" -d bench -Atc 'SHOW synchronous_commit'), $(nproc) cores, counter triggers ${COUNTERS:-on}, load average $(cut -d' ' -f1 /proc/loadavg)"
echo "per-request transactions (guarded UPDATE + INSERT reservation + INSERT event), $CLIENTS clients, ${SECONDS_EACH}s each:"
for pairs in 1 64; do
  out=$("$bindir/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -D pairs="$pairs" \
        -f "$SCRIPT" -h 127.0.0.1 -p "$PORT" -U postgres bench 2>&1)
  tps=$(grep -oP 'tps = \K[0-9.]+' <<<"$out" | head -1)
  lat=$(grep -oP 'latency average = \K[0-9.]+ ms' <<<"$out" || true)
  failed=$(grep -oP 'number of failed transactions: \K[0-9]+' <<<"$out" || echo 0)
  printf '  %2d pair(s): %8.0f tx/s  (latency avg %s, failed %s)\n' "$pairs" "$tps" "$lat" "$failed"
  printf -v "C$pairs" '%.0f' "$tps"  # the ceiling the API's rates are compared with
done
"${psql[@]}" -d bench -Atc "SELECT 'check: reserved = pending reservations: ' ||
  ((SELECT sum(reserved) FROM stock) = (SELECT count(*) FROM reservations WHERE status = 'PENDING'))"

# The group-commit shape: one transaction per batch of 32, set-based, the product row locked
# before the events are inserted, as the writer's flush does (api/src/store/postgres/flush.rs).
for notify in off on; do
  BATCH="$DIR/batch-$notify.sql"
  {
    echo '\set n random(1, :pairs)'
    echo 'BEGIN;'
    echo "SELECT 1 FROM stock WHERE product_id = ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid AND store_id = 'store-1' FOR UPDATE;"
    echo "UPDATE stock SET reserved = reserved + 32, version = version + 32, updated_at = now() WHERE product_id = ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid AND store_id = 'store-1';"
    echo "INSERT INTO reservations (id, product_id, store_id, customer_id, quantity, status, expires_at, created_at, updated_at) SELECT gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid, 'store-1', 'customer-1', 1, 'PENDING', now() + interval '10 minutes', now(), now() FROM generate_series(1, 32);"
    echo "SELECT 1 FROM products WHERE id = ('00000000-0000-7000-8000-' || lpad(:n::text, 12, '0'))::uuid FOR NO KEY UPDATE;"
    echo "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, partition_key, payload, created_at) SELECT gen_random_uuid(), 'reservation.created', 'reservation', 'p' || :n, 'store-1', 'p' || :n, '{\"product_id\":\"00000000-0000-7000-8000-000000000001\",\"store_id\":\"store-1\",\"quantity\":1}', now() FROM generate_series(1, 32);"
    if [ "$notify" = on ]; then echo "SELECT pg_notify('inventory_events', '');"; fi
    echo 'END;'
  } > "$BATCH"
  chmod a+r "$BATCH"
done
echo "group commit (32 reservations per transaction, set-based), 64 pairs, ${SECONDS_EACH}s each; reservations/s:"
for writers in 1 2 4; do
  line="  $writers writer connection(s):"
  for notify in off on; do
    out=$("$bindir/pgbench" -n -M prepared -c "$writers" -j "$writers" -T "$SECONDS_EACH" -D pairs=64 \
          -f "$DIR/batch-$notify.sql" -h 127.0.0.1 -p "$PORT" -U postgres bench 2>&1)
    tps=$(grep -oP 'tps = \K[0-9.]+' <<<"$out" | head -1)
    lat=$(grep -oP 'latency average = \K[0-9.]+' <<<"$out" || echo "?")
    line+=$(printf '  NOTIFY %-3s %8.0f (commit %s ms)' "$notify" "$(echo "$tps * 32" | bc)" "$lat")
  done
  echo "$line"
done

# ---- the API on PostgreSQL ----------------------------------------------------------------------
"${psql[@]}" -c "CREATE DATABASE api"
export BENCH_KEY=bench-key-0123456789
API_URL="postgres://postgres@127.0.0.1:$PORT/api"
# start_api PORT: one replica on the bench database, in the background.
start_api() {
  DATABASE_URL=$API_URL SERVER_PORT=$1 API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn "$API_BIN" &
  API_PIDS+=($!)
  wait_http "http://127.0.0.1:$1/health" 300
}
P1=$(free_port)
start_api "$P1"
BASE1=http://127.0.0.1:$P1/api/v1
ONE=$(make_pairs "$BASE1" 1 ONE)
BENCH_PRODUCT=$(echo "$ONE" | awk -F: '{gsub(/ /,"",$1); print $1}')
BENCH_STORE=${ONE##*:}
BENCH_PAIRS=$(make_pairs "$BASE1" 64 PAIR)
export BENCH_PRODUCT BENCH_STORE BENCH_PAIRS

# Each shape starts from a checkpoint, so the WAL that pgbench (or the shape before) wrote
# is not checkpointed during the next shape's seconds. Without it the first shape (the one
# right after pgbench's group-commit runs) had a p99 of 49-59 ms; with it, 5 ms (docs/postgres.md).
fresh() { "${psql[@]}" -d api -c CHECKPOINT; }

report() { # report LABEL CEILING "rate ok other p50 p99"
  read -r rate ok other p50 p99 <<<"$3"
  local ratio="?"
  [ -n "$2" ] && ratio=$(python3 -c "print(f'{$rate/$2:.1f}x')")
  printf '  %-22s %7s res/s  p50 %6s ms  p99 %6s ms  201s %s  errors %s  (%s the ceiling)\n' \
    "$1" "$rate" "$p50" "$p99" "$ok" "$other" "$ratio"
}

echo "the API on PostgreSQL ($CLIENTS connections in all, ${SECONDS_EACH}s each, release build):"
fresh
report "1 replica, 1 pair" "$C1" "$(wrk_on bench/reserve.lua "$CLIENTS" "${SECONDS_EACH}s" "$BASE1")"
fresh
report "1 replica, 64 pairs" "$C64" "$(wrk_on bench/reserve_pairs.lua "$CLIENTS" "${SECONDS_EACH}s" "$BASE1")"
P2=$(free_port)
start_api "$P2"
BASE2=http://127.0.0.1:$P2/api/v1
half=$((CLIENTS / 2))
fresh
report "2 replicas, 1 pair" "$C1" "$(wrk_on bench/reserve.lua "$half" "${SECONDS_EACH}s" "$BASE1" "$BASE2")"
fresh
report "2 replicas, 64 pairs" "$C64" "$(wrk_on bench/reserve_pairs.lua "$half" "${SECONDS_EACH}s" "$BASE1" "$BASE2")"
"${psql[@]}" -d api -Atc "SELECT 'check: reserved = pending reservations: ' ||
  ((SELECT sum(reserved) FROM stock) = (SELECT count(*) FROM reservations WHERE status = 'PENDING'))
  || ' (' || (SELECT count(*) FROM reservations) || ' reservations, ' || (SELECT count(*) FROM events) || ' events)'"
