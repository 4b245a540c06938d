#!/usr/bin/env bash
# Drain benchmark: a 100,000-event backlog relayed by the release `inventory-relay` binary to a
# Kafka-protocol broker (tansu, in-memory storage, topic with 3 partitions, started on a free
# port and killed afterwards). Prints events/s; the run also checks every event arrived once.
#
#   bench/kafka_drain.sh                    # 100,000 events, RELAY_BATCH_SIZE=1000
#   RELAY_BATCH_SIZE=500 bench/kafka_drain.sh
#   BENCH_EVENTS=200000 bench/kafka_drain.sh
#
# Needs `tansu` on PATH (cargo install tansu --locked --features dynostore).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release -p inventory-relay --test kafka_bench -- --ignored --nocapture
