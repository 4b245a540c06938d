-- wrk script: POST a 1-unit reservation of one hot product/store with an Idempotency-Key.
-- BENCH_KEYS=unique: a new key per request (every request runs and stores its answer);
-- BENCH_KEYS=same: one key per thread (the first runs, every other request is a replay).
-- Counts fresh 201s, replayed 201s and other statuses.
local threads = {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
  table.insert(threads, thread)
end

function init(args)
  n, created, replayed, other = 0, 0, 0, 0
  mode = os.getenv("BENCH_KEYS") or "unique"
  run = os.getenv("BENCH_RUN") or "run"
  headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = os.getenv("BENCH_KEY"),
  }
  body = string.format(
    '{"product_id":"%s","store_id":"%s","customer_id":"bench","quantity":1,"ttl_seconds":86400}',
    os.getenv("BENCH_PRODUCT"), os.getenv("BENCH_STORE"))
end

function request()
  n = n + 1
  if mode == "same" then
    headers["Idempotency-Key"] = string.format("%s-t%d", run, tid)
  else
    headers["Idempotency-Key"] = string.format("%s-t%d-%d", run, tid, n)
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 201 and headers["idempotent-replayed"] == "true" then
    replayed = replayed + 1
  elseif status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    r = r + t:get("replayed")
    o = o + t:get("other")
  end
  io.write(string.format("fresh_201=%d replayed_201=%d status_other=%d\n", c, r, o))
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
