-- wrk script: POST a 1-unit reservation of one hot product/store; counts statuses per thread.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
  wrk.body = string.format(
    '{"product_id":"%s","store_id":"%s","customer_id":"bench","quantity":1,"ttl_seconds":86400}',
    os.getenv("BENCH_PRODUCT"), os.getenv("BENCH_STORE"))
end

function response(status, headers, body)
  if status == 201 then created = created + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    o = o + t:get("other")
  end
  io.write(string.format("status_201=%d status_other=%d\n", c, o))
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
