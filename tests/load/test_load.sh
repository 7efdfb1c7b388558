#!/bin/bash
# tests/load/test_load.sh - many logins at once, and a provider that
# misbehaves in the middle of them (DESIGN.md section 12 and section 4's
# deadline).  2,000 decisions at 16-way concurrency, a mix of JWTs and
# opaque tokens, valid and not: every verdict and reason right, none
# slower than the deadline, no crash, and the provider asked at most once
# per distinct opaque token.  Then each fault mode of the test IdP (hang,
# 503, 429, reset, endless, huge) and a TLS failure: a clean UNAVAILABLE
# within timeout = 2, and recovery after.  Then the IdP's clock 10
# minutes off either way.  About 30 s.
set -u
. "$(dirname "$0")/../lib.sh"

for v in KZ_IDP_DIR KZ_IDP_URL; do
	if [ -z "${!v:-}" ]; then t_skip "load suite" "$v not set (start tests/idp/start.sh)"; t_done; exit; fi
done
work=$(mktemp -d /tmp/kztoken-load.XXXXXX)
cleanup() {
	idp POST /test/fault '{"mode":"none"}' >/dev/null 2>&1
	idp POST /test/mode '{"clock_offset":0}' >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$KZ_ROOT/libkzauth" \
	-o "$work/kzload" "$KZ_ROOT/tests/load/kzload.c" -L"$KZ_BUILD" -lkzauth \
	-Wl,-rpath,"$KZ_BUILD" || { t_fail "build kzload"; t_done; exit; }
cases() { /usr/bin/python3 "$KZ_ROOT/tests/load/cases.py" "$KZ_IDP_DIR"; }
stat_path() {	# requests to PATH since the last reset
	idp GET /test/stats | /usr/bin/python3 -c \
		'import json,sys; print(json.load(sys.stdin)["paths"].get(sys.argv[1], 0))' "$1"
}
# run NAME CONFIG CASEFILE NPROC DEADLINE_MS MODE: kzload, checked.
run() {
	local name=$1 out
	shift
	out=$("$work/kzload" "$@" 2>&1)
	local rc=$?
	last=$(tail -n1 <<<"$out")
	if [ $rc -eq 0 ]; then
		t_pass "$name: $last"
	else
		t_fail "$name" "$last"
		head -n 20 <<<"$out"
	fi
}

kz_write_config "$work/a/kz.conf" 
sed -i 's/^timeout = 3$/timeout = 2/' "$work/a/kz.conf"
conf=$work/a/kz.conf

# ---- 2,000 decisions at 16-way concurrency
cases > "$work/mix" <<'SPEC' || { t_fail "mint tokens"; t_done; exit; }
{"kind":"opaque","n":60,"repeat":15,"expect":"OK none"}
{"kind":"opaque","n":10,"repeat":5,"revoke":true,"expect":"UNAUTHENTICATED inactive"}
{"kind":"opaque","n":10,"repeat":5,"req":{"active":false},"expect":"UNAUTHENTICATED inactive"}
{"kind":"opaque","n":10,"repeat":5,"req":{"username":"bob"},"expect":"UNAUTHENTICATED user_mismatch"}
{"kind":"opaque","n":5,"repeat":4,"req":{"token_type":"refresh_token"},"expect":"UNAUTHENTICATED wrong_token_type"}
{"kind":"mint","n":30,"repeat":20,"expect":"OK none"}
{"kind":"mint","n":10,"repeat":10,"req":{"alg":"ES256"},"expect":"OK none"}
{"kind":"mint","n":5,"repeat":10,"req":{"expires_in":-400},"expect":"UNAUTHENTICATED expired"}
{"kind":"mint","n":5,"repeat":10,"req":{"tamper":"signature"},"expect":"UNAUTHENTICATED bad_signature"}
{"kind":"mint","n":5,"repeat":10,"req":{"claims":{"aud":"other-host"}},"expect":"UNAUTHENTICATED bad_audience"}
{"kind":"mint","n":5,"repeat":10,"req":{"claims":{"preferred_username":"bob"}},"expect":"UNAUTHENTICATED user_mismatch"}
{"kind":"raw","token":"abc.def","repeat":30,"expect":"UNAUTHENTICATED malformed"}
SPEC
distinct_opaque=95
t_check "2,000 cases minted" 2000 "$(wc -l < "$work/mix")"
idp POST /test/stats/reset >/dev/null
run "2,000 decisions, 16 processes, each token in one process" "$conf" "$work/mix" 16 2000 token
n=$(stat_path /introspect)
if [ "$n" -le "$distinct_opaque" ]; then
	t_pass "introspection requests $n <= $distinct_opaque distinct opaque tokens"
else
	t_fail "introspection requests" "$n for $distinct_opaque distinct opaque tokens"
fi
idp POST /test/stats/reset >/dev/null
run "2,000 decisions again, 16 fresh processes, dealt in turn" "$conf" "$work/mix" 16 2000 round
t_check "second pass answered from the disk cache: introspection requests" 0 "$(stat_path /introspect)"

# ---- provider faults in the middle of the load
grep '^OK ' "$work/mix" | head -n 64 > "$work/cached"
declare -A want=([hang]=timeout [503]=provider_error [429]=rate_limited
	[reset]="provider_unreachable|provider_error" [endless]="timeout|provider_error"
	[huge]=provider_error)
: > "$work/recover"
for mode in hang 503 429 reset endless huge; do
	echo "{\"kind\":\"opaque\",\"n\":16,\"expect\":\"UNAVAILABLE ${want[$mode]}\"}" | cases > "$work/f-$mode"
	sed 's/^UNAVAILABLE [^ ]* /OK none /' "$work/f-$mode" >> "$work/recover"
	cat "$work/cached" >> "$work/f-$mode"
	idp POST /test/fault "{\"mode\":\"$mode\",\"paths\":[\"/introspect\"]}" >/dev/null
	run "fault $mode: new opaque tokens UNAVAILABLE/${want[$mode]} within 2 s, cached and JWTs OK" \
		"$conf" "$work/f-$mode" 16 2300 round
done
idp POST /test/fault '{"mode":"none"}' >/dev/null
run "provider back: the 96 tokens refused during the faults now OK" "$conf" "$work/recover" 16 2000 round

# ---- TLS: the provider's certificate is not signed by the configured CA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=not-the-idp-ca -keyout "$work/other.key" -out "$work/other-ca.pem" 2>/dev/null
kz_write_config "$work/tls/kz.conf"
sed -i -e 's/^timeout = 3$/timeout = 2/' -e "s|^ca_file = .*|ca_file = $work/other-ca.pem|" "$work/tls/kz.conf"
{
	echo '{"kind":"opaque","n":16,"expect":"UNAVAILABLE provider_unreachable"}'
	echo '{"kind":"mint","n":4,"expect":"UNAVAILABLE provider_unreachable"}'
} | cases > "$work/tls-cases"
run "TLS failure: UNAVAILABLE/provider_unreachable within 2 s" "$work/tls/kz.conf" "$work/tls-cases" 8 2300 round

# ---- clock faults: the IdP 10 minutes ahead, then 10 minutes behind
idp POST /test/mode '{"clock_offset":600}' >/dev/null
nbf=$(( $(date +%s) + 600 ))
{
	echo '{"kind":"mint","n":4,"expect":"UNAUTHENTICATED issued_in_future"}'
	echo "{\"kind\":\"mint\",\"n\":4,\"req\":{\"claims\":{\"nbf\":$nbf}},\"expect\":\"UNAUTHENTICATED not_yet_valid\"}"
	echo '{"kind":"opaque","n":4,"expect":"UNAUTHENTICATED issued_in_future"}'
} | cases > "$work/ahead"
idp POST /test/mode '{"clock_offset":-600}' >/dev/null
{
	echo '{"kind":"mint","n":4,"expect":"UNAUTHENTICATED expired"}'
	echo '{"kind":"opaque","n":4,"expect":"UNAUTHENTICATED expired"}'
} | cases > "$work/behind"
run "IdP clock 10 min ahead: issued_in_future / not_yet_valid" "$conf" "$work/ahead" 4 2000 round
run "IdP clock 10 min behind: expired" "$conf" "$work/behind" 4 2000 round
idp POST /test/mode '{"clock_offset":0}' >/dev/null
echo '{"kind":"mint","n":4,"expect":"OK none"}
{"kind":"opaque","n":4,"expect":"OK none"}' | cases > "$work/clock-ok"
run "IdP clock right again: OK" "$conf" "$work/clock-ok" 4 2000 round

t_done
