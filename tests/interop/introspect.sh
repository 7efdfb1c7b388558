#!/bin/bash
# introspect.sh STATEDIR [--client host|svc] [--hint access_token|refresh_token] < token
# RFC 7662 introspection with client_secret_basic (default client host-fleet), the token read
# from stdin. Prints the provider's JSON answer; exit 0 if it said active=true, 1 if
# active=false (a JWT access token, which the provider does not store, is active=false too),
# 3 on an HTTP error (401 invalid_client for a wrong secret).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 1 ] || { sed -n '2,5p' "$0" >&2; exit 2; }
kz_init "$1"; shift
client=host extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --client) client=$2; shift ;;
        --hint) extra+=(--data-urlencode "token_type_hint=$2"); shift ;;
        *) echo "introspect.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
kz_client "$client"
tmp=$(mktemp -d "$KZ_STATE/introspect.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tr -d '\n' | kz_curl_client --data-urlencode token@- "${extra[@]}" -o "$tmp/resp" -w '%{http_code}\n' \
    "$KZ_URL/token/introspection" > "$tmp/status"
cat "$tmp/resp"; echo
[ "$(<"$tmp/status")" = 200 ] || exit 3
[ "$(kz_json active < "$tmp/resp")" = true ]
