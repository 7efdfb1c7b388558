#!/bin/bash
# tests/cli/test_output.sh - text a token or the provider chose (user name,
# sub, groups: escape sequences, CR, LF, BEL, DEL, C1 controls) reaches the
# admin's terminal only through the audit line's sanitiser: `kztoken check`
# in every output mode holds no raw control byte, and --json stays valid
# JSON that gives back the exact claim values through its escapes.
. "$(dirname "$0")/../lib.sh"

KZ=$KZ_BUILD/kztoken
work=$(mktemp -d /tmp/kz-cli-output.XXXXXX)
trap 'rm -rf "$work"' EXIT
conf=$work/c/kztoken.conf
kz_write_config "$conf" "[service sudo]" "require_group = ops-admins"
export KZTOKEN_CONFIG=$conf KZTOKEN_LOG_FILE=$work/log

# Bytes that would move the cursor, retitle or clear the terminal, return
# to the start of the line or start a forged line of output.
evil='ev\u001b[31mil\r\nOK reason=none fp=x\u0007\u007f\u009b2J\u0001\b'
claims="\"preferred_username\":\"$evil\",\"sub\":\"s\u001b]0;pwn\u0007\",\"groups\":[\"g\u001b[2J\",\"\r\n\",\"ops-admins\"]"
jwt=$(idp mint "{\"claims\":{$claims}}")
# the same text through the introspection answer of an opaque token
opaque=$(idp opaque "{\"username\":\"$evil\",\"sub\":\"s\u001b]0;pwn\u0007\",\"groups\":[\"g\u001b[2J\",\"\r\n\"]}")
# a good local name with hostile groups, for the policy steps
alice=$(idp mint '{"claims":{"preferred_username":"alice","groups":["x\u001b[2Jy","\r\n"]}}')

# raw_controls FILE: prints each byte below 0x20 (but LF) or above 0x7e
raw_controls() {
	/usr/bin/python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
print(" ".join("%02x" % b for b in d if (b < 0x20 and b != 0x0a) or b > 0x7e))' "$1"
}
# run NAME TOKEN ARGS...: kztoken check, stdout and stderr into $work/o
run() {
	local name=$1 tok=$2
	shift 2
	printf '%s' "$tok" | "$KZ" check "$@" > "$work/o" 2>&1
	rc=$?
	bad=$(raw_controls "$work/o")
	t_check "$name: no raw control byte in the output" "" "$bad"
}

for t in jwt opaque alice; do
	tok=${!t}
	svc=default
	[ "$t" = alice ] && svc=sudo
	run "$t plain" "$tok" --service "$svc"
	lines=$(wc -l < "$work/o")
	t_check "$t plain: one line (no forged line)" 1 "$lines"
	case $(head -c 20 "$work/o") in
	OK*|UNAUTHENTICATED*|FORBIDDEN*) t_pass "$t plain: starts with the verdict" ;;
	*) t_fail "$t plain: starts with the verdict" "$(cat "$work/o")" ;;
	esac
	run "$t --explain" "$tok" --service "$svc" --explain
	# every line: the heading, a step, the blank line, the verdict line
	odd=$(grep -cvE '^(kztoken check: |  [a-z_]+ +(pass|FAIL|info) |$|(OK|UNAUTHENTICATED|FORBIDDEN|UNAVAILABLE|ERROR) reason=)' "$work/o")
	t_check "$t --explain: every line is a step or the verdict" 0 "$odd"
	run "$t --json" "$tok" --service "$svc" --json
	run "$t --json --explain" "$tok" --service "$svc" --json --explain
	cp "$work/o" "$work/json"
	if /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/json" 2>/dev/null; then
		t_pass "$t --json --explain: valid JSON"
	else
		t_fail "$t --json --explain: valid JSON" "$(head -c 300 "$work/json")"
	fi
done

# The escapes carry the exact values: nothing lost, nothing raw.
printf '%s' "$jwt" | "$KZ" check --json > "$work/j" 2>/dev/null
got=$(/usr/bin/python3 - "$work/j" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
want = "ev\x1b[31mil\r\nOK reason=none fp=x\x07\x7f\x9b2J\x01\b"
print(o.get("user") == want, o.get("sub") == "s\x1b]0;pwn\x07",
      o.get("groups") == ["g\x1b[2J", "\r\n", "ops-admins"])
PY
)
t_check "--json gives back user, sub and groups exactly" "True True True" "$got"
printf '%s' "$opaque" | "$KZ" check --json > "$work/j" 2>/dev/null
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("groups"))' "$work/j")
t_check "--json of the introspected token: groups exactly" "['g\\x1b[2J', '\\r\\n']" "$got"

# The sanitised plain line still names the user, with '?' for each byte.
printf '%s' "$jwt" | "$KZ" check > "$work/o" 2>&1
case $(cat "$work/o") in
*"user=ev?[31mil??OK reason=none fp=x????2J??"*) t_pass "plain: the name with '?' for each control byte" ;;
*) t_fail "plain: the name with '?' for each control byte" "$(cat -v "$work/o")" ;;
esac

# list, doctor and refresh print store and provider text the same way.
rt=$(idp refresh '{"username":"alice","group":"ops-admins"}')
printf '%s\n' "$rt" | "$KZ" enroll ops --provider idp --group ops-admins > "$work/o" 2>&1
t_check "enroll exits 0" 0 "$?"
for c in "list" "list --json" "doctor" "refresh --all"; do
	# shellcheck disable=SC2086
	"$KZ" $c > "$work/o" 2>&1
	t_check "$c: no raw control byte" "" "$(raw_controls "$work/o")"
done
t_done
