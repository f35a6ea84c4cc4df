#!/usr/bin/env bash
# Footprint of one member holding 1M keys (256-byte values): disk bytes, RSS, restart-to-serving.
#   tests/benches/footprint.sh etcd|oxcd
# Needs target/release/oxcd and target/release/oxcd-bench (cargo build --release -p oxcd;
# cargo build --release -p oxcd-tests --features bench --bin oxcd-bench), curl and etcdctl.
set -u
KIND=$1
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d /tmp/oxcd-footprint-XXXX)
BIN=/usr/bin/etcd; [ "$KIND" = oxcd ] && BIN=$ROOT/target/release/oxcd
URL=http://127.0.0.1:26791
PEER=http://127.0.0.1:26801
start() {
  $BIN --name m --data-dir "$D/data" --listen-client-urls $URL --advertise-client-urls $URL \
    --listen-peer-urls $PEER --initial-advertise-peer-urls $PEER --initial-cluster m=$PEER \
    --quota-backend-bytes=8589934592 > "$D/log" 2>&1 &
  echo $! > "$D/pid"
}
wait_ready() {
  for _ in $(seq 1 6000); do
    curl -s $URL/health | grep -q '"health":"true"' && return 0
    sleep 0.01
  done
  return 1
}
stop() { local pid; pid=$(cat "$D/pid"); kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; }
start; wait_ready
"$ROOT/target/release/oxcd-bench" --endpoints $URL --clients 100 --conns 10 --total 1000000 put --val-size 256 --sequential-keys | tail -2
sleep 2
echo "$KIND RSS after load: $(ps -o rss= -p "$(cat "$D/pid")") KiB"
stop
echo "$KIND data dir: $(du -sb "$D/data" | cut -f1) bytes"
T0=$(date +%s.%N); start; wait_ready; T1=$(date +%s.%N)
echo "$KIND restart to serving: $(echo "$T1 - $T0" | bc) s"
ETCDCTL_API=3 etcdctl --endpoints $URL get "" --prefix --keys-only --limit 1 -w json | grep -o '"count":[0-9]*'
sleep 1
echo "$KIND RSS after restart: $(ps -o rss= -p "$(cat "$D/pid")") KiB"
stop
rm -rf "$D"
