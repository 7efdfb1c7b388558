#!/bin/bash
# Stop the test identity provider started with start.sh STATEDIR.
# Usage: tests/idp/stop.sh STATEDIR
set -u
dir=${1:?usage: stop.sh STATEDIR}
[ -s "$dir/pid" ] || exit 0
pid=$(cat "$dir/pid")
# Only signal the process if it really is our idp.py (the pid may have been reused).
if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'idp\.py'; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
fi
rm -f "$dir/pid" "$dir/url" "$dir/http_url"
exit 0
