#!/bin/bash
# device-login.sh STATEDIR USER USER_CODE [--deny] — the user's side of the device flow
# (RFC 8628) at node-oidc-provider, driven with curl and a cookie jar the way a browser
# would: the provider's own /device page (enter the code), its confirmation page (Continue,
# or Abort with --deny), then its login and consent interactions (as get-token.sh answers
# them), up to the success page. Exit 0 when the provider says the device is signed in (or,
# with --deny, that the request was aborted); 1 otherwise. The password is USER-password
# unless $KZ_PASSWORD says otherwise. Prints nothing on success.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 3 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
kz_init "$1"; user=$2; code=$3; deny=${4:-}
password=${KZ_PASSWORD-$user-password}
tmp=$(mktemp -d "$KZ_STATE/device-login.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
jar=$tmp/cookies
b=(curl -sS --cacert "$KZ_CA" -b "$jar" -c "$jar" -o "$tmp/page" -w '%{http_code} %{redirect_url}\n')
xsrf() { sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' "$tmp/page" | head -1; }
die() { echo "device-login.sh: $*" >&2; exit 1; }

# the verification page, then the code, then the confirmation
read -r status _ < <("${b[@]}" "$KZ_URL/device")
[ "$status" = 200 ] || die "GET /device answered $status"
read -r status _ < <(printf 'xsrf=%s&user_code=%s' "$(xsrf)" "$code" | "${b[@]}" --data-binary @- "$KZ_URL/device")
[ "$status" = 200 ] && grep -q 'op.deviceConfirmForm' "$tmp/page" || die "the code was not accepted ($status)"
answer="xsrf=$(xsrf)&user_code=$code&confirm=yes"
[ "$deny" = --deny ] && answer="$answer&abort=yes"
read -r status loc < <(printf '%s' "$answer" | "${b[@]}" --data-binary @- "$KZ_URL/device")
for _ in $(seq 12); do
    case $status in
        30[0-9]) ;;
        200)
            if [ "$deny" = --deny ]; then
                grep -q "The Sign-in request was interrupted" "$tmp/page" && exit 0
                die "no abort page"
            fi
            grep -qi 'sign-in success\|signed in\|success' "$tmp/page" && exit 0
            die "unexpected page: $(head -c 200 "$tmp/page")" ;;
        *) die "the provider answered $status: $(head -c 200 "$tmp/page")" ;;
    esac
    case $loc in
        "$KZ_URL"/interaction/*)
            read -r status _ < <("${b[@]}" "$loc")
            [ "$status" = 200 ] || die "interaction page answered $status"
            if grep -q 'data-prompt="login"' "$tmp/page"; then
                read -r status loc < <(printf 'login=%s&password=%s' "$user" "$password" |
                                       "${b[@]}" --data-binary @- "$loc/login")
            elif grep -q 'data-prompt="consent"' "$tmp/page"; then
                read -r status loc < <("${b[@]}" -X POST "$loc/confirm")
            else
                die "unexpected interaction page"
            fi ;;
        "$KZ_URL"/*) read -r status loc < <("${b[@]}" "$loc") ;;
        *) die "redirect out of the provider: $loc" ;;
    esac
done
die "no success page after 12 steps"
