#!/bin/bash
# Start the kztoken test identity provider in the background.
# Usage: tests/idp/start.sh STATEDIR [idp.py options, e.g. --http-port 0]
# Logs go to STATEDIR/idp.log. Prints the HTTPS URL once it listens (within 10 s),
# or exits non-zero with the end of the log.
set -u
dir=${1:?usage: start.sh STATEDIR [--port N] [--http-port N]}
shift
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir" || exit 1
rm -f "$dir/url" "$dir/http_url"
/usr/bin/python3 "$here/idp.py" --dir "$dir" "$@" >>"$dir/idp.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
    if [ -s "$dir/url" ]; then
        cat "$dir/url"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start.sh: the test IdP exited; end of $dir/idp.log:" >&2
        tail -n 20 "$dir/idp.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "start.sh: the test IdP did not publish $dir/url within 10 s" >&2
kill "$pid" 2>/dev/null
exit 1
