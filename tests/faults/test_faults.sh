#!/bin/bash
# tests/faults/test_faults.sh - enrollments survive real faults (issue 12,
# DESIGN.md section 5), each case asserting what is on disk and what the
# provider saw:
#  - a full disk (small tmpfs in a private mount namespace): nothing is
#    sent, the refresh token stays the live one (strict provider);
#  - a read-only store: a valid cached token is still served, a forced
#    refresh sends nothing;
#  - clock jumps with faketime: a token minted while the clock was fast is
#    due once it is put right, and a 429 received then does not block;
#  - a SIGSTOPped lock holder: readers with a valid token do not wait;
#  - 50 forced refreshes at once coalesce;
#  - 200 kill -9s of rotating refreshes at a provider with a grace: no loss
#    (and doctor names the risk where there is none).
# (Answers cut at every byte are in tests/unit/test_refresh.c.)
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-faults.XXXXXX)
trap 'idp POST /test/mode "{\"rotation\":\"grace\",\"clock_offset\":0}" >/dev/null 2>&1; idp POST /test/fault "{\"mode\":\"none\"}" >/dev/null 2>&1; rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
kz_write_config "$conf"
export KZTOKEN_CONFIG=$conf
store=$work/c/store

stored_rt() { sed -n 's/^refresh_token //p' "$store/$1.enr"; }
rt_state() {	# the IdP's view of the stored refresh token of NAME
	printf '{"refresh_token":"%s"}' "$(stored_rt "$1")" |
	    idp POST /test/check_refresh - |
	    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'
}
attempts() {
	idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_attempts"])'
}
reset() { idp POST /test/stats/reset > /dev/null; }
mode() { idp POST /test/mode "{\"rotation\":\"$1\"}" > /dev/null; }
enroll() { idp refresh '{"username":"alice"}' | "$KZ" enroll "$1" --user alice > /dev/null 2>&1; }
make_due() { sed -i 's/^access_token_expiry .*/access_token_expiry 1/' "$store/$1.enr"; }

for n in full ro clock stop many kill skill; do
	enroll "$n" || t_fail "enroll $n"
done

# ---- a private mount namespace with a small tmpfs over the store ----
ns_ok=true
unshare -m true 2> /dev/null || ns_ok=false
cat > "$work/ns.sh" <<'EOS'
# ns.sh STORE KZ SIZE CASE: runs in a private mount namespace
set -u
store=$1 kz=$2 size=$3 case=$4
saved=$(mktemp -d)
cp -p "$store"/* "$saved"/
mount -t tmpfs -o "size=$size,mode=0700" kzfault "$store" || exit 90
cp -p "$saved"/* "$store"/
rm -rf "$saved"
case $case in
full)
	dd if=/dev/zero of="$store/fill" bs=4k count=10000 2> /dev/null
	"$kz" refresh full > "$store/../full.out" 2>&1; rc=$?
	rm -f "$store/fill"
	"$kz" refresh full > /dev/null 2>&1; rc2=$?
	echo "$rc $rc2 $(sed -n 's/^refresh_token //p' "$store/full.enr")"
	;;
ro)
	mount -o remount,ro "$store" || exit 90
	"$kz" token ro > /dev/null 2> "$store/../ro.err"; a=$?
	"$kz" refresh ro --if-due > /dev/null 2>> "$store/../ro.err"; b=$?
	"$kz" refresh ro > /dev/null 2>> "$store/../ro.err"; c=$?
	echo "$a $b $c"
	;;
esac
umount "$store"
EOS
if ! $ns_ok; then
	t_skip "full disk and read-only store" "unshare -m not permitted"
else
	# ---- finding 1: full disk, strict provider ----
	mode strict; reset
	set -- $(unshare -m --propagation private bash "$work/ns.sh" "$store" "$KZ" 256k full)
	if [ "${1:-}" = 90 ]; then
		t_skip "full disk" "cannot mount tmpfs"
	else
		t_check "refresh on a full disk exits 4" 4 "${1:-}"
		grep -q "nothing was sent" "$work/c/full.out" && t_pass "and says nothing was sent" || t_fail "full disk message" "$(cat "$work/c/full.out")"
		t_check "once space returns, the next refresh works (strict provider)" 0 "${2:-}"
		t_check "the provider saw only that one request" 1 "$(attempts)"
		st=$(printf '{"refresh_token":"%s"}' "${3:-x}" | idp POST /test/check_refresh - |
		    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
		t_check "the store (tmpfs) holds the provider's current token" current "$st"
	fi
	mode grace

	# ---- finding 6: read-only store ----
	reset
	set -- $(unshare -m --propagation private bash "$work/ns.sh" "$store" "$KZ" 1m ro)
	if [ "${1:-}" = 90 ]; then
		t_skip "read-only store" "cannot remount"
	else
		t_check "token from a read-only store with a valid cached token" 0 "${1:-}"
		t_check "refresh --if-due on a read-only store: not due, exit 0" 0 "${2:-}"
		t_check "a forced refresh on a read-only store exits 4" 4 "${3:-}"
		t_check "and sends nothing" 0 "$(attempts)"
	fi
fi

# ---- findings 2 and 3: clock jumps (faketime) ----
if ! command -v faketime > /dev/null; then
	t_skip "clock jumps" "faketime not installed (bash tests/deps.sh test)"
else
	# 20 days: inside the validity of the test IdP's certificate
	faketime -f '+20d' "$KZ" refresh clock > /dev/null 2>&1
	t_check "refresh with the clock 20 days fast" 0 "$?"
	reset
	o=$("$KZ" refresh clock --if-due 2>&1)
	[[ $o == *refreshed* ]] && t_pass "clock put right: the token minted then is due" || t_fail "due after the jump back" "$o"
	t_check "and one request went out" 1 "$(attempts)"
	idp POST /test/fault '{"mode":"429","paths":["/token"],"count":1,"retry_after":30}' > /dev/null
	faketime -f '+20d' "$KZ" refresh clock > /dev/null 2>&1
	t_check "a 429 while 20 days fast exits 3" 3 "$?"
	o=$("$KZ" refresh clock 2>&1)
	t_check "clock put right: its remembered wait does not block" 0 "$?" 
	[[ $o != *"asked to wait"* ]] && t_pass "no 'asked to wait' after the jump" || t_fail "wait message" "$o"
	# a refresh while the clock was 20 h slow, with a 10 h refresh
	# lifetime: the expiry it computed lies in the past of the right
	# clock, but the provider still knows the token: it is asked
	idp POST /test/fault '{"mode":"answer","paths":["/token"],"count":1,"answer":{"set":{"refresh_expires_in":36000}}}' > /dev/null
	faketime -f '-20h' "$KZ" refresh clock > /dev/null 2>&1
	t_check "refresh with the clock 20 hours slow" 0 "$?"
	o=$("$KZ" token clock 2>&1 > /dev/null)
	t_check "clock put right: an 'expired' enrollment is asked about, not given up" "0 current" "$? $(rt_state clock)"
fi

# ---- finding 5: a SIGSTOPped lock holder ----
idp POST /test/fault '{"mode":"slow","paths":["/token"],"delay":3,"count":1}' > /dev/null
"$KZ" refresh stop > /dev/null 2>&1 &
holder=$!
sleep 0.5
kill -STOP "$holder"
t0=$(date +%s%N)
"$KZ" token stop > /dev/null 2>&1; a=$?
"$KZ" refresh stop --if-due > /dev/null 2>&1; b=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$holder"; wait "$holder" 2> /dev/null
t_check "token while the lock holder is stopped" 0 "$a"
t_check "refresh --if-due while the lock holder is stopped" 0 "$b"
[ "$ms" -lt 1000 ] && t_pass "neither waited for the lock (${ms} ms)" || t_fail "readers waited" "${ms} ms"
idp POST /test/fault '{"mode":"none"}' > /dev/null

# ---- finding 7: 50 forced refreshes coalesce ----
reset
pids=()
for i in $(seq 50); do "$KZ" refresh many > /dev/null 2>&1 & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
n=$(attempts)
t_check "50 forced refreshes all exit 0" 0 "$fails"
[ "$n" -ge 1 ] && [ "$n" -le 10 ] && t_pass "they sent $n requests between them, not 50" || t_fail "coalescing" "$n requests"
t_check "the store holds the current token" current "$(rt_state many)"

# ---- kill -9 during 200 rotating refreshes, provider with a grace ----
lost=0 bad=0
for i in $(seq 200); do
	"$KZ" refresh kill > /dev/null 2>&1 &
	p=$!
	sleep "0.0$((RANDOM % 40 / 10))$((RANDOM % 10))"
	kill -9 "$p" 2> /dev/null
	wait "$p" 2> /dev/null
	if [ $((i % 10)) = 0 ]; then
		case $(rt_state kill) in current|grace) ;; *) lost=$((lost + 1)) ;; esac
		"$KZ" list > /dev/null 2>&1 || bad=$((bad + 1))
	fi
done
t_check "200 kill -9s: the store always parsed" 0 "$bad"
t_check "200 kill -9s: the stored token always valid at the provider (grace)" 0 "$lost"
"$KZ" refresh kill > /dev/null 2>&1
t_check "and the next refresh works" 0 "$?"
t_check "leaving the current token stored" current "$(rt_state kill)"

# ---- a strict provider: kill -9 of the caller loses nothing ----
# The refresh runs in a worker of its own (guardian.c) that finishes and
# stores whatever becomes of the process that asked for it: a user who
# kills their own sudo, or sshd ending its PAM child on a hang-up.
mode strict
quiet() { flock -w 10 "$store/$1.lock" true; }
lost=0
for i in $(seq 40); do
	"$KZ" refresh skill > /dev/null 2>&1 &
	p=$!
	sleep "0.0$((RANDOM % 7))$((RANDOM % 10))"
	kill -9 "$p" 2> /dev/null
	wait "$p" 2> /dev/null
	if [ $((i % 4)) = 0 ]; then
		quiet skill
		[ "$(rt_state skill)" = current ] || lost=$((lost + 1))
	fi
done
quiet skill
t_check "40 kill -9s of the caller at a strict provider: no token lost" 0 "$lost"
"$KZ" refresh skill > /dev/null 2>&1
t_check "and the next refresh works" "0 current" "$? $(rt_state skill)"
mode grace

# ---- a due but valid group token: sudo never waits for its refresh ----
mconf=$work/m/kztoken.conf
kz_write_config "$mconf" "membership_check = enrollment" \
	"membership_url = $KZ_IDP_URL/membership/{group}/{user}" \
	"membership_ttl = 0" "[service sudo]" "require_group = ops-admins"
idp refresh '{"username":"alice","group":"ops-admins"}' |
    KZTOKEN_CONFIG=$mconf "$KZ" enroll ops --group ops-admins > /dev/null 2>&1 ||
    t_fail "enroll ops"
mstore=$work/m/store
# due (past 90 % of its life) but still valid for 20 s
now=$(date +%s)
sed -i -e "s/^access_token_issued .*/access_token_issued $((now - 280))/" \
    -e "s/^access_token_expiry .*/access_token_expiry $((now + 20))/" "$mstore/ops.enr"
alice=$(idp mint '{"claims":{"preferred_username":"alice","groups":[]}}')
flock "$mstore/ops.lock" sleep 8 &
holder=$!
sleep 0.3
t0=$(date +%s%N)
o=$(printf '%s' "$alice" | KZTOKEN_CONFIG=$mconf "$KZ" check --service sudo --user alice 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
t_check "lock held by a stuck refresher: sudo for a member still OK" 0 "$rc"
[ "$ms" -lt 1500 ] && t_pass "without waiting for the lock (${ms} ms)" || t_fail "waited for the lock" "${ms} ms: $o"
kill "$holder" 2> /dev/null; wait "$holder" 2> /dev/null
idp POST /test/fault '{"mode":"hang","paths":["/token"],"count":1}' > /dev/null
t0=$(date +%s%N)
o=$(printf '%s' "$alice" | KZTOKEN_CONFIG=$mconf "$KZ" check --service sudo --user alice 2>&1); rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
t_check "token endpoint hangs: sudo for a member still OK" 0 "$rc"
[ "$ms" -lt 1500 ] && t_pass "the refresh goes on in the background (${ms} ms)" || t_fail "waited for the refresh" "${ms} ms: $o"
idp POST /test/fault '{"mode":"none"}' > /dev/null
quiet_m() { flock -w 10 "$mstore/ops.lock" true; }
quiet_m

# ---- FIFOs planted where files should be: nothing hangs ----
# A plain open() of a FIFO blocks until a writer comes: sudo and sshd would
# hang with no deadline.  Every file is opened non-blocking, then refused.
fconf=$work/f/kztoken.conf
kz_write_config "$fconf"
mkdir -p "$work/f/store" "$work/f/cache"
mkfifo -m 600 "$work/f/store/fifo.enr" "$work/f/store/fifo2.lock" "$work/f/cache/jwks-idp.json"
idp refresh '{"username":"alice"}' | KZTOKEN_CONFIG=$fconf "$KZ" enroll fifo2 --user alice > /dev/null 2>&1
o=$(KZTOKEN_CONFIG=$fconf timeout 10 "$KZ" token fifo 2>&1); rc=$?
t_check "a FIFO as a store file: token refuses it at once (exit 4)" 4 "$rc"
o=$(KZTOKEN_CONFIG=$fconf timeout 10 "$KZ" list 2>&1); rc=$?
[ "$rc" != 124 ] && t_pass "list does not hang on it (exit $rc)" || t_fail "list hung" "$o"
o=$(KZTOKEN_CONFIG=$fconf timeout 10 "$KZ" refresh fifo2 2>&1); rc=$?
t_check "a FIFO as a lock file: refresh refuses it at once (exit 4)" 4 "$rc"
tok=$(idp mint '{"claims":{"preferred_username":"alice"}}')
o=$(printf '%s' "$tok" | KZTOKEN_CONFIG=$fconf timeout 10 "$KZ" check --user alice 2>&1); rc=$?
t_check "a FIFO as the JWKS cache: check ignores it and validates (exit 0)" 0 "$rc"

# ---- finding 13: doctor names the risk of a rotating provider ----
o=$("$KZ" doctor 2>&1)
grep "enrollment kill" <<<"$o" | grep -q "rotates refresh tokens" &&
    t_pass "doctor names the crash risk of a rotating provider" || t_fail "doctor risk" "$o"
t_done
