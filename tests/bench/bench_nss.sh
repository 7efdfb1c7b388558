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
exit $fail
