#!/bin/bash
# cc-token.sh STATEDIR [--resource R | --es | --opaque | --no-resource] [--scope S] [--json]
# client_credentials grant as client kztoken-svc (client_secret_basic); prints the access
# token. Default resource urn:kztoken:host (JWT, RS256, sub = "kztoken-svc", no
# preferred_username and no groups). --no-resource gives an opaque token with no audience.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 1 ] || { sed -n '2,5p' "$0" >&2; exit 2; }
kz_init "$1"; shift
resource=urn:kztoken:host scope="login admin" mode=at
while [ $# -gt 0 ]; do
    case $1 in
        --resource) resource=$2; shift ;;
        --es) resource=urn:kztoken:host-es ;;
        --opaque) resource=urn:kztoken:host-opaque ;;
        --no-resource) resource= ;;
        --scope) scope=$2; shift ;;
        --json) mode=json ;;
        *) echo "cc-token.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
kz_client svc
tmp=$(mktemp -d "$KZ_STATE/cc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
args=(--data grant_type=client_credentials)
[ -n "$resource" ] && args+=(--data-urlencode "resource=$resource" --data-urlencode "scope=$scope")
kz_curl_client "${args[@]}" -o "$tmp/resp" "$KZ_URL/token"
kz_token_response "$tmp/resp" "$mode" ""
