-- wrk script: GET each path of BENCH_READS (space-separated, under the base URL) in turn, as
-- bench/scale.sh's "16 clients hammer every read endpoint".
function init(args)
  paths = {}
  for path in string.gmatch(os.getenv("BENCH_READS"), "%S+") do
    table.insert(paths, path)
  end
  wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY")
  n = math.random(#paths)
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end
