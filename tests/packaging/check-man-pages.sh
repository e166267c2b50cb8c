#!/bin/sh
# Fails when a manual page makes groff or man warn (bad requests, missing fonts, lines that
# cannot be broken, ...). Needs groff-base and man-db (packaging/build-deps.txt).
set -u
status=0
for page in "$@"; do
    warnings=$( { groff -man -ww -z "$page"; LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >/dev/null; } 2>&1)
    if [ -n "$warnings" ]; then
        echo "$page:"
        echo "$warnings"
        status=1
    else
        echo "$page: no warnings"
    fi
done
exit $status
