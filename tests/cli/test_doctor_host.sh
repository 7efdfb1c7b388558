#!/bin/bash
# tests/cli/test_doctor_host.sh - `kztoken doctor` sees the host around
# the module (issue 13, finding 8): the pam-auth-update profile and the
# services it reaches, each service's policy, sshd -T (keyboard-
# interactive, UsePAM, AuthenticationMethods; skipped cleanly without
# sshd), group requirements to be confirmed through an enrollment that
# has none, and the last line `all N checks ok` / `N problems found`, in
# text and --json.  A root of our own through KZTOKEN_ROOT; /etc is not
# touched.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-doctor-host.XXXXXX)
trap 'rm -rf "$work"' EXIT
R=$work/root
export KZTOKEN_ROOT=$R KZTOKEN_PAM_DIR=$R/etc/pam.d
mkdir -p "$R/etc/pam.d" "$R/etc/ssh/sshd_config.d" "$R/usr/share/pam-configs"
pd=$R/etc/pam.d
touch "$R/usr/share/pam-configs/kztoken"
printf 'auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n' > "$pd/common-auth"
for s in login su chfn; do printf '@include common-auth\n' > "$pd/$s"; done
printf 'auth required pam_kztoken.so\n@include common-account\n' > "$pd/sshd"
printf 'auth required pam_kztoken.so\n' > "$pd/sudo"
printf 'auth required pam_kztoken.so\n' > "$pd/sudo-i"
ssh-keygen -q -t ed25519 -N '' -f "$R/hostkey" </dev/null
sshconf() { printf 'Include %s/etc/ssh/sshd_config.d/*.conf\nHostKey %s/hostkey\n%s\n' "$R" "$R" "${1:-}" > "$R/etc/ssh/sshd_config"; }
sshconf "UsePAM yes
KbdInteractiveAuthentication yes"
if [ -x /usr/sbin/sshd ] && [ ! -d /run/sshd ] && unshare -m true 2>/dev/null; then
	printf '#!/bin/sh\nexec unshare -m sh -c '\''mount -t tmpfs none /run && mkdir /run/sshd && exec /usr/sbin/sshd "$@"'\'' sshd "$@"\n' > "$work/sshd"
	chmod 755 "$work/sshd"
	export KZTOKEN_SSHD=$work/sshd
fi
have_sshd=no
[ -x "${KZTOKEN_SSHD:-/usr/sbin/sshd}" ] && { [ -n "${KZTOKEN_SSHD:-}" ] || [ -d /run/sshd ]; } && have_sshd=yes

conf=$work/c/kztoken.conf
good=("[service sshd]" "require_scope = login" "[service sudo]" "require_group = ops-admins")
kz_write_config "$conf" "${good[@]}"
doc() { out=$("$KZ" --config "$conf" doctor "$@" 2>&1); rc=$?; }
line() { grep -E "^(ok|WARN|FAIL) +$1 " <<<"$out"; }

doc
t_check "healthy host: exit 0" 0 "$rc"
t_check "healthy host: the last line" "all $(grep -cE '^(ok|WARN|FAIL) ' <<<"$out") checks ok" "$(tail -1 <<<"$out")"
case $(line policies) in *"sshd=[service sshd]"*"sudo=[service sudo]"*"sudo-i=[service sudo]"*) t_pass "each service that reaches the module, with its policy (sudo-i gets [service sudo])" ;;
*) t_fail "policies line" "$out" ;; esac
case $(line profile) in "ok "*"not enabled"*) t_pass "profile: not enabled" ;; *) t_fail "profile not enabled" "$out" ;; esac
if [ $have_sshd = yes ]; then
	t_check "sshd: its effective settings" "ok   sshd                   UsePAM yes, keyboard-interactive yes, AuthenticationMethods any" "$(line sshd)"
else
	t_skip "sshd -T settings" "no usable sshd"
fi

# the profile enabled: doctor names every service it turns token login on for
printf 'auth [success=2 authinfo_unavail=ignore default=ignore] pam_kztoken.so ignore_non_token try_first_pass\nauth [success=1 default=ignore] pam_unix.so nullok try_first_pass\nauth requisite pam_deny.so\nauth required pam_permit.so\n' > "$pd/common-auth"
doc
case $(line profile) in "ok "*"enabled"*"(chfn login su)"*) t_pass "profile enabled: names the services it reaches (chfn login su)" ;;
*) t_fail "profile enabled" "$out" ;; esac
case $(line policies) in *"chfn=none"*"login=none"*) t_pass "services that fall through show none" ;; *) t_fail "none policies" "$(line policies)" ;; esac
t_check "services without policy: warned, so problems are counted" "3 problems found" "$(tail -1 <<<"$out")"
printf 'auth required pam_unix.so\n' > "$pd/common-auth"

# sshd with keyboard-interactive off (stock Debian): a failure that says why
if [ $have_sshd = yes ]; then
	sshconf "UsePAM yes
KbdInteractiveAuthentication no"
	doc
	case $(line sshd) in "FAIL "*"KbdInteractiveAuthentication no"*"kztoken setup sshd"*) t_pass "sshd: keyboard-interactive off is a failure naming the fix" ;;
	*) t_fail "sshd kbd off" "$out" ;; esac
	t_check "sshd: keyboard-interactive off: exit 4 (KZ_ERROR)" 4 "$rc"
	t_check "... and the last line counts it" "1 problem found" "$(tail -1 <<<"$out")"
	sshconf "UsePAM yes
KbdInteractiveAuthentication yes
AuthenticationMethods publickey"
	doc
	case $(line sshd) in "FAIL "*"AuthenticationMethods publickey has no keyboard-interactive"*) t_pass "sshd: methods without keyboard-interactive" ;;
	*) t_fail "sshd methods" "$out" ;; esac
	sshconf "UsePAM no"
	doc
	case $(line sshd) in "FAIL "*"UsePAM no"*) t_pass "sshd: UsePAM no" ;; *) t_fail "sshd UsePAM no" "$(line sshd)" ;; esac
	sshconf "NoSuchKeyword yes"
	doc
	case $(line sshd) in "WARN "*"sshd -T failed"*) t_pass "sshd -T that fails: a warning with its message" ;; *) t_fail "sshd -T fails" "$(line sshd)" ;; esac
	sshconf "UsePAM yes
KbdInteractiveAuthentication no"
	printf '@include common-auth\n' > "$pd/sshd"
	doc
	case $(line sshd) in "ok "*"does not reach pam_kztoken.so"*) t_pass "sshd not using the module: its settings are no problem" ;; *) t_fail "sshd not using module" "$(line sshd)" ;; esac
	printf 'auth required pam_kztoken.so\n' > "$pd/sshd"
	sshconf "UsePAM yes
KbdInteractiveAuthentication yes"
else
	t_skip "sshd -T findings" "no usable sshd"
fi
out=$(KZTOKEN_SSHD=$work/no-such-sshd "$KZ" --config "$conf" doctor 2>&1)
case $(line sshd) in "ok "*"not installed: skipped"*) t_pass "no sshd: skipped cleanly" ;; *) t_fail "no sshd" "$(line sshd)" ;; esac

# require_group confirmed through an enrollment that is not there
kz_write_config "$conf" "membership_check = enrollment" "membership_url = $KZ_IDP_URL/membership/{group}/{user}" "${good[@]}"
doc
case $(line membership) in "FAIL "*"[service sudo] require_group = ops-admins"*"no group token for ops-admins is enrolled"*"kztoken enroll NAME --provider idp --group ops-admins"*)
	t_pass "membership_check = enrollment without a group enrollment: a failure naming the enroll command" ;;
*) t_fail "membership enrollment" "$out" ;; esac
t_check "... exit 3 (UNAVAILABLE: what check would answer)" 3 "$rc"

# --json: the same checks, and the counts
doc --json
t_check "--json: valid, problems counted, each check has status/check/detail" "1 True" \
    "$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["problems"], all(set(c)=={"status","check","detail"} for c in d["checks"]) and d["count"]==len(d["checks"]))' <<<"$out" 2>&1)"
t_check "--json: the membership failure" "fail" \
    "$(/usr/bin/python3 -c 'import json,sys; print([c["status"] for c in json.load(sys.stdin)["checks"] if c["check"]=="membership"][0])' <<<"$out" 2>&1)"
t_done
