#!/usr/bin/env bash
# tlsgate benchmark: tlsgate vs haproxy, hitch and stunnel in front of the same plaintext
# backend, on this machine. Writes a markdown report to bench/results/<date>.md and stdout.
# See bench/README.md. Usage: bench/run.sh [--quick] [options]; --help lists them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

runs=3 dur=5 warm=1 idle_n=10000 idle_hold=3 proxies="tlsgate haproxy hitch stunnel"
lat_rate=5000 do_imap=1 do_build=1 install_deps=0 out="" proxy_cpu=0 gen_cpu=1 hs_conns=16
usage() {
    cat <<EOF
usage: bench/run.sh [options]
  --quick            1 run per figure, 2 s measurements after 0.5 s warm-up
  --runs N           runs per figure (default $runs; the table shows median, min and max)
  --duration S       seconds per measurement (default $dur), after --warmup S (default $warm)
  --idle-conns N     connections for the RSS figure (default $idle_n; lowered to fit ulimit -n)
  --proxies "LIST"   subset/order of: tlsgate haproxy hitch stunnel (default: all)
  --lat-rate R       total request rate of the paced latency figure (default $lat_rate/s)
  --no-imap          skip the STARTTLS IMAP run
  --no-build         do not (re)build tlsgate and the bench tools
  --install-deps     apt-get install the packages in bench/bench-deps.txt first
  --proxy-cpu N      CPU for the proxy (default 0); --gen-cpu N for load generator + backend (1)
  --out FILE         report file (default bench/results/<date>.md)
EOF
}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) runs=1 dur=2 warm=0.5 idle_hold=1 ;;
    --runs) runs=$2; shift ;;
    --duration) dur=$2; shift ;;
    --warmup) warm=$2; shift ;;
    --idle-conns) idle_n=$2; shift ;;
    --proxies) proxies=$2; shift ;;
    --lat-rate) lat_rate=$2; shift ;;
    --no-imap) do_imap=0 ;;
    --no-build) do_build=0 ;;
    --install-deps) install_deps=1 ;;
    --proxy-cpu) proxy_cpu=$2; shift ;;
    --gen-cpu) gen_cpu=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
quick_note=""
[ "$runs" -lt 3 ] && quick_note="(only $runs run per figure: min = median = max)"

log() { echo "[bench $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }

if [ $install_deps = 1 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(grep -v '^#' "$here/bench-deps.txt")
fi
for t in taskset openssl make g++ ss; do command -v $t >/dev/null || die "$t missing (bench/bench-deps.txt)"; done
have() {
    case $1 in
    tlsgate) [ -x "$repo/build/tlsgate" ] || [ $do_build = 1 ] ;;
    haproxy) command -v haproxy >/dev/null ;;
    hitch) command -v hitch >/dev/null ;;
    stunnel) command -v stunnel4 >/dev/null || command -v stunnel >/dev/null ;;
    *) return 1 ;;
    esac
}
active=""
skipped=""
for p in $proxies; do
    if have "$p"; then active="$active $p"; else skipped="$skipped $p"; log "$p not installed: skipped (see --install-deps)"; fi
done
[ $(nproc) -ge 2 ] || log "warning: fewer than 2 CPUs; proxy and load generator share a core"

if [ $do_build = 1 ]; then
    log "building tlsgate (Release) and bench tools"
    [ -f "$repo/build/CMakeCache.txt" ] || cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$repo/build" -j2 --target tlsgate >/dev/null
fi
make -s -C "$here" >/dev/null
LG=$here/build/loadgen
BE=$here/build/backend
TG=$repo/build/tlsgate
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)

# --- file descriptors: the proxy holds 2 per idle connection (client + backend) ---
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fdmax=$(ulimit -n)
idle_req=$idle_n
if [ $((2 * idle_n + 300)) -gt "$fdmax" ]; then
    idle_n=$(((fdmax - 300) / 2))
    log "ulimit -n is $fdmax (hard limit): idle connections lowered from $idle_req to $idle_n"
fi

# --- work directory, process bookkeeping, cleanup ---
work=$(mktemp -d /tmp/tlsgate-bench.XXXXXX)
pids=()
dovecot_dir=""
mine() { [ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]; } # still our child?
cleanup() {
    set +e
    local p c live=()
    for p in "${pids[@]}"; do
        [ -n "$p" ] && mine "$p" || continue
        live+=("$p")
        for c in $(tree_pids "$p"); do kill "$c" 2>/dev/null; done
    done
    [ -n "$dovecot_dir" ] && "$repo/tests/tools/legacy-dovecot.sh" stop "$dovecot_dir" >/dev/null 2>&1
    sleep 0.3
    for p in "${live[@]}"; do mine "$p" && kill -9 "$p" 2>/dev/null; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tree_pids() { # PID and all its descendants
    local p=$1 c
    echo "$p"
    for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
}
rss_kib() { # sum of VmRSS over a process tree
    local s=0 p v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        s=$((s + ${v:-0}))
    done
    echo $s
}
cpu_ticks() { # utime+stime over a process tree (all threads)
    local s=0 p v
    for p in $(tree_pids "$1"); do
        v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true)
        s=$((s + ${v:-0}))
    done
    echo $s
}
hz=$(getconf CLK_TCK)
cpu_busy() { # busy ticks of one CPU (all processes), from /proc/stat
    awk -v c="cpu$1" '$1==c {print $2+$3+$4+$7+$8+$9}' /proc/stat
}
now() { date +%s.%N; }
wait_port() {
    local port=$1 i
    for i in $(seq 100); do
        [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
        sleep 0.05
    done
    return 1
}
G() { taskset -c "$gen_cpu" "$@"; } # load generator / backend side

# --- certificate (RSA-2048, made fresh) ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 7 \
    -subj /CN=bench.tlsgate.test 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/combined.pem"

# --- backend ---
G "$BE" --port-file "$work/backend.port" >/dev/null &
backend_pid=$!
pids+=($backend_pid)
for _ in $(seq 50); do [ -s "$work/backend.port" ] && break; sleep 0.05; done
bport=$(cat "$work/backend.port")
log "backend on 127.0.0.1:$bport (CPU $gen_cpu)"

. "$here/proxies.sh"

# --- proxies: write a config, start pinned, print the PID ---
start_proxy() { # NAME PORT -> sets proxy_pid
    local name=$1 port=$2
    write_proxy_config "$name" "$port"
    taskset -c "$proxy_cpu" "${proxy_cmd[@]}" 2>>"$work/$name.log" &
    proxy_pid=$!
    pids+=("$proxy_pid")
    wait_port "$port" || { tail -5 "$work/$name.log" >&2; die "$name did not listen on $port"; }
}
stop_proxy() {
    local c
    for c in $(tree_pids "$proxy_pid"); do kill "$c" 2>/dev/null || true; done
    for _ in $(seq 50); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
}

# results: one line per measurement: "proxy metric run value"
R=$work/results.txt
: >"$R"
rec() { echo "$1 $2 $3 $4" >>"$R"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# loadgen run with the proxy's CPU use measured alongside
measure() { # PROXY RUN KEY LOADGEN-ARGS...
    local proxy=$1 run=$2 key=$3
    shift 3
    local t0 c0 t1 c1 line
    local b0 b1 g0 g1 k0 k1
    t0=$(now); c0=$(cpu_ticks "$proxy_pid"); b0=$(cpu_busy "$proxy_cpu"); g0=$(cpu_busy "$gen_cpu"); k0=$(cpu_ticks "$backend_pid")
    line=$(G "$LG" "$@" 2>>"$work/loadgen.err") || true
    t1=$(now); c1=$(cpu_ticks "$proxy_pid"); b1=$(cpu_busy "$proxy_cpu"); g1=$(cpu_busy "$gen_cpu"); k1=$(cpu_ticks "$backend_pid")
    rec "$proxy" "$key.bcpu" "$run" "$(awk -v a="$k0" -v b="$k1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(e-s)}')"
    echo "$proxy run$run $key: $line" >>"$work/raw.txt"
    log "$proxy $key: $line"
    local pcpu errs
    pcpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(e-s)}')
    errs=$(field errors "$line")
    rec "$proxy" "$key.pcpu" "$run" "$pcpu"
    # the proxy's core used by anything else (other users of a shared machine, interrupts)
    rec "$proxy" "$key.ocpu" "$run" "$(awk -v a="$b0" -v b="$b1" -v pa="$c0" -v pb="$c1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN{v=100*((b-a)-(pb-pa))/hz/(e-s); printf "%.0f", v < 0 ? 0 : v}')"
    rec "$proxy" "$key.gcpu" "$run" "$(field cpu "$line")"
    # the load generator's core as a whole (load generator + backend/Dovecot + anything else)
    rec "$proxy" "$key.gbusy" "$run" "$(awk -v a="$g0" -v b="$g1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(e-s)}')"
    rec "$proxy" "$key.errors" "$run" "${errs:-0}"
    case $key in
    hs13 | hs12) rec "$proxy" "$key" "$run" "$(field rate "$line")" ;;
    res13 | res12)
        rec "$proxy" "$key" "$run" "$(field rate "$line")"
        local ops reused
        ops=$(field ops "$line") reused=$(field reused "$line")
        rec "$proxy" "$key.reused" "$run" "$(awk -v o="${ops:-0}" -v r="${reused:-0}" 'BEGIN{printf "%.0f", o ? 100*r/o : 0}')"
        ;;
    up | down) rec "$proxy" "$key" "$run" "$(field mbps "$line")" ;;
    lat)
        rec "$proxy" lat50 "$run" "$(field p50_us "$line")"
        rec "$proxy" lat99 "$run" "$(field p99_us "$line")"
        rec "$proxy" latrate "$run" "$(field rate "$line")"
        ;;
    latmax)
        rec "$proxy" latmax "$run" "$(field rate "$line")"
        rec "$proxy" latmax50 "$run" "$(field p50_us "$line")"
        rec "$proxy" latmax99 "$run" "$(field p99_us "$line")"
        ;;
    imap | imapdirect) rec "$proxy" "$key" "$run" "$(field rate "$line")" ;;
    esac
}

common=(--duration "$dur" --warmup "$warm")

# --- 6. physical limit: openssl speed on the proxy's core ---
log "openssl speed on CPU $proxy_cpu"
speed_secs=$([ "$runs" -lt 3 ] && echo 1 || echo 3)
for run in $(seq "$runs"); do
    # -mr lines: "+F2:i:2048:SIGN:VERIFY" and "+F5/+F4:i:253:OPS:..." hold rates in OpenSSL 3
    # (older releases print seconds per operation there: a value below 1 is taken as that)
    s=$(taskset -c "$proxy_cpu" openssl speed -mr -seconds "$speed_secs" rsa2048 2>/dev/null | awk -F: '/^\+F2:/ {print $4; exit}')
    rec openssl rsa_sign "$run" "$(awk -v t="${s:-0}" 'BEGIN{printf "%.1f", (t > 0 && t < 1) ? 1/t : t}')"
    g=$(taskset -c "$proxy_cpu" openssl speed -mr -seconds "$speed_secs" -bytes 16384 -evp aes-128-gcm 2>/dev/null | awk -F: '/^\+F:/ {print $4; exit}')
    rec openssl aesgcm "$run" "$(awk -v b="${g:-0}" 'BEGIN{printf "%.1f", b/1e6}')"
    x=$(taskset -c "$proxy_cpu" openssl speed -mr -seconds "$speed_secs" ecdhx25519 2>/dev/null | awk -F: '/^\+F[45]:/ {print $4; exit}')
    rec openssl x25519 "$run" "$(awk -v t="${x:-0}" 'BEGIN{printf "%.1f", (t > 0 && t < 1) ? 1/t : t}')"
done

# --- 1-4: handshakes, resumption, bulk, latency; proxies interleaved within each run ---
for run in $(seq "$runs"); do
    for p in $active; do
        port=$("$LG" freeport)
        log "run $run/$runs: $p on 127.0.0.1:$port (CPU $proxy_cpu)"
        start_proxy "$p" "$port"
        measure "$p" "$run" hs13 handshake --port "$port" --tls 1.3 --conns "$hs_conns" "${common[@]}"
        measure "$p" "$run" hs12 handshake --port "$port" --tls 1.2 --conns "$hs_conns" "${common[@]}"
        measure "$p" "$run" res13 resume --port "$port" --tls 1.3 --conns "$hs_conns" "${common[@]}"
        measure "$p" "$run" res12 resume --port "$port" --tls 1.2 --conns "$hs_conns" "${common[@]}"
        measure "$p" "$run" up bulk-up --port "$port" --tls 1.3 --conns 4 "${common[@]}"
        measure "$p" "$run" down bulk-down --port "$port" --tls 1.3 --conns 4 "${common[@]}"
        measure "$p" "$run" lat latency --port "$port" --tls 1.3 --conns 50 --size 64 --rate "$lat_rate" "${common[@]}"
        measure "$p" "$run" latmax latency --port "$port" --tls 1.3 --conns 50 --size 64 "${common[@]}"
        kill -0 "$proxy_pid" 2>/dev/null || { log "$p died during run $run"; rec "$p" died "$run" 1; }
        stop_proxy
    done
done

# --- 5: RSS per idle established connection (fresh proxy each run) ---
for run in $(seq "$runs"); do
    for p in $active; do
        port=$("$LG" freeport)
        start_proxy "$p" "$port"
        # one short handshake burst first, so lazily set-up state is in the baseline
        G "$LG" handshake --port "$port" --tls 1.3 --conns 4 --duration 0.3 --warmup 0 >/dev/null 2>&1 || true
        sleep 0.5
        base=$(rss_kib "$proxy_pid")
        G "$LG" idle --port "$port" --tls 1.3 --count "$idle_n" --hold "$((idle_hold + 2))" \
            >"$work/idle.out" 2>>"$work/loadgen.err" &
        lgpid=$!
        pids+=("$lgpid")
        for _ in $(seq 1200); do grep -q '^ready' "$work/idle.out" && break; kill -0 $lgpid 2>/dev/null || break; sleep 0.1; done
        sleep "$idle_hold"
        full=$(rss_kib "$proxy_pid")
        wait $lgpid || true
        opened=$(awk '/^ready/ {print $2}' "$work/idle.out")
        line=$(tail -1 "$work/idle.out")
        log "$p idle: base ${base} KiB, with ${opened:-0} connections ${full} KiB; $line"
        echo "$p run$run idle: base=$base full=$full $line" >>"$work/raw.txt"
        if [ "${opened:-0}" -gt 0 ]; then
            rec "$p" idle_b "$run" "$(awk -v a="$base" -v b="$full" -v n="$opened" 'BEGIN{printf "%.0f", (b-a)*1024/n}')"
        fi
        rec "$p" idle_open "$run" "${opened:-0}"
        rec "$p" idle.errors "$run" "$(field errors "$line")"
        rec "$p" idle_base "$run" "$base"
        stop_proxy
    done
done

# --- STARTTLS IMAP through tlsgate in front of plaintext Dovecot ---
imap_status=""
if [ $do_imap = 1 ] && [[ " $active " == *" tlsgate "* ]]; then
    if command -v dovecot >/dev/null; then
        dovecot_dir=$work/dovecot
        iport=$("$LG" freeport) pport=$("$LG" freeport)
        # Dovecot runs on the load generator's core, like the plain backend
        if G "$repo/tests/tools/legacy-dovecot.sh" start "$dovecot_dir" "$iport" "$pport" 2>"$work/dovecot.err"; then
            port=$("$LG" freeport)
            {
                tlsgate_config imap "$port" "$iport"
                printf 'protocol = "imap"\ntls = "starttls"\n'
            } >"$work/tlsgate-imap.conf"
            taskset -c "$proxy_cpu" "$TG" --config "$work/tlsgate-imap.conf" 2>>"$work/tlsgate-imap.log" &
            proxy_pid=$!
            pids+=("$proxy_pid")
            if wait_port "$port"; then
                # Dovecot allows 10 connections per user and IP (mail_max_userip_connections)
                for run in $(seq "$runs"); do
                    measure tlsgate "$run" imapdirect imap --plain --port "$iport" --conns 8 "${common[@]}"
                    measure tlsgate "$run" imap imap --port "$port" --tls 1.3 --conns 8 "${common[@]}"
                done
                kill -0 "$proxy_pid" 2>/dev/null || imap_status="tlsgate (imap) died during the run"
            else
                imap_status="tlsgate did not start with the imap/starttls service: $(tail -3 "$work/tlsgate-imap.log")"
            fi
            stop_proxy
        else
            imap_status="Dovecot did not start: $(tail -3 "$work/dovecot.err")"
        fi
    else
        imap_status="dovecot not installed (dovecot-imapd, dovecot-pop3d)"
    fi
fi

# ------------------------------------------------------------------ report
set +e +o pipefail # `... | head` below may end its writers early
st() { # PROXY METRIC -> "median min max n"
    awk -v p="$1" -v m="$2" '$1==p && $2==m {print $4}' "$R" | "$LG" stats
}
fmt() { # PROXY METRIC [digits] -> "med (min–max)" or "–"
    local d=${3:-0} s
    s=$(st "$1" "$2")
    set -- $s
    if [ "$4" = 0 ]; then echo "–"; return; fi
    if [ "$runs" -lt 2 ]; then awk -v a="$1" -v d="$d" 'BEGIN{printf "%.*f", d, a}'; return; fi
    awk -v a="$1" -v b="$2" -v c="$3" -v d="$d" 'BEGIN{printf "%.*f (%.*f–%.*f)", d, a, d, b, d, c}'
}
med() { set -- $(st "$1" "$2"); echo "$1"; }

date_tag=$(date +%Y-%m-%d)
[ -n "$out" ] || out=$here/results/$date_tag.md
mkdir -p "$(dirname "$out")"
{
    echo "# tlsgate bench — $(date '+%Y-%m-%d %H:%M %Z')"
    echo
    echo "Machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); load average at start of report: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Proxy pinned to CPU $proxy_cpu; load generator, backend and Dovecot to CPU $gen_cpu. $runs run(s) per figure, ${dur} s each after ${warm} s warm-up; median (min–max) $quick_note."
    echo "Same RSA-2048 certificate, TLS 1.3 $CIPHER13 / TLS 1.2 $CIPHER12, X25519, on every proxy."
    echo "Versions: $("$TG" --version 2>/dev/null | head -1); $(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3); $(hitch --version 2>&1 | head -1); $("$STUNNEL" -version 2>&1 | grep -m1 '^stunnel' | cut -d' ' -f1-2); $(openssl version | cut -d' ' -f1-2)."
    [ -n "$skipped" ] && echo "Not installed, skipped:$skipped."
    echo
    printf "| figure |"; for p in $active; do printf " %s |" "$p"; done; echo
    printf "|---|"; for p in $active; do printf -- "---|"; done; echo
    row() { # LABEL METRIC DIGITS [CPU-KEY]: a dagger marks a figure whose load-generator core was >= 90 % busy
        printf "| %s |" "$1"
        local p mark
        for p in $active; do
            mark=""
            [ -n "${4:-}" ] && awk -v b="$(med "$p" "$4.gbusy")" 'BEGIN{exit !(b != "nan" && b+0 >= 90)}' && mark=" †"
            printf " %s%s |" "$(fmt "$p" "$2" "$3")" "$mark"
        done
        echo
    }
    row "full handshakes/s, TLS 1.3" hs13 0 hs13
    row "full handshakes/s, TLS 1.2" hs12 0 hs12
    row "resumed handshakes/s, TLS 1.3" res13 0 res13
    row "&nbsp;&nbsp;% actually resumed (TLS 1.3)" res13.reused 0
    row "resumed handshakes/s, TLS 1.2" res12 0 res12
    row "&nbsp;&nbsp;% actually resumed (TLS 1.2)" res12.reused 0
    row "bulk MB/s, client→backend (4 conns)" up 0 up
    row "bulk MB/s, backend→client (4 conns)" down 0 down
    row "64 B echo latency p50 µs (50 conns, $lat_rate req/s)" lat50 0 lat
    row "64 B echo latency p99 µs (50 conns, $lat_rate req/s)" lat99 0 lat
    row "&nbsp;&nbsp;requests/s reached" latrate 0 lat
    row "64 B echo requests/s, closed loop (50 conns)" latmax 0 latmax
    row "&nbsp;&nbsp;p50 µs" latmax50 0 latmax
    row "&nbsp;&nbsp;p99 µs" latmax99 0 latmax
    row "RSS per idle TLS connection, bytes" idle_b 0
    row "&nbsp;&nbsp;idle connections held" idle_open 0
    row "&nbsp;&nbsp;RSS before, KiB" idle_base 0
    echo
    echo "† the load generator's core (CPU $gen_cpu: load generator + backend) was at least 90 % busy: that figure may be limited by the client side, not by the proxy."
    for p in $active; do
        r13=$(med "$p" res13.reused) r12=$(med "$p" res12.reused)
        awk -v a="$r13" -v b="$r12" -v p="$p" 'BEGIN{ if ((a!="nan" && a+0 < 50) || (b!="nan" && b+0 < 50)) printf "Note: %s resumed fewer than half of the offered sessions (TLS 1.3: %s%%, TLS 1.2: %s%%): its \"resumed\" rate is mostly full handshakes.\n", p, a, b }'
        [ -n "$(awk -v p="$p" '$1==p && $2=="died"' "$R")" ] && echo "**$p died during a run** (see its log)."
    done
    [ "$idle_n" != "$idle_req" ] && echo "Idle connections: $idle_n instead of $idle_req, because ulimit -n (hard) is $fdmax here and the proxy needs two descriptors per connection."
    [[ " $active " == *" stunnel "* ]] && echo "stunnel runs one thread per connection (its default threading model); the others were set to one thread/worker (tlsgate workers = 1, haproxy nbthread 1, hitch workers = 1 — hitch also has a management process, whose RSS is included)."
    echo
    echo "## CPU use during each figure (median, % of one core)"
    echo
    echo "A proxy near 100 % is the bottleneck; the load generator (and the backend, on the same core) must stay clearly below 100 % for a figure to be the proxy's. \"other\" is the rest of the proxy's core's busy time (other processes, interrupts): on a quiet machine it is near 0; where proxy + other is near 100 %, the proxy was starved, not saturated."
    echo
    echo "Each cell: proxy / other on CPU $proxy_cpu / load generator process / backend process / CPU $gen_cpu busy in total (the rest of it: other processes and interrupt work)."
    echo
    printf "| figure |"; for p in $active; do printf " %s |" "$p"; done; echo
    printf "|---|"; for p in $active; do printf -- "---|"; done; echo
    for k in hs13:"full handshakes TLS 1.3" hs12:"full handshakes TLS 1.2" res13:"resumed TLS 1.3" res12:"resumed TLS 1.2" up:"bulk up" down:"bulk down" lat:"latency, paced" latmax:"echo, closed loop"; do
        printf "| %s |" "${k#*:}"
        for p in $active; do printf " %s / %s / %s / %s / %s |" "$(med "$p" "${k%%:*}.pcpu")" "$(med "$p" "${k%%:*}.ocpu")" "$(med "$p" "${k%%:*}.gcpu")" "$(med "$p" "${k%%:*}.bcpu")" "$(med "$p" "${k%%:*}.gbusy")"; done
        echo
    done
    tot_err=$(awk '$2 ~ /\.errors$/ {s += $4} END {print s+0}' "$R")
    echo
    echo "Client-side errors over all runs: $tot_err$( [ "$tot_err" != 0 ] && awk '$2 ~ /\.errors$/ && $4 > 0 {printf " [%s %s run %s: %s]", $1, $2, $3, $4}' "$R")."
    echo
    echo "## Physical limit (openssl speed, one core = CPU $proxy_cpu)"
    echo
    sign=$(med openssl rsa_sign) gcm=$(med openssl aesgcm)
    echo "| operation | per second | tlsgate figure | fraction |"
    echo "|---|---|---|---|"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="nan" || a=="" || b+0==0) print "–"; else printf "%.0f %%", 100*a/b }'; }
    if [[ " $active " == *" tlsgate "* ]]; then
        echo "| RSA-2048 sign (one per full handshake) | $(fmt openssl rsa_sign 0) | TLS 1.3 $(fmt tlsgate hs13 0) /s, TLS 1.2 $(fmt tlsgate hs12 0) /s | $(ratio "$(med tlsgate hs13)" "$sign"), $(ratio "$(med tlsgate hs12)" "$sign") |"
        echo "| AES-128-GCM, 16 KiB blocks, MB/s | $(fmt openssl aesgcm 0) | bulk up $(fmt tlsgate up 0), down $(fmt tlsgate down 0) MB/s | $(ratio "$(med tlsgate up)" "$gcm"), $(ratio "$(med tlsgate down)" "$gcm") |"
    fi
    echo "| X25519 derive (reference) | $(fmt openssl x25519 0) | | |"
    if [ $do_imap = 1 ]; then
        echo
        echo "## STARTTLS IMAP (tlsgate protocol = \"imap\", tls = \"starttls\", in front of plaintext Dovecot)"
        echo
        echo "Per session: greeting, STARTTLS, TLS 1.3 handshake, LOGIN, SELECT INBOX, FETCH 1 BODY.PEEK[], LOGOUT; 8 concurrent sessions (Dovecot's per-user-and-IP limit is 10)."
        echo
        if [ -n "$imap_status" ]; then echo "**Not measured / failed:** $imap_status"; echo; fi
        echo "| path | sessions/s | tlsgate CPU % | loadgen CPU % | errors |"
        echo "|---|---|---|---|---|"
        echo "| client → tlsgate (STARTTLS) → Dovecot | $(fmt tlsgate imap 1) | $(fmt tlsgate imap.pcpu) | $(fmt tlsgate imap.gcpu) | $(fmt tlsgate imap.errors) |"
        echo "| client → Dovecot directly, plaintext (ceiling set by Dovecot on CPU $gen_cpu) | $(fmt tlsgate imapdirect 1) | – | $(fmt tlsgate imapdirect.gcpu) | $(fmt tlsgate imapdirect.errors) |"
    fi
    echo
    echo "<details><summary>raw load generator output</summary>"
    echo
    echo '```'
    cat "$work/raw.txt"
    echo '```'
    echo
    if [ -s "$work/loadgen.err" ]; then
        echo "loadgen stderr (first 20 distinct lines):"
        echo '```'
        sort "$work/loadgen.err" | uniq -c | sort -rn | head -20
        echo '```'
    fi
    for p in $active tlsgate-imap; do
        if [ -s "$work/$p.log" ]; then
            echo "$p stderr (first 10 distinct lines):"
            echo '```'
            sed 's/[0-9]\{2\}:[0-9]\{2\}:[0-9]\{2\}[.0-9]*//g' "$work/$p.log" | sort | uniq -c | sort -rn | head -10
            echo '```'
        fi
    done
    echo "</details>"
} >"$out"
cat "$out"
log "report written to $out"
