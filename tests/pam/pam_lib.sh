# tests/pam/pam_lib.sh - the machinery the PAM-level suites share
# (tests/pam/test_pam.sh, tests/security/test_security.sh): the real
# pam_kztoken.so through libpam under pam_wrapper (service files in a temp
# dir, module lines with absolute paths) driven by libpamtest
# (tests/pam/kzpam.c, compiled here), as an unprivileged user (nobody, when
# we are root).  Touches no file under /etc.  Source it after tests/lib.sh
# and call pam_lib_init.

PAMDIR=/lib/x86_64-linux-gnu/security
PWDIR=/usr/lib/x86_64-linux-gnu/pam_wrapper

# pam_lib_init PREFIX: checks what the suite needs (or skips it and exits),
# makes the work dir $W (/tmp/PREFIX.XXXXXX, removed on exit by
# pam_lib_cleanup), snapshots the module and the command's library into $W/lib
# ($MOD), compiles $W/kzpam, and copies the IdP's CA and client secret to
# $W/idp.  Sets RUN (the prefix that drops to nobody), AUDIT and PWENV.
pam_lib_init() {
	local f
	MOD=$KZ_BUILD/pam_kztoken.so
	if [ -z "${KZ_IDP_DIR:-}" ] || [ ! -s "$KZ_IDP_DIR/url" ]; then
		t_skip "$_t_suite suite" "no test IdP (KZ_IDP_DIR); run via tests/run.sh"
		t_done; exit
	fi
	KZ_IDP_URL=${KZ_IDP_URL:-$(cat "$KZ_IDP_DIR/url")}
	for f in "$MOD" /usr/lib/x86_64-linux-gnu/libpam_wrapper.so "$PWDIR/pam_set_items.so" \
	    "$PWDIR/pam_get_items.so" /usr/include/libpamtest.h; do
		if [ ! -e "$f" ]; then
			t_skip "$_t_suite suite" "missing $f (make; apt-get install libpam-wrapper libpamtest0-dev)"
			t_done; exit
		fi
	done
	W=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$W"
	trap pam_lib_cleanup EXIT
	# A snapshot of the module (it carries the core) and of the library
	# that a suite's copy of the command finds next to it (RUNPATH
	# $ORIGIN): a rebuild of the shared build dir while we run, by
	# someone else's `make`, must not pull a file from under us.
	mkdir -p "$W/lib" "$W/idp" "$W/svc"
	cp "$KZ_BUILD/pam_kztoken.so" "$KZ_BUILD/libkzauth.so.0" "$W/lib/"
	MOD=$W/lib/pam_kztoken.so
	if ! cc -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -o "$W/kzpam" \
	    "$KZ_ROOT/tests/pam/kzpam.c" -lpamtest -lpam 2>"$W/cc.log"; then
		t_fail "compile kzpam" "$(cat "$W/cc.log")"
		t_done; exit
	fi
	# Unprivileged: as nobody when we are root; the files it reads are then its own.
	RUN=()
	if [ "$(id -u)" = 0 ]; then
		RUN=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
	fi
	# Our own copies of the IdP's CA and client secret, readable by that user.
	cp "$KZ_IDP_DIR/ca.pem" "$KZ_IDP_DIR/client_secret" "$W/idp/"
	chmod 600 "$W/idp/client_secret"
	AUDIT=$W/audit.log
	PWENV=(LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR=$W/svc
	    KZTOKEN_LOG_FILE=$AUDIT)
}

pam_lib_cleanup() {
	idp POST /test/fault '{"mode":"none"}' >/dev/null 2>&1
	rm -rf "$W"
}

# pam_lib_own: hands $W to the unprivileged user, once the files are written.
pam_lib_own() {
	[ ${#RUN[@]} -gt 0 ] && chown -R nobody:nogroup "$W"
	true
}

localize() {	# points a config at our copies of the CA and secret
	sed -i -e "s|^client_secret_file = .*|client_secret_file = $W/idp/client_secret|" \
	    -e "s|^ca_file = .*|ca_file = $W/idp/ca.pem|" "$1"
}

svc() {	# svc NAME LINE...: writes a pam_wrapper service file
	local n=$1
	shift
	printf '%s\n' "$@" > "$W/svc/$n"
}

# pam [-a FILE] SERVICE USER OP=CODE... < answers: runs one transaction;
# sets $out (conversation and result lines), $res (the result line) and
# $new (the audit lines it wrote).
pam() {
	local before
	before=$(cat "$AUDIT" 2>/dev/null | wc -l)
	out=$(timeout 30 "${RUN[@]}" env "${PWENV[@]}" "$W/kzpam" "$@" 2>>"$W/stderr")
	res=$(grep '^result:' <<<"$out")
	new=$(tail -n +$((before + 1)) "$AUDIT" 2>/dev/null)
}
has() {	# has NAME TEXT PATTERN: a fixed-string line match
	if grep -qxF -- "$3" <<<"$2"; then t_pass "$1"; else t_fail "$1" "no line '$3' in: $2"; fi
}
hasre() { # hasre NAME TEXT REGEX
	if grep -qE -- "$3" <<<"$2"; then t_pass "$1"; else t_fail "$1" "no match for /$3/ in: $2"; fi
}
fp() { printf '%s' "$1" | sha256sum | cut -c1-12; }
# The kid in a JWT's header (token on stdin): the IdP's current key may
# have been rotated by an earlier suite.
kid_of() { /usr/bin/python3 -c 'import sys, json, base64
h = sys.stdin.read().split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["kid"])'; }
