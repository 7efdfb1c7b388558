#!/bin/bash
# test_device_interop.sh - the device authorization grant (RFC 8628) against
# node-oidc-provider with its deviceFlow feature on: `kztoken check --device`
# shows the provider's verification URL and user code, the provider's own
# /device pages, login and consent are driven as a browser would
# (device-login.sh), Enter is pressed, and the token the provider issues goes
# through the pipeline.  alice (OK), bob approving alice's code
# (user_mismatch), bob for sudo (missing_group), a refusal at the provider
# (access_denied, exit 1).  Endpoints come from the provider's discovery.
#
# Needs node and npm (setup.sh runs `npm ci` once); without them every case is
# skipped, never passed.  Does not need the test IdP of tests/run.sh.
. "$(dirname "$0")/../lib.sh"
H=$KZ_ROOT/tests/interop
K=$KZ_BUILD/kztoken
W=$(mktemp -d /tmp/kz-interop-dev.XXXXXX)
S=$W/provider
mkdir -m 700 "$W/log"
cleanup() {
	exec 7>&- 2>/dev/null
	bash "$H/stop.sh" "$S" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
export KZTOKEN_LOG_FILE=$W/log/audit.log

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	t_skip "device interop suite" "node or npm not installed"
	t_done; exit
fi
if ! "$H/setup.sh" > "$W/setup.log" 2>&1; then
	t_fail "setup.sh (npm ci)" "$(tail -3 "$W/setup.log" | tr '\n' ' ')"
	t_done; exit
fi
if ! bash "$H/start.sh" "$S" > "$W/start.log" 2>&1; then
	t_fail "start node-oidc-provider" "$(tail -3 "$W/start.log" | tr '\n' ' ')"
	t_done; exit
fi
URL=$(cat "$S/url")
export KZTOKEN_CONFIG=$W/kztoken.conf
bash "$H/write-config.sh" "$S" "$KZTOKEN_CONFIG" > /dev/null
# no device_authorization_url: discovery names the endpoint
sed -i '/^client_secret_file = /a device_client_id = kztoken-device\ndevice_scope = openid profile groups login admin\ndevice_resource = urn:kztoken:host\ndevice_timeout = 20' \
    "$KZTOKEN_CONFIG"

# device WHO [--deny] -- CHECK ARGS: runs `kztoken check --device`, lets WHO
# approve (or refuse) the code of its prompt at the provider, presses Enter.
# Sets rc, out (stdout), prompt (stderr) and code.
device() {
	local who=$1 deny=$2 pid
	shift 3
	rm -f "$W/enter" "$W/err"; mkfifo "$W/enter"
	"$K" check --device "$@" < "$W/enter" > "$W/out" 2> "$W/err" &
	pid=$!
	exec 7> "$W/enter"
	code=
	for _ in $(seq 100); do
		code=$(sed -n 2>/dev/null 's/.* and enter \([A-Z0-9-]*\), then press Enter: $/\1/p' "$W/err")
		[ -n "$code" ] && break
		sleep 0.1
	done
	if [ -n "$code" ]; then
		bash "$H/device-login.sh" "$S" "$who" "$code" $deny 2>> "$W/login.err" ||
		    echo "device-login $who $deny failed: $(tail -1 "$W/login.err")" >&2
	fi
	echo >&7
	exec 7>&-
	wait "$pid"
	rc=$?
	out=$(cat "$W/out")
	prompt=$(cat "$W/err")
}
# The first line of the output, as "rc=N VERDICT reason=R user=U".
summary() { printf 'rc=%s %s' "$rc" "$(sed -n '1s/^\([A-Z_]*\) \(reason=[a-z_]*\) fp=[0-9a-f-]* user=\([^: ]*\).*/\1 \2 user=\3/p' <<<"$out")"; }

device alice "" -- --service sshd --user alice
t_check "the prompt names the provider's verification page and code" \
    "Open $URL/device?user_code=$code and enter $code, then press Enter: " "$prompt"
t_check "alice approves her own login (sshd, scope login): OK" "rc=0 OK reason=none user=alice" "$(summary)"
device bob "" -- --service sshd --user alice
t_check "bob approves the code alice's login shows: user_mismatch" \
    "rc=1 UNAUTHENTICATED reason=user_mismatch user=bob" "$(summary)"
device bob "" -- --service sudo --user bob
t_check "bob for sudo (not in ops-admins): missing_group" "rc=2 FORBIDDEN reason=missing_group user=bob" "$(summary)"
device alice --deny -- --service sshd --user alice
t_check "alice aborts at the provider: access_denied" "rc=1 UNAUTHENTICATED reason=access_denied user=-" "$(summary)"
t_check "every decision line says method=device" "4 0" \
    "$(grep -c ' verdict=.* method=device ' "$W/log/audit.log") $(grep ' verdict=' "$W/log/audit.log" | grep -vc ' method=device ')"
leak=0
grep -qF -- "$code" "$W/log/audit.log" && leak=1
grep -qi 'device_code' "$W/log/audit.log" && leak=1
t_check "no user code or device code in the audit log" "0" "$leak"
t_done
