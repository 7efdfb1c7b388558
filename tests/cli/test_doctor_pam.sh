#!/bin/bash
# tests/cli/test_doctor_pam.sh - `kztoken doctor` names every PAM service
# that reaches pam_kztoken.so (directly, by @include, include or substack)
# and falls through to no policy while another service has one: the way
# `sudo -i` (service sudo-i) once skipped the sudo group gate.  A pam.d of
# our own through the test hook KZTOKEN_PAM_DIR; /etc is not touched.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-doctor.XXXXXX)
trap 'rm -rf "$work"' EXIT
pd=$work/pam.d
mkdir -p "$pd"
mod=/lib/x86_64-linux-gnu/security/pam_kztoken.so
printf 'auth required pam_unix.so\n' > "$pd/common-auth"
printf 'auth [success=done default=ignore] %s\n' "$mod" > "$pd/common-kztoken"
printf '@include common-kztoken\n@include common-auth\naccount required pam_permit.so\n' > "$pd/sudo"
printf '@include sudo\n' > "$pd/sudo-i"		# Debian's sudo-i
printf '@include common-kztoken\n' > "$pd/su-l"
printf 'auth substack common-kztoken\n' > "$pd/sshd"
printf -- '-auth [default=ignore] pam_kztoken.so service=sudo\n' > "$pd/cron-admin"
printf 'auth include common-kztoken # comment\n' > "$pd/login"
printf 'auth required pam_kztoken.so service=nosuch\n' > "$pd/odd"
printf '# auth required pam_kztoken.so\nauth required pam_unix.so\n' > "$pd/passwd"
printf 'auth required pam_kztoken.so\n' > "$pd/sshd.dpkg-old"

conf=$work/c/kztoken.conf
kz_write_config "$conf" "[service sudo]" "require_group = ops-admins"
doc() { out=$(KZTOKEN_PAM_DIR=$pd "$KZ" --config "$conf" doctor 2>&1); pam=$(grep -E '^(ok|WARN|FAIL) +pam ' <<<"$out"); }
doc
warned() { grep '^WARN' <<<"$pam" | sed -n 's/.*service \([^ ]*\) reaches.*/\1/p' | sort | tr '\n' ' '; }
t_check "services without a policy are named (su-l: no [service su])" "login odd sshd su-l " "$(warned)"
case $pam in *"service sudo-i"*) t_fail "sudo-i inherits [service sudo]" "$pam" ;; *) t_pass "sudo-i inherits [service sudo]: no warning" ;; esac
case $pam in *"no [service nosuch]"*) t_pass "a service= argument is the policy looked up" ;; *) t_fail "service= argument" "$pam" ;; esac
case $pam in *passwd*|*dpkg-old*|*common-*) t_fail "comments, dpkg leftovers and common-* pieces are no services" "$pam" ;; *) t_pass "comments, dpkg leftovers and common-* pieces are no services" ;; esac

kz_write_config "$conf" "[service sudo]" "require_group = ops-admins" "[service default]" "require_scope = login"
doc
t_check "with [service default] nothing falls through" "" "$(warned)"
case $pam in "ok "*"7 services use pam_kztoken.so"*) t_pass "a summary line when all is well" ;; *) t_fail "summary line" "$pam" ;; esac

kz_write_config "$conf"
doc
t_check "no service has a requirement: nothing to warn about" "" "$(warned)"
t_done
