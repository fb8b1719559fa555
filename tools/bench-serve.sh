#!/usr/bin/env bash
# oakmap serve against redis-server, in one go on this machine: each server
# driven by the same redis-benchmark lines, with the same durability:
#   always   : redis appendfsync always   vs oakmap --durability immediate
#   everysec : redis appendfsync everysec vs oakmap --durability group:1s
# Prints requests/s and p50/p99/max latency per row, and oakmap's ratio to
# redis-server (above 1: oakmap is faster; for latency, above 1: oakmap's
# tail is longer). Then oakmap against itself: p99 with a checkpoint every
# 100 ms against p99 with none during the run (the issue's goal: at most 2x).
#
# Usage: tools/bench-serve.sh [DIR]   (DIR on the disk you care about; not a
# tmpfs, where fsync costs nothing. Default: ./bench-serve-data, removed
# afterwards.) Needs redis-server and redis-benchmark (apt-get install
# redis-server redis-tools). Env: REQUESTS (200000), CLIENTS (50),
# KEYSPACE (1000000), VALUE_BYTES (150), TESTS (set,get,incr).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-./bench-serve-data}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-1000000}
VALUE_BYTES=${VALUE_BYTES:-150}
TESTS=${TESTS:-set,get,incr}
REDIS_PORT=${REDIS_PORT:-6479}
OAKMAP_PORT=${OAKMAP_PORT:-6480}

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench-serve: $tool not found (apt-get install redis-server redis-tools)" >&2; exit 2; }
done
cargo build --release -p oakmap-tools >&2
OAKMAP=./target/release/oakmap

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
RESULTS=$(mktemp)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -f "$RESULTS"
  if [ "${1:-}" != keep ]; then rm -rf "$DIR"/redis "$DIR"/oakmap; fi
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 100); do
    redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "bench-serve: nothing answers on port $1" >&2
  exit 1
}

# run_bench SERVER MODE PORT: one redis-benchmark line per pipeline depth,
# as CSV rows "server,mode,P,test,rps,p50,p99,max".
run_bench() {
  local server=$1 mode=$2 port=$3
  for pipeline in 1 16; do
    redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -r "$KEYSPACE" -d "$VALUE_BYTES" \
      -t "$TESTS" -P "$pipeline" --csv 2>/dev/null |
      tail -n +2 | tr -d '"' |
      awk -F, -v s="$server" -v m="$mode" -v p="$pipeline" \
        '{ print s "," m "," p "," $1 "," $2 "," $5 "," $7 "," $8 }' >>"$RESULTS"
  done
}

for mode in always everysec; do
  rm -rf "$DIR/redis" "$DIR/oakmap"
  mkdir -p "$DIR/redis" "$DIR/oakmap"

  redis-server --port "$REDIS_PORT" --dir "$DIR/redis" --appendonly yes \
    --appendfsync "$mode" --save '' --daemonize no >/dev/null &
  PIDS+=($!)
  wait_port "$REDIS_PORT"
  run_bench redis "$mode" "$REDIS_PORT"
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true

  durability=immediate
  [ "$mode" = everysec ] && durability=group:1s
  "$OAKMAP" serve "$DIR/oakmap/bench.oak" --bind "127.0.0.1:$OAKMAP_PORT" \
    --durability "$durability" 2>/dev/null &
  PIDS+=($!)
  wait_port "$OAKMAP_PORT"
  run_bench oakmap "$mode" "$OAKMAP_PORT"
  redis-cli -p "$OAKMAP_PORT" shutdown >/dev/null 2>&1 || true
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
done

# Checkpoints: the same oakmap (immediate) with none during the run (a WAL
# bound and an interval it never reaches) and with one every 100 ms while
# there are commits, so that most requests overlap one. GET runs while two
# other clients write. Rows
# "oakmap-ckpt,MODE,..." where MODE is "quiet" or "busy"; the number of
# checkpoints each run made comes from INFO.
CHECKPOINTS=$(mktemp)
for ckpt in quiet busy; do
  rm -rf "$DIR/oakmap"
  mkdir -p "$DIR/oakmap"
  if [ "$ckpt" = quiet ]; then
    flags=(--checkpoint-interval-ms 3600000 --wal-bytes-max $((8 << 30)))
  else
    flags=(--checkpoint-interval-ms 100)
  fi
  "$OAKMAP" serve "$DIR/oakmap/bench.oak" --bind "127.0.0.1:$OAKMAP_PORT" \
    --durability immediate "${flags[@]}" 2>/dev/null &
  PIDS+=($!)
  wait_port "$OAKMAP_PORT"
  TESTS=set run_bench oakmap-ckpt "$ckpt" "$OAKMAP_PORT"
  # Reads while two clients write without pause (checkpoints run only
  # while there are commits): the GET rows of this table.
  redis-benchmark -p "$OAKMAP_PORT" -c 2 -n 100000000 -r "$KEYSPACE" -d "$VALUE_BYTES" \
    -t set -q >/dev/null 2>&1 &
  writers=$!
  TESTS=get run_bench oakmap-ckpt "$ckpt" "$OAKMAP_PORT"
  kill "$writers" 2>/dev/null || true
  wait "$writers" 2>/dev/null || true
  echo "$ckpt $(redis-cli -p "$OAKMAP_PORT" info persistence | tr -d '\r' | grep '^checkpoints:' | cut -d: -f2)" >>"$CHECKPOINTS"
  redis-cli -p "$OAKMAP_PORT" shutdown >/dev/null 2>&1 || true
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
done

echo "redis-benchmark -c $CLIENTS -n $REQUESTS -r $KEYSPACE -d $VALUE_BYTES; latency in ms"
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), appendonly yes; oakmap immediate (always) or group:1s (everysec)"
awk -F, '
  $1 == "oakmap-ckpt" { next }
  { key = $2 "," $3 "," $4; rps[$1 "," key] = $5; p50[$1 "," key] = $6;
    p99[$1 "," key] = $7; max[$1 "," key] = $8; if (!(key in seen)) { seen[key] = 1; order[n++] = key } }
  END {
    printf "%-9s %-3s %-5s | %10s %7s %7s %7s | %10s %7s %7s %7s | %6s %6s\n",
      "fsync", "P", "test", "redis r/s", "p50", "p99", "max", "oakmap r/s", "p50", "p99", "max", "r/s x", "p99 x"
    for (i = 0; i < n; i++) {
      k = order[i]; split(k, f, ",")
      r = "redis," k; o = "oakmap," k
      printf "%-9s %-3s %-5s | %10.0f %7.3f %7.3f %7.3f | %10.0f %7.3f %7.3f %7.3f | %6.2f %6.2f\n",
        f[1], f[2], f[3], rps[r], p50[r], p99[r], max[r], rps[o], p50[o], p99[o], max[o],
        (rps[r] > 0 ? rps[o] / rps[r] : 0), (p99[r] > 0 ? p99[o] / p99[r] : 0)
    }
  }' "$RESULTS"

echo
echo "oakmap immediate without checkpoints during the run (quiet) and with one every 100 ms (busy); GET with 2 clients writing meanwhile"
echo "checkpoints made: $(tr '\n' ' ' <"$CHECKPOINTS")"
awk -F, '
  $1 != "oakmap-ckpt" { next }
  { key = $3 "," $4; rps[$2 "," key] = $5; p99[$2 "," key] = $7; max[$2 "," key] = $8;
    if (!(key in seen)) { seen[key] = 1; order[n++] = key } }
  END {
    printf "%-3s %-5s | %10s %7s %7s | %10s %7s %7s | %6s %6s\n",
      "P", "test", "quiet r/s", "p99", "max", "busy r/s", "p99", "max", "r/s x", "p99 x"
    for (i = 0; i < n; i++) {
      k = order[i]; split(k, f, ",")
      q = "quiet," k; b = "busy," k
      printf "%-3s %-5s | %10.0f %7.3f %7.3f | %10.0f %7.3f %7.3f | %6.2f %6.2f\n",
        f[1], f[2], rps[q], p99[q], max[q], rps[b], p99[b], max[b],
        (rps[q] > 0 ? rps[b] / rps[q] : 0), (p99[q] > 0 ? p99[b] / p99[q] : 0)
    }
  }' "$RESULTS"
rm -f "$CHECKPOINTS"
