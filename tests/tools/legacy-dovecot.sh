#!/usr/bin/env bash
# Starts Dovecot as a plaintext-only "legacy" IMAP/POP3 server: no TLS at all, plaintext
# passwords accepted, users from a passwd-file. Used by the demo and the integration tests.
#
#   legacy-dovecot.sh start DIR IMAP_PORT POP3_PORT   # prints nothing; logs in DIR/dovecot.log
#   legacy-dovecot.sh stop DIR
# Users: alice/alicepass and bob/bobpass, each with one message in INBOX.
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
cat > "$dir/dovecot.conf" <<CONF
# A deliberately "legacy" server: no TLS, plaintext authentication allowed.
base_dir = $dir/run
instance_name = tlsgate-legacy-$(basename "$dir")
log_path = $dir/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
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
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3_port
  }
  inet_listener pop3s {
    port = 0
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
