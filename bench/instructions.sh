#!/usr/bin/env bash
# Instructions per handshake and per relayed byte, counted by callgrind, for tlsgate, haproxy, hitch and stunnel
# with the configurations bench/run.sh uses. Unlike a rate, an instruction count does not move
# with the other tenants of a shared machine: it says how much work each proxy does per
# handshake in user space (libssl, libcrypto, libc, its own code; not the kernel).
# See bench/README.md. Usage: bench/instructions.sh [--ops N] [--proxies "LIST"] [--out FILE]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
ops=60 warm_ops=10 bulk_mib=32 proxies="tlsgate haproxy hitch stunnel" out="" idle_n=100
while [ $# -gt 0 ]; do
    case $1 in
    --ops) ops=$2; shift ;;
    --proxies) proxies=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) echo 'usage: bench/instructions.sh [--ops N] [--proxies "tlsgate haproxy hitch stunnel"] [--out FILE]'; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
log() { echo "[instructions $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }
for t in valgrind openssl ss pgrep; do
    command -v $t >/dev/null || die "$t missing (apt-get install valgrind)"
done
[ -x "$repo/build/tlsgate" ] || die "build tlsgate first (cmake --build build)"
make -s -C "$here" >/dev/null
LG=$here/build/loadgen
BE=$here/build/backend
TG=$repo/build/tlsgate
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)

work=$(mktemp -d /tmp/tlsgate-instr.XXXXXX)
chmod 1777 "$work" # hitch's worker runs as an unprivileged user and writes its profile here
pids=()
cleanup() {
    set +e
    for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 7 \
    -subj /CN=bench.tlsgate.test 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/combined.pem"
chmod 644 "$work"/*.pem

"$BE" --port-file "$work/backend.port" >/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -s "$work/backend.port" ] && break; sleep 0.05; done
bport=$(cat "$work/backend.port")
. "$here/proxies.sh"

# Runs PROXY under callgrind (children too), drives the given loadgen runs at it one after the
# other, stops it with SIGTERM and prints the instructions of its whole process tree, start to
# exit; the last loadgen line goes to $work/last.line. The loadgen mode is the caller's $lg.
# Usage: counted PROXY N [N ...]
counted() {
    local p=$1 vpid n f total=0
    shift
    rm -f "$work"/cg.*
    port=$("$LG" freeport)
    write_proxy_config "$p" "$port"
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$work/cg.%p" \
        "${proxy_cmd[@]}" 2>>"$work/$p.log" &
    vpid=$!
    pids+=($vpid)
    for _ in $(seq 3000); do [ -n "$(ss -Hltn "sport = :$port")" ] && break; sleep 0.1; done
    [ -n "$(ss -Hltn "sport = :$port")" ] || die "$p did not listen under valgrind ($work/$p.log)"
    for n in "$@"; do
        "$LG" "${lg[@]}" --port "$port" --conns 4 --ops "$n" --warmup 0 --timeout 600 >"$work/last.line"
    done
    sleep 0.5
    kill -TERM $vpid
    wait $vpid 2>/dev/null || true
    # hitch's children exit after their parent; their profiles are written at their exit
    for _ in $(seq 100); do pgrep -f -- "--callgrind-out-file=$work/" >/dev/null || break; sleep 0.1; done
    for f in "$work"/cg.*; do
        [ -e "$f" ] || continue
        n=$(awk '/^summary:/ {print $2}' "$f")
        total=$((total + ${n:-0}))
    done
    echo $total
}

declare -A result
for p in $proxies; do
    case $p in
    haproxy | hitch) command -v "$p" >/dev/null || { log "$p not installed: skipped"; continue; } ;;
    stunnel) [ -n "$STUNNEL" ] || { log "stunnel not installed: skipped"; continue; } ;;
    esac
    for mode in full13 full12 resumed13 bulkup; do
        case $mode in
        full13) lg=(handshake --tls 1.3) ;;
        full12) lg=(handshake --tls 1.2) ;;
        resumed13) lg=(resume --tls 1.3) ;;
        bulkup) lg=(bulk-up --tls 1.3) ;;
        esac
        n=$ops warm=$warm_ops
        [ $mode = bulkup ] && n=$bulk_mib warm=1 # MiB per connection
        # Two runs of the proxy: warm-up connections only, and the same warm-up followed by
        # the measured ones. The difference is exactly the measured connections' work: start,
        # lazily made state and exit cancel out.
        base=$(counted "$p" "$warm")
        ir_all=$(counted "$p" "$warm" "$n")
        line=$(cat "$work/last.line")
        ir=$((ir_all - base))
        done_ops=$(sed -n 's/.* ops=\([0-9]*\).*/\1/p' <<<"$line")
        reused=$(sed -n 's/.* reused=\([0-9]*\).*/\1/p' <<<"$line")
        errors=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
        log "$p $mode: $ir instructions ($ir_all - $base), $line"
        if [ "$mode" = bulkup ]; then
            per=$(awk -v ir="$ir" -v mib="$n" 'BEGIN { printf "%.2f", ir / (4 * mib * 1048576) }')
        elif [ "$mode" = resumed13 ]; then
            # The first connection of a resume run is a full handshake: take it out at the
            # proxy's own full-handshake cost.
            full=${result[$p.full13]:-0}
            per=$(awk -v ir="$ir" -v n="$done_ops" -v r="${reused:-0}" -v f="$full" \
                'BEGIN { if (r > 0) printf "%.2f", (ir / 1e6 - (n - r) * f) / r; else print "-" }')
        else
            per=$(awk -v ir="$ir" -v n="$done_ops" 'BEGIN { if (n > 0) printf "%.2f", ir / n / 1e6; else print "-" }')
        fi
        result[$p.$mode]=$per
        result[$p.$mode.errors]=${errors:-?}
    done
done

report() {
    echo "### Instructions per handshake and per byte (callgrind, user space)"
    echo
    echo "Each figure is the difference between two runs of the proxy under callgrind, one with"
    echo "$warm_ops warm-up connections and one with the same warm-up followed by the measured ones."
    echo "Handshakes: $ops measured connections, each a full or"
    echo "resumed handshake, one 64-byte echo through the backend, close_notify, close; millions of"
    echo "instructions per connection. Bulk: 4 TLS 1.3 connections each sending exactly $bulk_mib MiB"
    echo "in 16 KiB writes to a discarding backend (client→backend, the proxy decrypts), then"
    echo "close_notify; instructions per relayed byte. Counted over the whole process tree of each"
    echo "proxy by \`bench/instructions.sh\` ($(date -u '+%Y-%m-%d %H:%M') UTC, $(openssl version | cut -d' ' -f1-2))."
    echo "Kernel work (accept, connect, loopback TCP, copies in and out of sockets) is not counted."
    echo
    printf '| figure |'
    for p in $proxies; do printf ' %s |' "$p"; done
    echo
    printf '|---|'
    for _ in $proxies; do printf -- '---|'; done
    echo
    for mode in full13 full12 resumed13 bulkup; do
        case $mode in
        full13) label="full handshake, TLS 1.3, M instructions" ;;
        full12) label="full handshake, TLS 1.2, M instructions" ;;
        resumed13) label="resumed handshake, TLS 1.3, M instructions" ;;
        bulkup) label="bulk client→backend, instructions per byte" ;;
        esac
        printf '| %s |' "$label"
        for p in $proxies; do printf ' %s |' "${result[$p.$mode]:-skipped}"; done
        echo
    done
    printf '| client errors |'
    for p in $proxies; do
        printf ' %s |' "$(( ${result[$p.full13.errors]:-0} + ${result[$p.full12.errors]:-0} + ${result[$p.resumed13.errors]:-0} + ${result[$p.bulkup.errors]:-0} ))"
    done
    echo
}
if [ -n "$out" ]; then report | tee "$out"; else report; fi
