#!/bin/bash
# tests/run.sh - runs every test of `make check` and ends with one line
# "N passed, N failed".  It starts the test identity provider once, runs
# the cmocka suites (printing their summaries), the shell suites, then the
# cmocka suites again under ASan+UBSan.
#
#   tests/run.sh [--only unit|shell|asan]...   (default: all)
set -u
KZ_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export KZ_ROOT KZ_BUILD=${KZ_BUILD:-$KZ_ROOT/build}
only=()
while [ $# -gt 0 ]; do
	case $1 in
	--only) only+=("$2"); shift 2 ;;
	*) echo "usage: $0 [--only unit|shell|asan]..." >&2; exit 4 ;;
	esac
done
want() { [ ${#only[@]} -eq 0 ] && return 0; local o; for o in "${only[@]}"; do [ "$o" = "$1" ] && return 0; done; return 1; }

passed=0 failed=0 skipped=0
work=$(mktemp -d /tmp/kztoken-test.XXXXXX)
chmod 755 "$work"
export KZ_IDP_DIR=$work/idp
cleanup() {
	bash "$KZ_ROOT/tests/idp/stop.sh" "$KZ_IDP_DIR" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

if ! KZ_IDP_URL=$(bash "$KZ_ROOT/tests/idp/start.sh" "$KZ_IDP_DIR"); then
	echo "could not start the test identity provider:" >&2
	cat "$KZ_IDP_DIR/idp.log" >&2 2>/dev/null
	echo "0 passed, 1 failed"
	exit 1
fi
export KZ_IDP_URL
# Every audit and debug line of every test lands here too (suites may
# point it elsewhere); at the end it must hold no token text.
export KZTOKEN_LOG_FILE=${KZTOKEN_LOG_FILE:-$work/audit.log}
# Suites make hundreds of uncached decisions a minute; the rate limit of
# unknown tokens has suites of its own (test_ratelimit), which unset this.
export KZTOKEN_RATELIMIT=off

# Counts a cmocka run from its own summary lines.
run_cmocka() {	# label binary
	local out rc p f s
	out=$("$2" 2>&1); rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
	s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	# a crash prints no summary: count it as a failure
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "$1: exited $rc without a failure summary"; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_shell() {	# script
	local out rc line
	out=$(bash "$1" 2>&1 </dev/null); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep '^# RESULT ' | tail -1)
	if [ -z "$line" ]; then
		echo "$1: exited $rc without a RESULT line"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + $(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$line")))
	failed=$((failed + $(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$line")))
	skipped=$((skipped + $(sed 's/.*skipped=\([0-9]*\).*/\1/' <<<"$line")))
	if [ "$rc" -ne 0 ] && ! grep -q 'failed=[1-9]' <<<"$line"; then
		echo "$1: exited $rc"; failed=$((failed + 1))
	fi
}

if want unit; then
	echo "== cmocka suites"
	for t in "$KZ_BUILD"/tests/test_*; do
		[ -x "$t" ] && run_cmocka "$(basename "$t")" "$t"
	done
fi
if want shell; then
	for dir in sh cli faults pam security nss e2e interop load deb; do
		for t in "$KZ_ROOT"/tests/$dir/test_*.sh; do
			[ -f "$t" ] || continue
			echo "== $dir/$(basename "$t")"
			run_shell "$t"
		done
	done
fi
if want asan; then
	echo "== cmocka suites under ASan+UBSan"
	if make -C "$KZ_ROOT" --no-print-directory -s check-asan >"$work/asan-build.log" 2>&1; then
		for t in "$KZ_ROOT"/build-asan/tests/test_*; do
			[ -x "$t" ] && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			    KZ_BUILD=$KZ_ROOT/build-asan run_cmocka "asan/$(basename "$t")" "$t"
		done
	else
		cat "$work/asan-build.log"; failed=$((failed + 1))
	fi
fi

# JWTs start with eyJ; opaque tokens are long base64url runs.  SHA-256
# digests (lowercase hex) are the only long runs allowed, besides the sub=
# of an audit line: an identity, not a token (wazo-auth's are UUIDs, as
# its tokens are, so only that field is set aside).
echo "== no token text in the captured log lines"
if [ -s "$KZTOKEN_LOG_FILE" ]; then
	leaks=$(sed 's/ sub=[^ ]*//g' "$KZTOKEN_LOG_FILE" | grep -oE '[A-Za-z0-9_-]{32,}' |
	    grep -vE '^[0-9a-f]+$' | head -3)
	if [ -z "$leaks" ] && ! grep -q 'eyJ' "$KZTOKEN_LOG_FILE"; then
		echo "ok - $(wc -l < "$KZTOKEN_LOG_FILE") log lines, no token text"
		passed=$((passed + 1))
	else
		echo "not ok - token-like text in the log: $(cut -c1-12 <<<"$leaks" | tr '\n' ' ')..."
		failed=$((failed + 1))
	fi
else
	echo "not ok - no log lines were captured"; failed=$((failed + 1))
fi

echo
echo "skipped: $skipped (never counted as passed)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
