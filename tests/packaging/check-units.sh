#!/bin/sh
# systemd-analyze verify on the units as CMake configured them (UNIT_DIR: the build's
# packaging/ directory), with the socket example, and the exposure score of
# systemd-analyze security for each service. A score above its ceiling below fails: the
# ceilings are the scores of the units as committed, so only a loosened sandbox fails.
#   tests/packaging/check-units.sh BUILD/packaging BUILD/tlsgate
set -eu
unit_dir=$1
binary=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# systemd is in packaging/build-deps.txt: a missing systemd-analyze is a broken setup, not
# a reason to skip the check.
if ! command -v systemd-analyze >/dev/null; then
    echo "systemd-analyze not found: apt-get install systemd (packaging/build-deps.txt)" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify wants every ExecStart= binary to exist: point them at this build's binary.
for unit in tlsgate.service tlsgate@.service; do
    sed -E "s#^(ExecStart(Pre)?=)[^ ]*/tlsgate #\1$binary #" "$unit_dir/$unit" > "$work/$unit"
done
cp "$source_dir/packaging/tlsgate.socket" "$work/"
cd "$work"
echo "== systemd-analyze verify tlsgate.service tlsgate@example.service tlsgate.socket"
# --man=no: the man: links name pages this build has not installed.
systemd-analyze verify --man=no tlsgate.service tlsgate@example.service tlsgate.socket
echo "verify: OK"
cp tlsgate@.service tlsgate@example.service
status=0
for pair in tlsgate.service:1.6 tlsgate@example.service:3.5; do
    unit=${pair%%:*}
    ceiling=${pair#*:}
    echo "== systemd-analyze security --offline=true $unit"
    output=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
    echo "$output" | grep -E '^ *[✗✓]' | grep '✗' || true
    score=$(echo "$output" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "$unit: exposure $score (ceiling $ceiling)"
    if [ -z "$score" ] || ! awk -v s="$score" -v c="$ceiling" 'BEGIN { exit !(s <= c) }'; then
        echo "$unit: exposure $score is above the ceiling $ceiling (or no score): the sandbox got weaker"
        status=1
    fi
done
exit $status
