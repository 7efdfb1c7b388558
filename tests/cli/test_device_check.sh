#!/bin/bash
# tests/cli/test_device_check.sh - `kztoken check --device`: the device flow
# (RFC 8628) at a terminal.  The instructions go to stderr, Enter comes on
# stdin, and the token the provider issues goes through the pipeline for
# --service and --user; the exit code is the verdict.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-device.XXXXXX)
trap 'idp POST /test/device_mode "{\"interval\":1,\"expires_in\":600}" >/dev/null 2>&1; rm -rf "$work"' EXIT
if [ -z "${KZ_IDP_DIR:-}" ] || [ ! -s "$KZ_IDP_DIR/url" ]; then
	t_skip "device check" "no test IdP (KZ_IDP_DIR); run via tests/run.sh"; t_done; exit
fi
KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
conf=$work/c/kztoken.conf
kz_write_config "$conf" "[service sudo]" "require_group = ops-admins"
sed -i "s|^token_url = .*|&\ndevice_authorization_url = $KZ_IDP_URL/device_authorization\ndevice_client_id = kztoken-device\ndevice_timeout = 5|" "$conf"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log
idp POST /test/device_mode '{"interval":1,"expires_in":600,"slow_down":0}' >/dev/null

# device_check FIELDS ARGS...: the admin presses Enter once the user at
# the provider answered with FIELDS (approve as a user, or deny).
device_check() {
	local fields=$1 n
	shift
	n=$(idp GET /test/device | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["authorizations"]))')
	(
		for _ in $(seq 100); do
			code=$(idp GET /test/device | /usr/bin/python3 -c 'import json,sys
p = [x for x in json.load(sys.stdin)["authorizations"][int(sys.argv[1]):] if x["status"] == "pending"]
print(p[0]["user_code"] if p else "")' "$n")
			if [ -n "$code" ]; then
				idp POST /test/device "{\"user_code\":\"$code\",$fields}" >/dev/null
				printf '%s' "$code" > "$work/code"; exit 0
			fi
			sleep 0.1
		done
	) &
	{ sleep 1; printf '\n'; } | "$KZ" check --device "$@" > "$work/out" 2> "$work/err"
	rc=$?
	wait
}

device_check '"action":"approve","user":"alice"' --service sshd --user alice
t_check "approved for alice: exit 0" "0" "$rc"
t_check "approved: the instructions on stderr" \
    "Open $KZ_IDP_URL/device?user_code=$(cat "$work/code") and enter $(cat "$work/code"), then press Enter: " \
    "$(cat "$work/err")"
if grep -qE '^OK reason=none fp=[0-9a-f]{12} user=alice' "$work/out"; then t_pass "approved: OK line"
else t_fail "approved: OK line" "$(cat "$work/out")"; fi
device_check '"action":"approve","user":"alice"' --service sudo --user alice
t_check "approved for alice, sudo without the group: exit 2 (forbidden)" "2" "$rc"
device_check '"action":"approve","user":"bob"' --user alice
t_check "bob approves, --user alice: exit 1" "1" "$rc"
if grep -q 'reason=user_mismatch' "$work/out"; then t_pass "bob for alice: user_mismatch"
else t_fail "bob for alice: user_mismatch" "$(cat "$work/out")"; fi
device_check '"action":"deny"' --user alice
t_check "denied: exit 1" "1" "$rc"
if grep -q '^UNAUTHENTICATED reason=access_denied' "$work/out"; then t_pass "denied: access_denied"
else t_fail "denied: access_denied" "$(cat "$work/out")"; fi
"$KZ" check --device --user alice < /dev/null > "$work/out" 2>&1
t_check "no Enter (stdin at its end): exit 1, no poll" "1" "$?"
grep -q 'method=device' "$work/log" && t_pass "audit lines say method=device" || t_fail "audit lines say method=device"
leak=0
for c in $(idp GET /test/device | /usr/bin/python3 -c 'import json,sys
for a in json.load(sys.stdin)["authorizations"]: print(a["user_code"])'); do
	grep -qF "$c" "$work/log" && leak=1
done
t_check "no user code in the log" "0" "$leak"
t_done
