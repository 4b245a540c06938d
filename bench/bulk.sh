#!/usr/bin/env bash
# Bulk stock sync rate (issue 11): one `POST /stock/bulk` of 1,000 items against a release build
# with synchronous=FULL, three ways: creating 1,000 rows (stock.created each), setting them all
# to a new quantity (stock.updated each), and setting the same quantities again (no-ops). Prints
# each call's wall time as seen by curl and the rows/s it means. Usage: bench/bulk.sh [rounds=5]
# API_BIN=/path/to/inventory-api benchmarks that binary instead of building the work tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
KEY=bench-key-0123456789
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full "$API_BIN" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
H=(-H "X-API-Key: $KEY" -H 'Content-Type: application/json')

# One call of 1,000 items; $1 names the run, $2 is the body file. Prints seconds and rows/s.
call() {
  local seconds
  seconds=$(curl -s -o "$DIR/answer.json" -w '%{time_total}' "${H[@]}" -X POST "$BASE/stock/bulk" \
    --data-binary @"$2")
  python3 - "$1" "$seconds" "$DIR/answer.json" <<'PY'
import json, sys
name, seconds, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
answer = json.load(open(path))
assert answer.get("applied") == 1000, answer
print(f"{name:<10} {seconds * 1000:7.1f} ms  {1000 / seconds:8.0f} rows/s")
PY
}

for round in $(seq "$ROUNDS"); do
  PRODUCT=$(curl -sf "${H[@]}" -X POST "$BASE/products" \
    -d "{\"sku\":\"BULK-$round\",\"name\":\"Bulk bench\",\"price\":1.5}" \
    | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  for quantity in 10 20; do
    python3 - "$PRODUCT" "$quantity" > "$DIR/body-$quantity.json" <<'PY'
import json, sys
product, quantity = sys.argv[1], int(sys.argv[2])
items = [{"product_id": product, "store_id": f"S-{i:04}", "quantity": quantity} for i in range(1000)]
print(json.dumps({"items": items}))
PY
  done
  call create "$DIR/body-10.json"
  call update "$DIR/body-20.json"
  call unchanged "$DIR/body-20.json"
done
