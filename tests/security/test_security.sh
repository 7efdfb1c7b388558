#!/bin/bash
# tests/security/test_security.sh - every path to a wrong OK that the
# security review of issue 11 found (DESIGN.md revision 2, sections 4, 6, 7
# and 13), each with its variants, through the real pam_kztoken.so under
# pam_wrapper (tests/pam/pam_lib.sh) and through `kztoken check --json`.
#
# Each PAM case asserts the auth and acct codes and the verdict/reason of
# the audit line; each check case the exit code (0 OK, 1 401, 2 403, 3 503,
# 4 error), verdict and reason.  At the end: no refused case authenticated
# (PAM_SUCCESS in auth, "successfully authenticated" from pamtester, exit 0
# from check), and no token text in the logs.
#
# Probe stacks make the module's own codes visible: after
#   auth|account [ignore=ignore default=done] pam_kztoken.so
# comes pam_exec.so running /bin/false (PAM_SYSTEM_ERR, which the module
# never returns), so the module's PAM_IGNORE shows as PAM_SYSTEM_ERR and is
# reported as PAM_IGNORE; every other code passes through unchanged.
#
# The test IdP scripts the tokeninfo answers (POST /test/tokeninfo, see
# tests/idp/README.md): a 403 naming nobody, a 200 with "active": false...
. "$(dirname "$0")/../lib.sh"
. "$KZ_ROOT/tests/pam/pam_lib.sh"
pam_lib_init kztoken-sec

cp "$KZ_BUILD/kztoken" "$W/lib/"
KZ=$W/lib/kztoken
EXEC_FALSE="$PAMDIR/pam_exec.so quiet /bin/false"
all_tokens=()
wrong_ok=()

# ---- helpers -----------------------------------------------------------------------------

# conf NAME LINE...: writes $W/NAME/kz.conf ([kztoken] with its own cache
# and store, then the lines) and sets $C to it.
conf() {
	local d=$W/$1
	shift
	mkdir -p "$d/cache" "$d/store"
	chmod 700 "$d/cache" "$d/store"
	{
		printf '%s\n' "[kztoken]" "timeout = 3" "connect_timeout = 2" "leeway = 30" \
		    "cache_dir = $d/cache" "store_dir = $d/store" "denylist_file = $d/denylist"
		printf '%s\n' "$@"
	} > "$d/kz.conf"
	chmod 600 "$d/kz.conf"
	C=$d/kz.conf
}
# prov NAME VALIDATION LINE...: the lines of a [provider] section at the test IdP
prov() {
	local n=$1 v=$2
	shift 2
	printf '%s\n' "[provider $n]" "issuer = $KZ_IDP_URL" "audience = host-fleet" \
	    "validation = $v" "jwks_url = $KZ_IDP_URL/jwks" \
	    "introspection_url = $KZ_IDP_URL/introspect" "tokeninfo_url = $KZ_IDP_URL/tokeninfo" \
	    "token_url = $KZ_IDP_URL/token" \
	    "client_id = host-fleet" "client_secret_file = $W/idp/client_secret" \
	    "ca_file = $W/idp/ca.pem" "$@"
}
# probe NAME CONF [ARGS]: a service whose codes are the module's own
probe() {
	svc "$1" "auth [ignore=ignore default=done] $MOD config=$2 ${3:-}" "auth required $EXEC_FALSE" \
	    "account [ignore=ignore default=done] $MOD config=$2 ${3:-}" "account required $EXEC_FALSE"
}

rand_tok() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
# script TOKEN STATUS BODY: the tokeninfo endpoint answers STATUS and BODY for TOKEN
script() {
	printf '{"token":"%s","status":%s,"body":%s}' "$1" "$2" "$3" |
	    idp POST /test/tokeninfo - >/dev/null || t_fail "script a tokeninfo answer" "idp refused"
}
# scripted STATUS BODY: a new random token with that scripted answer, in $tok
scripted() { tok=$(rand_tok); all_tokens+=("$tok"); script "$tok" "$1" "$2"; }
# mint CLAIMS-JSON [extra top-level JSON]: a JWT from the IdP, in $tok
mint() {
	tok=$(idp mint "{\"claims\":{$1}${2:+,$2}}")
	[ -n "$tok" ] || t_fail "mint a JWT" "the IdP refused claims {$1}"
	all_tokens+=("$tok")
}

# pcase NAME SERVICE USER "auth=X [acct=Y] VERDICT/reason" TOKEN: one PAM
# transaction (kzpam runs the operations in order and stops at the first
# that differs, showing "-" for the rest).  VERDICT/reason "-" = no audit line.
pcase() {
	local name=$1 s=$2 user=$3 want=$4 tk=$5 ops=() f got v wa
	for f in $want; do
		[[ $f == *=PAM_* ]] && ops+=("${f/PAM_IGNORE/PAM_SYSTEM_ERR}")
	done
	pam "$s" "$user" "${ops[@]}" <<<"$tk"
	v=$(grep ' verdict=' <<<"$new" | tail -1 | sed -n 's/.* verdict=\([A-Z]*\) reason=\([a-z_]*\).*/\1\/\2/p')
	got="$(sed 's/^result: //; s/PAM_SYSTEM_ERR/PAM_IGNORE/g' <<<"$res") ${v:--}"
	t_check "pam $s/$user: $name" "$want" "$got"
	wa=${want%% *}
	if [ "$wa" != auth=PAM_SUCCESS ] && [[ $got == auth=PAM_SUCCESS* ]]; then
		wrong_ok+=("pam $s/$user: $name")
	fi
}

# chk NAME CONF "RC VERDICT reason" TOKEN CHECK-ARGS...: kztoken check --json
chk() {
	local name=$1 cf=$2 want=$3 tk=$4 o rc got
	shift 4
	o=$(printf '%s' "$tk" | timeout 30 "${RUN[@]}" env KZTOKEN_LOG_FILE="$AUDIT" \
	    "$KZ" check --config "$cf" --json "$@" 2>>"$W/stderr")
	rc=$?
	got="$rc $(/usr/bin/python3 -c 'import json, sys
try:
    d = json.loads(sys.stdin.read())
    print(d["verdict"], d["reason"])
except Exception:
    print("- -")' <<<"$o")"
	t_check "check $*: $name" "$want" "$got"
	if [ "${want%% *}" != 0 ] && [ "$rc" = 0 ]; then wrong_ok+=("check $*: $name"); fi
}

# ptest NAME SERVICE USER TOKEN: pamtester must not say "successfully authenticated"
ptest() {
	local o
	o=$(timeout 30 "${RUN[@]}" env "${PWENV[@]}" pamtester -v "$2" "$3" authenticate <<<"$4" 2>&1)
	if grep -q "successfully authenticated" <<<"$o"; then
		t_fail "pamtester $2/$3: $1: refused" "pamtester: successfully authenticated"
		wrong_ok+=("pamtester $2/$3: $1")
	elif grep -q "pamtester: Authentication failure" <<<"$o"; then
		t_pass "pamtester $2/$3: $1: Authentication failure"
	else
		t_fail "pamtester $2/$3: $1: Authentication failure" "$(tail -2 <<<"$o" | tr '\n' ' ')"
	fi
}

if ! command -v pamtester >/dev/null; then
	t_skip "pamtester cases" "pamtester not installed"
	ptest() { :; }
fi

# ---- configurations ----------------------------------------------------------------------
# ti: every token to tokeninfo (F1, F3, F7, F8)
conf ti "$(prov ti tokeninfo)"
TI=$C
# pol, pold, pol2: service policies and their lookup (F2)
policies=("[service sudo]" "require_group = ops-admins" "[service su]" "require_group = su-admins"
    "[service runuser]" "require_group = run-admins")
conf pol "$(prov idp auto)" "${policies[@]}"
POL=$C
conf pold "$(prov idp auto)" "${policies[@]}" "[service default]" "require_scope = default-scope"
POLD=$C
conf pol2 "$(prov idp auto)" "${policies[@]}" "[service sudo-i]" "require_group = shell-admins"
POL2=$C
# f3: FORBIDDEN in authenticate, acct_mgmt after another module's success
conf f3 "$(prov idp auto)" "[service sudo]" "require_group = ops-admins"
F3=$C
# f4: providers whose names share a prefix, or look like a revocation entry
conf f4 "provider = keycloak-corp-production" \
    "$(prov keycloak-corp-production tokeninfo)" "$(prov keycloak-corp-production-dev introspect)" \
    "$(prov corp jwt "revocation_check = introspect")" "$(prov rev.corp tokeninfo)" \
    "[service prod]" "provider = keycloak-corp-production" \
    "[service dev]" "provider = keycloak-corp-production-dev" \
    "[service corp]" "provider = corp" "[service revcorp]" "provider = rev.corp"
F4=$C
# f6: time claims
conf f6 "$(prov idp jwt)" "[service aged]" "max_token_age = 600"
F6=$C
# f7: username claims (JWTs locally, opaque tokens by introspection)
conf f7 "$(prov idp auto)"
F7=$C
# f10: user_map_only, and membership asked about the token's own name
printf '%s\n' "# external local" "ext-alice alice" "ext-dave dave" > "$W/usermap"
chmod 644 "$W/usermap"
conf f10 "$(prov idp auto "user_map_file = $W/usermap" "user_map_only = true")"
F10=$C
conf f10m "$(prov idp auto "user_map_file = $W/usermap" "membership_check = enrollment" \
    "membership_url = $KZ_IDP_URL/membership/{group}/{user}" "membership_ttl = 0")" \
    "[service sec]" "require_group = sec-admins" "[service sec2]" "require_group = sec-admins2"
F10M=$C

# ---- PAM services --------------------------------------------------------------------
# F1: the stack shapes, with and without the module in account
probe f1-probe "$TI"
svc f1-suff "auth sufficient $MOD config=$TI" "auth required $PAMDIR/pam_deny.so" \
    "account required $PAMDIR/pam_permit.so"
svc f1-suff-acct "auth sufficient $MOD config=$TI" "auth required $PAMDIR/pam_deny.so" \
    "account required $MOD config=$TI"
svc f1-req "auth required $MOD config=$TI" "account required $MOD config=$TI"
svc f1-req-noacct "auth required $MOD config=$TI" "account required $PAMDIR/pam_permit.so"
svc f1-done "auth [success=done default=die] $MOD config=$TI" "auth required $PAMDIR/pam_permit.so" \
    "account required $PAMDIR/pam_permit.so"
svc f1-done-acct "auth [success=done default=die] $MOD config=$TI" "auth required $PAMDIR/pam_permit.so" \
    "account required $MOD config=$TI"
svc f1-aia "auth required $MOD config=$TI authz_in_account" "account required $MOD config=$TI authz_in_account"
probe f1-aia-probe "$TI" authz_in_account
# F2: the PAM service name is the policy name
for s in sudo sudo-i su-l runuser-l sudo-il xsudo-i; do probe "$s" "$POL"; done
probe shell-as "$POL" service=sudo-i
probe sudo-i-aia "$POL" "service=sudo-i authz_in_account"
# F3
probe f3-default "$F3" service=sudo
probe f3-aia "$F3" "service=sudo authz_in_account"
probe f3-aiauth "$F3" "service=sudo authz_in_auth"
svc f3-stack "auth required $MOD config=$F3 service=sudo" "account required $MOD config=$F3 service=sudo"
# a token that fails, then a password module that succeeds (pam_permit)
# (libpam lowercases service names)
for c in F3 TI; do
	cf=${!c} c=${c,,}
	svc "f3-pw-$c" "auth [success=done default=ignore] $MOD config=$cf service=sudo" \
	    "auth required $PAMDIR/pam_permit.so" \
	    "account required $MOD config=$cf service=sudo" "account required $PAMDIR/pam_permit.so"
	svc "f3-pw-probe-$c" "auth [success=done default=ignore] $MOD config=$cf service=sudo" \
	    "auth required $PAMDIR/pam_permit.so" \
	    "account [ignore=ignore default=done] $MOD config=$cf service=sudo" "account required $EXEC_FALSE"
done
svc f3-badopt "auth required $MOD config=$F3 authz_in_acount" "account required $MOD config=$F3"
svc f3-badopt-acct "auth required $MOD config=$F3" "account required $MOD config=$F3 authz_in_acount"
# F4, F6, F7, F8, F10
probe f4-prod "$F4" service=prod
probe f4-dev "$F4" service=dev
probe f6-aged "$F6" service=aged
probe f7-probe "$F7"
svc f7-suff "auth sufficient $MOD config=$F7" "auth required $PAMDIR/pam_deny.so" \
    "account required $PAMDIR/pam_permit.so"
probe f10-probe "$F10"
probe f10-sec2 "$F10M" service=sec2
pam_lib_own

# ==== F1: a tokeninfo 403 authenticates nobody ===========================================
# 403 naming nobody or another user: UNAUTHENTICATED/user_mismatch; naming
# this user: FORBIDDEN (missing_scope, as a wazo 403), PAM_AUTH_ERR in auth
# unless authz_in_account.
for user in root alice; do
	for who in nobody other self; do
		case $who in
		nobody) body='{"error":"insufficient_scope"}'; v=UNAUTHENTICATED/user_mismatch
			cv="1 UNAUTHENTICATED user_mismatch" ;;
		other) body='{"username":"bob","sub":"u-bob"}'; v=UNAUTHENTICATED/user_mismatch
			cv="1 UNAUTHENTICATED user_mismatch" ;;
		self) body="{\"username\":\"$user\",\"sub\":\"u-$user\"}"; v=FORBIDDEN/missing_scope
			cv="2 FORBIDDEN missing_scope" ;;
		esac
		n="F1 tokeninfo 403 naming $who"
		scripted 403 "$body"
		chk "$n" "$TI" "$cv" "$tok" --user "$user"
		pcase "$n" f1-probe "$user" "auth=PAM_AUTH_ERR acct=PAM_IGNORE $v" "$tok"
		pcase "$n, auth sufficient + pam_deny, account pam_permit" f1-suff "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_SUCCESS $v" "$tok"
		pcase "$n, auth sufficient + pam_deny, account the module" f1-suff-acct "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED $v" "$tok"
		pcase "$n, auth required, account the module" f1-req "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED $v" "$tok"
		pcase "$n, auth required, account pam_permit" f1-req-noacct "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_SUCCESS $v" "$tok"
		pcase "$n, auth [success=done default=die], account pam_permit" f1-done "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_SUCCESS $v" "$tok"
		pcase "$n, auth [success=done default=die], account the module" f1-done-acct "$user" \
		    "auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED $v" "$tok"
		if [ "$who" = self ]; then
			pcase "$n, authz_in_account (required, account the module)" f1-aia "$user" \
			    "auth=PAM_SUCCESS acct=PAM_PERM_DENIED $v" "$tok"
			pcase "$n, authz_in_account (probe)" f1-aia-probe "$user" \
			    "auth=PAM_SUCCESS acct=PAM_PERM_DENIED $v" "$tok"
		else
			pcase "$n, authz_in_account (required, account the module)" f1-aia "$user" \
			    "auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED $v" "$tok"
			pcase "$n, authz_in_account (probe)" f1-aia-probe "$user" \
			    "auth=PAM_AUTH_ERR acct=PAM_IGNORE $v" "$tok"
		fi
		[ "$user" = root ] && ptest "$n" f1-suff root "$tok"
	done
done
# the honest answers still work
scripted 200 '{"username":"alice","sub":"u-alice"}'
chk "F1 tokeninfo 200 naming alice" "$TI" "0 OK none" "$tok" --user alice
pcase "F1 tokeninfo 200 naming alice" f1-suff alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$tok"
scripted 401 '{"error":"invalid_token"}'
chk "F1 tokeninfo 401" "$TI" "1 UNAUTHENTICATED inactive" "$tok" --user root
pcase "F1 tokeninfo 401" f1-suff root "auth=PAM_AUTH_ERR acct=PAM_SUCCESS UNAUTHENTICATED/inactive" "$tok"

# ==== F2: sudo-i, su-l, runuser-l use the policy of sudo, su, runuser =====================
mint '"groups":[]'; t_plain=$tok
mint '"groups":["ops-admins"]'; t_ops=$tok
mint '"groups":["su-admins"]'; t_su=$tok
mint '"groups":["run-admins"]'; t_run=$tok
mint '"groups":["shell-admins"]'; t_shell=$tok
mint '"scope":"openid login default-scope"'; t_def=$tok
for s in sudo sudo-i sudo-l; do
	chk "F2 $s, token without ops-admins" "$POL" "2 FORBIDDEN missing_group" "$t_plain" --service "$s" --user alice
	chk "F2 $s, token with ops-admins" "$POL" "0 OK none" "$t_ops" --service "$s" --user alice
done
chk "F2 su-l, token without su-admins" "$POL" "2 FORBIDDEN missing_group" "$t_plain" --service su-l --user alice
chk "F2 su-l, token with ops-admins (sudo's group)" "$POL" "2 FORBIDDEN missing_group" "$t_ops" --service su-l --user alice
chk "F2 su-l, token with su-admins" "$POL" "0 OK none" "$t_su" --service su-l --user alice
chk "F2 runuser-l, token without run-admins" "$POL" "2 FORBIDDEN missing_group" "$t_plain" --service runuser-l --user alice
chk "F2 runuser-l, token with run-admins" "$POL" "0 OK none" "$t_run" --service runuser-l --user alice
# one suffix "-i" or "-l" is stripped, nothing else: these inherit nothing
for s in sudo-il xsudo-i sudoi sudo-x; do
	chk "F2 $s (no policy, no default): authentication is enough" "$POL" "0 OK none" "$t_plain" --service "$s" --user alice
done
# then [service default]
chk "F2 sudo-i with a default section: sudo's group, not the default" "$POLD" "2 FORBIDDEN missing_group" "$t_def" --service sudo-i --user alice
chk "F2 su-l with a default section: su's group" "$POLD" "2 FORBIDDEN missing_group" "$t_def" --service su-l --user alice
for s in sudo-il xsudo-i login-l; do
	chk "F2 $s falls back to [service default]" "$POLD" "2 FORBIDDEN missing_scope" "$t_plain" --service "$s" --user alice
	chk "F2 $s falls back to [service default] (scope present)" "$POLD" "0 OK none" "$t_def" --service "$s" --user alice
done
# sudo-i with its own section uses it
chk "F2 sudo-i's own section: sudo's group is not enough" "$POL2" "2 FORBIDDEN missing_group" "$t_ops" --service sudo-i --user alice
chk "F2 sudo-i's own section: its group" "$POL2" "0 OK none" "$t_shell" --service sudo-i --user alice
chk "F2 sudo with a sudo-i section: sudo-i's group is not sudo's" "$POL2" "2 FORBIDDEN missing_group" "$t_shell" --service sudo --user alice
chk "F2 sudo-i-i: one suffix stripped, [service sudo-i]" "$POL2" "2 FORBIDDEN missing_group" "$t_ops" --service sudo-i-i --user alice
# through PAM: the PAM service name is the policy name
for s in sudo sudo-i; do
	pcase "F2 token without ops-admins" "$s" alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
	pcase "F2 token with ops-admins" "$s" alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_ops"
done
pcase "F2 token without su-admins" su-l alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F2 token with su-admins" su-l alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_su"
pcase "F2 token without run-admins" runuser-l alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F2 token with run-admins" runuser-l alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_run"
for s in sudo-il xsudo-i; do
	pcase "F2 no policy applies" "$s" alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_plain"
done
pcase "F2 option service=sudo-i: sudo's policy" shell-as alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F2 service=sudo-i authz_in_account" sudo-i-aia alice "auth=PAM_SUCCESS acct=PAM_PERM_DENIED FORBIDDEN/missing_group" "$t_plain"

# ==== F3: FORBIDDEN in authenticate; acct_mgmt only after our own success =================
pcase "F3 403 by default" f3-default alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F3 403 with authz_in_account" f3-aia alice "auth=PAM_SUCCESS acct=PAM_PERM_DENIED FORBIDDEN/missing_group" "$t_plain"
pcase "F3 403 with authz_in_auth (the default)" f3-aiauth alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F3 403, auth required + account required" f3-stack alice "auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED FORBIDDEN/missing_group" "$t_plain"
for s in f3-default f3-aia f3-aiauth f3-stack; do
	pcase "F3 OK" "$s" alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_ops"
done
mint '"groups":["ops-admins"]' '"expires_in":-3600'; t_expired=$tok
scripted 503 '{"error":"temporarily_unavailable"}'; t_503=$tok
pcase "F3 an expired token, then a password module: acct ignores us" f3-pw-f3 alice \
    "auth=PAM_SUCCESS acct=PAM_SUCCESS UNAUTHENTICATED/expired" "$t_expired"
pcase "F3 an expired token, then a password module (probe: acct IGNORE)" f3-pw-probe-f3 alice \
    "auth=PAM_SUCCESS acct=PAM_IGNORE UNAUTHENTICATED/expired" "$t_expired"
pcase "F3 a 403 token, then a password module: acct ignores us" f3-pw-f3 alice \
    "auth=PAM_SUCCESS acct=PAM_SUCCESS FORBIDDEN/missing_group" "$t_plain"
pcase "F3 a 403 token, then a password module (probe: acct IGNORE)" f3-pw-probe-f3 alice \
    "auth=PAM_SUCCESS acct=PAM_IGNORE FORBIDDEN/missing_group" "$t_plain"
pcase "F3 provider 503, then a password module: acct ignores us" f3-pw-ti alice \
    "auth=PAM_SUCCESS acct=PAM_SUCCESS UNAVAILABLE/provider_error" "$t_503"
pcase "F3 provider 503, then a password module (probe: acct IGNORE)" f3-pw-probe-ti alice \
    "auth=PAM_SUCCESS acct=PAM_IGNORE UNAVAILABLE/provider_error" "$t_503"
pcase "F3 a good token in the same stack: acct answers from it" f3-pw-probe-f3 alice \
    "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$t_ops"
pcase "F3 unknown option authz_in_acount in auth" f3-badopt alice "auth=PAM_SERVICE_ERR -" "$t_ops"
pcase "F3 unknown option authz_in_acount in account" f3-badopt-acct alice \
    "auth=PAM_SUCCESS acct=PAM_SERVICE_ERR OK/none" "$t_ops"

# ==== F4: two providers never share a cached answer ======================================
# keycloak-corp-production (tokeninfo) says 401; keycloak-corp-production-dev
# (introspection) says alice, ops-admins.
opaque() { tok=$(idp opaque "$1"); all_tokens+=("$tok"); }
opaque '{"username":"alice","groups":["ops-admins"]}'
script "$tok" 401 '{"error":"invalid_token"}'
chk "F4 -dev first" "$F4" "0 OK none" "$tok" --service dev --user alice
chk "F4 then keycloak-corp-production: its own 401, not -dev's OK" "$F4" "1 UNAUTHENTICATED inactive" "$tok" --service prod --user alice
opaque '{"username":"alice","groups":["ops-admins"]}'
script "$tok" 401 '{"error":"invalid_token"}'
chk "F4 keycloak-corp-production first" "$F4" "1 UNAUTHENTICATED inactive" "$tok" --service prod --user alice
chk "F4 then -dev: its own OK, not the other's 401" "$F4" "0 OK none" "$tok" --service dev --user alice
opaque '{"username":"alice","groups":["ops-admins"]}'
script "$tok" 401 '{"error":"invalid_token"}'
pcase "F4 -dev first" f4-dev alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$tok"
pcase "F4 then keycloak-corp-production" f4-prod alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/inactive" "$tok"
# provider corp (JWT + revocation_check = introspect) and a provider named rev.corp
mint '"groups":["ops-admins"]'
script "$tok" 401 '{"error":"invalid_token"}'
chk "F4 corp first (JWT, revocation check)" "$F4" "0 OK none" "$tok" --service corp --user alice
chk "F4 then provider rev.corp: its own 401, not corp's revocation entry" "$F4" "1 UNAUTHENTICATED inactive" "$tok" --service revcorp --user alice
mint '"groups":["ops-admins"]'
script "$tok" 401 '{"error":"invalid_token"}'
chk "F4 provider rev.corp first" "$F4" "1 UNAUTHENTICATED inactive" "$tok" --service revcorp --user alice
chk "F4 then corp: not revoked by rev.corp's answer" "$F4" "0 OK none" "$tok" --service corp --user alice

# ==== F6: time claims in range, no overflow ==============================================
now=$(date +%s)
MIN=-9223372036854775808 MAX=9223372036854775807
while IFS='|' read -r claims svc want; do
	[ -n "$claims" ] || continue
	mint "$claims"
	chk "F6 {$claims}" "$F6" "$want" "$tok" --service "$svc" --user alice
done <<EOF
"iat":$MIN|aged|1 UNAUTHENTICATED malformed
"auth_time":$MIN|aged|1 UNAUTHENTICATED malformed
"auth_time":$MAX|aged|1 UNAUTHENTICATED malformed
"iat":$MAX|default|1 UNAUTHENTICATED malformed
"iat":9223372036854775808|default|1 UNAUTHENTICATED malformed
"iat":253402300800|default|1 UNAUTHENTICATED malformed
"iat":253402300799|default|1 UNAUTHENTICATED issued_in_future
"exp":253402300800|default|1 UNAUTHENTICATED malformed
"exp":$MAX|default|1 UNAUTHENTICATED malformed
"exp":$MIN|default|1 UNAUTHENTICATED malformed
"nbf":-1|default|1 UNAUTHENTICATED malformed
"nbf":$MIN|default|1 UNAUTHENTICATED malformed
"iat":-1|default|1 UNAUTHENTICATED malformed
"iat":$now.5|default|1 UNAUTHENTICATED malformed
"iat":$now.0|default|1 UNAUTHENTICATED malformed
"exp":$((now + 300)).5|default|1 UNAUTHENTICATED malformed
"iat":"$now"|default|1 UNAUTHENTICATED malformed
"iat":true|default|1 UNAUTHENTICATED malformed
"auth_time":"$now"|aged|1 UNAUTHENTICATED malformed
"auth_time":$now.5|aged|1 UNAUTHENTICATED malformed
"auth_time":true|aged|1 UNAUTHENTICATED malformed
"auth_time":-1|aged|1 UNAUTHENTICATED malformed
"auth_time":$((now + 3600))|aged|1 UNAUTHENTICATED issued_in_future
"auth_time":$((now + 3600))|default|1 UNAUTHENTICATED issued_in_future
"auth_time":$((now + 10))|aged|0 OK none
"auth_time":$((now - 700))|aged|2 FORBIDDEN token_too_old
"iat":$((now - 700))|aged|2 FORBIDDEN token_too_old
"iat":0|aged|2 FORBIDDEN token_too_old
"auth_time":$((now - 100))|aged|0 OK none
EOF
mint "\"preferred_username\":\"root\",\"sub\":\"u-root\",\"iat\":$MIN"
chk "F6 root, iat -2^63" "$F6" "1 UNAUTHENTICATED malformed" "$tok" --service aged --user root
pcase "F6 root, iat -2^63" f6-aged root "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/malformed" "$tok"
mint "\"auth_time\":$MIN"
pcase "F6 auth_time -2^63" f6-aged alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/malformed" "$tok"
mint "\"auth_time\":$((now + 3600))"
pcase "F6 auth_time in the future" f6-aged alice "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/issued_in_future" "$tok"

# ==== F7: a username claim of the wrong type is malformed, never a fallback ==============
for pu in 5 true '[]' '["root"]' '{"name":"root"}' '""' null; do
	if [ "$pu" = null ]; then
		mint '"username":"root","sub":"u-root"' '"null_claims":["preferred_username"]'
	else
		mint "\"preferred_username\":$pu,\"username\":\"root\",\"sub\":\"u-root\""
	fi
	chk "F7 JWT preferred_username $pu, username root" "$F7" "1 UNAUTHENTICATED malformed" "$tok" --user root
	pcase "F7 JWT preferred_username $pu, username root" f7-probe root \
	    "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/malformed" "$tok"
	if [ "$pu" = 5 ]; then
		pcase "F7 JWT preferred_username 5, auth sufficient + pam_deny" f7-suff root \
		    "auth=PAM_AUTH_ERR acct=PAM_SUCCESS UNAUTHENTICATED/malformed" "$tok"
		ptest "F7 JWT preferred_username 5, username root" f7-suff root "$tok"
	fi
done
mint '"username":"root","sub":"u-root","preferred_username":null'
chk "F7 JWT without preferred_username: username is no fallback (sub is)" "$F7" "1 UNAUTHENTICATED user_mismatch" "$tok" --user root
pcase "F7 JWT without preferred_username, username root" f7-probe root \
    "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/user_mismatch" "$tok"
mint '"preferred_username":"alice","username":5'
chk "F7 JWT with a good preferred_username: username is not looked at" "$F7" "0 OK none" "$tok" --user alice
# provider answers keep the username fallback
opaque '{"username":"alice"}'
chk "F7 introspection answer with username only" "$F7" "0 OK none" "$tok" --user alice
pcase "F7 introspection answer with username only" f7-probe alice "auth=PAM_SUCCESS acct=PAM_SUCCESS OK/none" "$tok"
scripted 200 '{"username":"alice","sub":"u-alice"}'
chk "F7 tokeninfo answer with username only" "$TI" "0 OK none" "$tok" --user alice
# a provider answer with a wrong-typed preferred_username: refused, never root
# (malformed, or provider_error: DESIGN names no reason for a broken answer)
for pu in 5 '""' '["root"]'; do
	scripted 200 "{\"preferred_username\":$pu,\"username\":\"root\",\"sub\":\"u-root\"}"
	o=$(printf '%s' "$tok" | "${RUN[@]}" env KZTOKEN_LOG_FILE="$AUDIT" "$KZ" check --config "$TI" --json --user root 2>>"$W/stderr"); rc=$?
	got=$(/usr/bin/python3 -c 'import json,sys
d = json.loads(sys.stdin.read()); print(d["verdict"], d["reason"])' <<<"$o" 2>/dev/null)
	case "$rc $got" in
	"1 UNAUTHENTICATED malformed") t_pass "check: F7 tokeninfo preferred_username $pu, username root: malformed" ;;
	*) t_fail "check: F7 tokeninfo preferred_username $pu, username root: refused" "got $rc $got"
	   [ "$rc" = 0 ] && wrong_ok+=("check: F7 tokeninfo preferred_username $pu") ;;
	esac
done

# ==== F8: tokeninfo 200 answers honour active and token_type =============================
while IFS='|' read -r body want; do
	[ -n "$body" ] || continue
	scripted 200 "{$body,\"username\":\"alice\",\"sub\":\"u-alice\"}"
	chk "F8 tokeninfo 200 {$body}" "$TI" "$want" "$tok" --user alice
done <<'EOF'
"active":false|1 UNAUTHENTICATED inactive
"active":"true"|1 UNAUTHENTICATED inactive
"active":"false"|1 UNAUTHENTICATED inactive
"active":1|1 UNAUTHENTICATED inactive
"active":null|1 UNAUTHENTICATED inactive
"active":[true]|1 UNAUTHENTICATED inactive
"token_type":"refresh_token"|1 UNAUTHENTICATED wrong_token_type
"token_type":"urn:ietf:params:oauth:token-type:refresh_token"|1 UNAUTHENTICATED wrong_token_type
"active":true,"token_type":"refresh_token"|1 UNAUTHENTICATED wrong_token_type
"active":true|0 OK none
"active":true,"token_type":"access_token"|0 OK none
"token_type":"Bearer"|0 OK none
"aud":"some-other-client"|1 UNAUTHENTICATED bad_audience
"aud":["some-other-client","host-fleet"]|0 OK none
"aud":5|1 UNAUTHENTICATED malformed
"iss":"https://evil.example"|1 UNAUTHENTICATED bad_issuer
"exp":1.5|1 UNAUTHENTICATED malformed
EOF
scripted 200 '{"active":false,"username":"root","sub":"u-root"}'
chk "F8 tokeninfo 200 active=false naming root" "$TI" "1 UNAUTHENTICATED inactive" "$tok" --user root
pcase "F8 tokeninfo 200 active=false" f1-probe root "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/inactive" "$tok"
pcase "F8 tokeninfo 200 active=false, auth sufficient + pam_deny" f1-suff root \
    "auth=PAM_AUTH_ERR acct=PAM_SUCCESS UNAUTHENTICATED/inactive" "$tok"
ptest "F8 tokeninfo 200 active=false" f1-suff root "$tok"
scripted 200 '{"token_type":"refresh_token","username":"root","sub":"u-root"}'
pcase "F8 tokeninfo 200 token_type refresh_token" f1-probe root "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/wrong_token_type" "$tok"
rt=$(idp refresh '{"username":"alice"}'); all_tokens+=("$rt")
chk "F8 a refresh token at introspection" "$F7" "1 UNAUTHENTICATED wrong_token_type" "$rt" --user alice

# ==== F10: user_map_only; membership asked about the token's own name ====================
mint '"preferred_username":"bob"'
chk "F10 user_map_only, bob not in the map" "$F10" "1 UNAUTHENTICATED user_mismatch" "$tok" --user bob
pcase "F10 user_map_only, bob not in the map" f10-probe bob "auth=PAM_AUTH_ERR acct=PAM_IGNORE UNAUTHENTICATED/user_mismatch" "$tok"
mint '"preferred_username":"root","sub":"u-root"'
chk "F10 user_map_only, root not in the map" "$F10" "1 UNAUTHENTICATED user_mismatch" "$tok" --user root
mint '"preferred_username":"alice"'
chk "F10 user_map_only, alice is a local name in the map, not an external one" "$F10" "1 UNAUTHENTICATED user_mismatch" "$tok" --user alice
mint '"preferred_username":"ext-alice"'
chk "F10 user_map_only, ext-alice maps to alice" "$F10" "0 OK none" "$tok" --user alice
chk "F10 without user_map_only, ext-alice maps to alice" "$F10M" "0 OK none" "$tok" --user alice
mint '"preferred_username":"bob"'
chk "F10 without user_map_only, bob stays bob" "$F10M" "0 OK none" "$tok" --user bob
# membership: ext-dave (the token's name) is in sec-admins; dave (the
# mapped local name) is in sec-admins2 only
idp POST /test/membership '{"group":"sec-admins","user":"ext-dave"}' >/dev/null
idp POST /test/membership '{"group":"sec-admins2","user":"dave"}' >/dev/null
enrolled=0
for g in sec-admins sec-admins2; do
	rt=$(idp refresh "{\"username\":\"host-$g\",\"group\":\"$g\"}"); all_tokens+=("$rt")
	if printf '%s\n' "$rt" | "${RUN[@]}" "$KZ" enroll "$g" --config "$F10M" --provider idp --group "$g" \
	    >>"$W/stderr" 2>&1; then
		enrolled=$((enrolled + 1))
	fi
done
t_check "F10 the group tokens of sec-admins and sec-admins2 are enrolled" 2 "$enrolled"
mint '"preferred_username":"ext-dave","groups":[]'
chk "F10 membership of the token's own name ext-dave" "$F10M" "0 OK none" "$tok" --service sec --user dave
chk "F10 membership: the mapped name dave's groups do not count" "$F10M" "2 FORBIDDEN missing_group" "$tok" --service sec2 --user dave
pcase "F10 membership: the mapped name dave's groups do not count" f10-sec2 dave \
    "auth=PAM_AUTH_ERR acct=PAM_IGNORE FORBIDDEN/missing_group" "$tok"

# ==== no refused case authenticated; no token in the logs =================================
wo=""
for x in "${wrong_ok[@]}"; do wo+="$x; "; done
t_check "no refused case authenticated (PAM_SUCCESS in auth, pamtester success, check exit 0)" "" "$wo"
[ ${#wrong_ok[@]} -eq 0 ] || printf '# authenticated although refused: %s\n' "${wrong_ok[@]}"
leak=0
for t in "${all_tokens[@]}"; do
	for f in "$AUDIT" "$W/stderr"; do
		[ -f "$f" ] && grep -qF -- "${t##*.}" "$f" && leak=1
	done
done
t_check "no token (nor its signature) in the audit log or stderr" "0" "$leak"

t_done
