#!/bin/bash
# tests/cli/test_refresh_token_file.sh - `kztoken enroll --refresh-token-file`
# reads only a regular file reached without any symbolic link, never blocks
# (a FIFO is refused at once), warns when root does not own the file, and
# names the path but never the contents in its messages.  Each refusal is
# exit 4 without a request to the token endpoint.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-rtfile.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
conf=$work/c/kztoken.conf
kz_write_config "$conf"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log
secret=$(cat "$KZ_IDP_DIR/client_secret")

token_calls() {
	idp GET /test/stats | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"].get("/token", 0))'
}
# enroll_from NAME FILE: one enrollment from FILE, at most 10 s; sets $rc, $o
enroll_from() {
	o=$(timeout 10 "$KZ" enroll "$1" --provider idp --user alice --refresh-token-file "$2" 2>&1 </dev/null)
	rc=$?
}
# refused NAME FILE PATTERN: exit 4, a message matching PATTERN that names
# the file, no secret in it, no request to the token endpoint
refused() {
	local before
	before=$(token_calls)
	enroll_from "$1" "$2"
	t_check "$1: exit 4" 4 "$rc"
	case $o in
	*"$2"*$3*) t_pass "$1: the message names the path and says why" ;;
	*) t_fail "$1: the message names the path and says why" "$o" ;;
	esac
	case $o in
	*"$secret"*|*"$rt"*) t_fail "$1: no secret in the message" ;;
	*) t_pass "$1: no secret in the message" ;;
	esac
	t_check "$1: the token endpoint was not asked" "$before" "$(token_calls)"
	[ -e "$work/c/store/$1.enr" ] && t_fail "$1: nothing stored" || t_pass "$1: nothing stored"
}

rt=$(idp refresh '{"username":"alice"}')

# A FIFO: opened non-blocking and refused, not waited on.
mkfifo "$work/fifo"
start=$(date +%s%N)
refused fifo "$work/fifo" "not a regular file"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -lt 3000 ]; then t_pass "fifo: refused promptly (${ms} ms)"; else t_fail "fifo: refused promptly" "${ms} ms"; fi

# A symlink as the last component.
printf '%s\n' "$rt" > "$work/rt"; chmod 600 "$work/rt"
ln -s "$work/rt" "$work/rt-link"
refused final-link "$work/rt-link" "symbolic link"

# A symlink in a directory part: root would read the client secret
# through a directory link a user planted, and send it to the provider.
ln -s "$KZ_IDP_DIR" "$work/dirlink"
refused dir-link "$work/dirlink/client_secret" "symbolic link"
mkdir -p "$work/a/b"
printf '%s\n' "$rt" > "$work/a/b/rt"; chmod 600 "$work/a/b/rt"
ln -s "$work/a" "$work/alink"
refused deep-dir-link "$work/alink/b/rt" "symbolic link"
refused dot-dir-link "$(cd "$work" && pwd)/alink/./b/rt" "symbolic link"

# A directory, with and without a trailing slash.
mkdir "$work/dir"
refused dir "$work/dir" "regular file"
refused dir-slash "$work/dir/" "regular file"

# Over the size cap (16 KiB).
head -c 20000 /dev/zero | tr '\0' a > "$work/big"; chmod 600 "$work/big"
refused big "$work/big" "larger than"

# A file root does not own: read, but with a warning naming the owner.
rt2=$(idp refresh '{"username":"alice"}')
printf '%s\n' "$rt2" > "$work/user-rt"; chmod 600 "$work/user-rt"
owner=$(id -u)
if [ "$owner" = 0 ]; then chown nobody "$work/user-rt"; owner=$(id -u nobody); fi
enroll_from user-owned "$work/user-rt"
t_check "user-owned: still enrolls (a warning, not an error)" 0 "$rc"
case $o in
*"warning: $work/user-rt is owned by uid $owner, not root"*) t_pass "user-owned: the warning names the file and the owner" ;;
*) t_fail "user-owned: the warning names the file and the owner" "$o" ;;
esac
case $o in *"$rt2"*) t_fail "user-owned: no secret in the output" ;; *) t_pass "user-owned: no secret in the output" ;; esac

# A good file: root's, 0600, through real directories, relative path too.
enroll_from good "$work/a/b/rt"
t_check "good file: exit 0" 0 "$rc"
if [ "$(id -u)" != 0 ]; then
	t_skip "good file: no warning" "not root: no file of ours is root's"
else
	case $o in *warning*) t_fail "good file: no warning" "$o" ;; *) t_pass "good file: no warning" ;; esac
fi
rt3=$(idp refresh '{"username":"alice"}')
printf '%s\n' "$rt3" > "$work/a/rt3"; chmod 600 "$work/a/rt3"
o=$(cd "$work/a" && timeout 10 "$KZ" enroll good2 --provider idp --user alice --refresh-token-file ./b/../rt3 2>&1 </dev/null)
t_check "good file by a relative path with ..: exit 0" 0 "$?"
refused missing "$work/nosuch" "No such file"
t_done
