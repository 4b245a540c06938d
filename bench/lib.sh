# Shared by the API benchmarks (sourced, not run): a free port, a started API, and the
# product/store pairs the wrk scripts reserve on.

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL [tries]: polls until URL answers 2xx (0.1 s apart).
wait_http() {
  for _ in $(seq "${2:-100}"); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# make_pairs BASE N [SKU_PREFIX]: creates N products, each with a stock row of 10^9 units in
# one of 8 stores, and prints "product:store product:store ..." (the wrk scripts' BENCH_PAIRS).
make_pairs() {
  local base=$1 n=$2 prefix=${3:-BENCH} out="" product store
  for i in $(seq "$n"); do
    product=$(curl -sf -H "X-API-Key: $BENCH_KEY" -H 'Content-Type: application/json' \
      -X POST "$base/products" -d "{\"sku\":\"$prefix-$i\",\"name\":\"Bench product $i\",\"price\":1.5}" \
      | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
    store="BENCH-STORE-$((i % 8))"
    curl -sf -H "X-API-Key: $BENCH_KEY" -H 'Content-Type: application/json' -X POST "$base/stock" \
      -d "{\"product_id\":\"$product\",\"store_id\":\"$store\",\"initial_quantity\":1000000000}" >/dev/null
    out="$out $product:$store"
  done
  echo "$out"
}

# events_total BASE: the outbox's event count (GET /events/stats).
events_total() {
  curl -sf -H "X-API-Key: $BENCH_KEY" "$1/events/stats" | python3 -c 'import sys,json; print(json.load(sys.stdin)["total"])'
}
