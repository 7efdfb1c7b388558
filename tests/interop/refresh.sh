#!/bin/bash
# refresh.sh STATEDIR RTFILE [--resource R] [--scope S] [--json] — refresh grant as host-fleet
# (client_secret_basic), the way kztoken's token_style = oauth2 does it: the refresh token is
# read from RTFILE, and the rotated one the provider returns is written back to RTFILE
# (atomically, 0600) before the access token is printed. Without --resource the provider uses
# the resource that was granted. Exit 1 when refused (error printed on stderr, e.g.
# invalid_grant for a used, revoked or expired refresh token).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 2 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
kz_init "$1"; rtfile=$2; shift 2
mode=at extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --resource) extra+=(--data-urlencode "resource=$2"); shift ;;
        --scope) extra+=(--data-urlencode "scope=$2"); shift ;;
        --json) mode=json ;;
        *) echo "refresh.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
kz_client host
tmp=$(mktemp -d "$KZ_STATE/refresh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rt=$(<"$rtfile")
printf '%s' "$rt" | kz_curl_client --data grant_type=refresh_token --data-urlencode refresh_token@- \
    "${extra[@]}" -o "$tmp/resp" "$KZ_URL/token"
kz_token_response "$tmp/resp" "$mode" "$rtfile"
