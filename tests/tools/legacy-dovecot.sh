#!/usr/bin/env bash
# Starts Dovecot as a plaintext-only "legacy" IMAP/POP3 server: no TLS at all, plaintext
# passwords accepted, users from a passwd-file. Used by the demo and the integration tests.
#
#   legacy-dovecot.sh start DIR IMAP_PORT POP3_PORT   # prints nothing; logs in DIR/dovecot.log
#   legacy-dovecot.sh start DIR IMAP_PORT POP3_PORT --tls CERT KEY IMAPS_PORT POP3S_PORT
#   legacy-dovecot.sh stop DIR
# With --tls, Dovecot is a modern server instead: ssl = required (STARTTLS/STLS on the plain
# ports, LOGINDISABLED before TLS), implicit TLS on IMAPS_PORT/POP3S_PORT, CERT (chain PEM) and
# KEY read by the config parser ("<file"). Without it (the default), no TLS at all.
# Users: alice/alicepass and bob/bobpass, each with one message in INBOX.
# LEGACY_DOVECOT_EXTRA_CONF, when set, is appended to dovecot.conf (Dovecot merges a repeated
# section into the first), e.g. the differential test's long-lived login processes.
set -euo pipefail
cmd=${1:?start|stop}
dir=$(realpath -m "${2:?directory}")

if [ "$cmd" = stop ]; then
    if [ -f "$dir/run/master.pid" ]; then
        doveadm -c "$dir/dovecot.conf" stop 2>/dev/null || kill "$(cat "$dir/run/master.pid")" 2>/dev/null || true
    fi
    exit 0
fi

imap_port=${3:?imap port}
pop3_port=${4:?pop3 port}
tls=no
if [ "${5:-}" = --tls ]; then
    tls=yes
    tls_cert=$(realpath "${6:?cert}")
    tls_key=$(realpath "${7:?key}")
    imaps_port=${8:?imaps port}
    pop3s_port=${9:?pop3s port}
fi
mkdir -p "$dir/run" "$dir/home"
# Dovecot's auth and mail processes run as the dovecot user: it must be able to reach $dir
# (temporary directories are usually 0700).
path=$dir
while [ "$path" != / ]; do
    chmod o+x "$path" 2>/dev/null || true
    path=$(dirname "$path")
done
chmod o+r "$dir"
mail_uid=$(id -u dovecot 2>/dev/null || echo 0)
mail_gid=$(id -g dovecot 2>/dev/null || echo 0)
: > "$dir/users"
chmod 644 "$dir/users"
for user in alice bob; do
    echo "$user:{PLAIN}${user}pass::::" >> "$dir/users"
    maildir="$dir/home/$user/Maildir"
    mkdir -p "$maildir/cur" "$maildir/new" "$maildir/tmp"
    cat > "$maildir/new/1000000000.M1P1.demo" <<MSG
From: postmaster@example.org
To: $user@example.org
Subject: Welcome, $user
Message-ID: <welcome-$user@example.org>

Hello $user, this message was fetched from a plaintext-only Dovecot through tlsgate.
MSG
done
chown -R "$mail_uid:$mail_gid" "$dir/home"
if [ "$tls" = yes ]; then
    ssl_conf="ssl = required
ssl_cert = <$tls_cert
ssl_key = <$tls_key
disable_plaintext_auth = yes"
    imaps_listener="address = 127.0.0.1
    port = $imaps_port"
    pop3s_listener="address = 127.0.0.1
    port = $pop3s_port"
else
    ssl_conf="ssl = no
disable_plaintext_auth = no"
    imaps_listener="port = 0"
    pop3s_listener="port = 0"
fi
cat > "$dir/dovecot.conf" <<CONF
# A deliberately "legacy" server: no TLS, plaintext authentication allowed.
base_dir = $dir/run
instance_name = tlsgate-legacy-$(basename "$dir")
log_path = $dir/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
$ssl_conf
auth_mechanisms = plain login
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_uid = $mail_uid
mail_gid = $mail_gid
first_valid_uid = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$dir/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    $imaps_listener
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3_port
  }
  inet_listener pop3s {
    $pop3s_listener
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CONF
if [ -n "${LEGACY_DOVECOT_EXTRA_CONF:-}" ]; then
    printf '%s\n' "$LEGACY_DOVECOT_EXTRA_CONF" >> "$dir/dovecot.conf"
fi
dovecot -c "$dir/dovecot.conf"
for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$imap_port") 2>/dev/null; then
        exit 0
    fi
    sleep 0.1
done
echo "dovecot did not start; see $dir/dovecot.log" >&2
cat "$dir/dovecot.log" >&2 || true
exit 1
