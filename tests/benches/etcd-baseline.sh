#!/usr/bin/env bash
# The workload matrix of docs/benchmarks.md, run with oxcd-bench's side-by-side runner.
#   tests/benches/etcd-baseline.sh                      # etcd 3.4 alone (the baseline)
#   tests/benches/etcd-baseline.sh target/release/oxcd  # etcd 3.4 and oxcd, with ratios
# Environment: ROUNDS (default 3), SHAPES (default "one three-tls"), JSON=1 for JSON lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p oxcd-tests --features bench --release --bin oxcd-bench
bench=target/release/oxcd-bench
server=()
if [ $# -ge 1 ]; then server=(--server "$1"); fi
rounds="${ROUNDS:-3}"
json=()
if [ "${JSON:-}" = 1 ]; then json=(--json); fi

for shape in ${SHAPES:-one three-tls}; do
  compare=(compare --shape "$shape" --rounds "$rounds" "${server[@]}")
  "$bench" "${json[@]}" --clients 1 --conns 1 --total 2000 "${compare[@]}" put --val-size 256 --sequential-keys
  "$bench" "${json[@]}" --clients 100 --conns 10 --total 30000 "${compare[@]}" put --val-size 256 --sequential-keys
  "$bench" "${json[@]}" --clients 100 --conns 10 --total 20000 "${compare[@]}" txn-put --val-size 256
  "$bench" "${json[@]}" --clients 100 --conns 10 --total 50000 "${compare[@]}" range --consistency l
  "$bench" "${json[@]}" --clients 100 --conns 10 --total 50000 "${compare[@]}" range --consistency s
  "$bench" "${json[@]}" --clients 100 --conns 10 --total 50000 "${compare[@]}" lease-keepalive
  "$bench" "${json[@]}" --conns 10 "${compare[@]}" watch-latency --watchers 100 --put-total 500 --put-rate 100
done
