"""Instructions per unit from a callgrind dump (bench/profile_expiry.sh): the whole process
and the calls made by a few functions of the expiry's path (inclusive: callee and below).

Usage: callgrind_annotate --inclusive=yes --tree=calling FILE | python3 callgrind_parts.py UNITS
"""

import re
import sys

# Callers and the callees worth reporting. An inlined function has several blocks (one per
# source file its code came from); a call is listed in the block of its call site's file.
CALLERS = {
    "inventory_api::expiry::expire_batch": ["due_reservations", "expire_many"],
    "inventory_api::ops::expire_batch::expire_many": [
        "outbox::append_event",
        "Statement::query_row",
    ],
    "inventory_shared::outbox::append_events": ["payload_json", "now_v7"],
    "inventory_shared::outbox::append_event": ["payload_json", "now_v7"],
    "inventory_api::ops::reservations::reserve": ["outbox::append_event"],
}
# Calls counted over the whole dump: B-tree descents into an index (one per index entry
# sought, inserted or deleted), into a table.
COUNTED = ["sqlite3BtreeIndexMoveto", "sqlite3BtreeTableMoveto"]

units = max(int(sys.argv[1]), 1)
total, caller, parts, calls = 0, None, {}, dict.fromkeys(COUNTED, 0)
for line in sys.stdin:
    if line.startswith("-- Auto-annotated source"):
        break
    m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+([*>]?)\s*(\S*)", line)
    if not m:
        continue
    count, mark, name = int(m.group(1).replace(",", "")), m.group(2), m.group(3)
    if "PROGRAM TOTALS" in line:
        total = count
    elif mark == "*":
        symbol = name.split(":", 1)[-1]
        caller = symbol if symbol in CALLERS else None
    elif mark == ">" and name.split(":", 1)[-1] in calls:
        n = re.search(r"\(([\d,]+)x\)", line)
        calls[name.split(":", 1)[-1]] += int(n.group(1).replace(",", "")) if n else 0
    if mark == ">" and caller:
        for callee in CALLERS[caller]:
            if callee in name:
                short = caller.rsplit("::", 1)[-1]
                key = f"  {short} -> {name.split(':', 1)[-1][:70]}"
                parts[key] = parts.get(key, 0) + count
print(f"  whole API process: {total // units:,}")
for name, n in calls.items():
    print(f"  calls to {name}: {n / units:.1f}")
for name, count in parts.items():
    if count >= units:
        print(f"  {name}: {count // units:,}")
