#!/usr/bin/env bash
# Replicated durable write throughput: a three-node oakmap-raft-node
# cluster on loopback against one `oakmap serve` (durability immediate),
# under the same redis-benchmark SET load, with 16 clients and with 1.
#
# A SET acknowledged by the cluster is in the log of a majority (each
# node's append is fsynced before it counts) and applied on the leader
# (its apply is fsynced too); a SET acknowledged by `oakmap serve` is
# fsynced once. Both are durable per write; the ratio is the price of
# replication.
#
#   raft/bench.sh                 # from the workspace root or anywhere
#   N=50000 raft/bench.sh         # more requests per run
#
# Environment: N (requests per run, 20000), BENCH_DIR (the node and
# database directories, target/raft-bench: keep it off tmpfs), TARGET_DIR
# (the release build, the workspace's target), BASE_PORT (6390: the cluster's
# client ports are BASE_PORT+1..3, its raft ports BASE_PORT+711..713,
# `oakmap serve` listens on BASE_PORT).
#
# redis-benchmark runs with --csv rather than -q: the CSV line has the
# p50, the p99 and the max latency, -q only the p50.
set -euo pipefail

WORKSPACE=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20000}
BENCH_DIR=${BENCH_DIR:-$WORKSPACE/target/raft-bench}
TARGET_DIR=${TARGET_DIR:-$WORKSPACE/target}
BASE_PORT=${BASE_PORT:-6390}

echo "building (release, into $TARGET_DIR)..." >&2
(cd "$WORKSPACE" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet \
    -p oakmap-raft --bin oakmap-raft-node -p oakmap-tools --bin oakmap)
NODE=$TARGET_DIR/release/oakmap-raft-node
OAKMAP=$TARGET_DIR/release/oakmap

rm -rf "$BENCH_DIR/cluster" "$BENCH_DIR/serve"
mkdir -p "$BENCH_DIR/cluster" "$BENCH_DIR/serve"
df -h "$BENCH_DIR" | tail -n 1 >&2

PIDS=()
stop_all() {
    if ((${#PIDS[@]})); then
        kill -TERM "${PIDS[@]}" 2>/dev/null || true
        wait "${PIDS[@]}" 2>/dev/null || true
    fi
    PIDS=()
}
trap stop_all EXIT

# Waits until `redis-cli -p $1 PING` answers, for at most 10 s.
wait_for_port() {
    for _ in $(seq 100); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    exit 1
}

# Prints the client port of the cluster's leader, once one is elected.
leader_port() {
    for _ in $(seq 100); do
        local addr
        addr=$(redis-cli -p $((BASE_PORT + 1)) RAFT 2>/dev/null |
            sed -n 's/^leader_resp:\(.*\)\r\?$/\1/p' | tr -d '\r')
        if [[ -n $addr ]]; then
            echo "${addr##*:}"
            return 0
        fi
        sleep 0.1
    done
    echo "no leader elected within 10 s" >&2
    exit 1
}

# Runs the SET load with $2 clients against port $1; prints
# "rps p50 p99 max".
bench() {
    redis-benchmark -p "$1" -t set -n "$N" -c "$2" -P 1 --csv |
        tr -d '"' | awk -F, '$1 == "SET" { print $2, $5, $7, $8 }'
}

# --- the cluster ---
PEERS=""
for i in 1 2 3; do
    PEERS+="${PEERS:+,}$i=127.0.0.1:$((BASE_PORT + 710 + i))/127.0.0.1:$((BASE_PORT + i))"
done
for i in 1 2 3; do
    init=()
    [[ $i == 1 ]] && init=(--init)
    "$NODE" --id "$i" --dir "$BENCH_DIR/cluster/n$i" --peers "$PEERS" "${init[@]}" \
        2>"$BENCH_DIR/cluster/n$i.log" &
    PIDS+=($!)
done
for i in 1 2 3; do wait_for_port $((BASE_PORT + i)); done
LEADER=$(leader_port)
echo "cluster up; leader on port $LEADER" >&2
read -r C16_RPS C16_P50 C16_P99 C16_MAX < <(bench "$LEADER" 16)
read -r C1_RPS C1_P50 C1_P99 C1_MAX < <(bench "$LEADER" 1)
AFTER=$(leader_port)
[[ $AFTER == "$LEADER" ]] || echo "note: the leader moved during the runs ($LEADER -> $AFTER)" >&2
redis-cli -p "$LEADER" RAFT | tr -d '\r' | grep -E '^(term|last_applied_index|snapshot_index)' >&2
stop_all

# --- one oakmap serve ---
"$OAKMAP" serve "$BENCH_DIR/serve/bench.oak" --bind "127.0.0.1:$BASE_PORT" \
    --durability immediate 2>"$BENCH_DIR/serve/serve.log" &
PIDS+=($!)
wait_for_port "$BASE_PORT"
read -r S16_RPS S16_P50 S16_P99 S16_MAX < <(bench "$BASE_PORT" 16)
read -r S1_RPS S1_P50 S1_P99 S1_MAX < <(bench "$BASE_PORT" 1)
stop_all

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "redis-benchmark -t set -n $N -P 1; latencies in ms"
printf '%-8s %-28s %12s %8s %8s %8s\n' clients server "SET/s" p50 p99 max
printf '%-8s %-28s %12s %8s %8s %8s\n' 16 "3-node raft cluster" "$C16_RPS" "$C16_P50" "$C16_P99" "$C16_MAX"
printf '%-8s %-28s %12s %8s %8s %8s\n' 16 "oakmap serve (immediate)" "$S16_RPS" "$S16_P50" "$S16_P99" "$S16_MAX"
printf '%-8s %-28s %12s %8s %8s %8s\n' 1 "3-node raft cluster" "$C1_RPS" "$C1_P50" "$C1_P99" "$C1_MAX"
printf '%-8s %-28s %12s %8s %8s %8s\n' 1 "oakmap serve (immediate)" "$S1_RPS" "$S1_P50" "$S1_P99" "$S1_MAX"
echo "cluster / serve throughput: $(ratio "$C16_RPS" "$S16_RPS") with 16 clients, $(ratio "$C1_RPS" "$S1_RPS") with 1"
