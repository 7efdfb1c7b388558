#!/bin/bash
# run.sh - what `make interop` runs: the interoperability suite against
# node-oidc-provider alone (it starts its own provider; the test IdP of
# tests/run.sh is not needed).  Prints the suite's lines, then
# "N passed, N failed"; exits non-zero when a case failed, when the suite
# died without its RESULT line, or when nothing ran at all (no node/npm):
# asking for interop and proving nothing is a failure.
set -u
KZ_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export KZ_ROOT KZ_BUILD=${KZ_BUILD:-$KZ_ROOT/build}
for f in kztoken pam_kztoken.so libkzauth.so.0; do
	if [ ! -e "$KZ_BUILD/$f" ]; then
		echo "run.sh: $KZ_BUILD/$f is missing: run make first" >&2
		exit 1
	fi
done
log=$(mktemp /tmp/kz-interop-run.XXXXXX)
trap 'rm -f "$log"' EXIT
bash "$KZ_ROOT/tests/interop/test_interop.sh" </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep '^# RESULT ' "$log" | tail -1)
if [ -z "$line" ]; then
	echo "test_interop.sh exited $rc without a RESULT line"
	echo "0 passed, 1 failed"
	exit 1
fi
p=$(sed 's/.*passed=\([0-9]*\).*/\1/' <<<"$line")
f=$(sed 's/.*failed=\([0-9]*\).*/\1/' <<<"$line")
s=$(sed 's/.*skipped=\([0-9]*\).*/\1/' <<<"$line")
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "test_interop.sh exited $rc"; f=1; }
echo
echo "skipped: $s (never counted as passed)"
echo "$p passed, $f failed"
[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
