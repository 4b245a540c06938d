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

# wrk_on SCRIPT CONNS DURATION URL...: one wrk (-t1, CONNS connections) per URL, all at once,
# POSTing to URL/reservations; prints "rate ok other p50 p99": rates and counts summed, p50
# and p99 the worst over the wrk processes (the SCRIPT prints status_201= and status_other=).
# Two API replicas take half the connections each this way (wrk hits one host).
wrk_on() {
  local script=$1 conns=$2 duration=$3; shift 3
  local out pids=() i=0
  out=$(mktemp -d)
  for url in "$@"; do
    wrk -t1 -c"$conns" -d"$duration" --latency -s "$script" "$url/reservations" > "$out/wrk-$i.out" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  python3 - "$out"/wrk-*.out <<'PY'
import re, sys
rate = ok = other = 0; p50 = p99 = 0.0
for path in sys.argv[1:]:
    text = open(path).read()
    rate += float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    ok += int(re.search(r"status_201=(\d+)", text).group(1))
    other += int(re.search(r"status_other=(\d+)", text).group(1))
    def ms(pct):  # wrk's --latency line, e.g. "     99%   12.34ms"
        value, unit = re.search(rf"^\s+{pct}%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    p50 = max(p50, ms(50)); p99 = max(p99, ms(99))
print(f"{rate:.0f} {ok} {other} {p50:.2f} {p99:.2f}")
PY
  rm -rf "$out"
}

# histogram URL NAME: the p50/p99/p99.9 buckets of the (unlabelled) Prometheus histogram NAME
# on the /metrics page at URL, as "NAME, N samples: p50 <= a s, p99 <= b s, p99.9 <= c s".
histogram() {
  curl -sf "$1" | NAME=$2 python3 -c '
import os, sys
name = os.environ["NAME"]
rows = [l for l in sys.stdin if l.startswith(name + "_bucket{")]
b = [(l.split("le=\"")[1].split("\"")[0], float(l.rsplit(" ", 1)[1])) for l in rows]
total = b[-1][1] if b else 0
def q(p): return next((le for le, n in b if n >= total * p), "nan")
print(f"{name}, {total:.0f} samples: p50 <= {q(0.5)} s, p99 <= {q(0.99)} s, p99.9 <= {q(0.999)} s")'
}

# pg_create_db SERVER PREFIX: creates a fresh database on SERVER (postgres://USER@HOST:PORT, no
# path) and prints its name, PREFIX_<time>_<pid>_<random>. Drop it with pg_drop_db from an EXIT trap.
pg_create_db() {
  local name="$2_$(date +%s)_$$_$RANDOM"
  psql -X -q "$1/postgres" -c "CREATE DATABASE $name" >&2
  echo "$name"
}

# pg_drop_db SERVER NAME: drops NAME, ending whatever sessions are still connected to it.
pg_drop_db() {
  psql -X -q "$1/postgres" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)"
}
