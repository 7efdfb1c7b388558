#!/bin/bash
# stop.sh STATEDIR — stop the provider that start.sh started there (by its pid file only).
set -u
[ $# -eq 1 ] || { echo "usage: $0 STATEDIR" >&2; exit 2; }
pidf=$1/pid
[ -f "$pidf" ] || exit 0
pid=$(cat "$pidf")
if kill -0 "$pid" 2>/dev/null && grep -q provider.mjs "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
rm -f "$pidf" "$1/url"
exit 0
