#!/bin/bash
# tests/cli/test_enrollment.sh - kztoken enroll/list/refresh/token/revoke/
# doctor against the test IdP: every exit code, rotation over 100 refresh
# cycles, revocation (and sudo gated on the revoked group token), the
# Kaizala dialect, permission refusal, secrets never in argv or output,
# and `check --explain` for a valid, an expired and a forbidden token.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-enroll.XXXXXX)
trap 'rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
kz_write_config "$conf" \
	"membership_check = enrollment" \
	"membership_url = $KZ_IDP_URL/membership/{group}/{user}" \
	"membership_ttl = 0" \
	"[service sudo]" "require_group = ops-admins"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log
out=$work/out		# every stdout/stderr of kztoken, to search for secrets
: > "$out"

# kz ARGS...: runs kztoken, keeps its output, sets $rc and $o
kz() { o=$("$KZ" "$@" 2>&1); rc=$?; printf '%s\n' "$o" >> "$out"; }
new_rt() { idp refresh "$1"; }
stored_rt() { sed -n 's/^refresh_token //p' "$work/c/store/$1.enr"; }
rt_state() {
	printf '{"refresh_token":"%s"}' "$1" | idp POST /test/check_refresh - |
	    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}
secrets=()

# ---- usage and exit codes ----
kz enroll; t_check "enroll without NAME exits 4" 4 "$rc"
kz enroll x --group g --user u </dev/null; t_check "enroll with --group and --user exits 4" 4 "$rc"
kz enroll x --group g sometoken </dev/null; t_check "a token on the command line is refused (4)" 4 "$rc"
case $o in *"never the command line"*) t_pass "and the message says why" ;; *) t_fail "message for argv token" "$o" ;; esac
kz enroll x --group g </dev/null; t_check "enroll with an empty stdin exits 4" 4 "$rc"
# a control byte in the group would make the store file unreadable (and
# reach the terminal): refused before anything is sent or stored
o=$(printf 'rt-%040d\n' 0 | "$KZ" enroll ctl --group $'ops\e[31m' 2>&1); rc=$?
t_check "enroll with a control byte in the group exits 4" "4 no-file" "$rc $([ -e "$work/c/store/ctl.enr" ] && echo file || echo no-file)"
kz list --bogus; t_check "list with a bad option exits 4" 4 "$rc"
kz token; t_check "token without NAME exits 4" 4 "$rc"
kz token nosuch; t_check "token of an unknown enrollment exits 4" 4 "$rc"
kz refresh; t_check "refresh without NAME or --all exits 4" 4 "$rc"
kz revoke nosuch; t_check "revoke of an unknown enrollment exits 4" 4 "$rc"
kz list --config /nonexistent.conf; t_check "list with a missing config exits 4" 4 "$rc"
kz list; t_check "list of an empty store exits 0" 0 "$rc"
for c in enroll list refresh token revoke doctor; do
	kz "$c" --help
	if [ "$rc" = 0 ] && [[ $o == *"usage: kztoken $c"* ]]; then t_pass "$c --help"; else t_fail "$c --help" "rc=$rc $o"; fi
done

# ---- enroll, from stdin and from a file; the token never in argv ----
rt=$(new_rt '{"username":"alice","group":"ops-admins"}'); secrets+=("$rt")
mkfifo "$work/fifo"
"$KZ" enroll ops --provider idp --group ops-admins < "$work/fifo" > "$work/enroll.out" 2>&1 &
pid=$!
sleep 0.3
cmdline=$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)
printf '%s\n' "$rt" > "$work/fifo"
wait $pid; rc=$?; cat "$work/enroll.out" >> "$out"
t_check "enroll from stdin exits 0" 0 "$rc"
if [ -n "$cmdline" ] && [[ $cmdline != *"$rt"* ]]; then t_pass "refresh token not in /proc/PID/cmdline"; else t_fail "cmdline" "$cmdline"; fi
st=$(stat -c %a "$work/c/store/ops.enr")
t_check "store file is 0600" 600 "$st"
t_check "the enrolled refresh token was proven (rotated: now grace)" grace "$(rt_state "$rt")"
t_check "the store holds the current one" current "$(rt_state "$(stored_rt ops)")"
# the same chain under a second name would rotate it twice: refused, unsent
before=$(idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_attempts"])')
for t in "$(stored_rt ops)" "$rt"; do
	o=$(printf '%s\n' "$t" | "$KZ" enroll ops-dup --group ops-admins 2>&1); rc=$?
	t_check "enrolling ops's token (or the one it replaced) as ops-dup exits 4" 4 "$rc"
	[[ $o == *"belongs to enrollment ops"* ]] && t_pass "and names ops" || t_fail "dup message" "$o"
done
t_check "nothing was sent for them" "$before" "$(idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_attempts"])')"

rt2=$(new_rt '{"username":"alice"}'); secrets+=("$rt2")
printf '%s\n' "$rt2" > "$work/rt2"; chmod 600 "$work/rt2"
kz enroll me --user alice --refresh-token-file "$work/rt2"
t_check "enroll from --refresh-token-file exits 0" 0 "$rc"
kz enroll me --user alice --refresh-token-file "$work/rt2"
t_check "enrolling over an active one without --force exits 4" 4 "$rc"
kz enroll bad --user alice --refresh-token-file "$work/nosuchfile"
t_check "enroll from a missing file exits 4" 4 "$rc"
printf 'not-a-known-token-0123456789\n' | "$KZ" enroll dud --user alice > /dev/null 2>&1
t_check "enrolling an unknown refresh token exits 1 (invalid_grant)" 1 "$?"
[ -e "$work/c/store/dud.enr" ] && t_fail "a refused token is not stored" || t_pass "a refused token is not stored"

kz list
if [ "$rc" = 0 ] && [[ $o == *ops*group*ops-admins*active* ]] && [[ $o == *me*user*alice*active* ]]; then
	t_pass "list shows both, kind, subject and state"; else t_fail "list" "$o"; fi
kz list --json
t_check "list --json" "2 me user alice active True" "$(printf '%s' "$o" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(2, d["name"], d["kind"], d["user"], d["state"], d["access_token_expiry"] > 0)')"

# ---- token and refresh ----
tok=$("$KZ" token ops 2>>"$out"); rc=$?
t_check "token exits 0" 0 "$rc"
printf "%s" "$tok" | "$KZ" check > /dev/null 2>&1
t_check "the printed access token validates" 0 "$?"
idp POST /test/stats/reset > /dev/null
kz refresh ops --if-due
t_check "refresh --if-due of a fresh one exits 0" 0 "$rc"
[[ $o == *"not due"* ]] && t_pass "and says not due" || t_fail "not due" "$o"
t_check "and asks nothing" 0 "$(idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_attempts"])')"

# rotation over 100 cycles: after each, the store holds what the IdP accepts
bad=0
for i in $(seq 100); do
	"$KZ" refresh ops >> "$out" 2>&1 || bad=$((bad + 1))
	[ "$(rt_state "$(stored_rt ops)")" = current ] || bad=$((bad + 1))
done
t_check "100 rotating refreshes, store always current" 0 "$bad"

# ---- progress on a terminal ----
o=$(script -qec "$KZ refresh --all" /dev/null 2>&1); printf '%s\n' "$o" >> "$out"
[[ $o == *"[1/2]"* && $o == *"[2/2]"* ]] && t_pass "refresh --all shows progress on a tty" || t_fail "progress" "$o"
kz refresh --all
[[ $o != *"[1/2]"* ]] && t_pass "no progress line without a tty" || t_fail "no progress" "$o"
t_check "refresh --all exits 0" 0 "$rc"

# ---- permissions ----
chmod 644 "$work/c/store/ops.enr"
kz token ops; t_check "token with a 0644 store file exits 4" 4 "$rc"
[[ $o == *"0644"*"too open"* ]] && t_pass "and names the mode" || t_fail "0644 message" "$o"
kz list; t_check "list with a 0644 store file exits 4" 4 "$rc"
chmod 600 "$work/c/store/ops.enr"
mv "$work/c/store/me.enr" "$work/me.enr"
ln -s "$work/me.enr" "$work/c/store/me.enr"
kz token me; t_check "token with a symlinked store file exits 4" 4 "$rc"
[[ $o == *"symbolic link"* ]] && t_pass "and says symlink" || t_fail "symlink message" "$o"
rm "$work/c/store/me.enr"; mv "$work/me.enr" "$work/c/store/me.enr"
chmod 755 "$work/c/store"
kz list; t_check "a 0755 store_dir is refused (4)" 4 "$rc"
chmod 700 "$work/c/store"

# ---- check --explain: valid, expired, forbidden ----
alice=$(idp mint '{"claims":{"preferred_username":"alice","groups":[]}}')
expired=$(idp mint '{"claims":{"preferred_username":"alice"},"expires_in":-600}')
bob=$(idp mint '{"claims":{"preferred_username":"bob","groups":[]}}')
secrets+=("$alice" "$expired" "$bob")
o=$(printf '%s' "$alice" | "$KZ" check --explain 2>&1); rc=$?; printf '%s\n' "$o" >> "$out"
t_check "check --explain of a valid token exits 0" 0 "$rc"
[[ $o == *signature*pass* && $o == *"OK reason=none"* ]] && t_pass "explain shows the steps" || t_fail "explain valid" "$o"
o=$(printf '%s' "$expired" | "$KZ" check --explain 2>&1); rc=$?; printf '%s\n' "$o" >> "$out"
t_check "check --explain of an expired token exits 1" 1 "$rc"
[[ $o == *"UNAUTHENTICATED reason=expired"* ]] && t_pass "explain says expired" || t_fail "explain expired" "$o"
o=$(printf '%s' "$bob" | "$KZ" check --explain --service sudo --user bob 2>&1); rc=$?; printf '%s\n' "$o" >> "$out"
t_check "check --explain of a forbidden token exits 2" 2 "$rc"
[[ $o == *"FORBIDDEN reason=missing_group"* ]] && t_pass "explain says missing_group" || t_fail "explain forbidden" "$o"
o=$(printf '%s' "$alice" | "$KZ" check --service sudo --user alice 2>&1); rc=$?
t_check "sudo for a member through the group token exits 0" 0 "$rc"

# ---- doctor ----
kz doctor
t_check "doctor on a healthy host exits 0" 0 "$rc"
[[ $o == *"ok   clock idp"* && $o == *"ok   jwks idp"* && $o == *"enrollment ops"* ]] && t_pass "doctor lists clock, jwks, enrollments" || t_fail "doctor lines" "$o"
idp POST /test/mode '{"clock_offset":3600}' > /dev/null
kz doctor
idp POST /test/mode '{"clock_offset":0}' > /dev/null
[ "$rc" != 0 ] && [[ $o == *"FAIL clock idp"* ]] && t_pass "doctor catches a clock an hour off" || t_fail "doctor clock" "rc=$rc $o"

# ---- revocation by the provider ----
printf '{"chain_of":"%s"}' "$(stored_rt ops)" | idp POST /test/revoke - > /dev/null
kz refresh ops; t_check "refresh of a revoked enrollment exits 1" 1 "$rc"
[[ $o == *revoked*"kztoken enroll ops"* ]] && t_pass "and says how to renew" || t_fail "revoked message" "$o"
kz list
[[ $o == *ops*revoked* ]] && t_pass "list shows revoked" || t_fail "list revoked" "$o"
kz token ops; t_check "token of a revoked enrollment exits 1" 1 "$rc"
[[ $o == *revoked* ]] && t_pass "with a message" || t_fail "token revoked message" "$o"
: > "$work/log"
o=$(printf '%s' "$alice" | "$KZ" check --service sudo --user alice 2>&1); rc=$?
t_check "sudo gated on the revoked group token: UNAVAILABLE (3)" 3 "$rc"
[[ $o == "UNAVAILABLE reason=enrollment"* ]] && t_pass "reason enrollment" || t_fail "reason" "$o"
grep -q 'service=sudo user=alice verdict=UNAVAILABLE reason=enrollment .*enrollment=ops' "$work/log" && t_pass "audit line names the enrollment" || t_fail "audit line" "$(cat "$work/log")"
grep -q 'enrollment=ops group=ops-admins.*kztoken enroll ops' "$work/log" && t_pass "log says which enrollment to renew" || t_fail "renew log" "$(cat "$work/log")"
kz doctor
[ "$rc" != 0 ] && [[ $o == *"FAIL enrollment ops"* ]] && t_pass "doctor flags the revoked enrollment" || t_fail "doctor revoked" "rc=$rc $o"

# the connector's secret changed (or it was deleted): error, token kept
good=$(cat "$KZ_IDP_DIR/client_secret")
sed -i "s#^client_secret_file = .*#client_secret_file = $work/wrong#" "$conf"
printf 'wrong-secret\n' > "$work/wrong"; chmod 600 "$work/wrong"
before=$(stored_rt me)
kz refresh me; t_check "refresh with a refused connector exits 4" 4 "$rc"
[[ $o == *invalid_client* && $o == *host-fleet* ]] && t_pass "and names the connector" || t_fail "connector message" "$o"
t_check "the refresh token is kept" "$before" "$(stored_rt me)"
kz list; [[ $o == *me*error* ]] && t_pass "list shows error" || t_fail "list error" "$o"
sed -i "s#^client_secret_file = .*#client_secret_file = $KZ_IDP_DIR/client_secret#" "$conf"
: "$good"
kz refresh me; t_check "and recovers once the secret is right" 0 "$rc"

# ---- revoke ----
rtme=$(stored_rt me)
kz revoke me; t_check "revoke exits 0" 0 "$rc"
t_check "the provider revoked it (RFC 7009)" revoked "$(rt_state "$rtme")"
[ -e "$work/c/store/me.enr" ] && t_fail "revoke removes the file" || t_pass "revoke removes the file"
rt3=$(new_rt '{"username":"alice"}'); secrets+=("$rt3")
printf '%s' "$rt3" | "$KZ" enroll loc --user alice >> "$out" 2>&1
rtloc=$(stored_rt loc)
kz revoke loc --local-only; t_check "revoke --local-only exits 0" 0 "$rc"
t_check "--local-only leaves the provider alone" current "$(rt_state "$rtloc")"
# renew the revoked group enrollment
rt4=$(new_rt '{"username":"svc","group":"ops-admins"}'); secrets+=("$rt4")
printf '%s' "$rt4" | "$KZ" enroll ops --group ops-admins >> "$out" 2>&1
t_check "a revoked enrollment is renewed by enrolling again" 0 "$?"
o=$(printf '%s' "$alice" | "$KZ" check --service sudo --user alice 2>&1); rc=$?
t_check "sudo works again after renewal" 0 "$rc"

# ---- Kaizala dialect ----
kconf=$work/k/kztoken.conf
kz_write_config "$kconf" "token_style = kaizala"
sed -i "s#^token_url = .*#token_url = $KZ_IDP_URL/kaizala/token#" "$kconf"
rt5=$(new_rt '{"username":"alice","expires_in":86400}'); secrets+=("$rt5")
now=$(date +%s)
printf '%s' "$rt5" | "$KZ" enroll kai --user alice --config "$kconf" >> "$out" 2>&1
t_check "kaizala enroll exits 0" 0 "$?"
kz list --json --config "$kconf"
exp=$(printf '%s' "$o" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["access_token_expiry"])')
[ "$exp" -ge $((now + 86390)) ] && [ "$exp" -le $((now + 86410)) ] && t_pass "accessTokenExpiry (ms) read as a day" || t_fail "kaizala expiry" "$exp vs $now"
[[ $o == *'"endpoint_url": "'"$KZ_IDP_URL"'/kaizala/api"'* ]] && t_pass "endpointUrl stored" || t_fail "endpoint" "$o"
idp POST /test/mode '{"kaizala_move":true}' > /dev/null
idp POST /test/stats/reset > /dev/null
kz refresh kai --config "$kconf"; t_check "refresh across a 308 exits 0" 0 "$rc"
kz refresh kai --config "$kconf"
paths=$(idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin)["paths"]; print(p.get("/kaizala/token",0), p.get("/kaizala/api2/token",0))')
t_check "308: moved once, then the new endpoint is used" "1 2" "$paths"
idp POST /test/fault '{"mode":"429","count":1,"retry_after":1,"paths":["/kaizala"]}' > /dev/null
start=$(date +%s%N)
kz refresh kai --config "$kconf"; t_check "429 with Retry-After: 1 is waited out" 0 "$rc"
[ $((($(date +%s%N) - start) / 1000000)) -ge 900 ] && t_pass "it waited the second" || t_fail "no wait"
idp POST /test/fault '{"mode":"429","count":1,"retry_after":120,"paths":["/kaizala"]}' > /dev/null
kz refresh kai --config "$kconf"; t_check "429 with a long Retry-After exits 3" 3 "$rc"
[[ $o == *"retry after 120"* ]] && t_pass "and says when" || t_fail "429 message" "$o"
idp POST /test/stats/reset > /dev/null
kz refresh kai --config "$kconf"; t_check "and nobody asks again before then (3)" 3 "$rc"
t_check "no request sent" 0 "$(idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')"
idp POST /test/fault '{"mode":"none"}' > /dev/null
kz token kai --config "$kconf"; t_check "token still served while rate limited" 0 "$rc"
secrets+=("$o")

# ---- no secret in any output or log line ----
leak=0
for s in "${secrets[@]}" "$(cat "$KZ_IDP_DIR/client_secret")"; do
	[ -n "$s" ] || continue
	# the token printed by `kztoken token` is its purpose; every other
	# output must be clean, and logs always
	grep -qF -- "$s" "$work/log" && leak=$((leak + 1))
done
for s in "$rt" "$rt2" "$rt3" "$rt4" "$rt5" "$(cat "$KZ_IDP_DIR/client_secret")"; do
	grep -qF -- "$s" "$out" && leak=$((leak + 1))
done
t_check "no refresh token, client secret or token in outputs and logs" 0 "$leak"
t_done
