#!/bin/bash
# tests/nss/test_kaizala.sh - `kztoken sync` with [nss] directory_style =
# kaizala against the test IdP's Kaizala platform API (GET /v1/groups and
# /v1/groups/{groupId}/members, header accessToken), read back through
# glibc (getent -s kztoken with the built libnss_kztoken.so.2): the API base
# from the enrollment's endpointUrl or directory_url, users named as PAM
# binds them (the tokeninfo answer's username_claim, user_map_file), IDs
# from issuer + member id, groups by name or groupId, a name two groups
# share, faults that keep the old database, 308 moves, no token in the log.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
if [ -z "${KZ_IDP_DIR:-}" ] || [ ! -s "$KZ_IDP_DIR/url" ]; then
	t_skip "kaizala sync" "no test IdP (KZ_IDP_DIR); run via tests/run.sh"; t_done; exit
fi
KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
work=$(mktemp -d /tmp/kz-nss-kaizala.XXXXXX)
cleanup() {
	idp POST /test/fault '{"mode":"none"}' >/dev/null
	idp POST /test/kaizala_dir '{"reset":true}' >/dev/null
	idp POST /test/membership '{"group":"devs","user":"dave","member":false}' >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
idp POST /test/kaizala_dir '{"reset":true}' >/dev/null
mkdir -p "$work/lib"
cp "$KZ_BUILD/libnss_kztoken.so.2" "$work/lib/"	# a snapshot: make may rebuild
db=$work/nss

# What the IdP derives, computed here independently: member ids and groupIds
# (uuid5), mobile numbers, and the uid kztoken must give (DESIGN §16:
# SHA-256 of issuer, kind and id into uid_min..uid_max).
py() { /usr/bin/python3 -c "$@"; }
NS=6f1c9d2e-3b7a-4e55-9a1f-0c2d4e6f8a10
member_id() { py "import uuid; print(uuid.uuid5(uuid.UUID('$NS'), 'user:$1'))"; }
group_id() { py "import uuid; print('%s@1' % uuid.uuid5(uuid.UUID('$NS'), 'group:$1'))"; }
mobile() { py "import hashlib; print('+9190%08d' % (int(hashlib.sha256(b'$1').hexdigest(), 16) % 10**8))"; }
nss_id() {
	py "import hashlib, sys; a = sys.argv[1:]
md = hashlib.sha256('\0'.join(a).encode()).digest()
print(200000 + int.from_bytes(md[:8], 'big') % (2000200000 - 200000 + 1))" "$@"
}

# kconf DIR DB_DIR [nss lines...]: a Kaizala provider (token service, tokeninfo
# with the accessToken header, users named by mobile number) and an [nss]
# section; the store is shared, so one enrollment serves every variant.
kconf() {
	local d=$1 dbd=$2
	shift 2
	mkdir -p "$d/cache"
	chmod 700 "$d/cache"
	cat > "$d/kztoken.conf" <<CONF
[kztoken]
timeout = 3
connect_timeout = 2
cache_dir = $d/cache
store_dir = $work/store
denylist_file = $d/denylist

[provider kz]
issuer = $KZ_IDP_URL
validation = tokeninfo
tokeninfo_url = $KZ_IDP_URL/kaizala/api/v1/users/me
tokeninfo_header = accessToken
token_url = $KZ_IDP_URL/kaizala/token
token_style = kaizala
client_id = host-fleet
client_secret_file = $KZ_IDP_DIR/client_secret
ca_file = $KZ_IDP_DIR/ca.pem
username_claim = mobileNumber
user_map_file = $work/users.map

[nss]
enrollment = dir
directory_style = kaizala
db_dir = $dbd
CONF
	local line
	for line in "$@"; do printf '%s\n' "$line" >> "$d/kztoken.conf"; done
	chmod 600 "$d/kztoken.conf"
}
mkdir -p "$work/store" && chmod 700 "$work/store"
printf '# mobile number -> local user\n%s alice\n%s bob\n' "$(mobile alice)" "$(mobile bob)" > "$work/users.map"
kconf "$work/c" "$db" "groups = ops-admins, devs"
conf=$work/c/kztoken.conf
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log KZTOKEN_NSS_DIR=$db
printf 'root:x:0:0:root:/root:/bin/bash\ncarol:x:1000:1000::/home/carol:/bin/sh\n' > "$work/passwd"
printf 'root:x:0:\nstaff:x:50:\n' > "$work/group"
export KZTOKEN_PASSWD_FILE=$work/passwd KZTOKEN_GROUP_FILE=$work/group

kz() { o=$("$KZ" "$@" 2>&1); rc=$?; }
ge() { LD_LIBRARY_PATH=$work/lib getent -s kztoken "$@"; }
seen() { idp GET /test/kaizala_dir | /usr/bin/python3 -c 'import json, sys
for s in json.load(sys.stdin)["seen"]: print(s["host"], s["path"], s["token"])'; }

rt=$(idp refresh '{"username":"svc-dir","group":"ops-admins"}')
printf '%s\n' "$rt" | "$KZ" enroll dir --provider kz --group ops-admins >/dev/null 2>&1
t_check "enroll the directory reader at the Kaizala token service" 0 "$?"
grep -q "^endpoint_url $KZ_IDP_URL/kaizala/api\$" "$work/store/dir.enr" && t_pass "the enrollment keeps endpointUrl" || t_fail "endpoint_url in the store" "$(grep endpoint "$work/store/dir.enr")"

# ---- first sync: the API base is the enrollment's endpointUrl ----
kz sync
t_check "sync with directory_style = kaizala exits 0" 0 "$rc"
[[ $o == *"2 users, 2 groups, 0 left out"* ]] && t_pass "sync reports 2 users, 2 groups" || t_fail "sync report" "$o"
t_check "the requests went to endpointUrl/v1/..." \
	"/kaizala/api/v1/groups /kaizala/api/v1/groups/$(group_id devs)/members /kaizala/api/v1/groups/$(group_id ops-admins)/members" \
	"$(seen | awk '{print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"
t_check "every request carried the accessToken header" "" "$(seen | awk '$3 != "True"')"
IFS=: read -r n _ uid gid _ home shell <<<"$(ge passwd alice)"
t_check "getent passwd alice (mobile number mapped to the local name)" alice "$n"
t_check "alice's uid derives from issuer + member id" "$(nss_id "$KZ_IDP_URL" user "$(member_id alice)")" "$uid"
t_check "her private group is the uid" "$uid" "$gid"
t_check "home from [nss] home" /home/alice "$home"
t_check "getent passwd bob" bob "$(ge passwd bob | cut -d: -f1)"
t_check "getent group ops-admins: its members" alice "$(ge group ops-admins | cut -d: -f4)"
t_check "getent group devs: its members" "alice,bob" "$(ge group devs | cut -d: -f4)"
t_check "the gid of devs derives from issuer + groupId" "$(nss_id "$KZ_IDP_URL" group "$(group_id devs)")" "$(ge group devs | cut -d: -f3)"
ig=$(ge initgroups alice)
[[ " $ig " == *" $(ge group ops-admins | cut -d: -f3) "* && " $ig " == *" $(ge group devs | cut -d: -f3) "* ]] && t_pass "initgroups alice: both groups" || t_fail "initgroups" "$ig"
ge passwd svc-dir >/dev/null; t_check "the enrolled reader is no user (in no group)" 2 "$?"

# ---- the name is the one PAM binds: a login by token says the same ----
tok=$(idp opaque '{"username":"alice"}')
printf '%s' "$tok" | "$KZ" check --user alice >/dev/null 2>&1
t_check "a token of alice binds alice through tokeninfo (mobileNumber, map)" 0 "$?"
printf '%s' "$tok" | "$KZ" check --user bob >/dev/null 2>&1
t_check "and not bob" 1 "$?"

# ---- a member that maps to no usable name, one not provisioned ----
first=$( { ge passwd; ge group; } )
idp POST /test/membership '{"group":"devs","user":"dave"}' >/dev/null
idp POST /test/kaizala_dir '{"member":{"user":"bob","set":{"isProvisioned":false}}}' >/dev/null
kz sync
t_check "sync with an unmapped member exits 0" 0 "$rc"
[[ $o == *"1 users, 2 groups, 1 left out"* ]] && t_pass "1 user, 1 left out" || t_fail "report" "$o"
[[ $o == *"left out user $(mobile dave)"* ]] && t_pass "the unmapped member is reported" || t_fail "unmapped report" "$o"
grep -q "left out user $(mobile dave)" "$work/log" && t_pass "and logged" || t_fail "not logged"
[[ $o == *"left out user $(mobile dave): maps to nothing usable"* ]] && t_pass "as a name that maps to nothing usable, not as a local account" || t_fail "unmapped reason" "$o"
t_check "what is served: alice alone" "alice" "$(ge passwd | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
t_check "devs lists alice alone (bob not provisioned, dave unmapped)" alice "$(ge group devs | cut -d: -f4)"
idp POST /test/membership '{"group":"devs","user":"dave","member":false}' >/dev/null
idp POST /test/kaizala_dir '{"reset":true}' >/dev/null
kz sync
t_check "back to alice and bob" "alice bob" "$(ge passwd | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
t_check "the same entries and IDs as the first sync" "$first" "$( { ge passwd; ge group; } )"

# ---- groups: by groupId; a name two groups share; a name no group has ----
kconf "$work/c2" "$work/nss2" "groups = $(group_id devs)"
kz sync --config "$work/c2/kztoken.conf"
t_check "groups = a groupId: sync exits 0" 0 "$rc"
t_check "the group is served under its groupName" "alice,bob" "$(KZTOKEN_NSS_DIR=$work/nss2 ge group devs | cut -d: -f4)"
idp POST /test/kaizala_dir '{"group":{"groupId":"0badc0de-0000-4000-8000-000000000001@1","groupName":"ops-admins","members":["bob"]}}' >/dev/null
kz sync
t_check "a name two groups have: sync exits 0" 0 "$rc"
[[ $o == *"left out group ops-admins: collides"* ]] && t_pass "both groups of that name are left out" || t_fail "duplicate report" "$o"
ge group ops-admins >/dev/null; t_check "getent group ops-admins finds nothing" 2 "$?"
t_check "their members are still users" "alice bob" "$(ge passwd | cut -d: -f1 | tr '\n' ' ' | sed 's/ $//')"
kconf "$work/c3" "$work/nss3" "groups = $(group_id ops-admins), devs"
kz sync --config "$work/c3/kztoken.conf"
t_check "the groupId picks one of the two" alice "$(KZTOKEN_NSS_DIR=$work/nss3 ge group ops-admins | cut -d: -f4)"
idp POST /test/kaizala_dir '{"reset":true}' >/dev/null
kconf "$work/c4" "$work/nss4" "groups = devs, no-such-group"
kz sync --config "$work/c4/kztoken.conf"
t_check "one configured group missing: sync exits 0" 0 "$rc"
t_check "the other is served" "alice,bob" "$(KZTOKEN_NSS_DIR=$work/nss4 ge group devs | cut -d: -f4)"
[[ $o == *"left out group no-such-group: not found in the directory"* ]] && t_pass "the missing group is reported" || t_fail "missing group report" "$o"
grep -q "left out group no-such-group: not found in the directory" "$work/log" && t_pass "and logged" || t_fail "missing group log"
kz sync
cp "$db/kztoken.db" "$work/db.2"
kconf "$work/c5" "$db" "groups = no-such-group"
kz sync --config "$work/c5/kztoken.conf"
t_check "none of the groups there: sync exits 3" 3 "$rc"
cmp -s "$db/kztoken.db" "$work/db.2" && t_pass "and the database is kept" || t_fail "database replaced"

# ---- the directory down or hostile: the database stays ----
fault_kept() {	# NAME: sync must exit 3 and leave the database as it was
	kz sync
	t_check "$1: sync exits 3" 3 "$rc"
	cmp -s "$db/kztoken.db" "$work/db.2" && t_pass "$1: database unchanged" || t_fail "$1: database changed"
	t_check "$1: alice still resolves" alice "$(ge passwd alice | cut -d: -f1)"
}
for f in 500 badjson wrongtypes; do
	idp POST /test/fault "{\"mode\":\"$f\",\"paths\":[\"/kaizala/api/v1\"]}" >/dev/null
	fault_kept "fault $f"
	idp POST /test/fault '{"mode":"none"}' >/dev/null
done
idp POST /test/fault "{\"mode\":\"500\",\"paths\":[\"/kaizala/api/v1/groups/$(group_id ops-admins)\"]}" >/dev/null
fault_kept "one group's members fail"
idp POST /test/fault '{"mode":"none"}' >/dev/null
idp POST /test/kaizala_dir '{"fail":401}' >/dev/null
fault_kept "401 (even after a fresh token)"
[[ $o == *"refused the token of enrollment dir"* ]] && t_pass "401: says the token was refused" || t_fail "401 message" "$o"
idp POST /test/kaizala_dir '{"fail":null}' >/dev/null
idp POST /test/kaizala_dir '{"member":{"user":"bob","set":{"id":5}}}' >/dev/null
fault_kept "a member id that is a number"
idp POST /test/kaizala_dir '{"member":{"user":"bob","set":{"isProvisioned":"yes"}}}' >/dev/null
fault_kept "isProvisioned a string"
idp POST /test/kaizala_dir '{"member":{"user":"bob","set":{"mobileNumber":["+1"]}}}' >/dev/null
fault_kept "the name field (mobileNumber) an array"
idp POST /test/kaizala_dir '{"reset":true}' >/dev/null

# ---- 308: followed once on the same host, refused elsewhere ----
idp POST /test/kaizala_dir '{"move":"same"}' >/dev/null
kz sync
t_check "a 308 to the same host: sync exits 0" 0 "$rc"
seen | grep -q "^127.0.0.1:[0-9]* /kaizala/api2/v1/groups True\$" && t_pass "the request was repeated at the Location" || t_fail "same-host move" "$(seen)"
cp "$db/kztoken.db" "$work/db.2"
idp POST /test/kaizala_dir '{"clear_seen":true,"move":"foreign"}' >/dev/null
fault_kept "a 308 to another host"
t_check "nothing was sent to the other host" "" "$(seen | grep '^localhost')"
grep -q "answered 308 to a host that is neither" "$work/log" && t_pass "the refused move is logged" || t_fail "move log"

# ---- directory_url, when set, is the API base ----
kconf "$work/c6" "$work/nss6" "groups = devs" "directory_url = $KZ_IDP_URL/kaizala/api2/"
idp POST /test/kaizala_dir '{"clear_seen":true}' >/dev/null
kz sync --config "$work/c6/kztoken.conf"
t_check "directory_url: sync exits 0" 0 "$rc"
t_check "and every request went there" "" "$(seen | grep -v ' /kaizala/api2/v1/')"
kconf "$work/c7" "$work/nss7" "groups = devs" "directory_url = http://example.com/kaizala"
kz sync --config "$work/c7/kztoken.conf"
t_check "a plain-http directory_url is refused (exit 4)" 4 "$rc"

# ---- an endpointUrl kept with the enrollment but off token_url's site ----
cp "$work/store/dir.enr" "$work/dir.enr.good"
foreign=$(sed 's#://127.0.0.1:#://localhost:#' <<<"$KZ_IDP_URL")
sed -i "s#^endpoint_url .*#endpoint_url $foreign/kaizala/api#" "$work/store/dir.enr"
idp POST /test/kaizala_dir '{"clear_seen":true}' >/dev/null
kz sync
t_check "a stored endpointUrl on another host: sync exits 4" 4 "$rc"
[[ $o == *"endpointUrl is on neither token_url's host nor one of allowed_hosts"* ]] && t_pass "and says why" || t_fail "foreign endpointUrl message" "$o"
t_check "nothing was sent there" "" "$(seen)"
cp "$work/dir.enr.good" "$work/store/dir.enr"

# ---- review findings ----
# "LOCAL=groupId": the local name is the config's, whatever Kaizala calls it
idp POST /test/kaizala_dir '{"reset":true,"group":{"groupId":"0badc0de-0000-4000-8000-0000000000d0@1","groupName":"docker","members":["alice"]}}' >/dev/null
kconf "$work/c8" "$work/nss8" "groups = ops-local=0badc0de-0000-4000-8000-0000000000d0@1"
kz sync --config "$work/c8/kztoken.conf"
t_check "groups = LOCAL=groupId: sync exits 0" 0 "$rc"
t_check "the group is served under the configured name" alice "$(KZTOKEN_NSS_DIR=$work/nss8 ge group ops-local | cut -d: -f4)"
KZTOKEN_NSS_DIR=$work/nss8 ge group docker >/dev/null; t_check "and not under the directory's name" 2 "$?"
kconf "$work/c9" "$work/nss9" "groups = ops-local=0badc0de-ffff-4000-8000-0000000000d0@1"
kz sync --config "$work/c9/kztoken.conf"
t_check "LOCAL=groupId with no such group: none there, exit 3" 3 "$rc"

# a groupId ".." would make {base}/v1/groups/../members a request for {base}/v1/members
kz sync
cp "$db/kztoken.db" "$work/db.3"
idp POST /test/kaizala_dir '{"reset":true,"clear_seen":true,"group":{"groupId":"..","groupName":"devs2","members":["bob"]}}' >/dev/null
kz sync
t_check "a groupId of '..': sync exits 3" 3 "$rc"
cmp -s "$db/kztoken.db" "$work/db.3" && t_pass "and the database is kept" || t_fail "database replaced"
t_check "no request left /v1/groups" "" "$(seen | awk '$2 != "/kaizala/api/v1/groups"')"

# a member name with control bytes: one clean line in the refused file
idp POST /test/kaizala_dir '{"reset":true,"member":{"user":"bob","set":{"mobileNumber":"x\u001b]0;pwned\u0007\nuser root: forged"}}}' >/dev/null
kz sync
t_check "a member name with control bytes: sync exits 0" 0 "$rc"
[ "$(wc -l < "$db/refused")" -eq 1 ] && t_pass "the refused file has one line for it" || t_fail "refused lines" "$(cat -v "$db/refused")"
grep -q $'\x1b' "$db/refused" && t_fail "an escape byte reached the refused file" || t_pass "no escape byte in the refused file"
idp POST /test/kaizala_dir '{"reset":true}' >/dev/null
kz sync

# ---- secrets ----
at=$(sed -n 's/^access_token //p' "$work/store/dir.enr")
if [ -n "$at" ] && ! grep -qF "$at" "$work/log" "$db"/* 2>/dev/null; then
	t_pass "the access token is in no log or database file"
else
	t_fail "access token leaked (or none stored)"
fi
t_done
