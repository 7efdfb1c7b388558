#!/bin/bash
# tests/nss/test_threads.sh - the module under ThreadSanitizer and under
# AddressSanitizer: 16 threads look up while the database is replaced 100
# times by rename (tests/nss/nss_threads.c).  A data race, a use after
# unmap or a torn answer fails the suite.
. "$(dirname "$0")/../lib.sh"

work=$(mktemp -d /tmp/kz-nss-threads.XXXXXX)
trap 'rm -rf "$work"' EXIT
if ! command -v cc >/dev/null || [ ! -f "$KZ_BUILD/libkzauth_internal.a" ]; then
	t_skip "threads" "needs cc and $KZ_BUILD/libkzauth_internal.a (make check builds it)"
	t_done; exit
fi
cc -std=c11 -D_GNU_SOURCE -I"$KZ_ROOT/libkzauth" -o "$work/mkdb" "$KZ_ROOT/tests/nss/mkdb.c" \
    "$KZ_BUILD/libkzauth_internal.a" -ljansson -lcrypto -linih -lcurl 2>"$work/cc.log" ||
    { t_fail "build mkdb" "$(cat "$work/cc.log")"; t_done; exit; }
mkdir -p "$work/v1" "$work/v2" "$work/db"
"$work/mkdb" "$work/v1" 1 && "$work/mkdb" "$work/v2" 2 || { t_fail "write the two databases"; t_done; exit; }
for san in thread address,undefined; do
	bin=$work/nss_threads_${san%%,*}
	if ! cc -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=$san -fno-omit-frame-pointer \
	    -I"$KZ_ROOT/nss_kztoken" -o "$bin" "$KZ_ROOT/tests/nss/nss_threads.c" \
	    "$KZ_ROOT"/nss_kztoken/*.c -lpthread 2>"$work/cc.log"; then
		t_fail "build with -fsanitize=$san" "$(tail -3 "$work/cc.log")"
		continue
	fi
	out=$(TSAN_OPTIONS=halt_on_error=1:exitcode=66 ASAN_OPTIONS=detect_leaks=1 \
	    timeout 120 "$bin" "$work/db" "$work/v1/kztoken.db" "$work/v2/kztoken.db" 100 2>&1)
	rc=$?
	t_check "16 threads, 100 replacements, -fsanitize=$san: exit 0" 0 "$rc"
	[ "$rc" = 0 ] || printf '%s\n' "$out" | grep -E 'WARNING|ERROR|SUMMARY|wrong' | head -5 | sed 's/^/# /'
	[[ $out == *" 0 wrong"* ]] && t_pass "-fsanitize=$san: every answer a whole version ($(sed -n 's/ lookups.*//p' <<<"$out") lookups)" ||
	    t_fail "-fsanitize=$san: torn answers" "$(tail -1 <<<"$out")"
done
t_done
