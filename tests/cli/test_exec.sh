#!/bin/bash
# tests/cli/test_exec.sh - `kztoken exec NAME -- COMMAND...` (DESIGN.md
# section 8): COMMAND gets a valid access token of the enrollment as
# OAUTH_ACCESS_TOKEN and the client id as OAUTH_CLIENT_ID, never the
# refresh token or the client secret; its exit status is kztoken's; a due
# token is refreshed first; a still valid cached token serves while the
# provider is down; no token, no COMMAND.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-exec.XXXXXX)
trap 'idp POST /test/fault "{\"mode\":\"none\"}" >/dev/null 2>&1; rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
kz_write_config "$conf"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log
kz() { o=$("$KZ" "$@" 2>&1); rc=$?; printf '%s\n' "$o" >> "$work/out"; }
secret=$(cat "$KZ_IDP_DIR/client_secret")
store=$work/c/store/job.enr

# ---- usage ----
kz exec; t_check "exec without NAME exits 4" 4 "$rc"
kz exec job; t_check "exec without -- COMMAND exits 4" 4 "$rc"
kz exec job true; t_check "exec without -- exits 4" 4 "$rc"
kz exec nosuch -- true; t_check "exec of an unknown enrollment exits 4, COMMAND not run" 4 "$rc"
kz exec --help; [[ $rc == 0 && $o == *"usage: kztoken exec NAME -- COMMAND"* ]] &&
    t_pass "exec --help" || t_fail "exec --help" "$o"

rt=$(idp refresh '{"username":"alice","expires_in":600}')
printf '%s\n' "$rt" > "$work/rt"; chmod 600 "$work/rt"
kz enroll job --user alice --refresh-token-file "$work/rt"
t_check "enroll exits 0" 0 "$rc"
stored_rt() { sed -n 's/^refresh_token //p' "$store"; }

# ---- the job's environment and exit status ----
cat > "$work/job.sh" <<'JOB'
#!/bin/sh
env > "$1/env"
printf '%s' "$OAUTH_ACCESS_TOKEN" > "$1/token"
printf '%s' "$OAUTH_CLIENT_ID" > "$1/client_id"
printf '%s\n' "$@" > "$1/args"
exit 7
JOB
chmod 755 "$work/job.sh"
kz exec job -- "$work/job.sh" "$work" --config not-ours "two words"
t_check "COMMAND's exit status is exec's" 7 "$rc"
t_check "OAUTH_CLIENT_ID is the provider's client_id" host-fleet "$(cat "$work/client_id")"
t_check "arguments after -- are COMMAND's, --config included" \
    "$work|--config|not-ours|two words" "$(paste -sd'|' "$work/args")"
out=$("$KZ" check --user alice < "$work/token" 2>&1); rc=$?
t_check "OAUTH_ACCESS_TOKEN is a valid access token for alice" 0 "$rc"
leak=0
for s in "$rt" "$(stored_rt)" "$secret"; do grep -qF -- "$s" "$work/env" && leak=1; done
t_check "neither the refresh token nor the client secret in the job's environment" 0 "$leak"
grep -q '^OAUTH_REFRESH\|^KZ.*SECRET' "$work/env" && t_fail "a refresh variable in the env" ||
    t_pass "no other token variable in the job's environment"
kz exec job -- sh -c 'exit 0'; t_check "exit status 0 passes through" 0 "$rc"
kz exec job -- /nonexistent/cmd; t_check "a COMMAND that does not exist exits 127" 127 "$rc"
kz exec job -- "$work"; t_check "a COMMAND that cannot run exits 126" 126 "$rc"
( "$KZ" exec job -- sh -c 'kill -TERM $$' ) 2>/dev/null; rc=$?
t_check "a signal that ends COMMAND is its status (exec, no wrapper)" 143 "$rc"

# ---- refreshed first when due; cached while the provider is down ----
first=$(cat "$work/token")
# the cached token: issued long ago, valid 30 s more (due: within 10 %)
now=$(date +%s)
sed -i -e "s/^access_token_issued .*/access_token_issued $((now - 1000))/" \
    -e "s/^access_token_expiry .*/access_token_expiry $((now + 30))/" "$store"
idp POST /test/fault '{"mode":"503","paths":["/token"]}' > /dev/null
kz exec job -- sh -c 'printf %s "$OAUTH_ACCESS_TOKEN" > "$0/token2"' "$work"
t_check "provider down, token due but valid: the job runs (0)" 0 "$rc"
t_check "with the cached token" "$first" "$(cat "$work/token2")"
sed -i -e "s/^access_token_expiry .*/access_token_expiry $((now - 5))/" "$store"
rm -f "$work/ran"
kz exec job -- touch "$work/ran"
t_check "provider down, no valid token: exits 3" 3 "$rc"
[ ! -e "$work/ran" ] && t_pass "and COMMAND did not run" || t_fail "COMMAND ran without a token"
idp POST /test/fault '{"mode":"none"}' > /dev/null
kz exec job -- sh -c 'printf %s "$OAUTH_ACCESS_TOKEN" > "$0/token3"' "$work"
t_check "provider back: the due token is refreshed first (0)" 0 "$rc"
[ -s "$work/token3" ] && [ "$(cat "$work/token3")" != "$first" ] &&
    t_pass "and the job got the new token" || t_fail "new token" "same or empty"

# ---- no descriptor of kztoken's reaches COMMAND ----
# a due token: the refresh loads libcurl, reads the client secret, takes the
# lock, logs and rewrites the store before COMMAND starts; none of those
# files, and no socket, may be open in COMMAND (fds.sh lists its own).
cat > "$work/fds.sh" <<'FDS'
#!/bin/sh
ls -l /proc/$$/fd/ | sed -n 's/.* \([0-9][0-9]*\) -> \(.*\)$/\1 \2/p' |
    grep -v ' /proc/[0-9]*/fd$'
FDS
chmod 755 "$work/fds.sh"
now=$(date +%s)
sed -i -e "s/^access_token_expiry .*/access_token_expiry $((now - 5))/" "$store"
kz exec job -- "$work/fds.sh"
t_check "exec with a due token exits 0" 0 "$rc"
printf '%s\n' "$o" > "$work/fds"
grep -q '^[0-9]' "$work/fds" && t_pass "COMMAND listed its descriptors" ||
    t_fail "COMMAND listed its descriptors" "$o"
grep -qF -e "$work/c" -e "$KZ_IDP_DIR" -e "$work/log" -e 'socket:' "$work/fds" &&
    t_fail "a store, lock, cache, secret, log or socket descriptor in COMMAND" "$(cat "$work/fds")" ||
    t_pass "no store, lock, cache, secret file, log or socket open in COMMAND"
# the token the lock test below expects to be served
"$KZ" token job > "$work/token3" 2>/dev/null

# ---- the lock is held by another refresher: a valid token still serves ----
sed -i -e "s/^access_token_issued .*/access_token_issued $((now - 1000))/" \
    -e "s/^access_token_expiry .*/access_token_expiry $((now + 30))/" "$store"
held=$(cat "$work/token3")
lockf=$work/c/store/job.lock
[ -e "$lockf" ] && t_pass "the enrollment's lock file is where the store keeps it" || t_fail "no $lockf"
flock -x "$lockf" sleep 30 &
lockpid=$!
sleep 0.3
kz exec job -- sh -c 'printf %s "$OAUTH_ACCESS_TOKEN" > "$0/token4"' "$work"
kill "$lockpid" 2>/dev/null; wait "$lockpid" 2>/dev/null
t_check "lock held elsewhere, token due but valid: the job runs (0)" 0 "$rc"
t_check "with the valid token" "$held" "$(cat "$work/token4" 2>/dev/null)"

# ---- nothing secret in kztoken's own output or log ----
leak=0
for s in "$rt" "$(stored_rt)" "$secret" "$first" "$held"; do
	grep -qF -- "$s" "$work/out" "$work/log" 2>/dev/null && leak=1
done
t_check "no token, refresh token or secret in exec's output or log" 0 "$leak"
t_done
