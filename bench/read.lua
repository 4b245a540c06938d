-- wrk script: GET one stock row.
function init(args)
  wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
end

function done(summary, latency, requests)
  io.write(string.format("p50_ms=%.2f p99_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
