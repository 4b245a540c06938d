#!/usr/bin/env bash
# Consumer benchmark: apply rate from a 100,000-event Redis backlog, and end-to-end
# commit-to-applied lag at 1,000 writes/s (API + relay + consumer processes, private
# redis-server). Release build. Tunables: BENCH_EVENTS, BENCH_RATE, BENCH_SECONDS, BENCH_BATCH.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
cargo run --release -p inventory-consumer --example consumer_bench
