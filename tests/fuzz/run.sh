#!/bin/bash
# tests/fuzz/run.sh - `make fuzz`: builds the libFuzzer targets (clang,
# -fsanitize=fuzzer,address,undefined, the libkzauth sources compiled into
# each) and runs each for SECONDS (default 60), two at a time, from the
# seed corpus in tests/fuzz/corpus/TARGET/.  Any crash, leak, sanitizer
# report or timeout fails the target; the reproducer is kept in
# build/fuzz/artifacts/.  Ends with "N passed, N failed".
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -u
secs=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
KZ_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$KZ_ROOT" || exit 1
out=$KZ_ROOT/build/fuzz
all_targets="token jwks provider config store http parsers nssdb json"
targets=${*:-$all_targets}

CC=${FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1 ||
   ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		echo "fuzz: installing clang and libclang-rt-14-dev" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q clang libclang-rt-14-dev >/dev/null || exit 1
	else
		echo "fuzz: needs clang and libclang-rt-14-dev" >&2; exit 1
	fi
fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CFL="-std=c11 -g -O1 -D_GNU_SOURCE -Ilibkzauth -Itests/fuzz -Wall -Wno-unused-parameter"
mkdir -p "$out/obj" "$out/artifacts"
# libkzauth once, instrumented for coverage; http.c twice (real kz_http_do
# renamed away for the targets that fake the provider).
for src in libkzauth/*/*.c; do
	o=$out/obj/$(basename "$src" .c).o
	if [ ! -e "$o" ] || [ "$src" -nt "$o" ] || [ libkzauth/internal.h -nt "$o" ] ||
	    [ nss_kztoken/kzdb.c -nt "$o" ]; then
		$CC $CFL $SAN -fsanitize=fuzzer-no-link -c -o "$o" "$src" || exit 1
	fi
done
$CC $CFL $SAN -fsanitize=fuzzer-no-link -Dkz_http_do=kz_http_do_real \
	-c -o "$out/obj/http_renamed.o" libkzauth/base/http.c || exit 1
lib_real=$(ls "$out"/obj/*.o | grep -v -e http_renamed.o)
lib_fake=$(ls "$out"/obj/*.o | grep -v -e '/http.o$')
LIBS="-ljansson -lcrypto -linih -ldl -pthread"
for t in $targets; do
	case $t in
	provider) objs="$lib_fake tests/fuzz/fake_http.c" ;;
	*) objs=$lib_real ;;
	esac
	$CC $CFL $SAN -fsanitize=fuzzer -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" \
		$objs $LIBS || { echo "fuzz: building fuzz_$t failed"; exit 1; }
done

export KZ_FUZZ_KEYS=$KZ_ROOT/tests/fuzz/keys.jwks
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
work=$(mktemp -d /tmp/kztoken-fuzzrun.XXXXXX)
trap 'rm -rf "$work"' EXIT
export KZ_FUZZ_TMP=$work

run_one() {	# target -> writes $work/$t.rc and $work/$t.log
	local t=$1 corpus=$work/corpus-$1
	mkdir -p "$corpus"
	# libFuzzer adds new inputs to the first directory: a scratch copy,
	# so the committed seeds stay small.
	"$out/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=20000 -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/$t-" "$corpus" \
		"tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1
	echo $? > "$work/$t.rc"
}

# two at a time, on the two cores
set -- $targets
while [ $# -gt 0 ]; do
	run_one "$1" & p1=$!
	p2=
	if [ $# -gt 1 ]; then run_one "$2" & p2=$!; fi
	wait $p1 ${p2:+$p2}
	shift; [ $# -gt 0 ] && shift
done

passed=0 failed=0
for t in $targets; do
	rc=$(cat "$work/$t.rc" 2>/dev/null || echo 99)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1)
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		echo "ok - fuzz_$t: ${execs:-?} runs in ${secs}s, $cov"
	else
		failed=$((failed + 1))
		echo "not ok - fuzz_$t: exit $rc; log tail:"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^    #[0-9]' "$work/$t.log" | head -30
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
