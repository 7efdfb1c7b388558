#!/bin/bash
# tests/nss/test_sync.sh - `kztoken sync` against the test IdP's SCIM
# directory, read back through glibc (getent -s kztoken with the built
# libnss_kztoken.so.2 on LD_LIBRARY_PATH): users, groups, initgroups,
# ETags, --if-due, paging, a directory that is down or answers junk (the
# old database stays), removal, local accounts and root never shadowed,
# exit codes, no token in the log.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
if [ -z "${KZ_IDP_DIR:-}" ] || [ ! -s "$KZ_IDP_DIR/url" ]; then
	t_skip "sync" "no test IdP (KZ_IDP_DIR); run via tests/run.sh"; t_done; exit
fi
KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
work=$(mktemp -d /tmp/kz-nss-sync.XXXXXX)
cleanup() {
	idp POST /test/fault '{"mode":"none"}' >/dev/null
	idp POST /test/scim '{"reset":true}' >/dev/null
	idp POST /test/membership '{"group":"ops-admins","user":"root","member":false}' >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/lib"
cp "$KZ_BUILD/libnss_kztoken.so.2" "$work/lib/"	# a snapshot: make may rebuild
db=$work/nss
conf=$work/c/kztoken.conf
kz_write_config "$conf" "[nss]" "enrollment = dir" \
	"directory_url = $KZ_IDP_URL/scim/v2/" "groups = ops-admins, devs" \
	"db_dir = $db"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log KZTOKEN_NSS_DIR=$db
printf 'root:x:0:0:root:/root:/bin/bash\ncarol:x:1000:1000::/home/carol:/bin/sh\n' > "$work/passwd"
printf 'root:x:0:\nstaff:x:50:\n' > "$work/group"
export KZTOKEN_PASSWD_FILE=$work/passwd KZTOKEN_GROUP_FILE=$work/group
# none yet (missing files have no ranges); not this host's
export KZTOKEN_SUBUID_FILE=$work/subuid KZTOKEN_SUBGID_FILE=$work/subgid

kz() { o=$("$KZ" "$@" 2>&1); rc=$?; }
ge() { LD_LIBRARY_PATH=$work/lib getent -s kztoken "$@"; }

# ---- usage and configuration ----
kz sync extra; t_check "sync with an argument exits 4" 4 "$rc"
kz sync --bogus; t_check "sync with a bad option exits 4" 4 "$rc"
kz_write_config "$work/c2/kztoken.conf"
kz sync --config "$work/c2/kztoken.conf"
t_check "sync without an [nss] section exits 4" 4 "$rc"
kz sync
t_check "sync before the enrollment exists exits 4" 4 "$rc"
[[ $o == *"no enrollment named dir"* ]] && t_pass "and says which enrollment" || t_fail "message" "$o"
ge passwd alice >/dev/null; t_check "no database: getent finds nothing (exit 2)" 2 "$?"

rt=$(idp refresh '{"username":"svc-dir","group":"ops-admins"}')
printf '%s\n' "$rt" | "$KZ" enroll dir --provider idp --group ops-admins >/dev/null 2>&1
t_check "enroll the directory reader" 0 "$?"

kz doctor
[[ $o == *"nss"*"not written yet; run \`kztoken sync\`"* ]] && t_pass "doctor: no database yet" || t_fail "doctor before sync" "$o"

# ---- first sync ----
kz sync
t_check "sync exits 0" 0 "$rc"
[[ $o == *"2 users, 2 groups, 0 left out"* ]] && t_pass "sync reports 2 users, 2 groups" || t_fail "sync report" "$o"
t_check "database is 0644" 644 "$(stat -c %a "$db/kztoken.db")"
t_check "db_dir is 0755" 755 "$(stat -c %a "$db")"
line=$(ge passwd alice)
IFS=: read -r n pw uid gid gecos home shell <<<"$line"
t_check "getent passwd alice: name" alice "$n"
t_check "home from [nss] home" /home/alice "$home"
t_check "shell from [nss] shell" /bin/bash "$shell"
t_check "the private group is the uid" "$uid" "$gid"
[ "$uid" -ge 200000 ] && [ "$uid" -le 2000200000 ] && t_pass "uid in uid_min..uid_max" || t_fail "uid range" "$uid"
t_check "getpwuid finds alice" alice "$(ge passwd "$uid" | cut -d: -f1)"
t_check "getent group ops-admins" "alice" "$(ge group ops-admins | cut -d: -f4)"
t_check "getent group devs" "alice,bob" "$(ge group devs | cut -d: -f4)"
ops_gid=$(ge group ops-admins | cut -d: -f3)
devs_gid=$(ge group devs | cut -d: -f3)
ig=$(ge initgroups alice)
[[ " $ig " == *" $ops_gid "* && " $ig " == *" $devs_gid "* ]] && t_pass "initgroups alice: both groups" || t_fail "initgroups" "$ig"
t_check "enumeration lists both users" "alice bob" "$(ge passwd | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
ge passwd svc-dir >/dev/null; t_check "the enrolled service is no user (not in a group)" 2 "$?"

# ---- unchanged directory: only conditional requests ----
cp "$db/kztoken.db" "$work/db.1"
kz sync
if [[ $o =~ \(([0-9]+)\ requests,\ ([0-9]+)\ not\ modified ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]; then
	t_pass "second sync: every request answered 304 (${BASH_REMATCH[1]})"
else
	t_fail "second sync with ETags" "$o"
fi
t_check "IDs are stable across syncs" "$uid" "$(ge passwd alice | cut -d: -f3)"
kz sync --if-due
t_check "--if-due when not due exits 0" 0 "$rc"
[[ $o == *"not due"* ]] && t_pass "--if-due says not due" || t_fail "--if-due" "$o"
touch -d '2 hours ago' "$db/kztoken.db"
kz sync --if-due
[[ $rc == 0 && $o == *"2 users"* ]] && t_pass "--if-due syncs once sync_interval passed" || t_fail "--if-due due" "$rc $o"

# ---- the directory down or wrong: the database stays ----
cp "$db/kztoken.db" "$work/db.2"
for f in 500 429 badjson reset; do
	idp POST /test/fault "{\"mode\":\"$f\",\"paths\":[\"/scim\"]}" >/dev/null
	kz sync
	t_check "directory fault $f: sync exits 3" 3 "$rc"
	cmp -s "$db/kztoken.db" "$work/db.2" && t_pass "fault $f: database unchanged" || t_fail "fault $f: database changed"
done
# a failure on a later request (one page of many) is a failure too
idp POST /test/fault '{"mode":"none"}' >/dev/null
idp POST /test/scim '{"etags":false}' >/dev/null
idp POST /test/fault '{"mode":"503","paths":["/scim/v2/Users"],"count":1}' >/dev/null
kz sync
t_check "a failed user request fails the sync (3)" 3 "$rc"
cmp -s "$db/kztoken.db" "$work/db.2" && t_pass "and the database is unchanged" || t_fail "partial read replaced the database"
idp POST /test/fault '{"mode":"none"}' >/dev/null
# a server whose totalResults promises more than its pages hold
idp POST /test/scim '{"total_extra":5}' >/dev/null
kz sync
t_check "a list that ends before totalResults fails the sync (3)" 3 "$rc"
[[ $o == *"incomplete list"* ]] && t_pass "and says the list is incomplete" || t_fail "incomplete message" "$o"
idp POST /test/scim '{"total_extra":0}' >/dev/null
# none of the groups there: a wrong directory, not a reason to drop everyone
kz_write_config "$work/c4/kztoken.conf" "[nss]" "enrollment = dir" \
	"directory_url = $KZ_IDP_URL/scim/v2" "groups = no-such-group" "db_dir = $db"
cp "$work/c/store/dir.enr" "$work/c4/store/"
kz sync --config "$work/c4/kztoken.conf"
t_check "no configured group in the directory: sync exits 3" 3 "$rc"
cmp -s "$db/kztoken.db" "$work/db.2" && t_pass "and the database is unchanged" || t_fail "database replaced by an empty one"
t_check "getent still answers from the old database" alice "$(ge passwd alice | cut -d: -f1)"

# ---- removal ----
idp POST /test/scim '{"delete_user":"bob"}' >/dev/null
kz sync
t_check "sync after bob left the directory" 0 "$rc"
ge passwd bob >/dev/null; t_check "bob is gone" 2 "$?"
t_check "devs lost bob" "alice" "$(ge group devs | cut -d: -f4)"
idp POST /test/scim '{"user":{"userName":"bob"}}' >/dev/null
idp POST /test/scim '{"user":{"userName":"alice","active":false}}' >/dev/null
kz sync
ge passwd alice >/dev/null; t_check "an inactive user is not served" 2 "$?"
t_check "bob is back" bob "$(ge passwd bob | cut -d: -f1)"
idp POST /test/scim '{"user":{"userName":"alice","active":true}}' >/dev/null

# ---- a rename in the directory keeps the uid (it derives from the id) ----
idp POST /test/scim '{"user":{"userName":"bob","id":"fixed-bob-id"}}' >/dev/null
kz sync
bob_uid=$(ge passwd bob | cut -d: -f3)
idp POST /test/scim '{"delete_user":"bob","user":{"userName":"robert","id":"fixed-bob-id"}}' >/dev/null
idp POST /test/membership '{"group":"devs","user":"robert"}' >/dev/null
kz sync
t_check "renamed bob -> robert: same uid" "$bob_uid" "$(ge passwd robert | cut -d: -f3)"
ge passwd bob >/dev/null; t_check "and the old name is gone" 2 "$?"
idp POST /test/membership '{"group":"devs","user":"robert","member":false}' >/dev/null
idp POST /test/scim '{"reset":true}' >/dev/null		# bob as he was

# ---- local accounts and root are never shadowed ----
idp POST /test/membership '{"group":"ops-admins","user":"root"}' >/dev/null
idp POST /test/membership '{"group":"ops-admins","user":"carol"}' >/dev/null
kz sync
t_check "sync with root and a local name in the directory exits 0" 0 "$rc"
[[ $o == *"left out user root"* ]] && t_pass "root is left out and reported" || t_fail "root report" "$o"
[[ $o == *"left out user carol"* ]] && t_pass "a local account's name is left out and reported" || t_fail "carol report" "$o"
grep -q '^user carol:' "$db/refused" && t_pass "the refusal is recorded for doctor" || t_fail "refused file" "$(cat "$db/refused")"
ge passwd root >/dev/null; t_check "getent -s kztoken passwd root finds nothing" 2 "$?"
kz doctor
[[ $o == *"nss"*"left out user carol"* ]] && t_pass "doctor shows what sync left out" || t_fail "doctor" "$o"
[[ $o == *"nss"*"2 users, 2 groups, written"* ]] && t_pass "doctor shows the database" || t_fail "doctor database line" "$o"
ge passwd carol >/dev/null; t_check "carol is not served" 2 "$?"
t_check "the group keeps its other members" "alice" "$(ge group ops-admins | cut -d: -f4)"
idp POST /test/membership '{"group":"ops-admins","user":"root","member":false}' >/dev/null
idp POST /test/membership '{"group":"ops-admins","user":"carol","member":false}' >/dev/null

# ---- a local user's subordinate IDs (/etc/subuid, /etc/subgid) ----
# useradd gives every local user 65536 IDs from 100000 up; newuidmap lets
# it act as any of them on the host's files (podman unshare): a directory
# user on one of them would be that local user's to impersonate.
printf 'carol:%s:10\n' "$((uid - 3))" > "$work/subuid"
kz sync
t_check "sync with alice's uid in carol's subuid range exits 0" 0 "$rc"
[[ $o == *"left out user alice"* ]] && t_pass "alice is left out and reported" || t_fail "subuid report" "$o"
ge passwd alice >/dev/null; t_check "alice is not served" 2 "$?"
ge passwd "$uid" >/dev/null; t_check "nor is her uid" 2 "$?"
rm -f "$work/subuid"
printf 'carol:%s:1\n' "$devs_gid" > "$work/subgid"
kz sync
[[ $o == *"left out group devs"* ]] && t_pass "a group whose gid is in a subgid range is left out" || t_fail "subgid report" "$o"
ge group devs >/dev/null; t_check "devs is not served" 2 "$?"
t_check "alice is back with her uid" "$uid" "$(ge passwd alice | cut -d: -f3)"
rm -f "$work/subgid"
mkdir "$work/subgid"
kz sync
t_check "an unreadable subgid file fails the sync (exit 4)" 4 "$rc"
ge group devs >/dev/null; t_check "and the database stays as it was" 2 "$?"
rmdir "$work/subgid"
kz sync; t_check "sync without subordinate ranges exits 0" 0 "$rc"

# ---- names that would stand for another account: numbers, dots, ROOT ----
# chown and id read a name before a number: a directory user "0" would
# take root's place; ".." as a name makes /home/.. a home.
for u in 0 1000 +0 .. . ROOT a@b; do
	idp POST /test/membership "{\"group\":\"ops-admins\",\"user\":\"$u\"}" >/dev/null
done
kz sync
t_check "sync with such names exits 0" 0 "$rc"
served=$( { ge passwd; ge group; } | cut -d: -f1 | grep -xE '0|1000|\+0|\.\.|\.|ROOT|a@b' | sort -u | tr '\n' ' ')
t_check "none of them is served as a user or a group" "" "$served"
t_check "alice still is" alice "$(ge passwd alice | cut -d: -f1)"
for u in 0 1000 +0 .. . ROOT a@b; do
	idp POST /test/membership "{\"group\":\"ops-admins\",\"user\":\"$u\",\"member\":false}" >/dev/null
done

# ---- paging: more members than one page, pages of 7 ----
idp POST /test/scim '{"page_max":7,"generate":{"group":"nss-many","n":60,"prefix":"nssu"}}' >/dev/null
kz_write_config "$work/c3/kztoken.conf" "[nss]" "enrollment = dir" \
	"directory_url = $KZ_IDP_URL/scim/v2" "groups = nss-many" "db_dir = $work/nss3"
cp "$work/c/store/dir.enr" "$work/c3/store/"
kz sync --config "$work/c3/kztoken.conf"
t_check "paged sync exits 0" 0 "$rc"
n=$(KZTOKEN_NSS_DIR=$work/nss3 LD_LIBRARY_PATH=$work/lib getent -s kztoken passwd | wc -l)
t_check "all 60 members over pages of 7" 60 "$n"
members=$(KZTOKEN_NSS_DIR=$work/nss3 LD_LIBRARY_PATH=$work/lib getent -s kztoken group nss-many | cut -d: -f4 | tr , '\n' | wc -l)
t_check "the group lists all 60" 60 "$members"

# ---- a damaged database: doctor says so, the module answers nothing ----
cp "$db/kztoken.db" "$work/db.good"
head -c 100 "$work/db.good" > "$db/kztoken.db"
kz doctor
[[ $o == *"FAIL"*"nss"*"not a usable database"* ]] && t_pass "doctor: a truncated database is a failure" || t_fail "doctor on a truncated database" "$o"
ge passwd alice >/dev/null; t_check "a truncated database: getent finds nothing (exit 2)" 2 "$?"
cp "$work/db.good" "$db/kztoken.db"
t_check "the good one again: alice resolves" alice "$(ge passwd alice | cut -d: -f1)"

# ---- review findings: hostile or changing directories ----
idp POST /test/scim '{"reset":true,"page_max":100}' >/dev/null
kz sync
# a display name with ':' and a newline must not forge passwd fields or lines
idp POST /test/scim '{"user":{"userName":"alice","displayName":"x:0:0:pwn:/root:/bin/bash\nroot2:x:0:0:"}}' >/dev/null
kz sync
t_check "a hostile displayName: sync exits 0" 0 "$rc"
t_check "gecos keeps no ':' or newline (7 fields, 1 line)" "1 7" \
	"$(ge passwd alice | wc -l) $(ge passwd alice | awk -F: '{print NF}')"
t_check "its bytes are blanked, not dropped" "x 0 0 pwn /root /bin/bash root2 x 0 0 " "$(ge passwd alice | cut -d: -f5)"
# U+009B is CSI, a terminal escape as ESC [ is: blanked too (é stays)
idp POST /test/scim '{"user":{"userName":"alice","displayName":"A\u009b2J\u0085B\u00e9"}}' >/dev/null
kz sync
t_check "a C1 control in displayName is blanked" "A  2J  Bé" "$(ge passwd alice | cut -d: -f5)"
idp POST /test/scim '{"reset":true}' >/dev/null

# a configured group the directory lacks is reported, and its members lose it
kz_write_config "$work/c5/kztoken.conf" "[nss]" "enrollment = dir" \
	"directory_url = $KZ_IDP_URL/scim/v2" "groups = ops-admins, no-such-group" "db_dir = $work/nss5"
cp "$work/c/store/dir.enr" "$work/c5/store/"
kz sync --config "$work/c5/kztoken.conf"
t_check "one configured group missing: sync exits 0" 0 "$rc"
[[ $o == *"left out group no-such-group: not found in the directory"* ]] && t_pass "the missing group is reported on stderr" || t_fail "missing group report" "$o"
grep -q "^group no-such-group: not found in the directory" "$work/nss5/refused" && t_pass "and kept in the refused file doctor reads" || t_fail "refused file" "$(cat "$work/nss5/refused")"
kz doctor --config "$work/c5/kztoken.conf"
[[ $o == *"no-such-group"* ]] && t_pass "doctor names it" || t_fail "doctor on a missing group" "$o"

# pages that overlap (the directory changed between them): one user, not a collision
idp POST /test/scim '{"page_max":7,"overlap":1,"generate":{"group":"nss-many","n":60,"prefix":"nssu"}}' >/dev/null
rm -rf "$work/nss3"
kz sync --config "$work/c3/kztoken.conf"
t_check "overlapping pages: sync exits 0" 0 "$rc"
[[ $o == *"60 users, 1 groups, 0 left out"* ]] && t_pass "all 60, none left out as a collision" || t_fail "overlap report" "$o"
idp POST /test/scim '{"overlap":0,"page_max":100}' >/dev/null

# member ids "." and ".." name no user (as a path they name the collection)
idp POST /test/scim '{"raw_member":{"group":"ops-admins","value":".."}}' >/dev/null
idp POST /test/scim '{"raw_member":{"group":"ops-admins","value":"."}}' >/dev/null
idp POST /test/stats/reset '{}' >/dev/null
kz sync
t_check "dot member ids: sync exits 0" 0 "$rc"
t_check "ops-admins still alice alone" alice "$(ge group ops-admins | cut -d: -f4)"
paths=$(idp GET /test/stats | /usr/bin/python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["paths"])))')
[[ " $paths " == *" /scim/v2/Groups "* ]] && t_pass "(the request paths are recorded)" || t_fail "no SCIM paths in the stats" "$paths"
[[ " $paths " != *" /scim/v2/ "* && " $paths " != *" /scim/v2 "* && " $paths " != *" /scim/v2/Users/ "* ]] && t_pass "no request for /Users/. or /Users/.." || t_fail "a dot segment reached the server" "$paths"
idp POST /test/scim '{"reset":true}' >/dev/null

# GET /Users/A answered with B's record counts as neither
scim_id() { /usr/bin/python3 -c "import hashlib; print('u-' + hashlib.sha256(b'$1').hexdigest()[:16])"; }
aid=$(scim_id alice) bid=$(scim_id bob)
if [ -n "$aid" ] && [ -n "$bid" ]; then
	idp POST /test/scim "{\"answer_as\":{\"id\":\"$aid\",\"as\":\"$bid\"}}" >/dev/null
	kz sync
	t_check "a /Users/{id} answer for another id: alice is not served" 2 "$(ge passwd alice >/dev/null; echo $?)"
	idp POST /test/scim '{"reset":true}' >/dev/null
else
	t_fail "could not read the SCIM ids of alice and bob" "$aid $bid"
fi

# a database from the future (the clock was ahead) is due at once
kz sync
touch -d "2030-01-01" "$db/kztoken.db"
kz sync --if-due
[[ $o == *"2 users, 2 groups"* ]] && t_pass "--if-due syncs when the database is from the future" || t_fail "future database" "$o"
kz sync --if-due
[[ $o == *"not due"* ]] && t_pass "and then is not due again" || t_fail "if-due after" "$o"

# a writer killed mid-write left its temp file: the next sync removes it
dead=$(( $(cat /proc/sys/kernel/pid_max) - 1 ))
kill -0 "$dead" 2>/dev/null && dead=$(( dead - 1 ))
head -c 4096 /dev/zero > "$db/kztoken.db.tmp.$dead"
kz sync
t_check "sync after a killed writer exits 0" 0 "$rc"
[ ! -e "$db/kztoken.db.tmp.$dead" ] && t_pass "the dead writer's temp file is gone" || t_fail "stale temp file kept"

# ---- secrets ----
at=$(sed -n 's/^access_token //p' "$work/c/store/dir.enr")
if [ -n "$at" ] && ! grep -qF "$at" "$work/log" "$db"/* 2>/dev/null; then
	t_pass "the access token is in no log or database file"
else
	t_fail "access token leaked (or none stored)"
fi
t_check "scim.cache is 0600" 600 "$(stat -c %a "$db/scim.cache")"
t_done
