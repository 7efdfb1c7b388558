#!/bin/bash
# tests/pam/test_device.sh - login with a browser (RFC 8628, DESIGN.md
# section 15) through the real pam_kztoken.so under pam_wrapper: with the
# option device_flow an empty first answer starts the device flow, the
# second prompt's own text says where to go and which code to enter (also
# under PAM_SILENT, as sudo passes it), a background "user" approves at the
# test IdP's /test/device, Enter polls, and the token obtained meets the
# same pipeline and PAM mapping as a pasted one.  Also: denial, expiry
# within device_timeout + timeout, step-up (require_acr/require_amr) pasted
# and by device flow, and no device or user code in any log line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pam_lib.sh"
pam_lib_init kztoken-pamdev
cleanup() {
	idp POST /test/device_mode '{"interval":1,"expires_in":600,"slow_down":0}' >/dev/null 2>&1
	[ -n "${bg:-}" ] && kill "$bg" 2>/dev/null
	pam_lib_cleanup
}
trap cleanup EXIT

kz_write_config "$W/main/kz.conf" \
    '[service sudo]' 'require_group = ops-admins' \
    '[service mfa]' 'require_acr = mfa' 'require_amr = otp'
sed -i -e "s|^client_secret_file = .*|client_secret_file = $W/idp/client_secret|" \
    -e "s|^ca_file = .*|ca_file = $W/idp/ca.pem|" \
    -e "s|^token_url = .*|&\ndevice_authorization_url = $KZ_IDP_URL/device_authorization\ndevice_client_id = kztoken-device\ndevice_timeout = 5|" \
    "$W/main/kz.conf"
C=$W/main/kz.conf
svc sshd "auth required $MOD config=$C device_flow" "account required $MOD config=$C"
svc sudo "auth required $MOD config=$C device_flow" "account required $MOD config=$C"
svc mfa "auth required $MOD config=$C device_flow" "account required $MOD config=$C"
svc nodevice "auth required $MOD config=$C" "account required $MOD config=$C"
svc withpw "auth [success=done ignore=ignore default=die] $MOD config=$C device_flow ignore_non_token" \
    "auth required $PAMDIR/pam_deny.so" "account required $MOD config=$C"
pam_lib_own

AUDIT=$W/audit.log
PWENV=(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$W/svc
    KZTOKEN_LOG_FILE=$AUDIT)
idp POST /test/device_mode '{"interval":1,"expires_in":600,"slow_down":0}' >/dev/null

# pam [-s] SERVICE USER OP=CODE... < answers: sets $out, $res, $new, $ms.
pam() {
	local before t0
	before=$(cat "$AUDIT" 2>/dev/null | wc -l)
	t0=$(date +%s%N)
	out=$(timeout 40 "${RUN[@]}" env "${PWENV[@]}" "$W/kzpam" "$@" 2>>"$W/stderr")
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	res=$(grep '^result:' <<<"$out")
	new=$(tail -n +$((before + 1)) "$AUDIT" 2>/dev/null | sed 's/^kztoken\[[0-9]*\]: //')
}
has() { if grep -qxF -- "$3" <<<"$2"; then t_pass "$1"; else t_fail "$1" "no line '$3' in: $2"; fi; }
hasre() { if grep -qE -- "$3" <<<"$2"; then t_pass "$1"; else t_fail "$1" "no match for /$3/ in: $2"; fi; }
fp() { printf '%s' "$1" | sha256sum | cut -c1-12; }

# The user at the provider, in the background: waits for the next device
# authorization to appear, then answers it with JSON fields (approve as a
# user, or deny), and writes its user code to $W/code.
nauth() { idp GET /test/device | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["authorizations"]))'; }
user_at_idp() {
	local seen=$1 fields=$2
	rm -f "$W/code"
	(
		for _ in $(seq 150); do
			code=$(idp GET /test/device | /usr/bin/python3 -c 'import json,sys
a = json.load(sys.stdin)["authorizations"][int(sys.argv[1]):]
p = [x for x in a if x["status"] == "pending"]
print(p[0]["user_code"] if p else "")' "$seen")
			if [ -n "$code" ]; then
				idp POST /test/device "{\"user_code\":\"$code\",$fields}" >/dev/null
				printf '%s\n' "$code" > "$W/code"
				exit 0
			fi
			sleep 0.1
		done
	) &
	bg=$!
}
wait_user() { wait "$bg" 2>/dev/null; bg=; code=$(cat "$W/code" 2>/dev/null); }
prompt_for() { printf 'conv: PROMPT_ECHO_OFF: Open %s/device?user_code=%s and enter %s, then press Enter: ' "$KZ_IDP_URL" "$1" "$1"; }

# --- approved: an empty answer, the instructions in the second prompt, Enter -----------------
user_at_idp "$(nauth)" '"action":"approve","user":"alice"'
pam sshd alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(printf '\n\n')
wait_user
t_check "device flow approved: auth SUCCESS, acct SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "device flow: the first prompt is the token prompt" "$out" "conv: PROMPT_ECHO_OFF: Access token: "
has "device flow: the second prompt's text holds the URL and the code" "$out" "$(prompt_for "$code")"
t_check "device flow: two prompts, no message besides them" "2 0" \
    "$(grep -c PROMPT <<<"$out") $(grep -c -E 'TEXT_INFO|ERROR_MSG' <<<"$out")"
hasre "device flow: audit line verdict=OK method=device with the token's fp" "$new" \
    "^service=sshd user=alice verdict=OK reason=none iss=$KZ_IDP_URL sub=u-alice kid=[a-z0-9]+ method=device fp=[0-9a-f]{12}$"

# --- sudo passes PAM_SILENT: the prompt text is no message and still shows ------------------
user_at_idp "$(nauth)" '"action":"approve","user":"alice","groups":["ops-admins"]'
pam -s sudo alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(printf '\n\n')
wait_user
t_check "PAM_SILENT (sudo, admin group): SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "PAM_SILENT: the instructions still show in the prompt" "$out" "$(prompt_for "$code")"
user_at_idp "$(nauth)" '"action":"approve","user":"alice"'
pam -s sudo alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
wait_user
t_check "device token without the group for sudo: AUTH_ERR (403 fails auth by default)" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
hasre "device token without the group: audit FORBIDDEN/missing_group method=device" "$new" \
    "^service=sudo user=alice verdict=FORBIDDEN reason=missing_group .* method=device fp=[0-9a-f]{12}$"

# --- the token is bound to the PAM user, as a pasted one -----------------------------------
user_at_idp "$(nauth)" '"action":"approve","user":"bob"'
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
wait_user
t_check "bob approves the code alice's login shows: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "bob for alice: message" "$out" "conv: ERROR_MSG: Token is not for this user"
hasre "bob for alice: audit user_mismatch method=device" "$new" "verdict=UNAUTHENTICATED reason=user_mismatch .* method=device "

# --- device_flow with ignore_non_token: an empty answer is no password ---------------------
user_at_idp "$(nauth)" '"action":"approve","user":"alice"'
pam withpw alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(printf '\n\n')
wait_user
t_check "device_flow ignore_non_token: an empty answer starts the device flow, not the password module" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
pam withpw alice auth=PAM_AUTH_ERR < <(printf 'my password 1\n')
t_check "device_flow ignore_non_token: a password is still handed on (pam_deny here)" "result: auth=PAM_AUTH_ERR" "$res"

# --- a pasted token still works at the first prompt --------------------------------------
tok_ok=$(idp mint '{}')
n0=$(nauth)
pam sshd alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_ok"
t_check "device_flow: a pasted token at the first prompt: SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
t_check "a pasted token: one prompt, no device authorization started" "1 $n0" "$(grep -c PROMPT <<<"$out") $(nauth)"
hasre "a pasted token: audit method=token" "$new" "verdict=OK reason=none .* method=token fp=$(fp "$tok_ok")$"

# --- refused, expired, never approved ----------------------------------------------------
user_at_idp "$(nauth)" '"action":"deny"'
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
wait_user
t_check "refused at the provider: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "refused: message" "$out" "conv: ERROR_MSG: Login refused at the identity provider"
t_check "refused: the audit line" \
    "service=sshd user=alice verdict=UNAUTHENTICATED reason=access_denied iss=- sub=- kid=- method=device fp=-" "$new"

pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
t_check "never approved: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "never approved: message" "$out" "conv: ERROR_MSG: The login at the identity provider was not completed in time"
hasre "never approved: audit reason=expired method=device" "$new" "verdict=UNAUTHENTICATED reason=expired .* method=device fp=-$"
# device_timeout 5, timeout 3: the whole transaction in at most 8 s (+1 s for the process)
if [ "$ms" -ge 4000 ] && [ "$ms" -le 9000 ]; then t_pass "never approved: gave up after device_timeout (${ms} ms)"
else t_fail "never approved: gave up after device_timeout 5 s, within device_timeout + timeout" "${ms} ms"; fi

idp POST /test/device_mode '{"expires_in":1}' >/dev/null
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
idp POST /test/device_mode '{"expires_in":600}' >/dev/null
t_check "the device code lapses (expires_in 1): AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
hasre "lapsed: audit reason=expired" "$new" "reason=expired .* method=device fp=-$"

idp POST /test/fault '{"mode":"hang","paths":["/token"]}' >/dev/null
user_at_idp "$(nauth)" '"action":"approve","user":"alice"'
pam sshd alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED < <(printf '\n\n')
wait_user
idp POST /test/fault '{"mode":"none"}' >/dev/null
t_check "the token endpoint hangs: AUTHINFO_UNAVAIL" "result: auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED" "$res"
if [ "$ms" -le 9000 ]; then t_pass "token endpoint hangs: within device_timeout + timeout (${ms} ms)"
else t_fail "token endpoint hangs: within device_timeout + timeout" "${ms} ms"; fi
idp POST /test/fault '{"mode":"hang","paths":["/device_authorization"]}' >/dev/null
pam sshd alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED < <(printf '\n')
idp POST /test/fault '{"mode":"none"}' >/dev/null
t_check "the device endpoint hangs: AUTHINFO_UNAVAIL, no second prompt" \
    "result: auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED 1" "$res $(grep -c PROMPT <<<"$out")"
has "device endpoint hangs: message" "$out" "conv: ERROR_MSG: Identity provider unreachable"

pam sshd alice auth=PAM_CONV_ERR < <(printf '\n')
t_check "the conversation ends at the second prompt: CONV_ERR" "result: auth=PAM_CONV_ERR" "$res"
pam nodevice alice auth=PAM_AUTH_ERR < <(printf '\n\n')
t_check "without device_flow an empty answer simply fails" "result: auth=PAM_AUTH_ERR 1" \
    "$res $(grep -c PROMPT <<<"$out")"

# --- step-up: [service mfa] require_acr = mfa, require_amr = otp --------------------------
tok_mfa=$(idp mint '{"claims":{"acr":"mfa","amr":["pwd","otp"]}}')
tok_pwd=$(idp mint '{"claims":{"acr":"pwd","amr":["pwd"]}}')
pam mfa alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_mfa"
t_check "step-up, pasted multi-factor token: SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
pam mfa alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_pwd"
t_check "step-up, pasted password-only token: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "step-up: the message says to log in with a second factor" "$out" \
    "conv: ERROR_MSG: This service needs a multi-factor login: log in again with a second factor"
hasre "step-up: audit FORBIDDEN/insufficient_auth method=token" "$new" \
    "^service=mfa user=alice verdict=FORBIDDEN reason=insufficient_auth .* method=token fp=$(fp "$tok_pwd")$"
user_at_idp "$(nauth)" '"action":"approve","user":"alice","acr":"mfa","amr":["pwd","otp"]'
pam mfa alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(printf '\n\n')
wait_user
t_check "step-up by device flow with a second factor: SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
t_check "step-up by device flow: the provider was asked for acr_values=mfa" "mfa" \
    "$(idp GET /test/device | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["authorizations"][-1]["acr_values"])')"
user_at_idp "$(nauth)" '"action":"approve","user":"alice","acr":"pwd","amr":["pwd"]'
pam mfa alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '\n\n')
wait_user
t_check "step-up by device flow, password only: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
hasre "step-up by device flow: audit insufficient_auth method=device" "$new" \
    "verdict=FORBIDDEN reason=insufficient_auth .* method=device fp=[0-9a-f]{12}$"

# --- one approved and one refused device login under valgrind: no leak, no error -----------
if command -v valgrind >/dev/null; then
	for how in '"action":"approve","user":"alice"' '"action":"deny"'; do
		user_at_idp "$(nauth)" "$how"
		want=PAM_SUCCESS; [ "$how" = '"action":"deny"' ] && want=PAM_AUTH_ERR
		out=$(timeout 120 "${RUN[@]}" env "${PWENV[@]}" PAM_WRAPPER_DISABLE_DEEPBIND=1 \
		    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
		    --log-file="$W/vg.log" "$W/kzpam" sshd alice auth=$want \
		    < <(printf '\n\n') 2>>"$W/stderr")
		rc=$?
		wait_user
		t_check "valgrind, device flow ($how): auth $want, exit 0 (no leak, no error)" \
		    "result: auth=$want 0" "$(grep '^result:' <<<"$out") $rc"
		[ "$rc" -ne 0 ] && head -40 "$W/vg.log"
	done
else
	t_skip "valgrind device flow" "valgrind not installed"
fi

# --- secrets: no user code (nor device code) in any log line ------------------------------
codes=$(idp GET /test/device | /usr/bin/python3 -c 'import json,sys
for a in json.load(sys.stdin)["authorizations"]: print(a["user_code"])')
leak=0
while read -r c; do
	[ -n "$c" ] && grep -qF -- "$c" "$AUDIT" "$W/stderr" && leak=1
done <<<"$codes"
t_check "no user code in the audit log or stderr ($(grep -c . <<<"$codes") flows)" "0" "$leak"
hasre "no device_code in any log line" "$(grep -ci 'device_code' "$AUDIT" "$W/stderr" | awk -F: '{s+=$NF} END {print s}')" '^0$'
hasre "every decision line says method=token or method=device" \
    "$(grep ' verdict=' "$AUDIT" | grep -vcE ' method=(token|device) fp=([0-9a-f]{12}|-)$')" '^0$'

t_done
