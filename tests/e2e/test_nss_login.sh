#!/bin/bash
# tests/e2e/test_nss_login.sh - a user who exists only in the directory:
# `kztoken sync` writes the NSS database, and inside a private mount
# namespace (unshare -m) the built libnss_kztoken.so.2 resolves the user
# for getent, id, a real sshd login with a token (home made by
# pam_mkhomedir) and a real sudo through the rule %ops-admins ALL=(ALL) ALL.
#
# Nothing of the machine changes: /etc/nsswitch.conf, /etc/ld.so.cache
# (a cache that also lists the module's directory, made with ldconfig -X
# -C, which touches no link), /etc/pam.d/sshd, /etc/pam.d/sudo and
# /etc/sudoers.d are bind-mounted copies; /var/lib is a tmpfs with the
# database bind-mounted at the path compiled into the module; /run is a
# tmpfs.  The outer half checks the machine's files afterwards.
. "$(dirname "$0")/../lib.sh"

if [ "${KZ_E2E_INNER:-}" != 1 ]; then
	# ---------------------------------------------------------------- outer
	why=""
	[ "$(id -u)" = 0 ] || why="needs root (private mount namespace, sshd, sudo)"
	for c in unshare setpriv sshd ssh ssh-keygen sudo ldconfig python3; do
		[ -z "$why" ] && ! command -v "$c" >/dev/null 2>&1 && why="no $c"
	done
	[ -z "$why" ] && [ ! -e /lib/x86_64-linux-gnu/security/pam_mkhomedir.so ] && why="no pam_mkhomedir.so"
	[ -z "$why" ] && [ ! -s "${KZ_IDP_DIR:-/nonexistent}/url" ] && why="no test IdP (KZ_IDP_DIR)"
	[ -z "$why" ] && ! unshare -m --propagation private true 2>/dev/null &&
	    why="unshare -m is not permitted here"
	if [ -n "$why" ]; then
		t_skip "directory user end-to-end" "$why"
		t_done; exit
	fi
	export KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
	sums() {
		{ sha256sum /etc/nsswitch.conf /etc/ld.so.cache /etc/pam.d/sshd \
		    /etc/pam.d/sudo /etc/passwd /etc/group /etc/shadow /etc/sudoers;
		  ls -la --time-style=+ /etc/sudoers.d /home; ls -d /var/lib/kztoken;
		  ls /lib/x86_64-linux-gnu/libnss_kztoken*; } 2>&1
	}
	before=$(sums)
	W=$(mktemp -d /tmp/kztoken-e2e-nss.XXXXXX)
	chmod 755 "$W"
	tag=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	KZ_E2E_INNER=1 KZ_E2E_DIR=$W KZ_E2E_ADMIN=kzd-a$tag KZ_E2E_PLAIN=kzd-p$tag \
	    timeout 240 unshare -m --propagation private bash "$0" > "$W/inner.out" 2>&1 </dev/null
	rc=$?
	grep -v '^# RESULT ' "$W/inner.out"
	line=$(grep '^# RESULT ' "$W/inner.out" | tail -1)
	if [ -n "$line" ]; then
		_t_pass=$((_t_pass + $(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$line")))
		_t_fail=$((_t_fail + $(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$line")))
		_t_skip=$((_t_skip + $(sed 's/.*skipped=\([0-9]*\).*/\1/' <<<"$line")))
	else
		t_fail "inner run in the mount namespace" "exited $rc without a RESULT line"
	fi
	if [ -s "$W/sshd.pid" ] && kill -0 "$(cat "$W/sshd.pid")" 2>/dev/null; then
		kill "$(cat "$W/sshd.pid")"; t_fail "sshd outlived the test"
	fi
	t_check "machine files unchanged (nsswitch.conf, ld.so.cache, pam.d, sudoers.d, passwd, /home, /var/lib/kztoken)" \
	    "$before" "$(sums)"
	if getent passwd "kzd-a$tag" >/dev/null; then t_fail "the directory user resolves outside the namespace"
	else t_pass "the directory user does not resolve outside the namespace"; fi
	for m in "kzd-a$tag" "kzd-p$tag"; do
		idp POST /test/membership "{\"group\":\"ops-admins\",\"user\":\"$m\",\"member\":false}" >/dev/null 2>&1
		idp POST /test/membership "{\"group\":\"devs\",\"user\":\"$m\",\"member\":false}" >/dev/null 2>&1
	done
	if [ -n "${KZ_KEEP:-}" ]; then echo "# kept $W"; else rm -rf "$W"; fi
	t_done; exit
fi

# -------------------------------------------------------------------- inner
W=$KZ_E2E_DIR
A=$KZ_E2E_ADMIN		# in ops-admins and devs
P=$KZ_E2E_PLAIN		# in devs only
KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
SSHD_PID=
cleanup() { [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null; }
trap cleanup EXIT
die() { t_fail "$1" "$2"; t_done; exit 1; }

# --- the directory and the database ------------------------------------------------------
idp POST /test/membership "{\"group\":\"ops-admins\",\"user\":\"$A\"}" >/dev/null
idp POST /test/membership "{\"group\":\"devs\",\"user\":\"$A\"}" >/dev/null
idp POST /test/membership "{\"group\":\"devs\",\"user\":\"$P\"}" >/dev/null
getent passwd "$A" >/dev/null && die "$A is not a local account" "it is"
mkdir -p "$W/kz" "$W/home" "$W/lib" "$W/ssh" "$W/sudoers.d" "$W/nss"
chmod 755 "$W/home" "$W/nss"
C=$W/kz/kz.conf
kz_write_config "$C" "[nss]" "enrollment = dir" "directory_url = $KZ_IDP_URL/scim/v2" \
	"groups = ops-admins, devs" "home = $W/home/%u" "shell = /bin/sh" "db_dir = $W/nss"
rt=$(idp refresh '{"username":"svc-directory","group":"ops-admins"}')
printf '%s\n' "$rt" | "$KZ_BUILD/kztoken" --config "$C" enroll dir --provider idp --group ops-admins >/dev/null 2>&1 ||
    die "enroll the directory reader" "failed"
out=$("$KZ_BUILD/kztoken" --config "$C" sync 2>&1)
t_check "kztoken sync exits 0" 0 "$?"

# --- the namespace: the module found by glibc, nsswitch, the database -------------------
cp "$KZ_BUILD/libnss_kztoken.so.2" "$W/lib/"
printf '%s\ninclude /etc/ld.so.conf.d/*.conf\n' "$W/lib" > "$W/ld.so.conf"
ldconfig -X -C "$W/ld.so.cache" -f "$W/ld.so.conf" || die "ldconfig -C" "failed"
sed -E 's/^(passwd|group):(.*)$/\1:\2 kztoken/' /etc/nsswitch.conf > "$W/nsswitch.conf"
mount --bind "$W/nsswitch.conf" /etc/nsswitch.conf &&
mount --bind "$W/ld.so.cache" /etc/ld.so.cache &&
mount -t tmpfs -o mode=755 kz-varlib /var/lib && mkdir -p /var/lib/kztoken/nss &&
mount --bind "$W/nss" /var/lib/kztoken/nss &&
mount -t tmpfs -o mode=755 kz-run /run && mkdir -m 755 /run/sshd ||
    die "the namespace's mounts" "failed"

line=$(getent passwd "$A")
t_check "getent passwd: the directory user resolves" "$A" "$(cut -d: -f1 <<<"$line")"
auid=$(cut -d: -f3 <<<"$line")
t_check "home from [nss] home" "$W/home/$A" "$(cut -d: -f6 <<<"$line")"
idout=$(id "$A")
[[ $idout == *"(ops-admins)"* && $idout == *"(devs)"* ]] && t_pass "id shows the directory groups" || t_fail "id" "$idout"
[[ ,$(getent group ops-admins | cut -d: -f4), == *",$A,"* ]] && t_pass "getent group ops-admins lists the admin" ||
    t_fail "getent group ops-admins" "$(getent group ops-admins)"
getent passwd root | grep -q '^root:x:0:0:' && t_pass "root still comes from files" || t_fail "root"
[ -d "$W/home/$A" ] && t_fail "no home before the first login" || t_pass "no home before the first login"

# --- sshd with the module (auth, account) and pam_mkhomedir (session) -------------------
PAMDIR=/lib/x86_64-linux-gnu/security
cp "$KZ_BUILD/pam_kztoken.so" "$W/lib/"
MOD=$W/lib/pam_kztoken.so
SMOD=$MOD	# it carries the core and names no library path: fit for setuid sudo
printf '%s\n' "auth required $MOD config=$C" "account required $MOD config=$C" \
    "session required $PAMDIR/pam_mkhomedir.so umask=0077" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sshd"
printf '%s\n' "auth required $SMOD config=$C" "account required $SMOD config=$C" \
    "session required $PAMDIR/pam_permit.so" > "$W/pam.sudo"
cat > "$W/sudoers.d/kztoken-nss-e2e" <<EOF
Defaults !lecture, timestamp_timeout=0, passwd_tries=1
%ops-admins ALL=(ALL) ALL
EOF
chmod 750 "$W/sudoers.d"; chmod 440 "$W/sudoers.d/kztoken-nss-e2e"
mount --bind "$W/pam.sshd" /etc/pam.d/sshd && mount --bind "$W/pam.sudo" /etc/pam.d/sudo &&
    mount --bind "$W/sudoers.d" /etc/sudoers.d || die "bind-mount PAM stacks and sudoers.d" "failed"

ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/hostkey" || die "host key" "ssh-keygen failed"
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
AuthorizedKeysFile none
StrictModes no
PrintMotd no
PrintLastLog no
MaxAuthTries 3
LoginGraceTime 30
LogLevel VERBOSE
EOF
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /usr/sbin/sshd -D -f "$W/ssh/sshd_config" -E "$W/ssh/sshd.log" &
SSHD_PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
kill -0 "$SSHD_PID" 2>/dev/null || die "sshd starts" "$(tail -5 "$W/ssh/sshd.log")"

cat > "$W/askpass" <<'EOF'
#!/bin/sh
cat "$KZ_ASK_TOKEN"; echo
EOF
chmod 755 "$W/askpass"
ssh_login() {	# USER TOKEN: sets rc, out
	printf '%s' "$2" > "$W/token"; chmod 600 "$W/token"; mkdir -p "$W/client"
	out=$(timeout 30 env -i PATH="$PATH" HOME="$W/client" DISPLAY=:0 \
	    SSH_ASKPASS="$W/askpass" SSH_ASKPASS_REQUIRE=force KZ_ASK_TOKEN="$W/token" \
	    ssh -F /dev/null -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	    -o PreferredAuthentications=keyboard-interactive -o PubkeyAuthentication=no \
	    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -o LogLevel=ERROR \
	    "$1@127.0.0.1" 'echo kz-login-ok; id -un; pwd; id -Gn' 2>"$W/ssh.err" </dev/null)
	rc=$?
	rm -f "$W/token"
}
tok_a=$(idp mint "{\"claims\":{\"preferred_username\":\"$A\"}}")
tok_p=$(idp mint "{\"claims\":{\"preferred_username\":\"$P\"}}")
ssh_login "$A" "$tok_a"
t_check "ssh: the directory-only user logs in with a token" "0|kz-login-ok|$A|$W/home/$A" \
    "$rc|$(head -3 <<<"$out" | tr '\n' '|' | sed 's/|$//')"
groups_seen=$(sed -n 4p <<<"$out")
[[ " $groups_seen " == *" ops-admins "* && " $groups_seen " == *" devs "* ]] &&
    t_pass "ssh: the session has the directory groups ($groups_seen)" || t_fail "session groups" "$groups_seen"
[ -d "$W/home/$A" ] && [ "$(stat -c %u "$W/home/$A")" = "$auid" ] &&
    t_pass "pam_mkhomedir made the home, owned by the directory uid" || t_fail "home" "$(ls -ld "$W/home/$A" 2>&1)"
ssh_login "$A" "$tok_p"
t_check "ssh: another user's token is refused" "255|" "$rc|$out"

# --- sudo through %ops-admins ------------------------------------------------------------
sudo_as() {	# USER TOKEN: sudo -S id -u, the token in 511-character parts
	{ printf '%s' "$2" | fold -w 511; printf '\n'; } > "$W/sudo.in"
	out=$(timeout 20 setpriv --reuid="$1" --regid="$1" --init-groups \
	    env -i PATH=/usr/bin:/bin HOME="$W/home/$1" USER="$1" LOGNAME="$1" \
	    sudo -S /usr/bin/id -u < "$W/sudo.in" 2>"$W/sudo.err")
	rc=$?
	rm -f "$W/sudo.in"
}
sudo_as "$A" "$tok_a"
t_check "sudo: a member of ops-admins runs a command as root (%ops-admins rule)" "0|0" "$rc|$out"
sudo_as "$P" "$tok_p"
t_check "sudo: a directory user outside ops-admins is refused" "1|" "$rc|$out"
grep -q "not in the sudoers file\|not allowed\|may not run sudo" "$W/sudo.err" &&
    t_pass "sudo says the user may not" || t_fail "sudo refusal" "$(cat "$W/sudo.err")"
t_done
