#!/usr/bin/env bash
# Drain benchmark: a 100,000-event backlog relayed by the release `inventory-relay` binary to
# NATS JetStream (a private `nats-server -js` on a free port with a temporary file store, killed
# afterwards). Prints events/s; the run also checks the stream holds every event once.
#
#   bench/nats_drain.sh                     # 100,000 events, RELAY_BATCH_SIZE=1000
#   RELAY_BATCH_SIZE=500 bench/nats_drain.sh
#   BENCH_EVENTS=200000 bench/nats_drain.sh
#
# Needs `nats-server` on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release -p inventory-relay --test nats_bench -- --ignored --nocapture
