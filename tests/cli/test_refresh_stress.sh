#!/bin/bash
# tests/cli/test_refresh_stress.sh - the one-refresher rule and crash
# safety of the enrollment store:
#  - 50 processes ask `kztoken token` at once while a refresh is due:
#    exactly one refresh request reaches the provider, all 50 get a token;
#  - kill -9 of refreshers at random instants during 200 rotating
#    refreshes: the store still parses and its refresh token is accepted;
#  - a full disk (64k tmpfs in a private mount namespace) during a write
#    leaves the old file intact and the new tokens unused.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-stress.XXXXXX)
trap 'rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
kz_write_config "$conf"
export KZTOKEN_CONFIG=$conf
store=$work/c/store

stored_rt() { sed -n 's/^refresh_token //p' "$store/$1.enr"; }
rt_field() {	# rt_field NAME FIELD: a field of /test/check_refresh
	printf '{"refresh_token":"%s"}' "$(stored_rt "$1")" |
	    idp POST /test/check_refresh - |
	    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
stat_field() {
	idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
# makes the cached access token due, as time would
make_due() { sed -i 's/^access_token_expiry .*/access_token_expiry 1/' "$store/$1.enr"; }

idp refresh '{"username":"alice","group":"ops-admins"}' | "$KZ" enroll con --group ops-admins > /dev/null 2>&1
t_check "enroll" 0 "$?"

# ---- 50 at once ----
make_due con
idp POST /test/stats/reset > /dev/null
mkdir "$work/t"
pids=()
for i in $(seq 50); do
	"$KZ" token con > "$work/t/$i" 2> "$work/t/$i.err" &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t_check "50 concurrent token requests all succeed" 0 "$fails"
t_check "exactly one refresh reached the provider" 1 "$(stat_field refresh_attempts)"
t_check "all 50 got the same token" 1 "$(cat "$work"/t/[0-9]* | sort -u | wc -l)"
head -c 20000 "$work/t/1" | "$KZ" check > /dev/null 2>&1
t_check "and it is valid" 0 "$?"
t_check "the store holds the current refresh token" True "$(rt_field con current)"

# ---- kill -9 at random instants during 200 rotating refreshes ----
bad_parse=0
for i in $(seq 200); do
	"$KZ" refresh con > /dev/null 2>&1 &
	p=$!
	# 0-40 ms: before, during and after the request and the write
	sleep "0.0$((RANDOM % 40 / 10))$((RANDOM % 10))"
	kill -9 "$p" 2> /dev/null
	wait "$p" 2> /dev/null
	if [ $((i % 25)) = 0 ]; then
		"$KZ" list > /dev/null 2>&1 || bad_parse=$((bad_parse + 1))
	fi
done
t_check "the store parsed after every batch of kills" 0 "$bad_parse"
"$KZ" list > /dev/null 2>&1
t_check "the store parses after 200 kills" 0 "$?"
t_check "its refresh token is accepted by the provider" True "$(rt_field con valid)"
"$KZ" refresh con > /dev/null 2>&1
t_check "and the next refresh works" 0 "$?"
t_check "leaving the current token stored" True "$(rt_field con current)"
n=$(find "$store" -name 'con.enr.tmp.*' | wc -l)
[ "$n" -le 1 ] && t_pass "dead writers' temp files are swept ($n left)" || t_fail "temp files" "$n"

# ---- full disk during the write ----
if ! unshare -m true 2> /dev/null; then
	t_skip "full disk" "unshare -m not permitted"
else
	cp -p "$store/con.enr" "$work/con.enr.saved"
	rt_before=$(stored_rt con)
	cat > "$work/full.sh" <<'EOS'
set -u
store=$1 kz=$2 saved=$3
mount -t tmpfs -o size=64k,mode=0700 kztest "$store" || exit 90
cp -p "$saved" "$store/con.enr"
: > "$store/con.lock"; chmod 600 "$store/con.lock"
dd if=/dev/zero of="$store/fill" bs=4k count=1000 2> /dev/null
before=$(sha256sum < "$store/con.enr")
"$kz" refresh con > "$store/../full.out" 2>&1
rc=$?
after=$(sha256sum < "$store/con.enr")
[ "$before" = "$after" ] && same=same || same=changed
rm -f "$store/fill"
"$kz" refresh con > /dev/null 2>&1
rc2=$?
echo "$rc $same $rc2"
umount "$store"
EOS
	res=$(unshare -m --propagation private bash "$work/full.sh" "$store" "$KZ" "$work/con.enr.saved")
	set -- $res
	if [ "${1:-}" = 90 ]; then
		t_skip "full disk" "cannot mount tmpfs"
	else
		t_check "refresh on a full disk fails with 4" 4 "${1:-}"
		t_check "the old store file is intact" same "${2:-}"
		t_check "after space returns, the next refresh works (grace)" 0 "${3:-}"
		grep -q "nothing was sent: the store cannot take the answer" "$work/c/full.out" && t_pass "the failure says nothing was sent for want of space" || t_fail "full disk message" "$(cat "$work/c/full.out")"
		grep -qF -- "$rt_before" "$work/c/full.out" && t_fail "secret in the message" || t_pass "no secret in the message"
	fi
fi
t_done
