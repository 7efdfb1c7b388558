#!/bin/bash
# rotate-keys.sh STATEDIR [--drop-old] — rotate the provider's signing keys without a restart.
# Puts a new RSA and a new EC key first in STATEDIR/jwks.json (new tokens are signed with
# them), keeps the old keys published in the JWKS unless --drop-old, and tells the provider to
# reload (SIGHUP; grants, refresh and opaque tokens survive). Waits until /jwks serves the new
# first key, then prints the new kids, one a line (RSA, then EC).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
kz_init "$1"
node "$here/keys.mjs" rotate "$KZ_STATE/jwks.json" ${2:+"$2"}
kids=$("$KZ_PY" -c 'import json,sys; print("\n".join(k["kid"] for k in json.load(open(sys.argv[1]))["keys"][:2]))' "$KZ_STATE/jwks.json")
first=${kids%%$'\n'*}
kill -HUP "$(<"$KZ_STATE/pid")"
for _ in $(seq 100); do
    if curl -sf --cacert "$KZ_CA" "$KZ_URL/jwks" | kz_json keys | grep -q "\"kid\": \"$first\""; then
        echo "$kids"
        exit 0
    fi
    sleep 0.05
done
echo "rotate-keys.sh: provider did not pick up the new keys" >&2
exit 1
