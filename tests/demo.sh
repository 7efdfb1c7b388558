#!/bin/bash
# tests/demo.sh - `make demo`: three token logins through the real
# pam_kztoken.so, on this machine, touching nothing under /etc.
#
# It starts the test identity provider on loopback in a temp dir, writes a
# kztoken config there, and runs pamtester under pam_wrapper (PAM service
# files in the temp dir) three times: a valid token for sshd (accepted), an
# expired one (refused, 401) and a valid token for sudo from a user who is
# not in the admin group (refused, 403).  It prints what happened, the PAM
# result and the audit lines, then stops the provider.  Needs no stdin;
# runs as root or not.  Exit 0 when all three went as expected.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${KZ_BUILD:-$ROOT/build}
MOD=$B/pam_kztoken.so
WRAP=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so

for f in "$MOD" "$WRAP" /usr/bin/pamtester /usr/bin/python3; do
	if [ ! -e "$f" ]; then
		echo "demo: missing $f (run: make demo, which installs and builds what it needs)" >&2
		exit 1
	fi
done

if [ -t 1 ]; then BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' OFF=$'\e[0m'
else BOLD= GREEN= RED= OFF=; fi

D=$(mktemp -d /tmp/kztoken-demo.XXXXXX)
chmod 700 "$D"
cleanup() {
	bash "$ROOT/tests/idp/stop.sh" "$D/idp" >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "${BOLD}kztoken demo${OFF}: token logins through the real pam_kztoken.so"
echo "  module:   $MOD"
echo "  PAM:      pam_wrapper + pamtester, service files in $D/pam.d (nothing under /etc)"
printf '  provider: starting the test identity provider on loopback... '
if ! URL=$(bash "$ROOT/tests/idp/start.sh" "$D/idp"); then
	echo "failed"; tail -n 20 "$D/idp/idp.log" >&2; exit 1
fi
echo "$URL"

# The config: one provider (JWTs checked locally against its JWKS, opaque
# tokens by introspection); sudo needs the group ops-admins.
mkdir -m 700 "$D/cache" "$D/store" "$D/pam.d"
cat > "$D/kztoken.conf" <<EOF
[kztoken]
timeout = 5
cache_dir = $D/cache
store_dir = $D/store
denylist_file = $D/denylist

[provider demo]
issuer = $URL
audience = host-fleet
jwks_url = $URL/jwks
introspection_url = $URL/introspect
client_id = host-fleet
client_secret_file = $D/idp/client_secret
ca_file = $D/idp/ca.pem

[service sudo]
require_group = ops-admins
EOF
chmod 600 "$D/kztoken.conf"
for s in sshd sudo; do
	printf '%s\n' "auth     required $MOD config=$D/kztoken.conf" \
	    "account  required $MOD config=$D/kztoken.conf" > "$D/pam.d/$s"
done
printf '%s\n' "auth required pam_deny.so" "account required pam_deny.so" > "$D/pam.d/other"
: > "$D/audit.log"
echo "  config:   $D/kztoken.conf ([service sudo] require_group = ops-admins)"

mint() { "$ROOT/tests/idp/idpctl" "$D/idp" mint "$1"; }
fp() { printf '%s' "$1" | sha256sum | cut -c1-12; }
failures=0

# login N TITLE SERVICE USER TOKEN EXPECT(accepted|refused) WHY
login() {
	local n=$1 title=$2 svc=$3 user=$4 tok=$5 expect=$6 why=$7 out rc got lines
	echo
	echo "${BOLD}$n) $title${OFF}"
	echo "   token: ${#tok}-character JWT, fingerprint $(fp "$tok") (a token is never shown or logged)"
	echo "   \$ pamtester -v $svc $user authenticate acct_mgmt    (the token goes in at the prompt)"
	lines=$(wc -l < "$D/audit.log")
	out=$(printf '%s\n' "$tok" | env LD_PRELOAD="$WRAP" PAM_WRAPPER=1 \
	    PAM_WRAPPER_SERVICE_DIR="$D/pam.d" KZTOKEN_LOG_FILE="$D/audit.log" \
	    timeout 20 stdbuf -oL pamtester -v "$svc" "$user" authenticate acct_mgmt 2>&1)
	rc=$?
	# misc_conv echoes no newline after a hidden answer
	printf '%s\n' "$out" | sed -e 's/Access token: /Access token: \n/' | grep -v '^$' |
	    grep -v 'PWRAP_' | sed 's/^/   | /'
	if [ "$rc" -eq 0 ]; then
		got=accepted
		echo "   PAM result: authenticate PAM_SUCCESS, acct_mgmt PAM_SUCCESS -> ${GREEN}ACCEPTED${OFF}"
	else
		got=refused
		case $out in
		*"Authentication failure"*)
			echo "   PAM result: authenticate PAM_AUTH_ERR -> ${RED}REFUSED${OFF} ($why)" ;;
		*"Permission denied"*)
			echo "   PAM result: authenticate PAM_SUCCESS, acct_mgmt PAM_PERM_DENIED -> ${RED}REFUSED${OFF} ($why)" ;;
		*)
			echo "   PAM result: pamtester exit $rc -> ${RED}REFUSED${OFF}" ;;
		esac
	fi
	echo "   audit line (syslog authpriv, and KZTOKEN_LOG_FILE):"
	tail -n +$((lines + 1)) "$D/audit.log" 2>/dev/null | sed 's/^/   > /'
	if [ "$got" != "$expect" ]; then
		echo "   ${RED}UNEXPECTED${OFF}: expected $expect"
		failures=$((failures + 1))
	fi
}

tok1=$(mint '{"claims":{"preferred_username":"alice","groups":["staff"]}}')
tok2=$(mint '{"expires_in":-3600,"claims":{"preferred_username":"alice"}}')
tok3=$(mint '{"claims":{"preferred_username":"bob","groups":["staff"]}}')
if [ -z "$tok1" ] || [ -z "$tok2" ] || [ -z "$tok3" ]; then
	echo "demo: the identity provider minted no tokens" >&2; exit 1
fi

login 1 "alice logs in to sshd with a valid token" sshd alice "$tok1" accepted ""
login 2 "alice tries sshd with a token that expired an hour ago" sshd alice "$tok2" refused \
    "401: KZ_UNAUTHENTICATED, reason expired"
login 3 "bob runs sudo with a valid token, but he is not in ops-admins" sudo bob "$tok3" refused \
    "403: KZ_FORBIDDEN, reason missing_group"

echo
if grep -qF -e "$tok1" -e "$tok2" -e "$tok3" "$D/audit.log" 2>/dev/null; then
	echo "${RED}a token appeared in the audit log${OFF}"; failures=$((failures + 1))
fi
printf 'stopping the identity provider... '
bash "$ROOT/tests/idp/stop.sh" "$D/idp" >/dev/null 2>&1
echo done
if [ "$failures" -eq 0 ]; then
	echo "${GREEN}demo: all three logins went as expected${OFF}"
else
	echo "${RED}demo: $failures login(s) did not go as expected${OFF}"
	exit 1
fi
