#!/bin/bash
# Installs the Debian packages the build (and, with "test", the tests) need,
# only when some are missing.  Needs root for that; otherwise says what to run.
set -eu
build_pkgs="gcc make pkg-config libpam0g-dev libcurl4-openssl-dev libjansson-dev libjwt-dev libssl-dev libinih-dev libcmocka-dev"
test_pkgs="python3 python3-cryptography curl openssl libpam-wrapper libpamtest0-dev pamtester valgrind openssh-server openssh-client sudo sshpass util-linux procps faketime locales devscripts"
pkgs=$build_pkgs
[ "${1:-build}" = test ] && pkgs="$pkgs $test_pkgs"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages:$missing; run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Installing openssh-server must not start a daemon on the host.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 0755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
