#!/bin/bash
# packaging/deb/build.sh - builds the kztoken binary packages into build/deb/
# ("make deb").  dpkg-buildpackage wants debian/ at the top of a source
# tree, and the working tree must not be touched (others build in build/),
# so we assemble a clean copy in a temporary directory, with
# packaging/deb/debian as its debian/, build there and copy the .deb back.
#
#   packaging/deb/build.sh [--if-stale]
#
# --if-stale: do nothing when build/deb/ holds packages newer than every
# source file (the test suite uses it to build at most once).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/deb
cd "$root"

# The files that make up the source: tracked and new (not ignored) ones,
# as they are in the working tree now; never build output.
source_files() {
	if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$root" ls-files -z --cached --others --exclude-standard
	else
		find . -path ./build -prune -o -path ./build-asan -prune -o \
		    -name node_modules -prune -o -name .git -prune -o \
		    -type f -printf '%P\0'
	fi | while IFS= read -r -d '' f; do
		case $f in
		build/*|build-asan/*|*/node_modules/*|node_modules/*) continue ;;
		esac
		[ -f "$f" ] && printf '%s\0' "$f"
	done
}

# The files that go into the package (tests and docs do not).
package_inputs() {
	source_files | while IFS= read -r -d '' f; do
		case $f in
		Makefile|LICENSE|libkzauth/*|pam_kztoken/*|nss_kztoken/*|tools/*|man/*|systemd/*|packaging/*)
			printf '%s\0' "$f" ;;
		esac
	done
}

# Succeeds, naming it, when a file on stdin is newer than $1.
newer_than() {
	local f
	while IFS= read -r -d '' f; do
		if [ "$f" -nt "$1" ]; then
			echo "build.sh: $f is newer than $(basename "$1"): rebuilding"
			return 0
		fi
	done
	return 1
}

if [ "${1:-}" = --if-stale ]; then
	newest=$(ls -t "$out"/kztoken_*.deb 2>/dev/null | head -n1 || true)
	if [ -n "$newest" ] && ! package_inputs | newer_than "$newest" &&
	    [ "$(package_inputs | sha256sum)" = "$(cat "$out/inputs" 2>/dev/null)" ]; then
		echo "build/deb is up to date: $(basename "$newest")"
		exit 0
	fi
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--if-stale]" >&2
	exit 4
fi

# Tools and build dependencies, installed only when missing (root only).
need_pkgs() {
	local p missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "build.sh: missing packages:$missing; as root: apt-get install$missing" >&2
		exit 1
	fi
	echo "build.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
need_pkgs dpkg-dev debhelper fakeroot lintian
build_deps=$(dpkg-checkbuilddeps packaging/deb/debian/control 2>&1 |
    sed -n 's/.*Unmet build dependencies: //p' |
    sed 's/([^)]*)//g; s/|[^ ]*//g') || true
# shellcheck disable=SC2086
[ -n "$build_deps" ] && need_pkgs $build_deps

tmp=$(mktemp -d /tmp/kztoken-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/kztoken"
# The packages carry the time of this copy, so that a file edited during
# the build still counts as newer (--if-stale).
touch "$tmp/stamp"
package_inputs | sha256sum > "$tmp/inputs"
source_files | tar -C "$root" --null -T - -cf - | tar -C "$tmp/kztoken" -xf -
rm -rf "$tmp/kztoken/debian"
cp -a packaging/deb/debian "$tmp/kztoken/debian"

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc)}
if ! (cd "$tmp/kztoken" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	cat "$tmp/build.log" >&2
	echo "build.sh: dpkg-buildpackage failed" >&2
	exit 1
fi
grep -E '^dpkg-deb: building package' "$tmp/build.log" || true

# Replace the packages of an earlier build as one step, so a reader never
# sees a mix of two builds.
mkdir -p "$root/build"
stage=$(mktemp -d "$root/build/.deb.XXXXXX")
cp "$tmp"/*.deb "$tmp/build.log" "$stage/"
touch -r "$tmp/stamp" "$stage"/*.deb
cat "$tmp/inputs" > "$stage/inputs"	# a file added or removed also rebuilds
chmod 755 "$stage"
rm -rf "$out.old"
[ -d "$out" ] && mv "$out" "$out.old"
mv "$stage" "$out"
rm -rf "$out.old"
ls -1 "$out"/*.deb
