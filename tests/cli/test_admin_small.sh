#!/bin/bash
# tests/cli/test_admin_small.sh - the small ones of issue 13 (findings 10
# and 12): kztoken --version, check's audit lines say via=check, an empty
# stdin and a pasted "Bearer " are named, --explain says when no policy
# applies instead of "[service (none)]", bad_audience shows the token's
# aud and the configured audience, jwks_uri gets "did you mean jwks_url",
# and revoke leaves no NAME.lock behind.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-small.XXXXXX)
trap 'rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
export KZTOKEN_LOG_FILE=$work/audit.log
kz_write_config "$conf" "[service sudo]" "require_group = ops-admins"

t_check "kztoken --version: the package's version" \
    "kztoken $(sed -n '1s/^kztoken (\([^)]*\)).*/\1/p' "$KZ_ROOT/packaging/deb/debian/changelog")" \
    "$("$KZ" --version)"

tok=$(idp mint '{}')
out=$(printf '%s\n' "$tok" | "$KZ" --config "$conf" check --user alice 2>&1); rc=$?
t_check "check: OK" 0 "$rc"
hasline=$(tail -1 "$KZTOKEN_LOG_FILE")
case $hasline in *"service=default user=alice verdict=OK reason=none "*" via=check") t_pass "check's audit line ends with via=check" ;;
*) t_fail "via=check" "$hasline" ;; esac

out=$(printf 'Bearer %s\n' "$tok" | "$KZ" --config "$conf" check --user alice 2>&1); rc=$?
t_check "a pasted 'Bearer <token>': the prefix is dropped, OK" 0 "$rc"
case $out in *'ignoring the "Bearer "'*) t_pass "... and it says so" ;; *) t_fail "Bearer message" "$out" ;; esac
out=$("$KZ" --config "$conf" check </dev/null 2>&1); rc=$?
case "$rc $out" in "1 "*"no token on stdin"*) t_pass "empty stdin: exit 1 and 'no token on stdin'" ;; *) t_fail "empty stdin" "$rc $out" ;; esac

out=$(printf '%s\n' "$tok" | "$KZ" --config "$conf" check --service login --explain 2>&1)
case $out in *"(none)"*) t_fail "--explain without a policy" "$out" ;;
*"no policy for service login"*"any valid token of the user"*) t_pass "--explain: no policy is said in words, not [service (none)]" ;;
*) t_fail "--explain without a policy" "$out" ;; esac

bad=$(idp mint '{"claims":{"aud":["other-app","account"]}}')
out=$(printf '%s\n' "$bad" | "$KZ" --config "$conf" check --explain 2>&1); rc=$?
t_check "wrong audience: exit 1" 1 "$rc"
case $out in *"aud (other-app, account) names none of this host's audience (host-fleet)"*) t_pass "bad_audience shows the token's aud and the configured list" ;;
*) t_fail "bad_audience detail" "$out" ;; esac

kz_write_config "$work/c2/kztoken.conf" "jwks_uri = https://x/jwks"
out=$("$KZ" --config "$work/c2/kztoken.conf" check </dev/null 2>&1); rc=$?
case "$rc $out" in "4 "*"jwks_uri: unknown key (did you mean jwks_url?)"*) t_pass "jwks_uri: did you mean jwks_url" ;;
*) t_fail "did you mean" "$rc $out" ;; esac

rt=$(idp refresh '{"username":"alice"}')
printf '%s\n' "$rt" | "$KZ" --config "$conf" enroll me --user alice >/dev/null 2>&1
t_check "enroll: the lock file is there while enrolled" yes "$([ -e "$work/c/store/me.lock" ] && echo yes)"
out=$("$KZ" --config "$conf" revoke me 2>&1); rc=$?
t_check "revoke: exit 0, neither NAME.enr nor NAME.lock left" "0 " "$rc $(ls -A "$work/c/store")"
t_done
