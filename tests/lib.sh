# tests/lib.sh - what shell test suites share.  Source it, call t_pass /
# t_fail / t_skip per test, and end with t_done.  A skipped test is never
# counted as passed.
#
# Environment from tests/run.sh: KZ_ROOT (repository), KZ_BUILD (build dir),
# KZ_IDP_DIR (state dir of the running test IdP), KZ_IDP_URL.

KZ_ROOT=${KZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KZ_BUILD=${KZ_BUILD:-$KZ_ROOT/build}
_t_suite=$(basename "$0" .sh)
_t_pass=0 _t_fail=0 _t_skip=0

t_pass() { _t_pass=$((_t_pass + 1)); echo "ok - $_t_suite: $1"; }
t_fail() { _t_fail=$((_t_fail + 1)); echo "not ok - $_t_suite: $1${2:+ ($2)}"; }
t_skip() { _t_skip=$((_t_skip + 1)); echo "skip - $_t_suite: $1${2:+ ($2)}"; }
# t_check NAME EXPECTED ACTUAL
t_check() {
	if [ "$2" = "$3" ]; then t_pass "$1"; else t_fail "$1" "expected '$2', got '$3'"; fi
}
t_done() {
	echo "# RESULT $_t_suite passed=$_t_pass failed=$_t_fail skipped=$_t_skip"
	[ "$_t_fail" -eq 0 ]
}

# t_inner OUTFILE RC: prints what an inner half of a suite (run in a mount
# namespace) said and adds the counts of its RESULT line to ours.
t_inner() {
	local line
	grep -v '^# RESULT ' "$1"
	line=$(grep '^# RESULT ' "$1" | tail -1)
	if [ -n "$line" ]; then
		_t_pass=$((_t_pass + $(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$line")))
		_t_fail=$((_t_fail + $(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$line")))
		_t_skip=$((_t_skip + $(sed 's/.*skipped=\([0-9]*\).*/\1/' <<<"$line")))
	else
		t_fail "inner run in the mount namespace" "exited $2 without a RESULT line"
	fi
}

# idp METHOD PATH [JSON]: talks to the running test IdP.
idp() { "$KZ_ROOT/tests/idp/idpctl" "$KZ_IDP_DIR" "$@"; }

# mint_len N [JSON claims]: a JWT of N characters (N+1 where base64 cannot
# make N), padded with a long extra claim: long-token and chunked tests.
mint_len() {
	local want=$1 extra=${2:-} pad tok d i
	pad=$(( (want - 700) * 3 / 4 ))
	for i in 1 2 3 4 5 6; do
		tok=$(idp mint "{\"claims\":{${extra:+$extra,}\"pad\":\"$(head -c "$pad" /dev/zero | tr '\0' x)\"}}")
		d=$((want - ${#tok}))
		if [ "$d" -eq 0 ] || { [ "$i" -gt 3 ] && [ "$d" -eq -1 ]; }; then break; fi
		pad=$((pad + (d > 0 ? (d * 3 + 3) / 4 : (d * 3 - 3) / 4)))
		[ "$d" -gt -3 ] && [ "$d" -lt 0 ] && pad=$((pad - 1))
	done
	printf '%s' "$tok"
}

# kz_write_config FILE [extra lines...]: a config for the test IdP, with
# its own cache, store and denylist under the directory of FILE.
kz_write_config() {
	local f=$1 d
	shift
	d=$(dirname "$f")
	mkdir -p "$d/cache" "$d/store"
	chmod 700 "$d/cache" "$d/store"
	cat > "$f" <<CONF
[kztoken]
timeout = 3
connect_timeout = 2
leeway = 30
cache_dir = $d/cache
store_dir = $d/store
denylist_file = $d/denylist

[provider idp]
issuer = $KZ_IDP_URL
audience = host-fleet
validation = auto
jwks_url = $KZ_IDP_URL/jwks
introspection_url = $KZ_IDP_URL/introspect
revocation_url = $KZ_IDP_URL/revoke
token_url = $KZ_IDP_URL/token
client_id = host-fleet
client_secret_file = $KZ_IDP_DIR/client_secret
ca_file = $KZ_IDP_DIR/ca.pem
CONF
	local line
	for line in "$@"; do printf '%s\n' "$line" >> "$f"; done
	chmod 600 "$f"
}

