#!/bin/bash
# revoke.sh STATEDIR [--client host|svc] [--hint access_token|refresh_token] < token
# RFC 7009 revocation with client_secret_basic (default client host-fleet), token on stdin.
# Revoking a refresh token revokes its whole grant: every access and refresh token issued
# from the same login. Revoking an opaque access token revokes that token only. A JWT access
# token is not stored by the provider: revoking it answers 200 and changes nothing.
# Exit 0 on 200, 3 on an HTTP error (e.g. 400 when the token belongs to another client).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
kz_init "$1"; shift
client=host extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --client) client=$2; shift ;;
        --hint) extra+=(--data-urlencode "token_type_hint=$2"); shift ;;
        *) echo "revoke.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
kz_client "$client"
tmp=$(mktemp -d "$KZ_STATE/revoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=$(tr -d '\n' | kz_curl_client --data-urlencode token@- "${extra[@]}" -o "$tmp/resp" -w '%{http_code}' \
    "$KZ_URL/token/revocation")
[ "$status" = 200 ] && exit 0
echo "revoke.sh: HTTP $status $(cat "$tmp/resp")" >&2
exit 3
