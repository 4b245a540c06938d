#!/usr/bin/env bash
# The CPU cost of one reservation through the whole API path, as instruction counts
# (valgrind --tool=callgrind: repeatable on a shared, noisy machine). Starts a release API
# under callgrind with instrumentation off, creates the product and a stock row, switches
# instrumentation on, sends reservations with wrk for DURATION, dumps, and prints
# instructions per reservation and the top functions (self cost, then inclusive).
# Usage: bench/profile.sh [duration=20s] [connections=32] [pairs=1]
#   API_BIN=/path/to/inventory-api profiles that binary instead of building the work tree's.
#   KEEP=dir keeps the callgrind output there (for callgrind_annotate / kcachegrind).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${1:-20s}
CONNS=${2:-32}
PAIRS=${3:-1}
for tool in valgrind callgrind_control callgrind_annotate wrk; do
  command -v $tool >/dev/null || { echo "$tool is missing (apt-get install valgrind wrk)" >&2; exit 1; }
done
if [ -z "${API_BIN:-}" ]; then
  cargo build --release -q -p inventory-api
  API_BIN=./target/release/inventory-api
fi
DIR=$(mktemp -d)
OUT=${KEEP:-$DIR}
mkdir -p "$OUT"
PORT=$(free_port)
export BENCH_KEY=bench-key-0123456789
DATABASE_URL="$DIR/bench.db" SERVER_PORT=$PORT API_KEYS="$BENCH_KEY:bench" LOG_LEVEL=warn \
  SQLITE_SYNCHRONOUS=full valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$OUT/callgrind.out" "$API_BIN" 2>"$DIR/valgrind.log" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null; wait $API_PID 2>/dev/null; rm -rf "$DIR"' EXIT
BASE=http://127.0.0.1:$PORT/api/v1
wait_http "http://127.0.0.1:$PORT/health" 600
export BENCH_PAIRS=$(make_pairs "$BASE" "$PAIRS")
# Warm up (connections, statement cache, allocator), then count only the load.
wrk -t2 -c"$CONNS" -d2s -s bench/reserve_pairs.lua "$BASE/reservations" >/dev/null
callgrind_control -z "$API_PID" >/dev/null
callgrind_control -i on "$API_PID" >/dev/null
LOAD=$(wrk -t2 -c"$CONNS" -d"$DURATION" -s bench/reserve_pairs.lua "$BASE/reservations")
callgrind_control -i off "$API_PID" >/dev/null
callgrind_control -d "$API_PID" >/dev/null
echo "$LOAD" > "$OUT/wrk.txt"
N=$(echo "$LOAD" | sed -n 's/.*status_201=\([0-9]*\).*/\1/p')
OTHER=$(echo "$LOAD" | sed -n 's/.*status_other=\([0-9]*\).*/\1/p')
FILE=$(ls "$OUT"/callgrind.out.* | sort -t. -k3 -n | tail -n 1)
echo "== callgrind: $N reservations (other statuses: $OTHER) under load, $CONNS connections, $PAIRS pair(s); $FILE"
summarise() { # $1: --inclusive=yes|no, $2: how many
  callgrind_annotate --inclusive="$1" --threshold=99 "$FILE" 2>/dev/null | python3 -c '
import re, sys
n, top = int(sys.argv[1]), int(sys.argv[2])
total, rows = None, []
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
    if not m:
        continue
    count = int(m.group(1).replace(",", ""))
    if m.group(2).startswith("PROGRAM TOTALS"):
        total = count
        continue
    name = re.sub(r"^.*?:(?=[^/:]*(::|$))", "", m.group(2).split(" [")[0]) if "[" in m.group(2) else m.group(2)
    where = m.group(2).rsplit("[", 1)[-1].rstrip("]").split("/")[-1]
    rows.append((count, m.group(2).split(":", 1)[-1].split(" [")[0][:110], where))
if total is None:
    sys.exit("no totals in the callgrind output")
if sys.argv[3] == "total":
    print(f"instructions in the API process: {total:,} = {total // n:,} per reservation")
    sys.exit()
for count, name, where in rows[:top]:
    print(f"{count // n:>9,}  {100 * count / total:5.1f}%  {name}  [{where}]")
' "$N" "$2" "$3"
}
summarise no 0 total
echo "== top 25 functions by self cost (instructions per reservation, share of the process)"
summarise no 25 rows
echo "== top 40 by inclusive cost"
summarise yes 40 rows
