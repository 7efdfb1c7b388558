#!/bin/bash
# tests/deb/test_deb.sh - the Debian package: it builds, lintian is clean,
# and it installs, logs a token in, upgrades over itself, and removes and
# purges without a trace, all in a throwaway root: a private mount
# namespace with overlays on /etc, /usr and /var (and /lib, /bin, /sbin
# where they are not symlinks into /usr), so the machine's own system never
# changes, which the suite checks from outside.  Needs root.
#
#   KZ_IDP_DIR=... KZ_IDP_URL=... bash tests/deb/test_deb.sh
#   (without KZ_IDP_URL it starts its own test IdP)
set -u
. "$(dirname "$0")/../lib.sh"

ARCH=$(dpkg --print-architecture 2>/dev/null)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
PAMMOD=/lib/$MA/security/pam_kztoken.so
PRIVLIB=/usr/lib/$MA/kztoken/libkzauth.so.0

# --- inside the namespace -------------------------------------------------
# Runs as "test_deb.sh --inside WORK DEB" under unshare -m.  Its own t_*
# counts come back to the outer run in its RESULT line.
inside() {
	local work=$1 deb=$2 d up
	export DEBIAN_FRONTEND=noninteractive
	for d in etc usr var lib lib64 bin sbin; do
		[ -d "/$d" ] && [ ! -L "/$d" ] || continue
		up=$work/ovl/$d
		mkdir -p "$up/u" "$up/w"
		mount -t overlay overlay -o "lowerdir=/$d,upperdir=$up/u,workdir=$up/w" "/$d" ||
		    { t_fail "overlay on /$d"; return; }
	done
	# A systemd on this host must not see units come and go, nor be told
	# to reload: deb-systemd-* only talk to it when /run/systemd/system is
	# there.  policy-rc.d forbids starting anything in any case.
	[ -d /run/systemd ] && mount -t tmpfs tmpfs /run/systemd
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	rm -f /var/lib/man-db/auto-update	# skip the slow mandb trigger
	t_pass "throwaway root: overlays mounted"

	local pre_auth pre_common pre_dirs pre_nss
	pre_nss=$(sha256sum < /etc/nsswitch.conf)
	pre_auth=$(sha256sum < /etc/pam.d/common-auth)
	pre_common=$(cat /etc/pam.d/common-* | sha256sum)
	pre_dirs=$(dpkg-deb -c "$deb" | awk '$1 ~ /^d/ {sub(/^\.\//, "/", $6); print $6}' |
	    while read -r d; do [ -d "$d" ] && echo "${d%/}"; done)

	# install
	local out rc
	out=$(timeout 120 dpkg -i "$deb" </dev/null 2>&1); rc=$?
	t_check "dpkg -i exits 0" 0 "$rc"
	[ "$rc" = 0 ] || { printf '%s\n' "$out"; return; }
	t_check "a first install prints the next steps" yes \
	    "$(grep -q 'kztoken setup sshd' <<<"$out" && grep -q 'README.Debian' <<<"$out" && echo yes)"
	t_check "README.Debian is shipped" yes \
	    "$(zgrep -qs 'kztoken setup sudo' /usr/share/doc/kztoken/README.Debian* && echo yes)"
	t_check "package state after install" "ii" \
	    "$(dpkg-query -W -f='${db:Status-Abbrev}' kztoken | tr -d ' ')"
	t_check "installed module is a shared object in $PAMMOD" yes \
	    "$(readelf -h "$PAMMOD" 2>/dev/null | grep -q 'Type:.*DYN' && echo yes)"
	# sudo is setuid: a module it loads must not name a library search
	# path, and carries the core itself rather than loading libkzauth
	t_check "module: no RUNPATH or RPATH, does not load libkzauth" "none" \
	    "$(readelf -d "$PAMMOD" | grep -E '\((RUNPATH|RPATH)\)|libkzauth' || echo none)"
	t_check "kztoken loads the private libkzauth" "$PRIVLIB" \
	    "$(ldd /usr/sbin/kztoken | awk '$1 == "libkzauth.so.0" {print $3}')"
	t_check "kztoken.conf: conffile, root 0600" "root:root 600 yes" \
	    "$(stat -c '%U:%G %a' /etc/kztoken/kztoken.conf) $(dpkg-query -W -f='${Conffiles}' kztoken |
	        grep -q '^ /etc/kztoken/kztoken.conf ' && echo yes)"
	t_check "enrolled/: root 0700" "root:root 700" \
	    "$(stat -c '%U:%G %a' /etc/kztoken/enrolled)"
	t_check "pam-auth-update profile installed, Default: no" "Default: no" \
	    "$(grep '^Default:' /usr/share/pam-configs/kztoken)"
	t_check "installing changes no PAM stack (Default: no)" "$pre_common" \
	    "$(cat /etc/pam.d/common-* | sha256sum)"
	local m
	for m in "$KZ_ROOT"/man/*.[58] "$KZ_ROOT"/systemd/kztoken-refresh.service \
	    "$KZ_ROOT"/systemd/kztoken-refresh.timer; do
		[ -f "$m" ] || continue
		case $m in
		*.5) d=/usr/share/man/man5/$(basename "$m").gz ;;
		*.8) d=/usr/share/man/man8/$(basename "$m").gz ;;
		*) d=/lib/systemd/system/$(basename "$m") ;;
		esac
		t_check "shipped: $d" yes "$([ -f "$d" ] && echo yes)"
	done

	# unconfigured: the shipped example does not load, so it fails closed
	local tok
	tok=$(idp mint '{}')
	out=$(printf '%s\n' "$tok" | /usr/sbin/kztoken check 2>&1); rc=$?
	t_check "unconfigured: kztoken check exits 4" 4 "$rc"
	t_check "unconfigured: the error names file, line and key" yes \
	    "$(grep -q '/etc/kztoken/kztoken.conf:[0-9]*: \[provider corp\] issuer: empty value' <<<"$out" && echo yes)"

	# enable, as the administrator would
	out=$(timeout 60 pam-auth-update --enable kztoken 2>&1); rc=$?
	t_check "pam-auth-update --enable kztoken exits 0" 0 "$rc"
	local line
	line=$(grep -n 'pam_kztoken\.so' /etc/pam.d/common-auth)
	t_check "common-auth gained the kztoken line before pam_unix" \
	    "auth	[success=2 authinfo_unavail=ignore default=ignore]	pam_kztoken.so ignore_non_token [prompt=Password or token: ]" \
	    "$(sed -n 's/^[0-9]*://p' <<<"$line")"
	t_check "pam_unix now takes the answer with try_first_pass" yes \
	    "$(grep -q '^auth.*pam_unix\.so nullok try_first_pass$' /etc/pam.d/common-auth && echo yes)"

	# configure: fill in the provider URLs of the shipped example
	local conf=/etc/kztoken/kztoken.conf
	sed -i -e "s|^issuer =\$|issuer = $KZ_IDP_URL|" \
	    -e "s|^jwks_url =\$|jwks_url = $KZ_IDP_URL/jwks|" \
	    -e "s|^;ca_file = .*|ca_file = $KZ_IDP_DIR/ca.pem|" "$conf"
	out=$(printf '%s\n' "$tok" | /usr/sbin/kztoken check --user alice 2>&1); rc=$?
	t_check "configured example: kztoken check says OK" "0 OK" "$rc $(cut -d' ' -f1 <<<"$out")"

	if ! command -v pamtester >/dev/null; then
		t_skip "token logins through PAM" "pamtester is not installed"
	else
		logins "$tok" "$work"
	fi
	nss_sync "$work"

	# upgrade over itself: admin changes and enrollments stay
	local conf_sum enr=/etc/kztoken/enrolled/deb-test
	printf 'not a real enrollment\n' > "$enr"
	chmod 600 "$enr"
	conf_sum=$(sha256sum < "$conf")
	out=$(timeout 120 dpkg -i "$deb" </dev/null 2>&1); rc=$?
	t_check "reinstall over itself exits 0 (no conffile prompt)" 0 "$rc"
	t_check "reinstall: still one kztoken on each nsswitch line" "1 1" \
	    "$(grep -E '^passwd:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l) $(grep -E '^group:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l)"
	[ "$rc" = 0 ] || printf '%s\n' "$out"
	t_check "upgrade keeps the changed kztoken.conf" "$conf_sum" "$(sha256sum < "$conf")"
	t_check "upgrade keeps its mode" 600 "$(stat -c %a "$conf")"
	t_check "upgrade keeps enrolled tokens" "not a real enrollment 600" \
	    "$(cat "$enr" 2>&1) $(stat -c %a "$enr" 2>&1)"
	t_check "upgrade keeps the profile enabled" 1 "$(grep -c pam_kztoken /etc/pam.d/common-auth)"
	if command -v pamtester >/dev/null; then
		out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb alice authenticate 2>&1)
		t_check "token login after upgrade" "pamtester: successfully authenticated" "$(pam_rc "$out")"
	fi

	# disable: common-auth exactly as before
	timeout 60 pam-auth-update --disable kztoken >/dev/null 2>&1
	t_check "pam-auth-update --disable restores common-auth" "$pre_auth" \
	    "$(sha256sum < /etc/pam.d/common-auth)"
	# enabled again, so that remove must take it out by itself (prerm)
	timeout 60 pam-auth-update --enable kztoken >/dev/null 2>&1

	# kztoken setup sudo --token-only on the installed package: the group
	# is the gate; removal undoes it, and refuses while a hand-written
	# stack still names the module (finding 5 of issue 13)
	local pre_sudo
	rm -f /etc/pam.d/kztoken-deb-direct	# logins' own stack, by path
	pre_sudo=$(sha256sum /etc/pam.d/sudo /etc/pam.d/sudo-i 2>&1; stat -c '%n %a %U' /etc/pam.d/sudo /etc/pam.d/sudo-i 2>&1)
	printf '\n[service sudo]\nrequire_group = ops-admins\n' >> "$conf"
	out=$(/usr/sbin/kztoken setup sudo --token-only 2>&1); rc=$?
	t_check "kztoken setup sudo --token-only exits 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '%s\n' "$out"
	t_check "setup: sudo and sudo-i reach the module, common-auth no longer" "1 1 0 0" \
	    "$(grep -c '^auth.*pam_kztoken\.so$' /etc/pam.d/sudo) $(grep -c '^auth.*pam_kztoken\.so$' /etc/pam.d/sudo-i) $(grep -c '^@include common-auth' /etc/pam.d/sudo) $(grep -c '^@include common-auth' /etc/pam.d/sudo-i)"
	if command -v pamtester >/dev/null; then
		local tok_grp
		tok_grp=$(idp mint '{"claims":{"groups":["ops-admins"]}}')
		for s in sudo sudo-i; do
			out=$(printf '%s\n' "$tok" | timeout 30 pamtester "$s" alice authenticate 2>&1)
			t_check "$s, token-only: a valid token without the group is refused" "pamtester: Authentication failure" "$(pam_rc "$out")"
			out=$(printf '%s\n' "$tok_grp" | timeout 30 pamtester "$s" alice authenticate 2>&1)
			t_check "$s, token-only: a token with the group authenticates" "pamtester: successfully authenticated" "$(pam_rc "$out")"
		done
	fi
	printf 'auth required pam_kztoken.so\n' > /etc/pam.d/kz-hand
	out=$(timeout 120 dpkg -r kztoken </dev/null 2>&1); rc=$?
	t_check "dpkg -r refuses while a hand-written stack names the module" refused "$([ "$rc" != 0 ] && echo refused)"
	t_check "... naming the file and the lockout" yes \
	    "$(grep -q '/etc/pam.d/kz-hand' <<<"$out" && grep -q 'Module is unknown' <<<"$out" && echo yes)"
	t_check "... and the module is still there" yes "$([ -e "$PAMMOD" ] && echo yes)"
	# a refused remove changes nothing: the token-only sudo gate that
	# setup wrote stays in force (prerm undid it before refusing, so a
	# non-member got sudo with his password again while the package,
	# said not removed, stayed installed)
	t_check "... and kztoken setup still in force: sudo and sudo-i token-only, setup state kept" "1 1 0 0 yes" \
	    "$(grep -c '^auth.*pam_kztoken\.so$' /etc/pam.d/sudo) $(grep -c '^auth.*pam_kztoken\.so$' /etc/pam.d/sudo-i) $(grep -c '^@include common-auth' /etc/pam.d/sudo) $(grep -c '^@include common-auth' /etc/pam.d/sudo-i) $([ -s /var/lib/kztoken/setup/manifest ] && echo yes)"
	rm -f /etc/pam.d/kz-hand
	local files other=/var/lib/kz-deb-other-store
	files=$(dpkg -L kztoken)
	# a store_dir that is not the default: purge must find it too
	mkdir -m 700 "$other"
	printf 'not a real enrollment\n' > "$other/deb-other.enr"
	: > "$other/deb-other.lock"
	chmod 600 "$other"/*
	sed -i "/^\[kztoken\]/a store_dir = $other" "$conf"
	out=$(timeout 120 dpkg -r kztoken </dev/null 2>&1); rc=$?
	t_check "dpkg -r exits 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '%s\n' "$out"
	t_check "remove takes the module out of every PAM stack" "$pre_common" \
	    "$(cat /etc/pam.d/common-* | sha256sum)"
	t_check "remove undid kztoken setup: sudo and sudo-i byte for byte, modes too" "$pre_sudo" \
	    "$(sha256sum /etc/pam.d/sudo /etc/pam.d/sudo-i 2>&1; stat -c '%n %a %U' /etc/pam.d/sudo /etc/pam.d/sudo-i 2>&1)"
	t_check "... and left no setup state" "" "$(ls -A /var/lib/kztoken/setup 2>/dev/null)"
	t_check "after remove: config files stay (rc)" "rc yes" \
	    "$(dpkg-query -W -f='${db:Status-Abbrev}' kztoken | tr -d ' ') $([ -f "$conf" ] && [ -f "$enr" ] && echo yes)"
	t_check "after remove: module gone" no "$([ -e "$PAMMOD" ] && echo yes || echo no)"
	t_check "after remove: nsswitch.conf exactly as before install" "$pre_nss" \
	    "$(sha256sum < /etc/nsswitch.conf)"
	out=$(timeout 120 dpkg -P kztoken </dev/null 2>&1); rc=$?
	t_check "dpkg -P exits 0" 0 "$rc"
	t_check "after purge: dpkg knows no kztoken" "" \
	    "$(dpkg-query -W -f='${db:Status-Abbrev}' kztoken 2>/dev/null | tr -d ' ' | grep -v '^un$')"
	t_check "after purge: common-auth exactly as before" "$pre_auth" \
	    "$(sha256sum < /etc/pam.d/common-auth)"
	local left="" f
	while read -r f; do
		[ "$f" = /. ] && continue
		[ -e "$f" ] || [ -L "$f" ] || continue
		[ -d "$f" ] && grep -qxF "$f" <<<"$pre_dirs" && continue
		left="$left $f"
	done <<<"$files"
	t_check "after purge: no file of the package remains" "" "$left"
	t_check "after purge: the enrollments of a non-default store_dir gone" no \
	    "$([ -e "$other" ] && echo yes || echo no)"
	t_check "after purge: /var/cache/kztoken and /etc/kztoken gone" "no no" \
	    "$([ -e /var/cache/kztoken ] && echo yes || echo no) $([ -e /etc/kztoken ] && echo yes || echo no)"
	t_check "after purge: nsswitch.conf exactly as before install" "$pre_nss" \
	    "$(sha256sum < /etc/nsswitch.conf)"
	t_check "after purge: /var/lib/kztoken gone" no "$([ -e /var/lib/kztoken ] && echo yes || echo no)"
	getent passwd alice >/dev/null
	t_check "after purge: getent passwd alice finds nothing" 2 "$?"

	# Installed again after a plain remove: kztoken goes back on the
	# nsswitch lines.  Without a sync, /var/lib/kztoken holds only the
	# empty nss/ the package ships, so dpkg deletes it at remove, before
	# postrm; the mark telling the next postinst that remove took the word
	# out went with it, and the reinstall (postinst configure OLD-VERSION)
	# left passwd and group without kztoken: every directory user unknown.
	out=$(timeout 120 dpkg -i "$deb" </dev/null 2>&1) &&
	    out=$(timeout 120 dpkg -r kztoken </dev/null 2>&1); rc=$?
	t_check "install, then remove again: exit 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '%s\n' "$out"
	t_check "remove again: nsswitch.conf exactly as before install" "$pre_nss" \
	    "$(sha256sum < /etc/nsswitch.conf)"
	out=$(timeout 120 dpkg -i "$deb" </dev/null 2>&1); rc=$?
	t_check "reinstall after remove exits 0" 0 "$rc"
	t_check "reinstall after remove: kztoken back once on each nsswitch line" "1 1" \
	    "$(grep -E '^passwd:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l) $(grep -E '^group:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l)"
	# what an install killed in the middle of the edit leaves (mktemp's name)
	cp -p /etc/nsswitch.conf /etc/nsswitch.conf.kztoken-Ab12Cd
	out=$(timeout 120 dpkg -P kztoken </dev/null 2>&1); rc=$?
	t_check "... and purged: nsswitch.conf exactly as before install" "0 $pre_nss" \
	    "$rc $(sha256sum < /etc/nsswitch.conf)"
	t_check "... and no temp file of a killed edit left in /etc" "" \
	    "$(ls /etc/nsswitch.conf.kztoken-* 2>/dev/null)"
	t_check "... /var/lib/kztoken gone" no "$([ -e /var/lib/kztoken ] && echo yes || echo no)"
}

# Users without local accounts: the installed module, nsswitch.conf as
# the package left it, `kztoken sync` from the test IdP's SCIM directory
# into the compiled-in /var/lib/kztoken/nss, then glibc resolves alice.
nss_sync() {
	local work=$1 c=$1/nss/kztoken.conf out rc rt line
	t_check "install: the module is in /lib/$MA" yes \
	    "$([ -f "/lib/$MA/libnss_kztoken.so.2" ] && echo yes)"
	t_check "install: kztoken added once to the passwd and group lines" "1 1" \
	    "$(grep -E '^passwd:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l) $(grep -E '^group:' /etc/nsswitch.conf | grep -o -w kztoken | wc -l)"
	t_check "profile: pam_mkhomedir in the session part" yes \
	    "$(grep -A2 '^Session:' /usr/share/pam-configs/kztoken | grep -q pam_mkhomedir.so && echo yes)"
	getent passwd alice >/dev/null
	t_check "before sync: alice is unknown" 2 "$?"
	kz_write_config "$c" "[nss]" "enrollment = dir" \
	    "directory_url = $KZ_IDP_URL/scim/v2" "groups = ops-admins"
	rt=$(idp refresh '{"username":"svc-dir","group":"ops-admins"}')
	printf '%s\n' "$rt" | /usr/sbin/kztoken --config "$c" enroll dir --provider idp \
	    --group ops-admins >/dev/null 2>&1
	out=$(/usr/sbin/kztoken --config "$c" sync 2>&1); rc=$?
	t_check "kztoken sync into /var/lib/kztoken/nss exits 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '# %s\n' "$out"
	line=$(getent passwd alice)
	t_check "getent passwd alice (glibc, installed module)" "alice:/home/alice" \
	    "$(cut -d: -f1,6 <<<"$line")"
	[[ $(id alice 2>&1) == *"(ops-admins)"* ]] && t_pass "id alice shows ops-admins" ||
	    t_fail "id alice" "$(id alice 2>&1)"
}

# The outcome line of a pamtester run (prompts have no newline).
pam_rc() { grep -o 'pamtester: .*' <<<"$1" | tail -n1; }

# Token logins through libpam and the installed module: through
# common-auth (what pam-auth-update wrote) and by absolute path.
logins() {
	local tok=$1 work=$2 out log=$2/audit.log conf=/etc/kztoken/kztoken.conf
	printf 'auth\tinclude\tcommon-auth\naccount\trequired\tpam_permit.so\n' > /etc/pam.d/kztoken-deb
	printf 'auth\trequired\t%s\naccount\trequired\t%s\n' "$PAMMOD" "$PAMMOD" > /etc/pam.d/kztoken-deb-direct
	export KZTOKEN_LOG_FILE=$log
	: > "$log"

	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb alice authenticate acct_mgmt 2>&1)
	t_check "common-auth: token login and account OK" \
	    "pamtester: successfully authenticated pamtester: account management done." \
	    "$(grep -o 'pamtester: .*' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
	t_check "common-auth: the prompt is the profile's" yes \
	    "$(grep -q '^Password or token: ' <<<"$out" && echo yes)"
	t_check "audit line: verdict=OK for alice" yes \
	    "$(grep -q 'service=kztoken-deb user=alice verdict=OK ' "$log" && echo yes)"
	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb-direct alice authenticate 2>&1)
	t_check "absolute path $PAMMOD: token login OK" "pamtester: successfully authenticated" "$(pam_rc "$out")"
	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb-direct bob authenticate 2>&1)
	t_check "another user's token: PAM_AUTH_ERR" "pamtester: Authentication failure" "$(pam_rc "$out")"
	t_check "audit line: user_mismatch" yes \
	    "$(grep -q 'user=bob verdict=UNAUTHENTICATED reason=user_mismatch' "$log" && echo yes)"
	# through common-auth, a failed token goes on to pam_unix, which asks
	# for a password (it gets none) and pam_deny ends it
	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb bob authenticate 2>&1)
	t_check "common-auth: another user's token fails" "pamtester: Authentication failure" "$(pam_rc "$out")"

	# a local password still works through the same prompt: the module
	# hands what is plainly no token on to pam_unix (ignore_non_token)
	if useradd -M -s /usr/sbin/nologin kzdebpw 2>/dev/null &&
	    echo 'kzdebpw:pw-Ab3.x' | chpasswd 2>/dev/null; then
		out=$(printf 'pw-Ab3.x\n' | timeout 30 pamtester kztoken-deb kzdebpw authenticate 2>&1)
		t_check "common-auth: a local password still logs in" \
		    "pamtester: successfully authenticated" "$(pam_rc "$out")"
		t_check "common-auth: asked once, with the profile's prompt" "Password or token: " \
		    "$(sed 's/pamtester: .*//' <<<"$out")"
		out=$(printf 'wrong-pw\n' | timeout 30 pamtester kztoken-deb kzdebpw authenticate 2>&1)
		t_check "common-auth: a wrong password fails" \
		    "pamtester: Authentication failure" "$(pam_rc "$out")"
	else
		t_fail "create a local user in the throwaway root"
	fi

	# provider unavailable (no cached keys, keys URL refuses): the module
	# answers PAM_AUTHINFO_UNAVAIL and the profile lets pam_unix run
	cp -p "$conf" "$work/conf.save"
	sed -i "s|^jwks_url = .*|jwks_url = https://127.0.0.1:1/jwks|" "$conf"
	rm -rf /var/cache/kztoken
	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb-direct alice authenticate 2>&1)
	t_check "provider down, absolute path: PAM_AUTHINFO_UNAVAIL" \
	    "pamtester: Authentication service cannot retrieve authentication info" "$(pam_rc "$out")"
	out=$(printf '%s\n' "$tok" | timeout 30 pamtester kztoken-deb alice authenticate 2>&1)
	t_check "provider down, common-auth: pam_unix asks next" yes \
	    "$(grep -q 'Password: ' <<<"$out" && echo yes)"
	t_check "provider down: login still fails" "pamtester: Authentication failure" "$(pam_rc "$out")"
	t_check "audit line: UNAVAILABLE" yes \
	    "$(grep -q 'user=alice verdict=UNAVAILABLE reason=provider_unreachable' "$log" && echo yes)"
	cp -p "$work/conf.save" "$conf"
	rm -rf /var/cache/kztoken	# it remembers the failed key fetch

	t_check "no token text in the audit log" no \
	    "$(grep -qF "${tok:0:40}" "$log" && echo yes || echo no)"
	unset KZTOKEN_LOG_FILE
}

if [ "${1:-}" = --inside ]; then
	inside "$2" "$3"
	t_done
	exit
fi

# --- outside --------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	t_skip "Debian package suite" "needs root (dpkg in a private mount namespace)"
	t_done
	exit
fi
work=$(mktemp -d /tmp/kztoken-deb-test.XXXXXX)
chmod 755 "$work"
own_idp=""
cleanup() {
	[ -n "$own_idp" ] && bash "$KZ_ROOT/tests/idp/stop.sh" "$KZ_IDP_DIR" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${KZ_IDP_URL:-}" ]; then
	export KZ_IDP_DIR=$work/idp
	KZ_IDP_URL=$(bash "$KZ_ROOT/tests/idp/start.sh" "$KZ_IDP_DIR") || { t_fail "start a test IdP"; t_done; exit; }
	export KZ_IDP_URL
	own_idp=1
fi

# build, or reuse build/deb when it is newer than every source file
out=$(timeout 600 bash "$KZ_ROOT/packaging/deb/build.sh" --if-stale 2>&1); rc=$?
if [ "$rc" != 0 ]; then
	printf '%s\n' "$out" | tail -n 30
	t_fail "the package builds (make deb)" "build.sh exited $rc"
	t_done
	exit
fi
deb=$(ls "$KZ_ROOT"/build/deb/kztoken_*_"$ARCH".deb 2>/dev/null | head -n1)
t_check "the package builds (make deb)" yes "$([ -f "$deb" ] && echo yes)"
[ -f "$deb" ] || { t_done; exit; }

# lintian: no error, no warning; each info tag explained in the README
out=$(timeout 300 lintian -I --pedantic "$KZ_ROOT"/build/deb/*.deb 2>&1 | grep -v 'root privileges')
printf '%s\n' "$out" | grep -E '^[EWIPX]:' | sed 's/^/# lintian: /'
t_check "lintian: no error and no warning" "" "$(grep -E '^[EWX]:' <<<"$out")"
undoc=""
for tag in $(grep -E '^[IP]:' <<<"$out" | awk '{print $3}' | sort -u); do
	grep -q -- "$tag" "$KZ_ROOT/packaging/deb/README" || undoc="$undoc $tag"
done
t_check "lintian: every info tag explained in packaging/deb/README" "" "$undoc"

# hardening=+all as far as bookworm can show it: CET marking needs start
# files built with it, and bookworm's glibc ones are not (packaging/deb/README).
# (devscripts, installed by tests/deps.sh test: a missing tool is a failure)
mkdir "$work/x" && dpkg-deb -x "$deb" "$work/x"
out=$(hardening-check --nocfprotection "$work/x/usr/sbin/kztoken" \
    "$work/x$PAMMOD" "$work/x$PRIVLIB" "$work/x/lib/$MA/libnss_kztoken.so.2" 2>&1); rc=$?
[ "$rc" = 0 ] || printf '%s\n' "$out"
t_check "hardening-check: PIE, stack protector, fortify, relro, bindnow" 0 "$rc"

# The host as it is now; it must be the same afterwards.
host_state() {
	cat /etc/pam.d/common-* /var/lib/pam/* 2>/dev/null | sha256sum
	dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' kztoken 2>/dev/null || echo "kztoken unknown"
	local p
	for p in /etc/kztoken /usr/share/pam-configs/kztoken "$PAMMOD" /usr/sbin/kztoken \
	    "$PRIVLIB" /var/cache/kztoken /etc/pam.d/kztoken-deb; do
		[ -e "$p" ] && echo "$p exists"
	done
}
before=$(host_state)

out=$(KZ_IDP_DIR=$KZ_IDP_DIR KZ_IDP_URL=$KZ_IDP_URL \
    timeout 240 unshare -m --propagation private bash "$0" --inside "$work" "$deb" 2>&1)
printf '%s\n' "$out" | grep -v '^# RESULT '
res=$(grep '^# RESULT ' <<<"$out" | tail -n1)
if [ -z "$res" ]; then
	t_fail "install test in a private mount namespace" "ended without a RESULT line"
else
	_t_pass=$((_t_pass + $(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$res")))
	_t_fail=$((_t_fail + $(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$res")))
	_t_skip=$((_t_skip + $(sed 's/.*skipped=\([0-9]*\).*/\1/' <<<"$res")))
fi
t_check "the host's PAM config, dpkg state and paths are unchanged" "$before" "$(host_state)"
t_done
