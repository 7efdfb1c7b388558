#!/bin/bash
# tests/pam/test_pam.sh - the real pam_kztoken.so through libpam, under
# pam_wrapper (service files in a temp dir, module lines with absolute
# paths) and libpamtest (tests/pam/kzpam.c, compiled here), run as an
# unprivileged user (nobody, when we are root).  Touches no file under /etc.
#
# Covers every row of the verdict table of DESIGN.md section 7 for both
# authenticate and acct_mgmt, the stacking options, user binding, the
# messages the conversation receives, the chunked prompt for long tokens,
# 50 transactions in one process under valgrind, and the audit lines.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/pam_lib.sh"
pam_lib_init kztoken-pam

policy=('[service sudo]' 'require_group = ops-admins')
kz_write_config "$W/main/kz.conf" "${policy[@]}"
localize "$W/main/kz.conf"
# a short deadline and a cache of its own (no JWKS cached), for 503
kz_write_config "$W/down/kz.conf" "${policy[@]}"
sed -i 's/^timeout = .*/timeout = 2/; s/^connect_timeout = .*/connect_timeout = 1/' "$W/down/kz.conf"
localize "$W/down/kz.conf"
kz_write_config "$W/small/kz.conf"
sed -i 's/^leeway = .*/&\nmax_token_length = 2000/' "$W/small/kz.conf"
localize "$W/small/kz.conf"
# a config with a key that does not exist: KZ_ERROR
kz_write_config "$W/bad/kz.conf" 'no_such_key = 1'
localize "$W/bad/kz.conf"
C=$W/main/kz.conf

svc other "auth required $PAMDIR/pam_deny.so" "account required $PAMDIR/pam_deny.so"
for s in sshd sudo; do
	svc $s "auth required $MOD config=$C" "account required $MOD config=$C"
done
svc sudo-aia "auth required $MOD config=$C service=sudo authz_in_auth" \
    "account required $MOD config=$C service=sudo"
svc sudo-aiacc "auth required $MOD config=$C service=sudo authz_in_account" \
    "account required $MOD config=$C service=sudo"
svc login-as-sudo "auth required $MOD config=$C service=sudo" "account required $MOD config=$C service=sudo"
svc down "auth required $MOD config=$W/down/kz.conf" "account required $MOD config=$W/down/kz.conf"
svc bad "auth required $MOD config=$W/bad/kz.conf" "account required $MOD config=$W/bad/kz.conf"
svc small "auth required $MOD config=$W/small/kz.conf" "account required $MOD config=$W/small/kz.conf"
svc chunked "auth required $MOD config=$C chunked prompt=Token:" "account required $MOD config=$C"
svc badopt "auth required $MOD config=$C no_such_option" "account required $MOD config=$C"
# PAM_IGNORE is invisible at the end of a stack (libpam turns "all ignored"
# into PAM_PERM_DENIED), so a probe stack makes it visible: our IGNORE
# leads to pam_permit (PAM_SUCCESS), our SUCCESS dies (PAM_PERM_DENIED),
# anything else dies with its own code.
svc probe "auth [ignore=ignore default=die] $MOD config=$C ignore_non_token" \
    "auth required $PAMDIR/pam_permit.so" \
    "account [ignore=ignore default=die] $MOD config=$C" \
    "account required $PAMDIR/pam_permit.so" \
    "session [ignore=ignore default=die] $MOD config=$C" \
    "session required $PAMDIR/pam_permit.so"
# A failed token, then a password module that lets the user in: acct_mgmt
# must not judge a login it did not make (IGNORE reaches pam_permit).
svc then-pw "auth [success=done default=ignore] $MOD config=$C" \
    "auth required $PAMDIR/pam_permit.so" \
    "account [ignore=ignore default=die] $MOD config=$C" \
    "account required $PAMDIR/pam_permit.so"
svc debug "auth required $MOD config=$C debug" "account required $MOD config=$C"
# ignore_non_token hands a password on: pam_get_items.so copies the items
# into the PAM environment, where the test reads PAM_AUTHTOK back.
svc handoff "auth [success=done ignore=ignore default=die] $MOD config=$C ignore_non_token" \
    "auth required $PWDIR/pam_get_items.so"
# stacked after a module that sets PAM_AUTHTOK (pam_wrapper's pam_set_items)
svc first "auth required $PWDIR/pam_set_items.so" "auth required $MOD config=$C use_first_pass" \
    "account required $MOD config=$C"
svc try "auth required $PWDIR/pam_set_items.so" "auth required $MOD config=$C try_first_pass" \
    "account required $MOD config=$C"
svc first-ign "auth required $PWDIR/pam_set_items.so" \
    "auth [ignore=ignore default=die] $MOD config=$C use_first_pass ignore_non_token" \
    "auth required $PAMDIR/pam_permit.so" \
    "account [ignore=ignore default=die] $MOD config=$C" "account required $PAMDIR/pam_permit.so"
pam_lib_own

# parts TOKEN SIZE [END]: the token in lines of SIZE characters, then END
parts() { printf '%s' "$1" | fold -w "$2"; printf '\n'; [ $# -gt 2 ] && printf '%s\n' "$3"; true; }

tok_ok=$(idp mint '{}')
tok_admin=$(idp mint '{"claims":{"groups":["ops-admins"]}}')
tok_exp=$(idp mint '{"expires_in":-3600}')
tok_bob=$(idp mint '{"claims":{"preferred_username":"bob"}}')
tok_opq=$(idp opaque '{"username":"alice"}')
tok_1500=$(mint_len 1500)
tok_1022=$(mint_len 1022)
tok_3000=$(mint_len 3000 '"groups":["ops-admins"]')
if [ -z "$tok_ok" ] || [ -z "$tok_opq" ] || [ ${#tok_1500} -lt 1500 ] || [ ${#tok_3000} -lt 3000 ]; then
	t_fail "mint test tokens" "the IdP gave no tokens"
	t_done; exit
fi
all_tokens=("$tok_ok" "$tok_admin" "$tok_exp" "$tok_bob" "$tok_opq" "$tok_1500" "$tok_3000" "$tok_1022")

# --- the verdict table, authenticate and acct_mgmt ---------------------------------------
pam sshd alice auth=PAM_SUCCESS acct=PAM_SUCCESS setcred=PAM_SUCCESS <<<"$tok_ok"
t_check "OK: auth SUCCESS, acct SUCCESS, setcred SUCCESS" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS setcred=PAM_SUCCESS" "$res"
has "OK: prompted with the default prompt" "$out" "conv: PROMPT_ECHO_OFF: Access token: "
hasre "OK: no error message" "$(grep -c ERROR_MSG <<<"$out")" '^0$'
t_check "OK: one audit line with the fingerprint" \
    "service=sshd user=alice verdict=OK reason=none iss=$KZ_IDP_URL sub=u-alice kid=$(kid_of <<<"$tok_ok") method=token fp=$(fp "$tok_ok")" \
    "$(sed 's/^kztoken\[[0-9]*\]: //' <<<"$new")"

# After a failed authenticate the module keeps no decision: acct_mgmt
# ignores, and libpam turns a stack of nothing but ignores into
# PAM_PERM_DENIED.
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_exp"
t_check "401 expired: auth AUTH_ERR, acct has no decision (PERM_DENIED)" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "401 expired: message 'Token expired'" "$out" "conv: ERROR_MSG: Token expired"
hasre "401 expired: audit reason=expired" "$new" "service=sshd user=alice verdict=UNAUTHENTICATED reason=expired .* fp=$(fp "$tok_exp")$"

pam sudo alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "403 (sudo, not in group): auth AUTH_ERR by default" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "403: auth says 'Not a member of group ops-admins'" "$out" \
    "conv: ERROR_MSG: Not a member of group ops-admins"
hasre "403: audit verdict=FORBIDDEN reason=missing_group" "$new" \
    "service=sudo user=alice verdict=FORBIDDEN reason=missing_group "

pam sudo-aia alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "403 with authz_in_auth: auth AUTH_ERR, acct PERM_DENIED" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "403 with authz_in_auth: auth says why" "$(grep -m1 ERROR_MSG <<<"$out")" \
    "conv: ERROR_MSG: Not a member of group ops-admins"
hasre "403 with authz_in_auth: audit line names service sudo-aia" "$new" \
    "service=sudo-aia user=alice verdict=FORBIDDEN reason=missing_group "

pam sudo-aiacc alice auth=PAM_SUCCESS acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "403 with authz_in_account: auth SUCCESS, acct PERM_DENIED" \
    "result: auth=PAM_SUCCESS acct=PAM_PERM_DENIED" "$res"
has "403 with authz_in_account: acct says why" "$out" \
    "conv: ERROR_MSG: Not a member of group ops-admins"

pam sudo alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_admin"
t_check "sudo with the admin group: auth SUCCESS, acct SUCCESS" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"

pam login-as-sudo alice auth=PAM_AUTH_ERR <<<"$tok_ok"
t_check "service=sudo option applies the sudo policy to another service" \
    "result: auth=PAM_AUTH_ERR" "$res"
hasre "service= option: the audit line keeps the PAM service" "$new" \
    "service=login-as-sudo user=alice verdict=FORBIDDEN reason=missing_group"

# 503: the provider hangs (opaque token: introspection), deadline 2 s
idp POST /test/fault '{"mode":"hang","paths":["/introspect"]}' >/dev/null
t0=$(date +%s%N)
pam down alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED <<<"$tok_opq"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
t_check "503 (hang): auth AUTHINFO_UNAVAIL, acct PERM_DENIED" \
    "result: auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED" "$res"
has "503 (hang): message 'Identity provider unreachable'" "$out" \
    "conv: ERROR_MSG: Identity provider unreachable"
hasre "503 (hang): audit verdict=UNAVAILABLE reason=timeout" "$new" "verdict=UNAVAILABLE reason=timeout "
if [ "$ms" -le 4000 ]; then t_pass "503 (hang): answered within the 2 s deadline + 2 s (${ms} ms)"
else t_fail "503 (hang): answered within the 2 s deadline + 2 s" "${ms} ms"; fi
idp POST /test/fault '{"mode":"503","paths":["/introspect","/jwks"]}' >/dev/null
pam down alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED <<<"$tok_opq"
t_check "503 (provider answers 503, opaque): auth AUTHINFO_UNAVAIL, acct PERM_DENIED" \
    "result: auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED" "$res"
hasre "503 (provider answers 503): audit verdict=UNAVAILABLE" "$new" "verdict=UNAVAILABLE reason=[a-z_]+ "
pam down alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "503 (JWKS answers 503, no cached keys): auth AUTHINFO_UNAVAIL, acct PERM_DENIED" \
    "result: auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED" "$res"
idp POST /test/fault '{"mode":"none"}' >/dev/null

pam bad alice auth=PAM_SERVICE_ERR acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "ERROR (bad config): auth SERVICE_ERR, acct PERM_DENIED" \
    "result: auth=PAM_SERVICE_ERR acct=PAM_PERM_DENIED" "$res"
has "ERROR: message says the host is misconfigured" "$out" \
    "conv: ERROR_MSG: Token login is misconfigured on this host"
hasre "ERROR: not even prompted for a token" "$(grep -c PROMPT <<<"$out")" '^0$'

pam badopt alice auth=PAM_SERVICE_ERR <<<"$tok_ok"
t_check "an unknown module option: auth SERVICE_ERR" "result: auth=PAM_SERVICE_ERR" "$res"

pam probe alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"correct horse battery"
t_check "ignore_non_token, a password: auth IGNORE, acct IGNORE (probe stack)" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
t_check "ignore_non_token, a password: no decision, no audit line" "" "$new"
pam probe alice auth=PAM_PERM_DENIED <<<"$tok_ok"
t_check "ignore_non_token, a token: not ignored (probe stack sees SUCCESS)" \
    "result: auth=PAM_PERM_DENIED" "$res"
pam handoff alice auth=PAM_SUCCESS getenv=PAM_SUCCESS <<<"correct horse battery"
t_check "ignore_non_token hands the password on as PAM_AUTHTOK to the next module" \
    "penv: PAM_AUTHTOK=correct horse battery" "$(grep '^penv: PAM_AUTHTOK=' <<<"$out")"
pam handoff alice auth=PAM_SUCCESS getenv=PAM_SUCCESS <<<"$tok_ok"
t_check "ignore_non_token, a valid token: success=done, the next module never runs" \
    "result: auth=PAM_SUCCESS|0" "$res|$(grep -c '^penv: PAM_AUTHTOK=' <<<"$out")"
pam then-pw alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_exp"
t_check "a failed token, then another module's login: acct IGNORE (probe)" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
pam then-pw alice auth=PAM_SUCCESS acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "a good token in the same stack: acct answers from the decision (probe dies on SUCCESS)" \
    "result: auth=PAM_SUCCESS acct=PAM_PERM_DENIED" "$res"
pam probe alice open=PAM_SUCCESS close=PAM_SUCCESS </dev/null
t_check "open_session and close_session: IGNORE (probe stack)" "result: open=PAM_SUCCESS close=PAM_SUCCESS" "$res"
pam debug alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_ok"
t_check "option debug: still SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
hasre "option debug: debug lines besides the audit line" "$(grep -vc ' verdict=' <<<"$new")" '^[1-9]'
pam probe alice acct=PAM_SUCCESS </dev/null
t_check "acct_mgmt with no token login in the transaction: IGNORE" "result: acct=PAM_SUCCESS" "$res"

# --- stacking: use_first_pass / try_first_pass after pam_set_items.so ---------------------
printf '%s\n' "$tok_ok" > "$W/authtok.ok"
printf '%s\n' "$tok_exp" > "$W/authtok.exp"
printf '%s\n' "my password 1" > "$W/authtok.pw"
[ ${#RUN[@]} -gt 0 ] && chown nobody:nogroup "$W"/authtok.*
pam -a "$W/authtok.ok" first alice auth=PAM_SUCCESS acct=PAM_SUCCESS </dev/null
t_check "use_first_pass: the stacked token logs in" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
hasre "use_first_pass: no prompt" "$(grep -c PROMPT <<<"$out")" '^0$'
pam first alice auth=PAM_AUTH_ERR <<<"$tok_ok"
t_check "use_first_pass with nothing stacked: AUTH_ERR, no prompt" "result: auth=PAM_AUTH_ERR 0" \
    "$res $(grep -c PROMPT <<<"$out")"
pam -a "$W/authtok.exp" first alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_ok"
t_check "use_first_pass with an expired stacked token: AUTH_ERR, no prompt" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED 0" "$res $(grep -c PROMPT <<<"$out")"
pam try alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_ok"
t_check "try_first_pass with nothing stacked: prompts, logs in" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS 1" "$res $(grep -c PROMPT <<<"$out")"
pam -a "$W/authtok.ok" try alice auth=PAM_SUCCESS acct=PAM_SUCCESS </dev/null
t_check "try_first_pass with the stacked token: no prompt" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS 0" "$res $(grep -c PROMPT <<<"$out")"
pam -a "$W/authtok.pw" try alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_ok"
t_check "try_first_pass with a stacked password: prompts for the token" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS 1" "$res $(grep -c PROMPT <<<"$out")"
t_check "try_first_pass: the stacked password is not decided on (one audit line: the prompted token)" "1" "$(grep -c . <<<"$new")"
pam -a "$W/authtok.exp" try alice auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_ok"
t_check "try_first_pass with an expired stacked token: prompts, logs in" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS 1" "$res $(grep -c PROMPT <<<"$out")"
pam -a "$W/authtok.pw" first-ign alice auth=PAM_SUCCESS acct=PAM_SUCCESS </dev/null
t_check "use_first_pass ignore_non_token with a stacked password: IGNORE (probe)" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"

# --- user binding -----------------------------------------------------------------------
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED <<<"$tok_bob"
t_check "a token for bob, PAM user alice: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "user binding: message" "$out" "conv: ERROR_MSG: Token is not for this user"
hasre "user binding: audit reason=user_mismatch" "$new" "user=alice verdict=UNAUTHENTICATED reason=user_mismatch "
pam sshd bob auth=PAM_SUCCESS acct=PAM_SUCCESS <<<"$tok_bob"
t_check "the same token for PAM user bob: SUCCESS" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"

# --- short answers ----------------------------------------------------------------------
pam sshd alice auth=PAM_AUTH_ERR <<<""
t_check "an empty answer fails" "result: auth=PAM_AUTH_ERR" "$res"
pam sshd alice auth=PAM_AUTH_ERR <<<"x"
t_check "a 1-character answer fails" "result: auth=PAM_AUTH_ERR" "$res"
pam sshd alice auth=PAM_CONV_ERR </dev/null
t_check "no answer at all (conversation fails): CONV_ERR" "result: auth=PAM_CONV_ERR" "$res"

# --- long tokens: the chunked prompt ----------------------------------------------------
pam sshd alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(parts "$tok_1500" 511)
t_check "${#tok_1500}-character token in 511-character parts: SUCCESS" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "chunked: says the token looks truncated, with the part size and the fold line" "$out" \
    "conv: TEXT_INFO: Token looks truncated (511 characters): your client cuts long input; paste it in parts of 511 (fold -w 511 token.txt)"
has "chunked: at sudo's cap, part 2's prompt says sudo takes 511 (sudo shows prompts, not messages)" "$out" "conv: PROMPT_ECHO_OFF: Token, part 2 (sudo takes 511 characters per part: fold -w 511; empty line to finish): "
has "chunked: asks for part 3" "$out" "conv: PROMPT_ECHO_OFF: Token, part 3 (sudo takes 511 characters per part: fold -w 511; empty line to finish): "
t_check "chunked: a part shorter than 511 is the last (no part 4, no empty line needed)" "0" \
    "$(grep -c 'part 4' <<<"$out")"
hasre "chunked: one audit line, OK with the whole token's fp (no likely_truncated failure first)" "$(tr '\n' '|' <<<"$new")" \
    "^[^|]*verdict=OK reason=none .* fp=$(fp "$tok_1500")\|$"
pam sshd alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(parts "$tok_1022" 511 " ")
t_check "${#tok_1022}-character token (2 x 511): part 3 answered by a blank line: SUCCESS" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "2 x 511: asks for part 3" "$out" "conv: PROMPT_ECHO_OFF: Token, part 3 (sudo takes 511 characters per part: fold -w 511; empty line to finish): "
pam sudo alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(parts "$tok_3000" 1023)
t_check "${#tok_3000}-character token in 1023-character parts (sudo, admin): SUCCESS" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "chunked: 1023 says truncated" "$out" \
    "conv: TEXT_INFO: Token looks truncated (1023 characters): your client cuts long input; paste it in parts of 1023 (fold -w 1023 token.txt)"
has "sudo: the default prompt says sudo takes 511 characters per part" "$out" \
    "conv: PROMPT_ECHO_OFF: Access token (sudo takes 511 characters per part: fold -w 511): "
pam sshd alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(printf '%s\n\n' "${tok_3000:0:1023}")
t_check "only the first 1023 characters, then an empty part: AUTH_ERR" \
    "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
has "cut token: the final message says truncated" "$out" \
    "conv: ERROR_MSG: Token looks truncated (1023 characters): your client cuts long input; paste it in parts of 1023 (fold -w 1023 token.txt)"
hasre "cut token, parts ended: one audit line, likely_truncated" "$(grep -c . <<<"$new") $new" \
    "^1 .*verdict=UNAUTHENTICATED reason=likely_truncated "
pam sshd alice auth=PAM_CONV_ERR < <(printf '%s\n' "${tok_1500:0:511}")
t_check "cut token, then the conversation fails at part 2: CONV_ERR, no login" "result: auth=PAM_CONV_ERR" "$res"
hasre "... and the attempt still has its one audit line (likely_truncated, the first part's fp)" "$(grep -c . <<<"$new") $new" \
    "^1 .*reason=likely_truncated .* fp=$(fp "${tok_1500:0:511}")$"
pam chunked alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(parts "$tok_1500" 500 "")
t_check "option chunked: 500-character parts and an empty line, prompt= used" "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
has "option chunked: the custom prompt" "$out" "conv: PROMPT_ECHO_OFF: Token:"
has "option chunked: parts of no client's cut go on until the empty line" "$out" \
    "conv: PROMPT_ECHO_OFF: Token, part $(( (${#tok_1500} + 499) / 500 + 1 )) (empty line to finish): "
pam chunked alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(parts "$tok_1500" 511)
t_check "option chunked: 511-character parts end at the short last one" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS 0" "$res $(grep -c 'part 4' <<<"$out")"
hasre "option chunked: no truncation note" "$(grep -c TEXT_INFO <<<"$out")" '^0$'
pam chunked alice auth=PAM_SUCCESS acct=PAM_SUCCESS < <(printf '%s\n\n' "$tok_ok")
t_check "option chunked: a short token in one part, then an empty line" \
    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS" "$res"
pam chunked alice auth=PAM_CONV_ERR < <(printf 'garbage\n')
t_check "option chunked: conversation fails at part 2: CONV_ERR (never SUCCESS)" "result: auth=PAM_CONV_ERR" "$res"
pam small alice auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED < <(parts "$tok_3000" 1023 "")
t_check "parts beyond max_token_length 2000: AUTH_ERR" "result: auth=PAM_AUTH_ERR acct=PAM_PERM_DENIED" "$res"
hasre "parts beyond max_token_length: audit reason=too_long" "$new" "reason=too_long "
has "parts beyond max_token_length: stops asking at part 2" "$(grep -c 'part 3' <<<"$out")" "0"

# --- 50 transactions in one process, under valgrind -------------------------------------
if command -v valgrind >/dev/null; then
	vlog=$W/valgrind.log
	VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99)
	before=$(wc -l < "$AUDIT")
	out=$(timeout 180 "${RUN[@]}" env "${PWENV[@]}" PAM_WRAPPER_DISABLE_DEEPBIND=1 \
	    "${VG[@]}" --log-file="$vlog" "$W/kzpam" -n 50 sudo alice auth=PAM_SUCCESS acct=PAM_SUCCESS \
	    <<<"$tok_admin" 2>>"$W/stderr")
	rc=$?
	t_check "50 transactions under valgrind: every one SUCCESS" \
	    "result: auth=PAM_SUCCESS acct=PAM_SUCCESS|mismatches=0" "$(grep -E '^(result|mismatches)' <<<"$out" | tr '\n' '|' | sed 's/|$//')"
	t_check "50 transactions under valgrind: no definite leak, no error (exit 0)" "0" "$rc"
	[ "$rc" -ne 0 ] && head -50 "$vlog"
	t_check "50 transactions: 50 audit lines" "50" "$(($(wc -l < "$AUDIT") - before))"
	# the network path too: 10 opaque tokens refused by a provider answering 503
	idp POST /test/fault '{"mode":"503","paths":["/introspect"]}' >/dev/null
	out=$(timeout 120 "${RUN[@]}" env "${PWENV[@]}" PAM_WRAPPER_DISABLE_DEEPBIND=1 \
	    "${VG[@]}" --log-file="$vlog.2" "$W/kzpam" -n 10 down alice auth=PAM_AUTHINFO_UNAVAIL acct=PAM_PERM_DENIED \
	    <<<"$tok_opq" 2>>"$W/stderr")
	rc=$?
	idp POST /test/fault '{"mode":"none"}' >/dev/null
	t_check "10 transactions over the network path (503) under valgrind: no leak (exit 0)" "0" "$rc"
	[ "$rc" -ne 0 ] && head -50 "$vlog.2"
else
	t_skip "valgrind transactions" "valgrind not installed"
fi

# --- secrets ----------------------------------------------------------------------------
hasre "every audit line carries fp= (12 hex digits, '-' for empty input)" \
    "$(grep ' verdict=' "$AUDIT" | grep -vcE ' fp=([0-9a-f]{12}|-)$')" '^0$'
leak=0
for t in "${all_tokens[@]}"; do
	for f in "$AUDIT" "$W/stderr"; do
		grep -qF -- "$t" "$f" && leak=1
		# a part of a token would be as bad: its signature segment
		grep -qF -- "${t##*.}" "$f" && leak=1
	done
done
t_check "no token (nor its signature) in the audit log or stderr" "0" "$leak"
grep -qF "correct horse" "$AUDIT" "$W/stderr" && leak=1
t_check "no password in the audit log or stderr" "0" "$leak"

t_done
