-- wrk script for bench/soak.sh: POST 1-unit reservations with a TTL of SOAK_TTL seconds, spread
-- over the (product, store) pairs of BENCH_PAIRS ("product:store product:store ..."), the way
-- abandoned carts behave in a sale; counts statuses.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  created, other = 0, 0
  pairs_list = {}
  local ttl = tonumber(os.getenv("SOAK_TTL"))
  for pair in string.gmatch(os.getenv("BENCH_PAIRS"), "%S+") do
    local product, store = string.match(pair, "([^:]+):([^:]+)")
    table.insert(pairs_list, string.format(
      '{"product_id":"%s","store_id":"%s","customer_id":"soak","quantity":1,"ttl_seconds":%d}',
      product, store, ttl))
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
