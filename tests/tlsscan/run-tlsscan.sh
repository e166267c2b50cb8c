#!/usr/bin/env bash
# TLS scan of tlsgate's default profile with testssl.sh (Debian package testssl.sh, binary
# `testssl`). Starts plaintext backends and tlsgate on 127.0.0.1 (ephemeral ports), scans an
# implicit-TLS IMAP service and a STARTTLS SMTP service, and checks each JSON report with
# check_testssl.py. Everything started here is stopped on exit.
#
#   tests/tlsscan/run-tlsscan.sh [TLSGATE_BINARY]     # default: build/tlsgate
#
# Environment: TLSSCAN_KEEP=1 keeps the work directory (reports, logs) and prints its path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tlsgate=$(realpath -m "${1:-$root/build/tlsgate}")
[ -x "$tlsgate" ] || { echo "tlsscan: no tlsgate binary at $tlsgate" >&2; exit 2; }
command -v testssl >/dev/null || { echo "tlsscan: testssl not installed (apt-get install testssl.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/tlsscan.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    "$root/tests/tools/legacy-dovecot.sh" stop "$work/dovecot" || true
    if [ "${TLSSCAN_KEEP:-0}" = 1 ]; then
        echo "tlsscan: work directory kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Five distinct free loopback ports, all chosen before anything starts.
read -r imap_be pop3_be smtp_be imaps_port smtp_port < <(python3 - <<'PY'
import socket
socks = []
for _ in range(5):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)

# RSA-2048 self-signed test certificate for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 600 "$work/key.pem"

# Plaintext backends.
"$root/tests/tools/legacy-dovecot.sh" start "$work/dovecot" "$imap_be" "$pop3_be"
python3 "$here/smtp_backend.py" "$smtp_be" 2>"$work/smtp-backend.log" &
pids+=($!)

# tlsgate with the default profile: no profile, ciphers, versions or groups set.
cat > "$work/tlsgate.toml" <<CONF
[global]
workers = 2
log_level = "info"

[tls]
cert = "$work/cert.pem"
key = "$work/key.pem"

[[service]]
name = "imaps"
listen = "127.0.0.1:$imaps_port"
backend = "127.0.0.1:$imap_be"
protocol = "imap"
tls = "implicit"

[[service]]
name = "smtp"
listen = "127.0.0.1:$smtp_port"
backend = "127.0.0.1:$smtp_be"
protocol = "smtp"
tls = "starttls"
CONF
"$tlsgate" --config "$work/tlsgate.toml" >"$work/tlsgate.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q "tlsgate ready" "$work/tlsgate.log" && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "tlsgate ready" "$work/tlsgate.log"; then
    echo "tlsscan: tlsgate did not become ready:" >&2
    cat "$work/tlsgate.log" >&2
    exit 1
fi

# Checks: protocols (-p), every cipher the local OpenSSL knows (-e), server preference (-P),
# server defaults (-S), forward secrecy and DH groups (-f), and the vulnerability checks
# (-U: Heartbleed, CCS, Ticketbleed, ROBOT, renegotiation, CRIME/compression, BREACH, POODLE,
# TLS_FALLBACK_SCSV, SWEET32, FREAK, DROWN, LOGJAM, BEAST, LUCKY13, RC4).
checks=(-p -e -P -S -f -U)
common=(--quiet --color 0 --warnings batch --ip one --sneaky --nodns min
        --connect-timeout 10 --openssl-timeout 10)

passed=0
failed=0
scan() {
    local name=$1
    shift
    local json="$work/$name.json"
    local start=$SECONDS
    echo "tlsscan: scanning $name ($*)"
    if ! testssl --jsonfile-pretty "$json" "${common[@]}" "${checks[@]}" "$@" \
            >"$work/$name.txt" 2>&1; then
        # testssl's exit status counts some findings too; the checker decides, but a scan
        # without a report is a failure.
        [ -s "$json" ] || { echo "tlsscan: $name: testssl produced no report:" >&2; tail -30 "$work/$name.txt" >&2; }
    fi
    echo "tlsscan: $name scan took $((SECONDS - start))s"
    if [ -s "$json" ] && python3 "$here/check_testssl.py" --name "$name" "$json"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
}

scan imaps "127.0.0.1:$imaps_port"
scan smtp-starttls --starttls smtp "127.0.0.1:$smtp_port"

echo "tlsscan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
