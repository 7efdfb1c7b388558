#!/bin/bash
# test_interop.sh - kztoken against a real OpenID provider that nobody here
# wrote: node-oidc-provider (tests/interop/NOTES.md), started on loopback in a
# temp dir of its own.  Every token comes from the provider's own endpoints
# (authorization code + PKCE, refresh, client_credentials, RFC 7009
# revocation) and goes through `kztoken check` and through pam_kztoken.so
# under pam_wrapper (pamtester).  Each case asserts the exact exit code,
# verdict, reason and user, or the exact PAM codes and the audit reason.
#
# Needs node and npm (setup.sh runs `npm ci` once); without them every case
# is skipped, never passed.  Does not need the test IdP of tests/run.sh.
. "$(dirname "$0")/../lib.sh"
H=$KZ_ROOT/tests/interop
K=$KZ_BUILD/kztoken
PAMMOD=$KZ_BUILD/pam_kztoken.so
PW=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so

W=$(mktemp -d /tmp/kz-interop.XXXXXX)
S=$W/provider			# provider state (start.sh)
T=$W/tokens			# every token and refresh token of the run
mkdir -m 700 "$T" "$W/pam" "$W/log"
# KZ_INTEROP_KEEP=1 keeps the temp dir (tokens, logs, config) for a post-mortem
cleanup() {
	bash "$H/stop.sh" "$S" >/dev/null 2>&1
	if [ -n "${KZ_INTEROP_KEEP:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
export KZTOKEN_LOG_FILE=$W/log/audit.log

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	t_skip "interop suite" "node or npm not installed"
	t_done; exit
fi
if ! "$H/setup.sh" > "$W/setup.log" 2>&1; then
	t_fail "setup.sh (npm ci)" "$(tail -3 "$W/setup.log" | tr '\n' ' ')"
	t_done; exit
fi
if ! KZ_SHORT_TTL=3 bash "$H/start.sh" "$S" > "$W/start.log" 2>&1; then
	t_fail "start node-oidc-provider" "$(tail -3 "$W/start.log" | tr '\n' ' ')"
	t_done; exit
fi

# The configuration of write-config.sh, with every resource of this host in
# the audience (so PS256/EdDSA fail on the algorithm alone) and a 1 s JWKS
# refetch interval (the rotation case need not wait the default 10 s).
CONF=$W/kztoken.conf
bash "$H/write-config.sh" "$S" "$CONF" > /dev/null
sed -i -e '/^audience = /s/$/, urn:kztoken:host-short, urn:kztoken:host-opaque-short, urn:kztoken:host-ps, urn:kztoken:host-ed/' \
    -e '/^algorithms = /a jwks_refetch_interval = 1' "$CONF"

# tok NAME get-token.sh-args...: a user token from the provider into $T/NAME
tok() {
	local n=$1; shift
	bash "$H/get-token.sh" "$S" "$@" > "$T/$n" 2>> "$W/get-token.err" ||
	    echo "get-token $* failed: $(tail -1 "$W/get-token.err")" >&2
}

# chk NAME RC VERDICT REASON USER TOKENFILE [check args]: one `kztoken check`,
# compared as "rc=0 OK reason=none user=alice".
chk() {
	local name=$1 want="rc=$2 $3 reason=$4 user=$5" tf=$6 out rc
	shift 6
	out=$("$K" check --config "${KZ_CONF:-$CONF}" "$@" < "$tf" 2>> "$W/check.err")
	rc=$?
	printf '%s\n' "$out" >> "$W/check.out"
	t_check "$name" "$want" "rc=$rc $(sed -n '1s/^\([A-Z_]*\) \(reason=[a-z_]*\) fp=[0-9a-f]* user=\([^: ]*\).*/\1 \2 user=\3/p' <<<"$out")"
}

# pamt NAME SERVICE USER TOKENFILE EXPECT: pamtester authenticate+acct_mgmt
# through the real module under pam_wrapper, compared as
# "auth=PAM_SUCCESS acct=PAM_PERM_DENIED reason=missing_group" (acct=- when
# authenticate failed and acct_mgmt was never called; reason from the audit
# line that decision wrote).
pam_code() {
	case $1 in
	"Authentication failure") echo PAM_AUTH_ERR ;;
	"Permission denied") echo PAM_PERM_DENIED ;;
	"Authentication service cannot retrieve authentication info") echo PAM_AUTHINFO_UNAVAIL ;;
	"Error in service module") echo PAM_SERVICE_ERR ;;
	"User not known to the underlying authentication module") echo PAM_USER_UNKNOWN ;;
	*) echo "?($1)" ;;
	esac
}
pamt() {
	local name=$1 svc=$2 user=$3 tf=$4 want=$5 out auth=- acct=- op= line log reason
	printf 'auth required %s config=%s\naccount required %s config=%s\n' \
	    "$PAMMOD" "$CONF" "$PAMMOD" "$CONF" > "$W/pam/$svc"
	log=$W/log/pam-$svc-$user.log
	rm -f "$log"
	out=$(KZTOKEN_LOG_FILE=$log LD_PRELOAD=$PW PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR=$W/pam timeout 20 \
	    pamtester -v "$svc" "$user" authenticate acct_mgmt < "$tf" 2>&1)
	printf '%s\n' "$out" >> "$W/pam.out"
	while IFS= read -r line; do
		case $line in
		*"performing operation - authenticate") op=auth ;;
		*"performing operation - acct_mgmt") op=acct ;;
		*"successfully authenticated") auth=PAM_SUCCESS ;;
		*"account management done.") acct=PAM_SUCCESS ;;
		"pamtester: "*)
			[ -n "$op" ] || continue
			line=$(pam_code "${line#pamtester: }")
			if [ "$op" = auth ]; then auth=$line; else acct=$line; fi ;;
		esac
	done <<<"$out"
	reason=$(sed -n 's/.* reason=\([a-z_]*\) .*/\1/p' "$log" 2>/dev/null | tail -1)
	t_check "$name" "$want" "auth=$auth acct=$acct reason=${reason:-?}"
}

# ---------------------------------------------------------------- tokens
# The short-lived ones first: they are checked as valid now and as
# expired at the end, so the wait overlaps the other cases.
tok short alice --resource urn:kztoken:host-short
tok short-op alice --resource urn:kztoken:host-opaque-short
short_at=$(date +%s)
chk "short-lived JWT (3 s) valid when issued" 0 OK none alice "$T/short" --user alice
chk "short-lived opaque (3 s) valid when issued" 0 OK none alice "$T/short-op" --user alice

tok rs alice
tok es alice --es
tok op alice --opaque
tok bob-rs bob
tok bob-op bob --opaque
tok login alice --scope login
tok admin alice --scope admin
tok other alice --resource urn:kztoken:other
tok nores alice --no-resource
tok ps alice --resource urn:kztoken:host-ps
tok ed alice --resource urn:kztoken:host-ed
bash "$H/cc-token.sh" "$S" > "$T/cc" 2>> "$W/get-token.err"

# -------------------------------------------------- kztoken check: accepted
chk "RS256 JWT (at+jwt) accepted" 0 OK none alice "$T/rs" --user alice
chk "ES256 JWT (at+jwt) accepted" 0 OK none alice "$T/es" --user alice
chk "opaque token accepted via introspection" 0 OK none alice "$T/op" --user alice
chk "RS256 JWT, no --user: identity from preferred_username" 0 OK none alice "$T/rs"
chk "client_credentials JWT: identity falls back to sub" 0 OK none kztoken-svc "$T/cc"

# ------------------------------------------------- kztoken check: policies
chk "sudo policy: alice (ops-admins) JWT passes" 0 OK none alice "$T/rs" --service sudo --user alice
chk "sudo policy: alice opaque passes (groups from introspection)" 0 OK none alice "$T/op" --service sudo --user alice
chk "sudo policy: bob JWT gets 403 missing_group" 2 FORBIDDEN missing_group bob "$T/bob-rs" --service sudo --user bob
chk "sudo policy: bob opaque gets 403 missing_group" 2 FORBIDDEN missing_group bob "$T/bob-op" --service sudo --user bob
chk "sshd policy: scope 'login' passes" 0 OK none alice "$T/login" --service sshd --user alice
chk "sshd policy: scope 'admin' only gets 403 missing_scope" 2 FORBIDDEN missing_scope alice "$T/admin" --service sshd --user alice

# ------------------------------------------------- kztoken check: refused
chk "bob's JWT presented for alice: user_mismatch" 1 UNAUTHENTICATED user_mismatch bob "$T/bob-rs" --user alice
chk "bob's opaque token presented for alice: user_mismatch" 1 UNAUTHENTICATED user_mismatch bob "$T/bob-op" --user alice
chk "JWT for another resource: bad_audience" 1 UNAUTHENTICATED bad_audience alice "$T/other" --user alice
chk "opaque userinfo token (no aud): bad_audience" 1 UNAUTHENTICATED bad_audience - "$T/nores" --user alice
chk "PS256 JWT, PS256 not on the allow-list: alg_not_allowed" 1 UNAUTHENTICATED alg_not_allowed - "$T/ps" --user alice
chk "EdDSA JWT, EdDSA not on the allow-list: alg_not_allowed" 1 UNAUTHENTICATED alg_not_allowed - "$T/ed" --user alice
# one signature character changed (not the last one, whose low bits may be slack)
tk=$(<"$T/rs") ; sig=${tk##*.}
[ "${sig:10:1}" = A ] && c=B || c=A
printf '%s\n' "${tk%.*}.${sig:0:10}$c${sig:11}" > "$T/rs-bad"
unset tk sig
chk "RS256 JWT with one signature character changed: bad_signature" 1 UNAUTHENTICATED bad_signature - "$T/rs-bad" --user alice
# with PS256 and EdDSA configured, the provider's own PS256 (RSA-PSS) and
# EdDSA (Ed25519, OKP JWK) tokens pass; each stays refused with only the other
MODERN=$W/modern.conf
sed 's/^algorithms = .*/algorithms = RS256, ES256, PS256, EdDSA/' "$CONF" > "$MODERN"
sed 's/^algorithms = .*/algorithms = RS256, PS256/' "$CONF" > "$W/ps-only.conf"
chmod 600 "$MODERN" "$W/ps-only.conf"
KZ_CONF=$MODERN chk "PS256 JWT from the provider, PS256 configured: OK" 0 OK none alice "$T/ps" --user alice
KZ_CONF=$MODERN chk "EdDSA JWT from the provider, EdDSA configured: OK" 0 OK none alice "$T/ed" --user alice
KZ_CONF=$MODERN chk "PS256/EdDSA configured: RS256 still OK" 0 OK none alice "$T/rs" --user alice
KZ_CONF=$W/ps-only.conf chk "EdDSA JWT with only PS256 configured: alg_not_allowed" 1 UNAUTHENTICATED alg_not_allowed - "$T/ed" --user alice

# refresh token presented as a login: the provider's introspection says
# active, no token_type, no aud; the configured audience refuses it.
tok r0 alice --refresh-file "$T/rt-login"
chk "refresh token presented as a login: bad_audience" 1 UNAUTHENTICATED bad_audience - "$T/rt-login" --user alice
chk "refresh token presented as a login (sudo): bad_audience" 1 UNAUTHENTICATED bad_audience - "$T/rt-login" --service sudo

# The same with validation = introspect and no audience configured: only
# the token_type could tell, and this provider leaves it out for refresh
# tokens.  So libkzauth refuses such a configuration outright.
sed -e '/^audience = /d' -e '/^discovery = /d' -e 's/^validation = .*/validation = introspect/' \
    "$CONF" > "$W/noaud.conf"
chmod 600 "$W/noaud.conf"
out=$("$K" check --config "$W/noaud.conf" --user alice < "$T/rt-login" 2>&1); rc=$?
printf '%s\n' "$out" >> "$W/check.out"
if [ "$rc" = 4 ] && grep -q "audience: required when introspection validates logins" <<<"$out"; then
	t_pass "introspect without audience: configuration refused (exit 4), so a refresh token cannot log in"
else
	t_fail "introspect without audience: configuration refused" "rc=$rc ${out%%: *}"
fi

# revocation at the provider (RFC 7009), seen through introspection
tok rv alice --opaque
chk "opaque token before revocation: OK" 0 OK none alice "$T/rv" --user alice
bash "$H/revoke.sh" "$S" < "$T/rv" 2>> "$W/get-token.err"
chk "opaque token revoked at the provider: inactive" 1 UNAUTHENTICATED inactive - "$T/rv" --user alice
tok rv2 alice --opaque --refresh-file "$T/rt-rv2"
chk "opaque token of a grant before its refresh token is revoked: OK" 0 OK none alice "$T/rv2" --user alice
bash "$H/revoke.sh" "$S" < "$T/rt-rv2" 2>> "$W/get-token.err"
chk "refresh token revoked: its grant's opaque token is inactive" 1 UNAUTHENTICATED inactive - "$T/rv2" --user alice
# the provider stores no JWT: with revocation_check = introspect every valid
# JWT introspects as inactive (why the configs here keep it at none)
sed 's/^revocation_check = .*/revocation_check = introspect/' "$CONF" > "$W/rc.conf"
chmod 600 "$W/rc.conf"
KZ_CONF=$W/rc.conf chk "revocation_check = introspect on a valid JWT: revoked (provider stores no JWT)" 1 UNAUTHENTICATED revoked alice "$T/rs" --user alice

# ------------------------------------------------------- through the PAM module
pamt "PAM sudo: alice RS256 JWT" sudo alice "$T/rs" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"
pamt "PAM sudo: alice ES256 JWT" sudo alice "$T/es" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"
pamt "PAM sudo: alice opaque token" sudo alice "$T/op" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"
pamt "PAM sudo: bob's 403 fails authentication (default, no authz_in_account)" sudo bob "$T/bob-rs" "auth=PAM_AUTH_ERR acct=- reason=missing_group"
t_check "PAM tells bob why (403)" 1 "$(grep -c 'Not a member of group ops-admins' "$W/pam.out")"
pamt "PAM sudo: bob's token for alice" sudo alice "$T/bob-rs" "auth=PAM_AUTH_ERR acct=- reason=user_mismatch"
pamt "PAM sudo: PS256 token (not allowed)" sudo alice "$T/ps" "auth=PAM_AUTH_ERR acct=- reason=alg_not_allowed"
pamt "PAM sudo: EdDSA token (not allowed)" sudo alice "$T/ed" "auth=PAM_AUTH_ERR acct=- reason=alg_not_allowed"
CONF=$MODERN pamt "PAM sudo: PS256 token, PS256 configured" sudo alice "$T/ps" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"
CONF=$MODERN pamt "PAM sudo: EdDSA token, EdDSA configured" sudo alice "$T/ed" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"
pamt "PAM sudo: revoked opaque token" sudo alice "$T/rv" "auth=PAM_AUTH_ERR acct=- reason=inactive"
pamt "PAM sudo: refresh token as a login" sudo alice "$T/rt-login" "auth=PAM_AUTH_ERR acct=- reason=bad_audience"
pamt "PAM sshd: scope 'admin' only fails authentication (403)" sshd alice "$T/admin" "auth=PAM_AUTH_ERR acct=- reason=missing_scope"

# ------------------------------------------------------------- key rotation
# The JWKS is cached by now (every JWT above); rotate at the provider, keep
# the old keys published, and a fresh token (new kid) must be accepted after
# the unknown-kid refetch.
sleep 1.1	# jwks_refetch_interval = 1 since the last fetch
if kids=$(bash "$H/rotate-keys.sh" "$S" 2>> "$W/get-token.err"); then
	t_pass "provider rotated its keys"
else
	t_fail "provider rotated its keys"
fi
newrsa=$(sed -n 1p <<<"$kids") newec=$(sed -n 2p <<<"$kids")
tok rot-rs alice
tok rot-es alice --es
"$K" check --config "$CONF" --user alice --explain < "$T/rot-rs" > "$W/rot.explain" 2>&1; rc=$?
t_check "after rotation: new RS256 token (kid $newrsa) accepted after JWKS refetch" \
    "0 yes yes" "$rc $(grep -q "kid $newrsa" "$W/rot.explain" && echo yes) $(grep -q 'refetching' "$W/rot.explain" && echo yes)"
chk "after rotation: new ES256 token (kid $newec) accepted" 0 OK none alice "$T/rot-es" --user alice
chk "after rotation (old key kept): token signed before still accepted" 0 OK none alice "$T/rs" --user alice
pamt "PAM sudo: token signed with the rotated key" sudo alice "$T/rot-rs" "auth=PAM_SUCCESS acct=PAM_SUCCESS reason=none"

# ------------------------------------------------------------------ expiry
now=$(date +%s)
[ $((short_at + 6 - now)) -gt 0 ] && sleep $((short_at + 6 - now))
chk "short-lived JWT after its exp (+leeway 1 s): expired" 1 UNAUTHENTICATED expired alice "$T/short" --user alice
chk "short-lived opaque after its exp: inactive" 1 UNAUTHENTICATED inactive - "$T/short-op" --user alice
pamt "PAM sudo: expired JWT" sudo alice "$T/short" "auth=PAM_AUTH_ERR acct=- reason=expired"
t_check "PAM tells the user why (expired)" 1 "$(grep -c 'Token expired' "$W/pam.out")"

# -------------------------------------------- key rotation, old keys dropped
sleep 1.1
bash "$H/rotate-keys.sh" "$S" --drop-old > /dev/null 2>> "$W/get-token.err"
tok rot2 alice
chk "after a second rotation dropping old keys: new token accepted" 0 OK none alice "$T/rot2" --user alice
sleep 1.1
chk "after old keys dropped (JWKS refetched): old token unknown_kid" 1 UNAUTHENTICATED unknown_kid - "$T/rs" --user alice

# ------------------------------------------- refresh rotation (oauth2 dialect)
# 20 refresh cycles as host-fleet with client_secret_basic, the request
# kztoken's token_style = oauth2 sends (refresh.sh); each cycle must rotate
# the refresh token and give an access token that kztoken accepts.
tok rc0 alice --refresh-file "$T/rt"
cp "$T/rt" "$T/rt.first"
ok=1 why=
for i in $(seq 20); do
	prev=$(<"$T/rt")
	if ! bash "$H/refresh.sh" "$S" "$T/rt" > "$T/rc" 2>> "$W/get-token.err"; then
		ok=0 why="refresh $i refused"; break
	fi
	[ "$(<"$T/rt")" != "$prev" ] || { ok=0 why="refresh $i did not rotate"; break; }
	out=$("$K" check --config "$CONF" --service sudo --user alice < "$T/rc" 2>&1)
	[ "${out%% *}" = OK ] || { ok=0 why="refresh $i: $out"; break; }
done
[ $ok = 1 ] && t_pass "20 refresh cycles at the provider: each rotates, each access token passes sudo" ||
    t_fail "20 refresh cycles at the provider" "$why"
if bash "$H/refresh.sh" "$S" "$T/rt.first" > /dev/null 2>&1; then
	t_fail "reuse of a rotated refresh token refused (provider has no grace)"
else
	t_pass "reuse of a rotated refresh token refused (provider has no grace)"
fi

# kztoken enroll / refresh / token (DESIGN §8) over the same provider.
# Exit codes per kzauth.h: a dead refresh token is 1 (UNAUTHENTICATED/revoked).
enroll_cycles() {
	local st=$S/kz/enrolled n=alice-oidc out rc i ok=1 why= a b
	storesum() { cat "$st"/* 2>/dev/null | sha256sum; }
	# state of the enrollment in `kztoken list --json`
	enr_state() {
		"$K" list --json --config "$CONF" 2>> "$W/log/list.out" | tee -a "$W/log/list.out" |
		    /usr/bin/python3 -c 'import json,sys
print(" ".join(e["state"] for e in json.load(sys.stdin) if e.get("name") == sys.argv[1]) or "none")' "$n"
	}
	tok en0 alice --refresh-file "$T/rt-en"
	cp "$T/rt-en" "$T/rt-en.first"
	"$K" enroll "$n" --config "$CONF" --provider oidc --user alice \
	    --refresh-token-file "$T/rt-en" > "$W/log/enroll.out" 2>&1
	t_check "kztoken enroll (oauth2 dialect, proves the token with one refresh)" 0 $?
	t_check "store files are 0600" "" "$(find "$st" -type f ! -perm 600)"
	for i in $(seq 20); do
		a=$(storesum)
		"$K" refresh "$n" --config "$CONF" >> "$W/log/enroll.out" 2>&1 ||
		    { ok=0 why="kztoken refresh $i: exit $?"; break; }
		b=$(storesum)
		[ "$a" != "$b" ] || { ok=0 why="refresh $i: store unchanged (no rotation kept)"; break; }
		"$K" token "$n" --config "$CONF" > "$T/en-at" 2>> "$W/log/enroll.out" ||
		    { ok=0 why="kztoken token $i: exit $?"; break; }
		out=$("$K" check --config "$CONF" --service sudo --user alice < "$T/en-at" 2>&1)
		[ "${out%% *}" = OK ] || { ok=0 why="cycle $i: $out"; break; }
	done
	[ $ok = 1 ] && t_pass "20 kztoken refresh cycles: each rotation stored, each token passes sudo" ||
	    t_fail "20 kztoken refresh cycles" "$why"
	t_check "kztoken list --json: enrollment active" active "$(enr_state)"
	# a stale copy used elsewhere makes this provider revoke the whole chain
	bash "$H/refresh.sh" "$S" "$T/rt-en.first" > /dev/null 2>&1
	"$K" refresh "$n" --config "$CONF" >> "$W/log/enroll.out" 2>&1
	t_check "chain revoked at the provider: kztoken refresh exits 1 (revoked)" 1 $?
	t_check "kztoken list --json: enrollment revoked" revoked "$(enr_state)"
	t_check "audit: enrollment and its revocation logged, with fingerprints only" "1 1" \
	    "$(grep -c "enrollment=$n .* enrolled (refresh token fp=[0-9a-f]\{12\})" "$W/log/audit.log") $(grep -c "enrollment=$n .*state=revoked" "$W/log/audit.log")"
}
if "$K" --help 2>&1 | grep -q 'kztoken enroll'; then
	enroll_cycles
else
	t_skip "kztoken enroll + 20 kztoken refresh cycles" "kztoken enroll not available"
fi

# ------------------------------------------------------ provider unreachable
bash "$H/stop.sh" "$S"
chk "provider stopped: JWT with cached JWKS still accepted" 0 OK none alice "$T/rot2" --user alice
chk "provider stopped: opaque token unavailable (503)" 3 UNAVAILABLE provider_unreachable - "$T/op" --user alice

# ------------------------------------------------------------ no secrets leak
leaks=0
for f in "$T"/*; do
	[ -s "$f" ] || continue
	v=$(head -c 4096 "$f" | tr -d '\n')
	[ ${#v} -ge 20 ] || continue
	for o in "$W"/log/* "$W/check.out" "$W/check.err" "$W/pam.out"; do
		[ -f "$o" ] && grep -qF -- "$v" "$o" && { leaks=$((leaks + 1)); echo "# token $(basename "$f") appears in $(basename "$o")"; }
	done
done
t_check "no token or refresh token in audit logs or outputs" 0 "$leaks"
t_check "audit log: every decision line ends with its fp (and kztoken check's with via=check)" 0 \
    "$(grep ' verdict=' "$W/log/audit.log" | grep -vc ' fp=[0-9a-f]\{12\}\( via=check\)\{0,1\}$')"

t_done
