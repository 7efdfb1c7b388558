#!/bin/bash
# tests/cli/test_setup.sh - `kztoken setup sshd|sudo` and `setup --undo`
# on a throwaway root (KZTOKEN_ROOT): each recipe writes what it says,
# --dry-run changes nothing, undo restores every file byte for byte (and
# mode), undo refuses to clobber an edit made since setup, a stack that
# would name a missing module is never written, and sshd -T validates
# the drop-in.  The machine's /etc is never touched.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-setup.XXXXXX)
trap 'rm -rf "$work"' EXIT
R=$work/root
export KZTOKEN_ROOT=$R

mkroot() {
	rm -rf "$R"
	mkdir -p "$R/etc/pam.d" "$R/etc/ssh/sshd_config.d" "$R/lib/x86_64-linux-gnu/security"
	# Debian 12's files (as shipped by openssh-server and sudo)
	printf '# PAM configuration for the Secure Shell service\n\n# Standard Un*x authentication.\n@include common-auth\n\naccount    required     pam_nologin.so\n@include common-account\nsession    required     pam_loginuid.so\n@include common-session\n@include common-password\n' > "$R/etc/pam.d/sshd"
	printf '#%%PAM-1.0\n\n# Set up user limits from /etc/security/limits.conf.\nsession    required   pam_limits.so\n\nsession    required   pam_env.so readenv=1 user_readenv=1\n@include common-auth\n@include common-account\n@include common-session-noninteractive\n' > "$R/etc/pam.d/sudo"
	printf '#%%PAM-1.0\n\n# Set up user limits from /etc/security/limits.conf.\nsession    required   pam_limits.so\n\n@include common-auth\n@include common-account\n@include common-session\n' > "$R/etc/pam.d/sudo-i"
	chmod 0640 "$R/etc/pam.d/sudo-i"	# a mode undo must put back
	for f in common-auth common-account common-session common-session-noninteractive common-password; do
		printf 'auth required pam_unix.so\n' > "$R/etc/pam.d/$f"
	done
	touch "$R/lib/x86_64-linux-gnu/security/pam_kztoken.so" "$R/lib/x86_64-linux-gnu/security/pam_unix.so"
	ssh-keygen -q -t ed25519 -N '' -f "$R/hostkey" </dev/null
	printf 'Include %s/etc/ssh/sshd_config.d/*.conf\nHostKey %s/hostkey\nKbdInteractiveAuthentication no\nUsePAM yes\n' \
	    "$R" "$R" > "$R/etc/ssh/sshd_config"
}
# every file under the root with its mode and sha256: what must come back
snap() { (cd "$R" && find . -path ./var -prune -o -type f -print0 | sort -z | xargs -0 stat -c '%n %a %U' &&
    find . -path ./var -prune -o -type f -print0 | sort -z | xargs -0 sha256sum; find . -path ./var -prune -o -type d -print | sort); }

# sshd -T wants /run/sshd, which only a running sshd service makes: run it
# in a mount namespace with a private /run where the host has none.
if [ -x /usr/sbin/sshd ]; then
	if [ -d /run/sshd ]; then
		export KZTOKEN_SSHD=/usr/sbin/sshd
	else
		printf '#!/bin/sh\nexec unshare -m sh -c '\''mount -t tmpfs none /run && mkdir /run/sshd && exec /usr/sbin/sshd "$@"'\'' sshd "$@"\n' > "$work/sshd"
		chmod 755 "$work/sshd"
		export KZTOKEN_SSHD=$work/sshd
	fi
	unshare -m true 2>/dev/null || [ -d /run/sshd ] || unset KZTOKEN_SSHD
fi

mkroot
before=$(snap)
out=$("$KZ" setup sshd --token-only --dry-run 2>&1); rc=$?
t_check "dry run exits 0" 0 "$rc"
t_check "dry run changes nothing (no state either)" "$before" "$(snap)"
case $out in *"+AuthenticationMethods keyboard-interactive"*"-@include common-auth"*"+auth       required   pam_kztoken.so"*)
	t_pass "dry run shows the diff of the drop-in and the PAM file" ;;
*) t_fail "dry run diff" "$out" ;; esac

for target in sshd sudo; do
	for recipe in token-only token-or-password; do
		mkroot
		before=$(snap)
		out=$("$KZ" setup "$target" --$recipe 2>&1); rc=$?
		if [ "$target" = sshd ] && [ -z "${KZTOKEN_SSHD:-}" ]; then
			t_skip "setup sshd --$recipe" "no usable sshd to validate with"
			continue
		fi
		t_check "setup $target --$recipe exits 0" 0 "$rc"
		[ "$rc" = 0 ] || echo "$out"
		if [ "$target" = sshd ]; then
			files="etc/pam.d/sshd"
			want=keyboard-interactive
			[ $recipe = token-or-password ] && want="publickey keyboard-interactive"
			t_check "sshd --$recipe: the drop-in" "UsePAM yes|KbdInteractiveAuthentication yes|AuthenticationMethods $want" \
			    "$(grep -v '^#' "$R/etc/ssh/sshd_config.d/00-kztoken.conf" | paste -sd'|')"
		else
			files="etc/pam.d/sudo etc/pam.d/sudo-i"
		fi
		for f in $files; do
			if [ $recipe = token-only ]; then
				w="auth       required   pam_kztoken.so"
			else
				w="auth       [success=done ignore=ignore default=die]   pam_kztoken.so ignore_non_token [prompt=Token or password: ]|auth       required   pam_unix.so use_first_pass"
			fi
			t_check "$f --$recipe: the auth lines replace @include common-auth" "$w" \
			    "$(grep '^auth' "$R/$f" | paste -sd'|')"
			t_check "$f --$recipe: common-auth (the profile) no longer included" "" \
			    "$(grep 'common-auth' "$R/$f" | grep -v '^#')"
		done
		t_check "$target --$recipe: sudo-i keeps its mode 0640" 640 "$(stat -c %a "$R/etc/pam.d/sudo-i")"
		grep -q "^/${files%% *} 1 " "$R/var/lib/kztoken/setup/manifest" 2>/dev/null &&
		    t_pass "$target --$recipe: recorded in the manifest" || t_fail "$target --$recipe manifest"
		# again, the other way: starts from the original, not from ours
		other=token-only; [ $recipe = token-only ] && other=token-or-password
		"$KZ" setup "$target" --$other >/dev/null 2>&1
		t_check "$target: switching to --$other keeps one kztoken block" 1 \
		    "$(grep -c '^# kztoken setup' "$R/${files%% *}")"
		out=$("$KZ" setup --undo 2>&1); rc=$?
		t_check "$target --$recipe: undo exits 0" 0 "$rc"
		t_check "$target --$recipe: undo restores every file byte for byte, modes too, and leaves no state" \
		    "$before" "$(snap)"
		t_check "$target --$recipe: no state left" "" "$(ls -A "$R/var/lib/kztoken" 2>/dev/null)"
	done
done

# undo with nothing to undo (what the package's prerm runs on every removal)
out=$("$KZ" setup --undo 2>&1); rc=$?
t_check "undo with nothing set up: exit 0" "0 kztoken setup --undo: nothing to undo" "$rc $out"

# an edit made since setup: undo refuses, changes nothing; --force undoes
mkroot
before=$(snap)
"$KZ" setup sudo --token-only >/dev/null 2>&1
echo '# the admin was here' >> "$R/etc/pam.d/sudo-i"
mid=$(snap; cat "$R/var/lib/kztoken/setup/manifest")
out=$("$KZ" setup --undo 2>&1); rc=$?
t_check "undo over an admin edit exits 4" 4 "$rc"
t_check "undo over an admin edit changes nothing" "$mid" "$(snap; cat "$R/var/lib/kztoken/setup/manifest")"
case $out in *"sudo-i was changed since kztoken setup"*"--force"*) t_pass "undo names the edited file and --force" ;;
*) t_fail "undo refusal message" "$out" ;; esac
out=$("$KZ" setup sudo --token-or-password 2>&1); rc=$?
t_check "setup again over an admin edit exits 4" 4 "$rc"
out=$("$KZ" setup --undo --force 2>&1); rc=$?
t_check "undo --force exits 0 and restores the originals" "0 $before" "$rc $(snap)"

# a damaged backup is never restored
mkroot
"$KZ" setup sudo >/dev/null 2>&1
echo x >> "$R/var/lib/kztoken/setup/etc_pam.d_sudo.orig"
mid=$(snap)
out=$("$KZ" setup --undo --force 2>&1); rc=$?
t_check "a backup that does not match its sha256 is not restored (exit 4, nothing changed)" "4 $mid" "$rc $(snap)"

# a manifest that names a file setup never writes: undo touches nothing
mkroot
"$KZ" setup sudo >/dev/null 2>&1
echo keep > "$R/etc/pam.d/other"
sed -i "s|^/etc/pam.d/sudo-i |/etc/pam.d/other |" "$R/var/lib/kztoken/setup/manifest"
mid=$(snap)
out=$("$KZ" setup --undo --force 2>&1); rc=$?
t_check "a manifest naming another file: undo refuses (exit 4), nothing changed" "4 $mid" "$rc $(snap)"
case $out in *"names /etc/pam.d/other, which setup never writes"*) t_pass "... and says why" ;; *) t_fail "foreign path message" "$out" ;; esac

# never write a stack that names a module that is not installed
mkroot
rm "$R/lib/x86_64-linux-gnu/security/pam_kztoken.so"
before=$(snap)
out=$("$KZ" setup sudo --token-only 2>&1); rc=$?
t_check "module not installed: setup refuses (exit 4), nothing written" "4 $before" "$rc $(snap)"
case $out in *"pam_kztoken.so is not installed"*"refuse everyone"*) t_pass "says the stack would refuse everyone" ;;
*) t_fail "missing module message" "$out" ;; esac

# a hand-written stack without @include common-auth: refused, left alone
mkroot
printf 'auth required pam_kztoken.so\n@include common-account\n' > "$R/etc/pam.d/sudo"
before=$(snap)
out=$("$KZ" setup sudo --token-only 2>&1); rc=$?
t_check "hand-written sudo stack: refused (exit 4), nothing written" "4 $before" "$rc $(snap)"
case $out in *'no line "@include common-auth"'*"already names pam_kztoken.so"*) t_pass "says why" ;;
*) t_fail "hand-written stack message" "$out" ;; esac

# sshd: a setting elsewhere that wins over the drop-in: rolled back
if [ -n "${KZTOKEN_SSHD:-}" ]; then
	mkroot
	printf 'AuthenticationMethods publickey\n' > "$R/etc/ssh/sshd_config.d/00-a.conf"
	before=$(snap)
	out=$("$KZ" setup sshd --token-only 2>&1); rc=$?
	t_check "sshd -T shows another AuthenticationMethods: exit 4, all put back" "4 $before" "$rc $(snap)"
	t_check "... and no state left" "" "$(ls -A "$R/var/lib/kztoken/setup" 2>/dev/null)"
	mkroot
	printf 'NoSuchKeyword yes\n' >> "$R/etc/ssh/sshd_config"
	before=$(snap)
	out=$("$KZ" setup sshd --token-only 2>&1); rc=$?
	t_check "sshd config that does not parse: exit 4, all put back" "4 $before" "$rc $(snap)"
else
	t_skip "sshd -T validation" "no usable sshd"
fi
mkroot
rm "$R/etc/ssh/sshd_config"
out=$("$KZ" setup sshd 2>&1); rc=$?
t_check "no sshd_config: setup sshd exits 4" 4 "$rc"

# A run killed between its two files (here SIGKILL right after the first
# is renamed into place; a dropped ssh session's SIGHUP, the OOM killer
# or a power cut do the same).  The manifest was saved only after both
# files: undo then said "nothing to undo" while /etc/pam.d/sudo was
# token-only and sudo-i still took passwords (sudo -i gave a non-member
# root), and setup refused sudo as hand-written.
cat > "$work/killrename.c" <<'EOF_C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
int rename(const char *a, const char *b)
{
	int (*real)(const char *, const char *) =
	    (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	int rc = real(a, b);
	const char *k = getenv("KZ_KILL_AFTER");

	if (rc == 0 && k != NULL && strcmp(b, k) == 0)
		raise(SIGKILL);
	return rc;
}
EOF_C
if cc -shared -fPIC -o "$work/killrename.so" "$work/killrename.c" -ldl 2>/dev/null; then
	killed_setup() {	# its exit status; bash's "Killed" notice not shown
		( KZ_KILL_AFTER=$R/etc/pam.d/sudo LD_PRELOAD=$work/killrename.so \
		    "$KZ" setup sudo --token-only >/dev/null 2>&1; echo $? ) 2>/dev/null
	}
	mkroot
	before=$(snap)
	t_check "setup sudo killed right after writing /etc/pam.d/sudo" "137 1 0" \
	    "$(killed_setup) $(grep -c '^auth.*pam_kztoken' "$R/etc/pam.d/sudo") $(grep -c '^auth.*pam_kztoken' "$R/etc/pam.d/sudo-i")"
	out=$("$KZ" setup --undo 2>&1); rc=$?
	t_check "killed run: undo restores both files byte for byte, modes too" "0 $before" "$rc $(snap)"
	t_check "killed run: ... and leaves no state" "" "$(ls -A "$R/var/lib/kztoken/setup" 2>/dev/null)"
	mkroot
	before=$(snap)
	killed_setup >/dev/null
	out=$("$KZ" setup sudo --token-only 2>&1); rc=$?
	t_check "killed run: setup sudo again finishes the job (sudo and sudo-i token-only)" "0 1 1" \
	    "$rc $(grep -c '^auth.*pam_kztoken' "$R/etc/pam.d/sudo") $(grep -c '^auth.*pam_kztoken' "$R/etc/pam.d/sudo-i")"
	out=$("$KZ" setup --undo 2>&1); rc=$?
	t_check "killed run, set up again: undo restores the originals" "0 $before" "$rc $(snap)"
	# an undo killed after its first file (sudo-i, undone first): undo
	# again finishes, without --force (sudo-i is as it was before setup)
	"$KZ" setup sudo --token-only >/dev/null 2>&1
	rc=$( ( KZ_KILL_AFTER=$R/etc/pam.d/sudo-i LD_PRELOAD=$work/killrename.so \
	    "$KZ" setup --undo >/dev/null 2>&1; echo $? ) 2>/dev/null)
	out=$("$KZ" setup --undo 2>&1); rc2=$?
	t_check "undo killed after sudo-i: undo again restores the originals" "137 0 $before" "$rc $rc2 $(snap)"
else
	t_skip "setup killed half way" "no C compiler for the rename hook"
fi

out=$("$KZ" setup 2>&1); rc=$?
t_check "setup without a target: usage, exit 4" 4 "$rc"
out=$("$KZ" setup --undo sshd 2>&1); rc=$?
t_check "setup --undo takes no target: exit 4" 4 "$rc"
t_done
