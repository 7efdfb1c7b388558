#!/bin/bash
# get-token.sh STATEDIR USER [options] — log USER in at the provider the way a browser would
# (authorization code flow with PKCE, driven with curl and a cookie jar through the provider's
# own /auth and /interaction endpoints), exchange the code at /token as client host-fleet
# (client_secret_basic), and print the access token on stdout.
#
#   --resource R     resource indicator (default urn:kztoken:host: JWT at+jwt, RS256)
#                    urn:kztoken:host-es      JWT, ES256
#                    urn:kztoken:host-opaque  opaque (introspect it)
#                    urn:kztoken:other        JWT, RS256, audience that is not this host
#   --es             same as --resource urn:kztoken:host-es
#   --opaque         same as --resource urn:kztoken:host-opaque
#   --no-resource    no resource: the provider's default opaque token for its userinfo endpoint
#   --scope S        resource scopes to ask for (default "login admin")
#   --refresh        also get a refresh token (offline_access, prompt=consent); it is written
#                    to --refresh-file F or $KZ_REFRESH_FILE (mode 0600, one trailing newline)
#   --refresh-file F where to write the refresh token (implies --refresh)
#   --json           print the whole token response (access_token, refresh_token, id_token, …)
#
# The password is USER-password unless $KZ_PASSWORD says otherwise. Exit 1 on any refusal.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 2 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
kz_init "$1"; user=$2; shift 2
resource=urn:kztoken:host rscope="login admin" refresh=0 mode=at rtfile=${KZ_REFRESH_FILE:-}
while [ $# -gt 0 ]; do
    case $1 in
        --resource) resource=$2; shift ;;
        --es) resource=urn:kztoken:host-es ;;
        --opaque) resource=urn:kztoken:host-opaque ;;
        --no-resource) resource= ;;
        --scope) rscope=$2; shift ;;
        --refresh) refresh=1 ;;
        --refresh-file) refresh=1; rtfile=$2; shift ;;
        --json) mode=json ;;
        *) echo "get-token.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ $refresh = 1 ] && [ -z "$rtfile" ] && [ $mode != json ]; then
    echo "get-token.sh: --refresh needs --refresh-file F, \$KZ_REFRESH_FILE or --json" >&2; exit 2
fi
password=${KZ_PASSWORD-$user-password}
kz_client host

tmp=$(mktemp -d "$KZ_STATE/get-token.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
jar=$tmp/cookies

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
verifier=$(openssl rand 32 | b64url)
challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | b64url)
st=$(openssl rand -hex 8)

scope="openid profile groups"
[ -n "$resource" ] && scope="$scope $rscope"
prompt=
[ $refresh = 1 ] && { scope="$scope offline_access"; prompt=consent; }

# browser: GET /auth … then follow the redirects, answering the login and consent forms
b=(curl -sS --cacert "$KZ_CA" -b "$jar" -c "$jar" -o "$tmp/page" -w '%{http_code} %{redirect_url}\n')
args=(-G "$KZ_URL/auth" --data-urlencode client_id=host-fleet --data-urlencode response_type=code
      --data-urlencode "redirect_uri=$KZ_REDIRECT_URI" --data-urlencode "scope=$scope"
      --data-urlencode "code_challenge=$challenge" --data-urlencode code_challenge_method=S256
      --data-urlencode "state=$st")
[ -n "$resource" ] && args+=(--data-urlencode "resource=$resource")
[ -n "$prompt" ] && args+=(--data-urlencode "prompt=$prompt")
read -r status loc < <("${b[@]}" "${args[@]}")
code=
for _ in $(seq 12); do
    case $loc in
        "$KZ_REDIRECT_URI"*)
            q=${loc#*\?}
            code=$(sed -n 's/.*\(^\|&\)code=\([^&]*\).*/\2/p' <<<"$q")
            if [ -z "$code" ]; then
                echo "get-token.sh: authorization refused: $(sed -n 's/.*\(^\|&\)error=\([^&]*\).*/\2/p' <<<"$q")" >&2
                exit 1
            fi
            [ "$(sed -n 's/.*\(^\|&\)state=\([^&]*\).*/\2/p' <<<"$q")" = "$st" ] || { echo "get-token.sh: state mismatch" >&2; exit 1; }
            break ;;
        "$KZ_URL"/interaction/*)
            read -r status _ < <("${b[@]}" "$loc")
            [ "$status" = 200 ] || { echo "get-token.sh: interaction page answered $status" >&2; exit 1; }
            if grep -q 'data-prompt="login"' "$tmp/page"; then
                read -r status loc < <(printf 'login=%s&password=%s' "$user" "$password" |
                                       "${b[@]}" --data-binary @- "$loc/login")
                [ "$status" = 303 ] || { echo "get-token.sh: login refused ($status)" >&2; exit 1; }
            elif grep -q 'data-prompt="consent"' "$tmp/page"; then
                read -r status loc < <("${b[@]}" -X POST "$loc/confirm")
                [ "$status" = 303 ] || { echo "get-token.sh: consent refused ($status)" >&2; exit 1; }
            else
                echo "get-token.sh: unexpected interaction page" >&2; exit 1
            fi ;;
        "$KZ_URL"/*)
            read -r status loc < <("${b[@]}" "$loc") ;;
        *)
            echo "get-token.sh: unexpected answer from the provider ($status)" >&2
            head -c 300 "$tmp/page" >&2; echo >&2
            exit 1 ;;
    esac
done
[ -n "$code" ] || { echo "get-token.sh: no authorization code after 12 steps" >&2; exit 1; }

# client: exchange the code (client_secret_basic, PKCE verifier); body on stdin
printf 'grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s' \
    "$code" "$KZ_REDIRECT_URI" "$verifier" |
    kz_curl_client --data-binary @- -o "$tmp/resp" "$KZ_URL/token"
kz_token_response "$tmp/resp" "$mode" "$rtfile"
