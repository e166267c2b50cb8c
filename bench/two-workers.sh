#!/bin/bash
# Two workers on two cores: does accept spread evenly, and does perf show lock contention?
# tlsgate runs with workers = 2, unpinned; the load generator and the backend share the same
# two cores (there is no third one here), so the rate is bounded by the client, not the proxy.
# Prints the rate, each worker thread's share of tlsgate's CPU samples and every lock-related
# symbol above 0.05 %. Needs perf, make -C bench, and build/tlsgate.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
B=$repo/bench/build
TG=${TG:-$repo/build/tlsgate}
work=$(mktemp -d /tmp/tlsgate-2w.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
"$B/backend" --port-file "$work/be.port" >/dev/null &
pids+=($!)
sleep 0.3
port=$("$B/loadgen" freeport)
cat >"$work/tlsgate.toml" <<C
[global]
workers = 2
log_level = "warning"
[tls]
cert = "$work/cert.pem"
key = "$work/key.pem"
[[service]]
name = "bench"
listen = "127.0.0.1:$port"
backend = "127.0.0.1:$(cat "$work/be.port")"
C
"$TG" --config "$work/tlsgate.toml" 2>"$work/tlsgate.log" &
tg=$!
pids+=($tg)
sleep 0.5
"$B/loadgen" handshake --port "$port" --tls 1.3 --conns 32 --duration 6 --warmup 0.5 \
    >"$work/lg.out" 2>&1 &
lg=$!
pids+=($lg)
sleep 1.5
perf record -g -p "$tg" -o "$work/perf.data" -- sleep 3 >/dev/null 2>&1
wait "$lg"
tail -1 "$work/lg.out"
echo "CPU samples per tlsgate thread (the two workers; the control thread idles):"
perf report -i "$work/perf.data" --no-children --sort pid --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]'
echo "lock-related symbols:"
perf report -i "$work/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null |
    grep -E 'futex|rwlock|mutex|spin_lock|_lock' | awk '$1+0 >= 0.05' || true
