#!/usr/bin/env bash
# Demo: a plaintext-only Dovecot (the "legacy daemon") with tlsgate in front of it giving it
# IMAPS (993-style) and POP3S (995-style) with the hardened defaults. Shows one fetch, prints
# the commands to try, and runs until Ctrl-C (or exits at once with --once).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=${TLSGATE:-$repo/build/tlsgate}
once=${1:-}
work=$(mktemp -d /tmp/tlsgate-demo.XXXXXX)
imap_plain=10143 pop3_plain=10110 imaps=10993 pop3s=10995 imap_starttls=10144 pop3_stls=10111

cleanup() {
    [ -n "${tlsgate_pid:-}" ] && kill "$tlsgate_pid" 2>/dev/null && wait "$tlsgate_pid" 2>/dev/null
    "$repo/tests/tools/legacy-dovecot.sh" stop "$work/dovecot" || true
}
trap cleanup EXIT

echo "== starting a plaintext-only Dovecot on 127.0.0.1:$imap_plain (IMAP) and :$pop3_plain (POP3)"
"$repo/tests/tools/legacy-dovecot.sh" start "$work/dovecot" "$imap_plain" "$pop3_plain"

echo "== making a demo certificate for localhost"
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
chmod 600 "$work/key.pem"

cat > "$work/tlsgate.toml" <<CONF
[global]
workers = 1
log_level = "info"

[tls]
cert = "$work/cert.pem"
key = "$work/key.pem"

[[service]]
name = "imaps"
listen = "127.0.0.1:$imaps"
backend = "127.0.0.1:$imap_plain"
protocol = "imap"

[[service]]
name = "pop3s"
listen = "127.0.0.1:$pop3s"
backend = "127.0.0.1:$pop3_plain"
protocol = "pop3"

# The same legacy daemon gains STARTTLS / STLS, done by tlsgate, and refuses every password
# before TLS on its behalf.
[[service]]
name = "imap"
listen = "127.0.0.1:$imap_starttls"
backend = "127.0.0.1:$imap_plain"
protocol = "imap"
tls = "starttls"

[[service]]
name = "pop3"
listen = "127.0.0.1:$pop3_stls"
backend = "127.0.0.1:$pop3_plain"
protocol = "pop3"
tls = "starttls"
CONF

echo "== tlsgate --check"
"$binary" --check --config "$work/tlsgate.toml"
echo "== starting tlsgate (log: $work/tlsgate.log)"
"$binary" --config "$work/tlsgate.toml" 2> "$work/tlsgate.log" &
tlsgate_pid=$!
for _ in $(seq 50); do grep -q "tlsgate ready" "$work/tlsgate.log" && break; sleep 0.1; done

echo "== fetching alice's first message over IMAPS through tlsgate"
curl -sS --cacert "$work/cert.pem" "imaps://localhost:$imaps/INBOX;UID=1" --user alice:alicepass
echo "== the same over STARTTLS (imap://, --ssl-reqd) through tlsgate"
curl -sS --cacert "$work/cert.pem" --ssl-reqd "imap://localhost:$imap_starttls/INBOX;UID=1" --user alice:alicepass | head -3
echo "== a password before TLS is refused by tlsgate and never reaches Dovecot"
curl -sS "imap://localhost:$imap_starttls/INBOX;UID=1" --user alice:alicepass || true
echo "== tlsgate's log so far"
cat "$work/tlsgate.log"

cat <<TRY

Try it yourself (users alice/alicepass, bob/bobpass):
  curl --cacert $work/cert.pem 'imaps://localhost:$imaps/INBOX;UID=1' --user alice:alicepass
  curl --cacert $work/cert.pem 'pop3s://localhost:$pop3s/1' --user bob:bobpass
  curl --cacert $work/cert.pem --ssl-reqd 'imap://localhost:$imap_starttls/INBOX;UID=1' --user alice:alicepass
  curl --cacert $work/cert.pem --ssl-reqd 'pop3://localhost:$pop3_stls/1' --user bob:bobpass
  curl 'imap://localhost:$imap_starttls/INBOX;UID=1' --user alice:alicepass   # refused: no TLS
  openssl s_client -connect localhost:$imap_starttls -starttls imap -crlf -brief
  openssl s_client -connect localhost:$imaps -crlf -brief
  openssl s_client -connect localhost:$imaps -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'   # refused
  tail -f $work/tlsgate.log
TRY
if [ "$once" = "--once" ]; then
    exit 0
fi
echo "Running; press Ctrl-C to stop."
wait "$tlsgate_pid"
