-- wrk script: POST 1-unit reservations spread over many product/store pairs (BENCH_PAIRS is
-- "product:store product:store ..."), as bench/scale.sh measures them; counts statuses.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  pairs_list = {}
  for pair in string.gmatch(os.getenv("BENCH_PAIRS"), "%S+") do
    local product, store = string.match(pair, "([^:]+):([^:]+)")
    table.insert(pairs_list, string.format(
      '{"product_id":"%s","store_id":"%s","customer_id":"bench","quantity":1,"ttl_seconds":86400}',
      product, store))
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
  n = math.random(#pairs_list)
end

function request()
  n = n % #pairs_list + 1
  return wrk.format(nil, nil, nil, pairs_list[n])
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
end
