#!/usr/bin/env bash
# List memory benchmark (issue 10 B): a store with 20,000 stock rows (and 20,000 low-stock rows
# over all stores), then 8 clients walk `GET /stock/store/{store}` and `GET /stock/low-stock`
# to their ends with the largest page (limit=1000), over and over. Prints the calls made, the
# largest body, and the API's peak resident memory (VmHWM) before and after. The rows are
# inserted with sqlite3 straight into the migrated file: only the reads are measured. Then one
# client walks the store 100 rows a page and prints the first, last and median page times.
# Usage: bench/list_rss.sh [rows=20000] [walks per client=10]
# API_BIN=/path/to/inventory-api measures that binary instead of building the work tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-20000}
WALKS=${2:-10}
command -v sqlite3 >/dev/null || { echo "sqlite3 is missing: apt-get install sqlite3" >&2; exit 1; }
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BENCH_KEY=bench-key-0123456789
start_api() {
  DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
    "$API_BIN" &
  API_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.1; done
  echo "the API did not start" >&2; exit 1
}
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null; rm -rf "$DIR"' EXIT

# Migrate, stop, fill the file, start again on it (a fresh process: its memory is the reads').
start_api; kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
sqlite3 "$DIR/bench.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ROWS)
INSERT INTO products (id, sku, name, category, price_cents, created_at, updated_at)
SELECT printf('0193%04x-0000-7000-8000-%012x', i % 65536, i), printf('SKU-%06d', i),
       printf('Product %d', i), 'bench', 999, '2026-01-01T00:00:00.000000Z',
       '2026-01-01T00:00:00.000000Z' FROM n;
INSERT INTO stock (product_id, store_id, quantity, reserved, version, created_at, updated_at)
SELECT id, 'MAD-001', 5, 0, 1, created_at, updated_at FROM products;
SQL
start_api
rss() { awk '/VmHWM/ {printf "%.1f MB", $2/1024}' "/proc/$API_PID/status"; }
echo "rows in MAD-001: $ROWS; API peak RSS after start: $(rss)"

BASE="http://127.0.0.1:$PORT/api/v1" WALKS=$WALKS python3 - <<'PY'
import json, os, threading, time, urllib.request
base, key, walks = os.environ["BASE"], os.environ["BENCH_KEY"], int(os.environ["WALKS"])
stats = {"calls": 0, "largest": 0, "rows": 0}
lock = threading.Lock()
def walk(path):
    cursor = None
    while True:
        url = f"{base}{path}{'&' if '?' in path else '?'}limit=1000" + (f"&cursor={cursor}" if cursor else "")
        body = urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": key})).read()
        page = json.loads(body)
        with lock:
            stats["calls"] += 1
            stats["largest"] = max(stats["largest"], len(body))
            stats["rows"] += page["count"]
        cursor = page["next_cursor"]
        if cursor is None:
            return
def client():
    for _ in range(walks):
        walk("/stock/store/MAD-001")
        walk("/stock/low-stock?threshold=100")
started = time.time()
threads = [threading.Thread(target=client) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{stats['calls']} list calls, {stats['rows']} rows in {time.time() - started:.1f} s; "
      f"largest body {stats['largest'] / 1024:.0f} KiB")
PY
echo "API peak RSS after the list traffic: $(rss)"

echo "== one client walks the store 100 rows a page: does a deep page cost more than the first?"
BASE="http://127.0.0.1:$PORT/api/v1" python3 - <<'PY'
import json, os, time, urllib.request
base, key = os.environ["BASE"], os.environ["BENCH_KEY"]
times, cursor = [], None
while True:
    url = f"{base}/stock/store/MAD-001?limit=100" + (f"&cursor={cursor}" if cursor else "")
    started = time.perf_counter()
    body = urllib.request.urlopen(urllib.request.Request(url, headers={"X-API-Key": key})).read()
    times.append((time.perf_counter() - started) * 1000)
    cursor = json.loads(body)["next_cursor"]
    if cursor is None:
        break
ordered = sorted(times)
print(f"{len(times)} pages: first {times[0]:.1f} ms, last {times[-1]:.1f} ms, "
      f"p50 {ordered[len(ordered) // 2]:.1f} ms, max {ordered[-1]:.1f} ms")
PY
