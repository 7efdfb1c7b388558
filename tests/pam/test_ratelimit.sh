#!/bin/bash
# tests/pam/test_ratelimit.sh - strangers typing opaque-looking strings at
# the prompt: after 10 unknown tokens from one PAM_RHOST within a minute
# the next gets AUTHINFO_UNAVAIL (UNAVAILABLE/rate_limited) without the
# IdP seeing an introspection, while another source still gets through
# and a token already in the decision cache still logs in.  Each login is
# its own process, so this also proves the limit lives in cache_dir.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pam_lib.sh"
unset KZTOKEN_RATELIMIT		# the limiter itself is under test here
pam_lib_init kztoken-pamrl
C=$W/main/kz.conf
kz_write_config "$C" "validation = introspect"
localize "$C"
# pam_set_items.so copies PAM_RHOST from the environment into the item,
# as sshd sets it.
printf '%s\n' "auth required $PWDIR/pam_set_items.so" "auth required $MOD config=$C" \
    "account required $MOD config=$C" > "$W/svc/sshd"
pam_lib_own

# login RHOST TOKEN OP=CODE...: one transaction from RHOST; sets $res, $new
login() {
	local rhost=$1 tok=$2 before
	shift 2
	before=$(cat "$AUDIT" 2>/dev/null | wc -l)
	res=$(printf '%s\n' "$tok" | timeout 30 "${RUN[@]}" env LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR="$W/svc" KZTOKEN_LOG_FILE="$AUDIT" PAM_RHOST="$rhost" \
	    "$W/kzpam" sshd alice "$@" 2>>"$W/stderr" | grep '^result:')
	new=$(tail -n +$((before + 1)) "$AUDIT" 2>/dev/null)
}
introspections() {
	idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/introspect", 0))'
}
stranger() { head -c 30 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# The windows are wall-clock minutes: start early in one, so that the
# whole run (a few seconds) stays inside it.
sec=$(date +%S)
[ "${sec#0}" -gt 45 ] && sleep $((61 - ${sec#0}))

good=$(idp opaque '{"username":"alice"}')
login 198.51.100.7 "$good" auth=PAM_SUCCESS acct=PAM_SUCCESS
t_check "a good opaque token from the source logs in (and is cached)" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"

# 9 more unknown strings fill the source's 10 a minute
n_ok=0
for i in 1 2 3 4 5 6 7 8 9; do
	login 198.51.100.7 "$(stranger)" auth=PAM_AUTH_ERR
	[ "$res" = "result: auth=PAM_AUTH_ERR" ] && n_ok=$((n_ok + 1))
done
t_check "9 unknown strings are asked about and refused (AUTH_ERR)" 9 "$n_ok"

before=$(introspections)
login 198.51.100.7 "$(stranger)" auth=PAM_AUTHINFO_UNAVAIL
t_check "the 11th unknown token from the source: AUTHINFO_UNAVAIL" "result: auth=PAM_AUTHINFO_UNAVAIL" "$res"
t_check "the IdP saw no introspection for it" "$before" "$(introspections)"
if grep -q 'service=sshd user=alice verdict=UNAVAILABLE reason=rate_limited ' <<<"$new"; then
	t_pass "the audit line says UNAVAILABLE reason=rate_limited"
else
	t_fail "the audit line says UNAVAILABLE reason=rate_limited" "$new"
fi

login 198.51.100.7 "$good" auth=PAM_SUCCESS acct=PAM_SUCCESS
t_check "the cached good token from the same source still logs in" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
t_check "without asking the IdP" "$before" "$(introspections)"

login 203.0.113.9 "$(stranger)" auth=PAM_AUTH_ERR
t_check "another source still reaches the IdP (AUTH_ERR, not UNAVAIL)" "result: auth=PAM_AUTH_ERR" "$res"
t_check "with one introspection" "$((before + 1))" "$(introspections)"
good2=$(idp opaque '{"username":"alice"}')
login 203.0.113.9 "$good2" auth=PAM_SUCCESS acct=PAM_SUCCESS
t_check "and a new good token from it logs in" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"

# No remote source (sudo, su, a console): the invoking user is the source,
# so a local user looping junk through sudo is bounded too.  (Root's own
# requests are not counted; this suite runs as nobody when started as root.)
if [ ${#RUN[@]} -gt 0 ]; then
	n_ok=0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		login "" "$(stranger)" auth=PAM_AUTH_ERR
		[ "$res" = "result: auth=PAM_AUTH_ERR" ] && n_ok=$((n_ok + 1))
	done
	t_check "a local user (no PAM_RHOST): 10 unknown strings are asked about" 10 "$n_ok"
	before=$(introspections)
	login "" "$(stranger)" auth=PAM_AUTHINFO_UNAVAIL
	t_check "the local user's 11th: AUTHINFO_UNAVAIL, IdP not asked" \
	    "result: auth=PAM_AUTHINFO_UNAVAIL $before" "$res $(introspections)"
else
	t_skip "local user bound" "needs root to run as nobody"
fi
t_done
