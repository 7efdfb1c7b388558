#!/bin/bash
# tests/pam/test_wazo.sh - the wazo-auth dialect (DESIGN.md section 14)
# end to end against the test IdP's wazo-auth mode: `kztoken check` (valid,
# expired, unknown, revoked, ACL granted and not), the real pam_kztoken.so
# under pam_wrapper, and an enrollment with token_style = wazo (enroll,
# token, refresh, revoke).  The token travels in the URL path: no token or
# refresh token may appear in any output, audit or debug line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pam_lib.sh"
pam_lib_init kztoken-wazo

cp "$KZ_BUILD/kztoken" "$W/lib/"
KZ=$W/lib/kztoken
secrets=()

kz_write_config "$W/wazo/kz.conf" "validation = wazo" \
    "wazo_url = $KZ_IDP_URL/api/auth/0.1" "token_style = wazo" \
    "[service sudo]" "require_acl = sudo.run" \
    "[service phone]" "require_acl = calld.calls.read, confd.users.me.read"
sed -i 's/^validation = auto$//' "$W/wazo/kz.conf"
localize "$W/wazo/kz.conf"
C=$W/wazo/kz.conf
svc sudo "auth required $MOD config=$C" "account required $MOD config=$C"
pam_lib_own

# login USER ACL_JSON [offline]: a wazo-auth token (and refresh token)
login() {
	local extra=
	[ "${3:-}" = offline ] && extra=',"access_type":"offline","client_id":"host-fleet"'
	idp POST /test/wazo "{\"op\":\"login\",\"username\":\"$1\",\"acl\":$2$extra}"
}
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
# check NAME RC VERDICT REASON TOKEN [ARGS]: one `kztoken check --json`
check() {
	local name=$1 rc=$2 verdict=$3 reason=$4 tok=$5 got
	shift 5
	out=$(printf '%s' "$tok" | "${RUN[@]}" env KZTOKEN_LOG_FILE="$AUDIT" "$KZ" check \
	    --config "$C" --json "$@" 2>>"$W/stderr"); got=$?
	printf '%s\n' "$out" >> "$W/outputs"
	t_check "$name" "rc=$rc $verdict $reason" "rc=$got $(/usr/bin/python3 -c '
import json, sys
try:
    d = json.loads(sys.argv[1]); print(d["verdict"], d["reason"])
except Exception:
    print("unparsed")' "$out")"
}

a=$(login alice '["sudo.#", "calld.calls.*", "confd.users.me.read"]') || t_fail "wazo login"
ok=$(field token <<<"$a"); secrets+=("$ok")
b=$(login alice '["calld.#"]'); noacl=$(field token <<<"$b"); secrets+=("$noacl")
e=$(login alice '[]'); expd=$(field token <<<"$e"); secrets+=("$expd")
idp POST /test/wazo "{\"op\":\"expire\",\"token\":\"$expd\"}" > /dev/null
r=$(login alice '["sudo.run"]'); rev=$(field token <<<"$r"); secrets+=("$rev")

# ---- kztoken check ------------------------------------------------------------------
check "valid wazo token: OK" 0 OK none "$ok" --user alice
check "valid wazo token, no --user: OK for the token's user" 0 OK none "$ok"
check "sudo: ACL sudo.run granted (sudo.#): OK" 0 OK none "$ok" --service sudo --user alice
check "phone: two ACLs via scopes/check ('*' and 'me'): OK" 0 OK none "$ok" --service phone --user alice
check "sudo: ACL not granted: 403 after binding, missing_scope (exit 2)" 2 FORBIDDEN missing_scope "$noacl" --service sudo --user alice
check "sudo: another user's token: user_mismatch, not forbidden" 1 UNAUTHENTICATED user_mismatch "$noacl" --service sudo --user bob
check "expired wazo token (wazo-auth: 404): inactive" 1 UNAUTHENTICATED inactive "$expd" --user alice
check "unknown token: inactive" 1 UNAUTHENTICATED inactive "0b4e3f5c-9a1d-4e7b-8c2f-6d5a4b3c2e1f" --user alice
check "revoked token, before: OK" 0 OK none "$rev" --service sudo --user alice
idp DELETE "/api/auth/0.1/token/$rev" > /dev/null
rm -rf "$W/wazo/cache"/*
check "revoked at wazo-auth (DELETE /token/{token}): inactive" 1 UNAUTHENTICATED inactive "$rev" --user alice
out=$(printf '%s' "$ok" | "${RUN[@]}" env KZTOKEN_LOG_FILE="$AUDIT" "$KZ" check --config "$C" \
    --explain --service phone --user alice 2>&1); rc=$?
printf '%s\n' "$out" >> "$W/outputs"
t_check "check --explain exits 0" 0 "$rc"
[[ $out == *wazo* && $out == *acl* ]] && t_pass "--explain shows the wazo and acl steps" ||
    t_fail "--explain steps" "$out"

# ---- the PAM module -----------------------------------------------------------------
pam sudo alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$ok"
has "PAM sudo: wazo token with the ACL" "$res" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS"
pam sudo alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$noacl"
has "PAM sudo: wazo token without the ACL fails authentication" "$res" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED"
hasre "and the audit line says missing_scope for alice" "$new" \
    "service=sudo user=alice verdict=FORBIDDEN reason=missing_scope"
pam sudo alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$expd"
hasre "PAM sudo: expired wazo token: inactive" "$new" "verdict=UNAUTHENTICATED reason=inactive"

# a token too long for wazo-auth's URL (800 '/', each %2F) is the user's
# input refused, not the host's configuration (ERROR/config, PAM_SERVICE_ERR)
long=$(printf '%0800d' 0 | tr 0 /)
check "a token too long for the URL: too_long, not a config error" 1 UNAUTHENTICATED too_long "$long" --user alice
pam sudo alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$long"
has "PAM sudo: a token too long for the URL fails authentication" "$res" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED"

# ---- enrollment: token_style = wazo ---------------------------------------------------
o=$(login alice '["sudo.run", "auth.users.me.tokens.host-fleet.delete"]' offline)
first=$(field token <<<"$o"); rt=$(field refresh_token <<<"$o"); secrets+=("$first" "$rt")
printf '%s\n' "$rt" > "$W/rt"; chmod 600 "$W/rt"; pam_lib_own
kzc() { out=$("${RUN[@]}" env KZTOKEN_LOG_FILE="$AUDIT" "$KZ" "$@" --config "$C" 2>&1); rc=$?
	printf '%s\n' "$out" >> "$W/outputs"; }
kzc enroll wz --user alice --refresh-token-file "$W/rt"
t_check "kztoken enroll (token_style = wazo) exits 0" 0 "$rc"
kzc token wz; at=$out; secrets+=("$at")
t_check "kztoken token exits 0" 0 "$rc"
check "the enrollment's access token passes sudo's ACL" 0 OK none "$at" --service sudo --user alice
kzc refresh wz
t_check "kztoken refresh exits 0" 0 "$rc"
kzc token wz; at2=$out; secrets+=("$at2")
[ -n "$at2" ] && [ "$at2" != "$at" ] && t_pass "the refresh minted a new access token" ||
    t_fail "new access token"
kzc revoke wz
t_check "kztoken revoke exits 0" 0 "$rc"
st=$(idp POST /test/wazo - <<<"{\"op\":\"refresh_state\",\"refresh_token\":\"$rt\"}" | field state)
t_check "the refresh token is deleted at wazo-auth" deleted "$st"
rm -rf "$W/wazo/cache"/*
check "the last access token is revoked too" 1 UNAUTHENTICATED inactive "$at2" --user alice
kzc list
[[ $out != *wz* ]] && t_pass "and the enrollment is gone" || t_fail "enrollment still listed" "$out"

o=$(login alice '[]' offline); rt2=$(field refresh_token <<<"$o"); secrets+=("$rt2")
printf '%s\n' "$rt2" > "$W/rt2"; chmod 600 "$W/rt2"; pam_lib_own
kzc enroll wz2 --user alice --refresh-token-file "$W/rt2"
idp POST /test/wazo - > /dev/null <<<"{\"op\":\"delete_refresh\",\"refresh_token\":\"$rt2\"}"
kzc refresh wz2
t_check "a refresh token deleted at wazo-auth: refresh exits 1 (revoked)" 1 "$rc"
kzc list --json
[[ $out == *'"state": "revoked"'* ]] && t_pass "kztoken list says revoked" || t_fail "state" "$out"

# ---- no token in any output or log ----------------------------------------------------
# a decision and a refresh with debug = true: every request line is logged
sed -i 's/^leeway = 30$/&\ndebug = true/' "$C"
o=$(login alice '[]' offline); rt3=$(field refresh_token <<<"$o"); secrets+=("$rt3")
printf '%s\n' "$rt3" > "$W/rt3"; chmod 600 "$W/rt3"; pam_lib_own
for args in "check --service phone --user alice" "enroll wz3 --user alice --refresh-token-file $W/rt3" \
    "refresh wz3"; do
	# shellcheck disable=SC2086
	"${RUN[@]}" env KZTOKEN_LOG_FILE="$W/debug.log" "$KZ" $args --config "$C" \
	    <<<"$ok" >> "$W/debug.out" 2>&1
done
grep -q 'http GET (URL holds a token: not logged)' "$W/debug.log" "$W/debug.out" &&
    t_pass "debug names the request without its URL" || t_fail "debug line" "$(tail -3 "$W/debug.log")"
cat "$W/debug.out" >> "$W/outputs"
sed -i '/^debug = true$/d' "$C"
leak=0
for s in "${secrets[@]}"; do
	[ -n "$s" ] || continue
	for f in "$AUDIT" "$W/stderr" "$W/debug.log"; do
		[ -f "$f" ] && grep -qF -- "$s" "$f" && { leak=1; echo "# token in $f"; }
	done
	# the outputs may hold the token `kztoken token` printed (its purpose)
	[ "$s" = "$at" ] || [ "$s" = "$at2" ] || { grep -qF -- "$s" "$W/outputs" && { leak=1; echo "# token in outputs"; }; }
done
t_check "no wazo token or refresh token in any output, audit or debug line" 0 "$leak"
t_done
