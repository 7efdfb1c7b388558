#!/bin/sh
# Install the pinned node-oidc-provider (package-lock.json) into tests/interop/node_modules.
# Needs node (>= 18) and npm; reaches only the npm registry. Does nothing when the installed
# tree already matches the lock file.
set -eu
cd "$(dirname "$0")"
command -v node >/dev/null 2>&1 || { echo "setup.sh: node not found" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "setup.sh: npm not found" >&2; exit 1; }
if [ -f node_modules/.package-lock.json ] && [ -f node_modules/oidc-provider/package.json ] \
   && cmp -s package-lock.json node_modules/.kz-installed-lock 2>/dev/null; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json node_modules/.kz-installed-lock
