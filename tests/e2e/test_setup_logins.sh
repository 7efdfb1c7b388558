#!/bin/bash
# tests/e2e/test_setup_logins.sh - the administrator's path of issue 13 on
# a real sshd (OpenSSH client over keyboard-interactive) and a real sudo:
# the host's own files as Debian ships them, the module installed where
# Debian puts it, `kztoken setup sshd` and `kztoken setup sudo` in each
# mode, logins that show what each mode lets in (token, password, member,
# non-member, sudo and sudo -i), and `kztoken setup --undo` restoring every
# file byte for byte.
#
# Everything runs as root inside a private mount namespace (unshare -m)
# with overlays on /etc, /usr and /var, so that setup writes the real
# paths (/etc/pam.d/sshd, /etc/ssh/sshd_config.d, /var/lib/kztoken) while
# the machine's own files never change, which the outer half checks.
. "$(dirname "$0")/../lib.sh"

machine() {	# what must be the same before and after, outside
	{ sha256sum /etc/pam.d/* /etc/ssh/sshd_config /etc/passwd /etc/shadow;
	  ls -la --time-style=+ /etc/ssh/sshd_config.d /etc/sudoers.d;
	  ls -d /var/lib/kztoken /lib/x86_64-linux-gnu/security/pam_kztoken.so; } 2>&1
}

if [ "${KZ_E2E_INNER:-}" != 1 ]; then
	why=""
	[ "$(id -u)" = 0 ] || why="needs root (private mount namespace, sshd, sudo)"
	for c in unshare setpriv sshd ssh ssh-keygen sudo python3 useradd chpasswd; do
		[ -z "$why" ] && ! command -v "$c" >/dev/null 2>&1 && why="no $c"
	done
	[ -z "$why" ] && [ ! -s "${KZ_IDP_DIR:-/nonexistent}/url" ] && why="no test IdP (KZ_IDP_DIR)"
	[ -z "$why" ] && [ ! -f /etc/pam.d/sshd ] && why="no /etc/pam.d/sshd (openssh-server)"
	[ -z "$why" ] && [ ! -f /etc/pam.d/sudo-i ] && why="no /etc/pam.d/sudo-i (sudo)"
	[ -z "$why" ] && ! unshare -m --propagation private true 2>/dev/null &&
	    why="unshare -m is not permitted here"
	if [ -n "$why" ]; then
		t_skip "kztoken setup with real sshd and sudo" "$why"
		t_done; exit
	fi
	export KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
	before=$(machine)
	W=$(mktemp -d /tmp/kztoken-e2e-setup.XXXXXX)
	chmod 755 "$W"
	user=kzs-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	KZ_E2E_INNER=1 KZ_E2E_DIR=$W KZ_E2E_USER=$user timeout 300 \
	    unshare -m --propagation private bash "$0" > "$W/inner.out" 2>&1 </dev/null
	t_inner "$W/inner.out" $?
	if [ -s "$W/sshd.pid" ] && kill -0 "$(cat "$W/sshd.pid")" 2>/dev/null; then
		kill "$(cat "$W/sshd.pid")"; t_fail "sshd ended with the test"
	fi
	t_check "machine files unchanged (pam.d, sshd_config(.d), sudoers.d, passwd, shadow; no /var/lib/kztoken, no module)" \
	    "$before" "$(machine)"
	if [ -n "${KZ_KEEP:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	t_done; exit
fi

# -------------------------------------------------------------------- inner
W=$KZ_E2E_DIR
U=$KZ_E2E_USER
KZ=$KZ_BUILD/kztoken
SSHD_PID=
cleanup() { [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null; }
trap cleanup EXIT
die() { t_fail "$1" "$2"; t_done; exit 1; }

# --- the throwaway host: overlays, /run, the user, the installed module ----------------
for d in etc usr var; do
	mkdir -p "$W/ovl/$d/u" "$W/ovl/$d/w"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/ovl/$d/u,workdir=$W/ovl/$d/w" "/$d" ||
	    die "overlay on /$d" "mount failed"
done
mount -t tmpfs -o mode=755 kz-run /run && mkdir -m 755 /run/sshd || die "tmpfs over /run" "mount failed"
useradd -M -d "$W/home" -s /bin/sh "$U" && echo "$U:pw-Kz3.test" | chpasswd ||
    die "a local user with a password" "useradd/chpasswd failed"
mkdir -p "$W/home" && chown "$U:" "$W/home"
printf 'Defaults:%s !lecture, timestamp_timeout=0, passwd_tries=1\n%s ALL=(root) ALL\n' "$U" "$U" \
    > /etc/sudoers.d/kztoken-e2e-setup
chmod 440 /etc/sudoers.d/kztoken-e2e-setup
# The module as built, where Debian installs it (it carries the core:
# setuid sudo loads it as sshd does).
install -m 0644 "$KZ_BUILD/pam_kztoken.so" /lib/x86_64-linux-gnu/security/pam_kztoken.so
kz_write_config /etc/kztoken/kztoken.conf '[service sudo]' 'require_group = ops-admins'
t_pass "throwaway host: overlays, user $U, module and config installed"

pristine=$(sha256sum /etc/pam.d/sshd /etc/pam.d/sudo /etc/pam.d/sudo-i; stat -c '%n %a %U' /etc/pam.d/sshd /etc/pam.d/sudo /etc/pam.d/sudo-i; ls -A /etc/ssh/sshd_config.d)

# --- sshd from the host's own sshd_config (and so the drop-in) ---------------------------
ssh-keygen -q -t ed25519 -N '' -f "$W/hostkey" || die "host key" "ssh-keygen failed"
start_sshd() {
	cleanup; SSHD_PID=
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -f /etc/ssh/sshd_config \
	    -o Port="$PORT" -o ListenAddress=127.0.0.1 -o HostKey="$W/hostkey" -o PidFile="$W/sshd.pid" \
	    -o AllowUsers="$U" -o StrictModes=no -o PrintMotd=no -o MaxAuthTries=3 \
	    -E "$W/sshd.log" &
	SSHD_PID=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		kill -0 "$SSHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
# The askpass pastes the whole answer at the first prompt (the client
# keeps 1023 characters) and, asked for "part N", what follows.
cp "$KZ_ROOT/tests/e2e/askpass" "$W/askpass"	# a copy: a checkout may lack its x bit
chmod 755 "$W/askpass"
ssh_login() {	# ANSWER: sets rc, out
	printf '%s' "$1" > "$W/answer"; chmod 600 "$W/answer"; : > "$W/ask.log"
	mkdir -p "$W/client"
	out=$(timeout 30 env -i PATH="$PATH" HOME="$W/client" DISPLAY=:0 \
	    SSH_ASKPASS="$W/askpass" SSH_ASKPASS_REQUIRE=force \
	    KZ_ASK_TOKEN="$W/answer" KZ_ASK_LOG="$W/ask.log" \
	    ssh -F /dev/null -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 \
	    "$U@127.0.0.1" 'echo kz-login-ok' 2>"$W/ssh.err" </dev/null)
	rc=$?
	rm -f "$W/answer"
}
sudo_as() {	# INPUT [-i]: sudo -S id -u as $U; sets rc, out, err
	printf '%s' "$1" > "$W/sudo.in"
	out=$(timeout 20 setpriv --reuid="$U" --regid="$U" --clear-groups \
	    env -i PATH=/usr/bin:/bin HOME="$W/home" USER="$U" LOGNAME="$U" \
	    sudo -S ${2:-} /usr/bin/id -u < "$W/sudo.in" 2>"$W/sudo.err")
	rc=$?
	err=$(cat "$W/sudo.err")
	rm -f "$W/sudo.in"
}
parts() { printf '%s' "$1" | fold -w 511; printf '\n'; }

tok=$(idp mint "{\"claims\":{\"preferred_username\":\"$U\"}}")
tok_admin=$(idp mint "{\"claims\":{\"preferred_username\":\"$U\",\"groups\":[\"ops-admins\"]}}")
tok_long=$(mint_len 2600 "\"preferred_username\":\"$U\"")
[ -n "$tok" ] && [ -n "$tok_admin" ] && [ ${#tok_long} -gt 2046 ] || die "mint test tokens" "the IdP gave no tokens"
pw=pw-Kz3.test

# Stock Debian sshd: keyboard-interactive off; doctor says so
out=$("$KZ" doctor 2>&1)
case $(grep -E '^(ok|WARN|FAIL) +sshd ' <<<"$out") in
"ok "*"does not reach pam_kztoken.so"*) t_pass "doctor before setup: sshd does not use the module" ;;
*) t_fail "doctor before setup" "$out" ;; esac

for mode in token-only token-or-password; do
	out=$("$KZ" setup sshd --$mode 2>&1); rc=$?
	t_check "$mode: kztoken setup sshd exits 0" 0 "$rc"
	[ "$rc" = 0 ] || echo "$out"
	out=$("$KZ" setup sudo --$mode 2>&1); rc=$?
	t_check "$mode: kztoken setup sudo exits 0" 0 "$rc"
	[ "$rc" = 0 ] || echo "$out"
	out=$("$KZ" doctor 2>&1)
	case $(grep -E '^(ok|WARN|FAIL) +sshd ' <<<"$out") in
	"ok "*"keyboard-interactive yes"*) t_pass "$mode: doctor sees sshd right" ;;
	*) t_fail "$mode: doctor sshd" "$out" ;; esac
	start_sshd || die "$mode: sshd starts from the host's sshd_config" "$(tail -5 "$W/sshd.log")"

	ssh_login "$tok"
	t_check "$mode: ssh with a token logs in" "0|kz-login-ok" "$rc|$out"
	ssh_login "$tok_long"
	t_check "$mode: ssh with a ${#tok_long}-character token, in parts of 1023" "0|kz-login-ok" "$rc|$out"
	ssh_login "$pw"
	if [ $mode = token-only ]; then
		t_check "$mode: ssh with the password is refused" "255|" "$rc|$out"
	else
		t_check "$mode: ssh with the password logs in (same prompt)" "0|kz-login-ok" "$rc|$out"
		grep -q 'Token or password: ' "$W/ask.log" && t_pass "$mode: the prompt says 'Token or password'" ||
		    t_fail "$mode: prompt" "$(cat "$W/ask.log")"
	fi

	for i in "" -i; do
		sudo_as "$(parts "$tok_admin")" $i
		t_check "$mode: sudo $i with a token of a member runs as root" "0|0" "$rc|$out"
		sudo_as "$(parts "$tok")" $i
		t_check "$mode: sudo $i with a token of a non-member is refused" "1|" "$rc|$out"
		sudo_as "$pw"$'\n' $i
		if [ $mode = token-only ]; then
			t_check "$mode: sudo $i with the password is refused (the group is the gate)" "1|" "$rc|$out"
		else
			t_check "$mode: sudo $i with the password runs (as documented: the group gates tokens only)" "0|0" "$rc|$out"
		fi
	done
	out=$("$KZ" setup --undo 2>&1); rc=$?
	t_check "$mode: kztoken setup --undo exits 0" 0 "$rc"
	t_check "$mode: undo restores sshd, sudo, sudo-i byte for byte and removes the drop-in" "$pristine" \
	    "$(sha256sum /etc/pam.d/sshd /etc/pam.d/sudo /etc/pam.d/sudo-i; stat -c '%n %a %U' /etc/pam.d/sshd /etc/pam.d/sudo /etc/pam.d/sudo-i; ls -A /etc/ssh/sshd_config.d)"
done
cleanup; SSHD_PID=
t_done
