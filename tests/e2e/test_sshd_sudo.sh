#!/bin/bash
# tests/e2e/test_sshd_sudo.sh - pam_kztoken.so in a real sshd (OpenSSH
# client over keyboard-interactive) and a real sudo.
#
# Everything runs as root inside a private mount namespace (unshare -m):
# test files are bind-mounted over /etc/pam.d/sshd, /etc/pam.d/sudo and
# /etc/sudoers.d, a throwaway user kzt-XXXXXX exists only in bind-mounted
# copies of /etc/passwd, /etc/group and /etc/shadow, and a tmpfs over /run
# gives sshd its /run/sshd and sudo its timestamps.  The outer half of this
# script checks that the machine's own files are unchanged afterwards and
# that the user does not exist outside.
. "$(dirname "$0")/../lib.sh"

if [ "${KZ_E2E_INNER:-}" != 1 ]; then
	# ---------------------------------------------------------------- outer
	why=""
	[ "$(id -u)" = 0 ] || why="needs root (private mount namespace, sshd, sudo)"
	for c in unshare setpriv sshd ssh ssh-keygen sudo python3; do
		[ -z "$why" ] && ! command -v "$c" >/dev/null 2>&1 && why="no $c"
	done
	[ -z "$why" ] && [ ! -s "${KZ_IDP_DIR:-/nonexistent}/url" ] && why="no test IdP (KZ_IDP_DIR)"
	[ -z "$why" ] && ! unshare -m --propagation private true 2>/dev/null &&
	    why="unshare -m is not permitted here"
	if [ -n "$why" ]; then
		t_skip "sshd and sudo end-to-end" "$why"
		t_done; exit
	fi
	export KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
	sums() {
		{ sha256sum /etc/pam.d/sshd /etc/pam.d/sudo /etc/pam.d/sudo-i /etc/pam.d/su /etc/sudoers /etc/passwd \
		    /etc/group /etc/shadow; ls -la --time-style=+ /etc/sudoers.d;
		  sha256sum /etc/sudoers.d/*; ls -ld /run/sshd /run/sudo; } 2>&1
	}
	before=$(sums)
	W=$(mktemp -d /tmp/kztoken-e2e.XXXXXX)
	chmod 755 "$W"
	user=kzt-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	KZ_E2E_INNER=1 KZ_E2E_DIR=$W KZ_E2E_USER=$user timeout 240 \
	    unshare -m --propagation private bash "$0" > "$W/inner.out" 2>&1 </dev/null
	t_inner "$W/inner.out" $?
	# an sshd or syslog listener we started that outlived the inner half
	# (its timeout): end it, by its pid
	left=""
	for p in sshd syslog; do
		if [ -s "$W/$p.pid" ] && kill -0 "$(cat "$W/$p.pid")" 2>/dev/null; then
			kill "$(cat "$W/$p.pid")"; left="$left $p"
		fi
	done
	t_check "sshd and the syslog listener ended with the test" "" "$left"
	t_check "machine files unchanged (pam.d/sshd, pam.d/sudo, sudoers, sudoers.d, passwd, group, shadow)" \
	    "$before" "$(sums)"
	if getent passwd "$user" >/dev/null; then t_fail "test user $user does not exist outside"
	else t_pass "test user does not exist outside the namespace"; fi
	idp POST /test/fault '{"mode":"none"}' >/dev/null 2>&1
	if [ -n "${KZ_KEEP:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	t_done; exit
fi

# -------------------------------------------------------------------- inner
W=$KZ_E2E_DIR
U=$KZ_E2E_USER
KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
SSHD_PID= LOG_PID=
cleanup() {
	[ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	[ -n "$LOG_PID" ] && kill "$LOG_PID" 2>/dev/null && wait "$LOG_PID" 2>/dev/null
	idp POST /test/fault '{"mode":"none"}' >/dev/null 2>&1
}
trap cleanup EXIT
die() { t_fail "$1" "$2"; t_done; exit 1; }

# --- the namespace: /run, the user, PAM stacks, sudoers ---------------------------------
mount -t tmpfs -o mode=755 kz-run /run || die "tmpfs over /run" "mount failed"
mkdir -m 755 /run/sshd
# A /dev of our own with a /dev/log: sshd clears the environment of its
# PAM child (so KZTOKEN_LOG_FILE never reaches the module there) and sudo
# is setuid (where it is ignored), so the audit lines are read where they
# really go, syslog.  The device nodes are the machine's, bind-mounted.
mkdir -p "$W/realdev"
mount --rbind /dev "$W/realdev" && mount -t tmpfs -o mode=755 kz-dev /dev ||
    die "a private /dev" "mount failed"
for n in null zero full random urandom tty ptmx; do
	[ -e "$W/realdev/$n" ] || continue
	touch "/dev/$n" && mount --bind "$W/realdev/$n" "/dev/$n"
done
mkdir -p /dev/pts /dev/shm && mount --rbind "$W/realdev/pts" /dev/pts
ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
SYSLOG=$W/syslog.log
/usr/bin/python3 - "$SYSLOG" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "ab", buffering=0) as f:
    f.write(b"# listening\n")
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
PY
LOG_PID=$!
echo "$LOG_PID" > "$W/syslog.pid"
for _ in $(seq 50); do grep -q '^# listening' "$SYSLOG" 2>/dev/null && break; sleep 0.1; done
[ -S /dev/log ] || die "a syslog socket at /dev/log in the namespace" "not there"
mkdir -p "$W/etc" "$W/home/$U" "$W/kz" "$W/lib" "$W/ssh" "$W/sudoers.d"
uid=61000
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
cp -p /etc/passwd /etc/group /etc/shadow "$W/etc/"
echo "$U:x:$uid:$uid:kztoken e2e:$W/home/$U:/bin/sh" >> "$W/etc/passwd"
echo "$U:x:$uid:" >> "$W/etc/group"
echo "$U:!:19000:0:99999:7:::" >> "$W/etc/shadow"
for f in passwd group shadow; do
	mount --bind "$W/etc/$f" "/etc/$f" || die "bind-mount /etc/$f" "failed"
done
chown "$uid:$uid" "$W/home/$U"
getent passwd "$U" >/dev/null || die "test user visible in the namespace" "getent passwd $U fails"
t_pass "test user $U exists inside the namespace"

# sshd and the setuid sudo load the module as built (it carries the core
# and names no library path, so setuid needs no other build), copied so
# that a rebuild of the shared build dir cannot disturb us.
cp "$KZ_BUILD/pam_kztoken.so" "$W/lib/"
MOD=$W/lib/pam_kztoken.so
SMOD=$MOD

kz_write_config "$W/kz/kz.conf" '[service sudo]' 'require_group = ops-admins'
# a short deadline and a JWKS cache of its own, for the hanging provider
kz_write_config "$W/kzdown/kz.conf"
sed -i 's/^timeout = .*/timeout = 2/; s/^connect_timeout = .*/connect_timeout = 1/' "$W/kzdown/kz.conf"
C=$W/kz/kz.conf
PAMDIR=/lib/x86_64-linux-gnu/security

# /etc/pam.d/sshd is rewritten in place (same inode) to switch stacks.
: > "$W/pam.sshd"
stack_sshd() { printf '%s\n' "$@" > "$W/pam.sshd"; }
stack_sshd "auth required $MOD config=$C" "account required $MOD config=$C" \
    "session required $PAMDIR/pam_permit.so"
printf '%s\n' "auth required $SMOD config=$C" "account required $SMOD config=$C" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sudo"
mount --bind "$W/pam.sshd" /etc/pam.d/sshd || die "bind-mount /etc/pam.d/sshd" "failed"
mount --bind "$W/pam.sudo" /etc/pam.d/sudo || die "bind-mount /etc/pam.d/sudo" "failed"
# `sudo -i` is PAM service sudo-i, which has no [service] section of its own:
# the policy of sudo must apply (DESIGN.md section 6)
cp "$W/pam.sudo" "$W/pam.sudo-i"
mount --bind "$W/pam.sudo-i" /etc/pam.d/sudo-i || die "bind-mount /etc/pam.d/sudo-i" "failed"
cat > "$W/sudoers.d/kztoken-e2e" <<EOF
Defaults:$U !lecture, timestamp_timeout=0, passwd_tries=1
Defaults:$U env_keep += "SSLKEYLOGFILE"
$U ALL=(root) /usr/bin/id, $(getent passwd root | cut -d: -f7)
EOF
chmod 750 "$W/sudoers.d"
chmod 440 "$W/sudoers.d/kztoken-e2e"
mount --bind "$W/sudoers.d" /etc/sudoers.d || die "bind-mount /etc/sudoers.d" "failed"
t_pass "PAM stacks and sudoers drop-in bind-mounted in the namespace"

# --- sshd on a random loopback port -----------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/hostkey" || die "host key" "ssh-keygen failed"
start_sshd() {
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat > "$W/ssh/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/ssh/hostkey
PidFile $W/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication no
AuthenticationMethods keyboard-interactive
PermitRootLogin no
AllowUsers $U
AuthorizedKeysFile none
StrictModes no
PrintMotd no
PrintLastLog no
MaxAuthTries 3
LoginGraceTime 30
LogLevel VERBOSE
EOF
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	    /usr/sbin/sshd -D -f "$W/ssh/sshd_config" -E "$W/ssh/sshd.log" &
	SSHD_PID=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$SSHD_PID" 2>/dev/null; wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	return 1
}
start_sshd || start_sshd || die "sshd starts" "$(tail -5 "$W/ssh/sshd.log")"
t_pass "sshd listens on 127.0.0.1:$PORT"

# The askpass answers like a user who pastes the whole token at the first
# prompt (the OpenSSH client keeps 1023 characters of it) and, asked for
# "part N", pastes what follows.  It logs the prompts, never the answers.
cp "$KZ_ROOT/tests/e2e/askpass" "$W/askpass"	# a copy: a checkout may lack its x bit
chmod 755 "$W/askpass"

# ssh_login TOKEN: logs in as $U and runs a command; sets rc, out, err, ms.
ssh_login() {
	local t0
	printf '%s' "$1" > "$W/token"
	chmod 600 "$W/token"
	: > "$W/ask.log"
	mkdir -p "$W/client"
	t0=$(date +%s%N)
	out=$(timeout 30 env -i PATH="$PATH" HOME="$W/client" DISPLAY=:0 \
	    SSH_ASKPASS="$W/askpass" SSH_ASKPASS_REQUIRE=force \
	    KZ_ASK_TOKEN="$W/token" KZ_ASK_LOG="$W/ask.log" \
	    ssh -F /dev/null -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
	    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=INFO \
	    "$U@127.0.0.1" 'echo kz-login-ok; id -un' 2>"$W/ssh.err" </dev/null)
	rc=$?
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	err=$(cat "$W/ssh.err")
	rm -f "$W/token"
}
# the kztoken lines of syslog since the last mark
mark() { audit_mark=$(wc -l < "$SYSLOG"); }
new_audit() { tail -n +$((audit_mark + 1)) "$SYSLOG" | grep ' kztoken\[[0-9]*\]: '; }
hasre() { # hasre NAME TEXT REGEX
	if grep -qE -- "$3" <<<"$2"; then t_pass "$1"; else t_fail "$1" "no match for /$3/ in: $2"; fi
}

tok_ok=$(idp mint "{\"claims\":{\"preferred_username\":\"$U\"}}")
tok_exp=$(idp mint "{\"expires_in\":-3600,\"claims\":{\"preferred_username\":\"$U\"}}")
tok_other=$(idp mint '{"claims":{"preferred_username":"alice"}}')
tok_admin=$(idp mint "{\"claims\":{\"preferred_username\":\"$U\",\"groups\":[\"ops-admins\"]}}")
tok_long=$(mint_len 2600 "\"preferred_username\":\"$U\"")
tok_1500=$(mint_len 1500 "\"preferred_username\":\"$U\",\"groups\":[\"ops-admins\"]")
[ -n "$tok_ok" ] && [ ${#tok_long} -gt 2046 ] && [ ${#tok_1500} -gt 1022 ] ||
    die "mint test tokens" "the IdP gave no tokens"

# --- ssh --------------------------------------------------------------------------------
mark
ssh_login "$tok_ok"
t_check "ssh: a valid token logs in and runs a command" "0|kz-login-ok|$U" "$rc|$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
hasre "ssh: the client was asked 'Access token:'" "$(cat "$W/ask.log")" "Access token: "
hasre "ssh: audit line service=sshd verdict=OK" "$(new_audit)" "service=sshd user=$U verdict=OK reason=none .* fp=[0-9a-f]{12}$"

mark
ssh_login "$tok_exp"
t_check "ssh: an expired token is refused (exit 255, no command run)" "255|" "$rc|$out"
hasre "ssh: the client shows 'Token expired'" "$err" "Token expired"
hasre "ssh: audit reason=expired" "$(new_audit)" "service=sshd user=$U verdict=UNAUTHENTICATED reason=expired "

mark
ssh_login "$tok_other"
t_check "ssh: a token for another user is refused" "255|" "$rc|$out"
hasre "ssh: the client shows 'Token is not for this user'" "$err" "Token is not for this user"
hasre "ssh: audit reason=user_mismatch" "$(new_audit)" "user=$U verdict=UNAUTHENTICATED reason=user_mismatch "

mark
ssh_login "$tok_long"
t_check "ssh: a ${#tok_long}-character JWT logs in through the chunked prompt" \
    "0|kz-login-ok|$U" "$rc|$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
hasre "ssh: the client cut the paste at 1023 and was told so" "$(cat "$W/ask.log")" \
    "Token looks truncated \(1023 characters\): your client cuts long input; paste it in parts of 1023 \(fold -w 1023 token.txt\)"
t_check "ssh: asked for parts 2 and 3, the short part 3 was the last" "1|1|0" \
    "$(grep -c 'part 2 (empty' "$W/ask.log")|$(grep -c 'part 3 (empty' "$W/ask.log")|$(grep -c 'part 4' "$W/ask.log")"
hasre "ssh: audit: one line for the one attempt, OK" "$(new_audit | tr '\n' '|')" \
    "^[^|]*service=sshd user=$U verdict=OK reason=none[^|]*\|$"

# --- sudo -------------------------------------------------------------------------------
# sudo_as INPUT [SUDO-ARGS...]: runs `sudo -S SUDO-ARGS` (default
# /usr/bin/id -u) as $U with INPUT on stdin, and $SUDO_ENV in its environment
SUDO_ENV=()
sudo_as() {
	local in=$1
	shift
	[ $# -gt 0 ] || set -- /usr/bin/id -u
	printf '%s' "$in" > "$W/sudo.in"
	out=$(timeout 20 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
	    env -i PATH=/usr/bin:/bin HOME="$W/home/$U" USER="$U" LOGNAME="$U" \
	    KZTOKEN_LOG_FILE="$W/sudo-audit.log" "${SUDO_ENV[@]}" \
	    sudo -S "$@" < "$W/sudo.in" 2>"$W/sudo.err")
	rc=$?
	err=$(cat "$W/sudo.err")
	rm -f "$W/sudo.in"
}
# sudo fails a line longer than 511 characters outright (a conversation
# error; the module never sees it), and every JWT here is longer: the user
# pastes it in parts of 511, the first of which looks truncated, so the
# module asks for the rest; the short last part ends it (sudo refuses an
# empty answer).
sudo_parts() { printf '%s' "$1" | fold -w "${2:-511}"; printf '\n'; [ $# -gt 2 ] && printf '%s\n' "$3"; true; }
mark
sudo_as "$(sudo_parts "$tok_admin")"
t_check "sudo -S: a token with the admin group runs the command as root" "0|0" "$rc|$out"
hasre "sudo: the prompt is the module's, and says sudo takes 511 characters per part" "$err" \
    "Access token \(sudo takes 511 characters per part: fold -w 511\): "
hasre "sudo: audit (syslog) service=sudo verdict=OK" "$(new_audit)" \
    "service=sudo user=$U verdict=OK reason=none "
mark
sudo_as "$(sudo_parts "$tok_ok")"
t_check "sudo -S: a valid token without the group is refused" "1|" "$rc|$out"
[ -n "${KZ_E2E_VERBOSE:-}" ] && sed 's/^/# sudo said: /' <<<"$err"
# FORBIDDEN fails authentication itself (revision 2): no account line
# can be forgotten that would let it through.
hasre "sudo: refused in authentication (FORBIDDEN is PAM_AUTH_ERR)" "$err" \
    "sudo: 1 incorrect password attempt"
hasre "sudo: audit verdict=FORBIDDEN reason=missing_group" "$(new_audit)" \
    "service=sudo user=$U verdict=FORBIDDEN reason=missing_group "
mark
sudo_as "$(sudo_parts "$tok_1500")"
t_check "sudo -S: a ${#tok_1500}-character token in 511-character parts runs the command" "0|0" "$rc|$out"
hasre "sudo: asked for part 3" "$err" "Token, part 3 \(sudo takes 511 characters per part: fold -w 511; empty line to finish\): "
hasre "sudo: audit: one line for the one attempt, OK" "$(new_audit | tr '\n' '|')" \
    "^[^|]*service=sudo user=$U verdict=OK reason=none[^|]*\|$"
mark
sudo_as "$tok_1500"$'\n\n'
t_check "sudo -S: the token as one line of ${#tok_1500} is refused by sudo itself" "1|" "$rc|$out"
hasre "sudo: ... as a conversation error, before the module decides anything" \
    "$(tr '\n' ' ' <<<"$err")|$(new_audit | wc -l)" "Conversation error.*\|0$"
hasre "sudo: ... and the module logs the cure (parts of 511)" \
    "$(tail -n +$((audit_mark + 1)) "$SYSLOG")" "the conversation failed: sudo takes at most 511 characters per answer"
mark
sudo_as "$(sudo_parts "$tok_exp")"
t_check "sudo -S: an expired token is refused" "1|" "$rc|$out"
hasre "sudo: audit reason=expired" "$(new_audit)" "service=sudo user=$U verdict=UNAUTHENTICATED reason=expired "
if [ -e "$W/sudo-audit.log" ]; then t_fail "sudo (setuid) ignores KZTOKEN_LOG_FILE" "file written"
else t_pass "sudo (setuid) ignores KZTOKEN_LOG_FILE"; fi
# sudo -i: PAM service sudo-i, the policy of [service sudo]
mark
sudo_as "$(sudo_parts "$tok_ok")" -i /usr/bin/id -u
t_check "sudo -S -i: a valid token without the group is refused (sudo-i has sudo's policy)" \
    "1|" "$rc|$(tail -n 1 <<<"$out")"
hasre "sudo -i: audit service=sudo-i verdict=FORBIDDEN reason=missing_group" "$(new_audit)" \
    "service=sudo-i user=$U verdict=FORBIDDEN reason=missing_group "
mark
sudo_as "$(sudo_parts "$tok_admin")" -i /usr/bin/id -u
t_check "sudo -S -i: a token with the admin group runs the login shell as root" \
    "0|0" "$rc|$(tail -n 1 <<<"$out")"
hasre "sudo -i: audit service=sudo-i verdict=OK" "$(new_audit)" "service=sudo-i user=$U verdict=OK reason=none "
# The caller's SSLKEYLOGFILE must steer nothing in setuid sudo: the module
# introspects an opaque token over TLS, and no key log appears.  (sudo's
# getenv hook shows PAM modules the environment sudoers builds for the
# command, so the sudoers drop-in keeps SSLKEYLOGFILE there, as an
# env_keep list might; with env_reset alone libcurl would never see it.)
tok_opq=$(idp opaque "{\"username\":\"$U\",\"groups\":[\"ops-admins\"]}")
keylog=$W/sslkeylog.txt
rm -f "$keylog"
SUDO_ENV=(SSLKEYLOGFILE="$keylog")
mark
sudo_as "$tok_opq"$'\n'
SUDO_ENV=()
t_check "sudo -S with SSLKEYLOGFILE set: an opaque token (introspected over TLS) runs the command" "0|0" "$rc|$out"
hasre "sudo with SSLKEYLOGFILE: the token was introspected (audit OK)" "$(new_audit)" \
    "service=sudo user=$U verdict=OK reason=none "
if [ -e "$keylog" ]; then
	t_fail "sudo (setuid) ignores the caller's SSLKEYLOGFILE" "$(stat -c '%U %a %s bytes' "$keylog") written"
else
	t_pass "sudo (setuid) ignores the caller's SSLKEYLOGFILE: no key log file"
fi
# The same through su (setuid root, no getenv hook): the token is
# introspected (it names $U, not root: user_mismatch), and no key log appears.
if command -v su >/dev/null; then
	printf '%s\n' "auth required $SMOD config=$C" "account required $SMOD config=$C" \
	    "session required $PAMDIR/pam_permit.so" > "$W/pam.su"
	mount --bind "$W/pam.su" /etc/pam.d/su || die "bind-mount /etc/pam.d/su" "failed"
	tok_opq2=$(idp opaque "{\"username\":\"$U\"}")
	rm -f "$keylog"
	mark
	printf '%s\n' "$tok_opq2" > "$W/su.in"
	out=$(timeout 20 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
	    env -i PATH=/usr/bin:/bin HOME="$W/home/$U" USER="$U" LOGNAME="$U" SSLKEYLOGFILE="$keylog" \
	    su -c /usr/bin/true root < "$W/su.in" 2>"$W/su.err")
	rc=$?
	rm -f "$W/su.in"
	t_check "su with SSLKEYLOGFILE set: a token for $U does not make root" "1|" "$rc|$out"
	hasre "su with SSLKEYLOGFILE: the token was introspected (audit user_mismatch)" "$(new_audit)" \
	    "service=su user=root verdict=UNAUTHENTICATED reason=user_mismatch "
	if [ -e "$keylog" ]; then
		t_fail "su (setuid) ignores the caller's SSLKEYLOGFILE" "$(stat -c '%U %a %s bytes' "$keylog") written"
	else
		t_pass "su (setuid) ignores the caller's SSLKEYLOGFILE: no key log file"
	fi
else
	t_skip "su with SSLKEYLOGFILE" "no su"
fi
# With the option chunked, parts of any size: the module always asks on.
printf '%s\n' "auth required $SMOD config=$C chunked" "account required $SMOD config=$C" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sudo"
sudo_as "$(sudo_parts "$tok_1500" 400 " ")"
t_check "sudo -S, option chunked: the ${#tok_1500}-character token in 400-character parts, then a blank" "0|0" "$rc|$out"
sudo_as "$(sudo_parts "$tok_1500" 400 "")"
t_check "sudo -S, option chunked: ... but an empty line is refused by sudo" "1|" "$rc|$out"
hasre "sudo: says 'no password was provided'" "$err" "no password was provided"
sudo_as "$(sudo_parts "$tok_ok" 300 " ")"
t_check "sudo -S, option chunked: still refused without the group" "1|" "$rc|$out"

# --- the provider hangs -----------------------------------------------------------------
D=$W/kzdown/kz.conf
stack_sshd "auth required $MOD config=$D" "account required $MOD config=$D" \
    "session required $PAMDIR/pam_permit.so"
idp POST /test/fault '{"mode":"hang","paths":["/jwks"]}' >/dev/null
mark
ssh_login "$tok_ok"
t_check "ssh, provider hanging: refused" "255|" "$rc|$out"
if [ "$ms" -le 4000 ]; then t_pass "ssh, provider hanging: refused within timeout 2 s + 2 s (${ms} ms)"
else t_fail "ssh, provider hanging: refused within timeout 2 s + 2 s" "${ms} ms"; fi
hasre "ssh, provider hanging: the client shows 'Identity provider unreachable'" "$err" \
    "Identity provider unreachable"
hasre "ssh, provider hanging: audit verdict=UNAVAILABLE reason=timeout" "$(new_audit)" \
    "user=$U verdict=UNAVAILABLE reason=timeout "

# Fall-through: unavailable is ignored and the next module decides
# (pam_permit here, to make it visible); any other failure still ends it.
# A fresh config (no JWKS cached, no recent fetch), so the full deadline
# passes before the fall-through.
kz_write_config "$W/kzdown2/kz.conf"
sed -i 's/^timeout = .*/timeout = 2/; s/^connect_timeout = .*/connect_timeout = 1/' "$W/kzdown2/kz.conf"
fallthrough() {
	stack_sshd "auth [success=done authinfo_unavail=ignore default=die] $MOD config=$1 authz_in_auth" \
	    "auth required $PAMDIR/pam_permit.so" \
	    "account required $PAMDIR/pam_permit.so" "session required $PAMDIR/pam_permit.so"
}
fallthrough "$W/kzdown2/kz.conf"
mark
ssh_login "$tok_ok"
t_check "ssh, provider hanging, authinfo_unavail=ignore: falls through to the next module" \
    "0|kz-login-ok|$U" "$rc|$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
if [ "$ms" -le 4000 ]; then t_pass "ssh, fall-through within timeout 2 s + 2 s (${ms} ms)"
else t_fail "ssh, fall-through within timeout 2 s + 2 s" "${ms} ms"; fi
hasre "ssh, fall-through: the token decision was UNAVAILABLE" "$(new_audit)" "user=$U verdict=UNAVAILABLE reason=timeout "
idp POST /test/fault '{"mode":"none"}' >/dev/null
fallthrough "$C"
ssh_login "$tok_exp"
t_check "ssh, same stack, provider up: an expired token does not fall through" "255|" "$rc|$out"
ssh_login "$tok_other"
t_check "ssh, same stack, provider up: a token for another user does not fall through" "255|" "$rc|$out"
ssh_login "$tok_ok"
t_check "ssh, same stack, provider up: a valid token logs in by the token" \
    "0|kz-login-ok|$U" "$rc|$(tr '\n' '|' <<<"$out" | sed 's/|$//')"

# --- login with a browser (device flow, RFC 8628) ---------------------------------------
# The scripted ssh client answers the token prompt with an empty line, reads
# the URL and code from the second prompt, approves (or refuses) the code at
# the test IdP as the user would in a browser, and presses Enter.
kz_write_config "$W/kzdev/kz.conf" '[service sudo]' 'require_group = ops-admins'
sed -i "s|^token_url = .*|&\ndevice_authorization_url = $KZ_IDP_URL/device_authorization\ndevice_client_id = kztoken-device\ndevice_timeout = 10|" \
    "$W/kzdev/kz.conf"
CD=$W/kzdev/kz.conf
idp POST /test/device_mode '{"interval":1,"expires_in":600,"slow_down":0}' >/dev/null
cat > "$W/askpass-device" <<'EOF'
#!/bin/sh
printf '%s\n--\n' "$1" >> "$KZ_ASK_LOG"
code=$(printf '%s\n' "$1" | sed -n 's/.* and enter \([A-Z0-9-]*\), then press Enter:.*/\1/p')
if [ -n "$code" ]; then
	printf '{"user_code":"%s",%s}' "$code" "$KZ_AT_IDP" |
	    "$KZ_ROOT/tests/idp/idpctl" "$KZ_IDP_DIR" POST /test/device - >/dev/null
fi
printf '\n'
EOF
chmod 755 "$W/askpass-device"
# ssh_device FIELDS: a device-flow login as $U; the user at the IdP answers with FIELDS
ssh_device() {
	: > "$W/ask.log"
	out=$(timeout 40 env -i PATH="$PATH" HOME="$W/client" DISPLAY=:0 \
	    SSH_ASKPASS="$W/askpass-device" SSH_ASKPASS_REQUIRE=force KZ_ASK_LOG="$W/ask.log" \
	    KZ_AT_IDP="$1" KZ_ROOT="$KZ_ROOT" KZ_IDP_DIR="$KZ_IDP_DIR" \
	    ssh -F /dev/null -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
	    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=INFO \
	    "$U@127.0.0.1" 'echo kz-login-ok; id -un' 2>"$W/ssh.err" </dev/null)
	rc=$?
	err=$(cat "$W/ssh.err")
}
stack_sshd "auth required $MOD config=$CD device_flow" "account required $MOD config=$CD" \
    "session required $PAMDIR/pam_permit.so"
mark
ssh_device "\"action\":\"approve\",\"user\":\"$U\""
t_check "ssh, device flow: an empty answer, approval in the browser, Enter: a shell" \
    "0|kz-login-ok|$U" "$rc|$(tr '\n' '|' <<<"$out" | sed 's/|$//')"
hasre "ssh, device flow: the second prompt holds the URL and the code" "$(cat "$W/ask.log")" \
    "Open $KZ_IDP_URL/device\?user_code=[A-Z-]{9} and enter [A-Z-]{9}, then press Enter: "
hasre "ssh, device flow: audit OK method=device" "$(new_audit)" \
    "service=sshd user=$U verdict=OK reason=none .* method=device fp=[0-9a-f]{12}$"
mark
ssh_device '"action":"approve","user":"alice"'
t_check "ssh, device flow: another user approves: refused" "255|" "$rc|$out"
hasre "ssh, device flow, another user: audit user_mismatch" "$(new_audit)" \
    "user=$U verdict=UNAUTHENTICATED reason=user_mismatch .* method=device "
mark
ssh_device '"action":"deny"'
t_check "ssh, device flow: refused at the provider" "255|" "$rc|$out"
hasre "ssh, device flow refused: the client shows why" "$err" "Login refused at the identity provider"
hasre "ssh, device flow refused: audit access_denied" "$(new_audit)" \
    "verdict=UNAUTHENTICATED reason=access_denied .* method=device fp=-$"
# sudo refuses an empty answer ("no password was provided"): a blank one
# (a space) is empty to the module once trimmed, and so is the Enter.
sudo_device() {	# sudo_device FIELDS
	local pid code=
	rm -f "$W/sudo.fifo" "$W/sudo.err"
	mkfifo "$W/sudo.fifo"
	timeout 40 setpriv --reuid="$uid" --regid="$uid" --clear-groups \
	    env -i PATH=/usr/bin:/bin HOME="$W/home/$U" USER="$U" LOGNAME="$U" \
	    sudo -S /usr/bin/id -u < "$W/sudo.fifo" > "$W/sudo.out" 2> "$W/sudo.err" &
	pid=$!
	exec 8> "$W/sudo.fifo"
	printf ' \n' >&8
	for _ in $(seq 100); do
		code=$(sed -n 's/.* and enter \([A-Z0-9-]*\), then press Enter:.*/\1/p' "$W/sudo.err" 2>/dev/null)
		[ -n "$code" ] && break
		sleep 0.1
	done
	[ -n "$code" ] && idp POST /test/device "{\"user_code\":\"$code\",$1}" >/dev/null
	printf ' \n' >&8
	exec 8>&-
	wait "$pid"
	rc=$?
	out=$(cat "$W/sudo.out")
	err=$(cat "$W/sudo.err")
}
printf '%s\n' "auth required $SMOD config=$CD device_flow" "account required $SMOD config=$CD" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sudo"
mark
sudo_device "\"action\":\"approve\",\"user\":\"$U\",\"groups\":[\"ops-admins\"]"
t_check "sudo, device flow: approved with the admin group: runs the command as root" "0|0" "$rc|$out"
hasre "sudo, device flow: the prompt shows the instructions under PAM_SILENT" "$err" \
    "Open $KZ_IDP_URL/device\?user_code=[A-Z-]{9} and enter [A-Z-]{9}, then press Enter: "
hasre "sudo, device flow: audit OK method=device" "$(new_audit)" \
    "service=sudo user=$U verdict=OK reason=none .* method=device "
mark
sudo_device "\"action\":\"approve\",\"user\":\"$U\""
t_check "sudo, device flow: approved without the group: refused" "1|" "$rc|$out"
hasre "sudo, device flow without the group: audit missing_group" "$(new_audit)" \
    "service=sudo user=$U verdict=FORBIDDEN reason=missing_group .* method=device "
leak=0
for c in $(idp GET /test/device | /usr/bin/python3 -c 'import json,sys
for a in json.load(sys.stdin)["authorizations"]: print(a["user_code"])'); do
	grep -qF -- "$c" "$SYSLOG" "$W/ssh/sshd.log" && leak=1
done
t_check "device flow: no user code in syslog or the sshd log" "0" "$leak"
printf '%s\n' "auth required $SMOD config=$C" "account required $SMOD config=$C" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sudo"

# --- no secrets -------------------------------------------------------------------------
leak=0
for t in "$tok_ok" "$tok_exp" "$tok_other" "$tok_admin" "$tok_long" "$tok_1500" "$tok_opq" "$tok_opq2"; do
	for f in "$SYSLOG" "$W/ssh/sshd.log" "$W/ask.log" "$W/ssh.err" "$W/sudo.err" "$W/su.err"; do
		grep -qF -- "${t##*.}" "$f" && leak=1
	done
done
t_check "no token signature in syslog, the sshd log, the prompts or the clients' messages" "0" "$leak"
hasre "every kztoken syslog line is authpriv (facility 10) with fp=" \
    "$(grep ' kztoken\[' "$SYSLOG" | grep -cvE '^<8[0-7]>.* fp=([0-9a-f]{12}|-)$')" '^0$'


t_done
