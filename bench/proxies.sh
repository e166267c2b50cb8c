# Sourced by bench/run.sh and bench/instructions.sh: one configuration per proxy, so every
# script measures the same four setups. Expects: $work (a directory), $bport (the backend's
# port), $idle_n (connections haproxy must allow), $TG (tlsgate) and $STUNNEL. The certificate
# is $work/cert.pem, $work/key.pem and both in $work/combined.pem.

CIPHER12=ECDHE-RSA-AES128-GCM-SHA256
CIPHER13=TLS_AES_128_GCM_SHA256

# tlsgate_config SERVICE PORT BACKEND_PORT: tlsgate's TOML on stdout, one service (more keys
# for the service may follow it).
tlsgate_config() {
    cat <<EOF
[global]
workers = 1
log_level = "warning"
[tls]
cert = "$work/cert.pem"
key = "$work/key.pem"
profile = "custom"
ciphers = "$CIPHER12"
ciphersuites = "$CIPHER13"
groups = "X25519"
min_version = "TLSv1.2"
max_version = "TLSv1.3"
[[service]]
name = "$1"
listen = "127.0.0.1:$2"
backend = "127.0.0.1:$3"
EOF
}

# write_proxy_config NAME PORT: writes $work/NAME.conf and sets proxy_cmd to the command
# line that runs NAME in the foreground with it.
write_proxy_config() {
    local name=$1 port=$2 cfg="$work/$1.conf"
    case $name in
    tlsgate)
        tlsgate_config bench "$port" "$bport" >"$cfg"
        proxy_cmd=("$TG" --config "$cfg")
        ;;
    haproxy)
        cat >"$cfg" <<EOF
global
    nbthread 1
    maxconn $((idle_n + 50))
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend fe
    bind 127.0.0.1:$port ssl crt $work/combined.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 ciphers $CIPHER12 ciphersuites $CIPHER13 curves X25519
    default_backend be
backend be
    server s1 127.0.0.1:$bport
EOF
        proxy_cmd=(haproxy -db -f "$cfg")
        ;;
    hitch)
        cat >"$cfg" <<EOF
frontend = "[127.0.0.1]:$port"
backend = "[127.0.0.1]:$bport"
pem-file = "$work/combined.pem"
tls-protos = TLSv1.2 TLSv1.3
ciphers = "$CIPHER12"
ciphersuites = "$CIPHER13"
ecdh-curve = "X25519"
workers = 1
daemon = off
backlog = 1024
log-level = 0
EOF
        # hitch refuses to run its workers as root
        if [ "$(id -u)" = 0 ]; then
            for u in _hitch hitch nobody; do id "$u" >/dev/null 2>&1 && { echo "user = \"$u\"" >>"$cfg"; break; }; done
        fi
        proxy_cmd=(hitch --config="$cfg")
        ;;
    stunnel)
        cat >"$cfg" <<EOF
foreground = yes
syslog = no
debug = 3
pid =
[bench]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$bport
cert = $work/cert.pem
key = $work/key.pem
sslVersionMin = TLSv1.2
sslVersionMax = TLSv1.3
ciphers = $CIPHER12
ciphersuites = $CIPHER13
curves = X25519
EOF
        proxy_cmd=("$STUNNEL" "$cfg")
        ;;
    esac
}
