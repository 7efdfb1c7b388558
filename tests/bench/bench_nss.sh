#!/bin/bash
# tests/bench/bench_nss.sh - part of `make bench`: getpwnam, getpwuid,
# getgrnam and initgroups through glibc, libnss_kztoken.so.2 against
# libnss_files on the same 1,000, 10,000 and 100,000 users, in one
# process per size.  Needs root for the private mount namespace in which
# /etc/passwd and /etc/group are the generated files (the machine's stay).
# Prints a table; exits 1 when a kztoken lookup misses the targets of
# issue 15 (10 us per lookup, 20 us for initgroups of 50 groups).
set -u
KZ_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=$KZ_ROOT/build
cd "$KZ_ROOT" || exit 1
[ "$(id -u)" = 0 ] || { echo "bench_nss: needs root (unshare -m)"; exit 1; }
make -s all "$B/libkzauth_internal.a" || exit 1
work=$(mktemp -d /tmp/kztoken-bench-nss.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cc -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror -Ilibkzauth -o "$work/bench_nss" \
	tests/bench/bench_nss.c "$B/libkzauth_internal.a" -ljansson -lcrypto -linih || exit 1
mkdir -p "$work/lib"
cp "$B/libnss_kztoken.so.2" "$work/lib/"
echo "| users | lookup | libnss_files us | libnss_kztoken us | ratio |"
echo "|---:|---|---:|---:|---:|"
fail=0
for n in 1000 10000 100000; do
	d=$work/$n
	mkdir -p "$d"
	"$work/bench_nss" gen "$n" "$d" || exit 1
	out=$(unshare -m --propagation private bash -c '
		mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group &&
		KZTOKEN_NSS_DIR=$1/nss LD_LIBRARY_PATH=$2 "$3" run "$4"' _ "$d" "$work/lib" "$work/bench_nss" "$n") || exit 1
	printf '%s\n' "$out"
	echo "| $n | database file, kB (mapped, shared between processes) | | $(( $(stat -c %s "$d/nss/kztoken.db") / 1024 )) | |"
	while IFS='|' read -r _ users what files kz _; do
		what=$(echo $what); kz=$(echo $kz)
		case $what in RSS*|"") continue ;; esac
		lim=10; [[ $what == initgroups* ]] && lim=20
		awk -v v="$kz" -v l="$lim" 'BEGIN { exit !(v > l) }' &&
		    { echo "bench_nss: $what at $users users: $kz us > $lim us"; fail=1; }
	done <<<"$out"
done

# kztoken sync of 100,000 users from the test IdP's SCIM directory, twice:
# the second time with nothing changed (only conditional requests).
. "$KZ_ROOT/tests/lib.sh"
export KZ_IDP_DIR=$work/idp
KZ_IDP_URL=$(bash "$KZ_ROOT/tests/idp/start.sh" "$KZ_IDP_DIR") || exit 1
export KZ_IDP_URL
trap 'bash "$KZ_ROOT/tests/idp/stop.sh" "$KZ_IDP_DIR" >/dev/null 2>&1; rm -rf "$work"' EXIT
idp POST /test/scim '{"page_max":500,"generate":{"group":"bench","n":100000,"prefix":"b"},"freeze":true}' >/dev/null
c=$work/sync/kztoken.conf
kz_write_config "$c" "[nss]" "enrollment = dir" "directory_url = $KZ_IDP_URL/scim/v2" \
	"groups = bench" "db_dir = $work/sync/nss"
sed -i 's/^timeout = .*/timeout = 120/' "$c"
idp refresh '{"username":"svc","group":"bench"}' |
	"$B/kztoken" --config "$c" enroll dir --provider idp --group bench >/dev/null || exit 1
echo
echo "| kztoken sync, 100,000 users (SCIM, pages of 500) | requests | not modified (304) | bytes received | seconds |"
echo "|---|---:|---:|---:|---:|"
for run in first "second, nothing changed"; do
	t0=$(date +%s.%N)
	out=$(KZTOKEN_LOG_FILE=$work/sync/log "$B/kztoken" --config "$c" sync 2>&1) || { echo "$out"; exit 1; }
	t1=$(date +%s.%N)
	[[ $out =~ \(([0-9]+)\ requests,\ ([0-9]+)\ not\ modified,\ ([0-9]+)\ bytes ]] || { echo "$out"; exit 1; }
	printf '| %s | %s | %s | %s | %.1f |\n' "$run" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" \
	    "${BASH_REMATCH[3]}" "$(echo "$t1 - $t0" | bc)"
done
exit $fail
