#!/bin/bash
# start.sh STATEDIR — start node-oidc-provider over HTTPS on 127.0.0.1 for the interop tests.
#
# Makes (once per STATEDIR, kept across restarts): a test CA (ca.pem, ca.key), a server
# certificate for 127.0.0.1/localhost (server.pem, server.key), the signing keys (jwks.json),
# the client secrets (client_secret for host-fleet, svc_client_secret for kztoken-svc; one
# trailing newline, mode 0600). Then starts the provider in the background (pid in
# STATEDIR/pid, log in STATEDIR/provider.log), waits until discovery answers, and leaves the
# issuer URL in STATEDIR/url (e.g. https://127.0.0.1:40123, no trailing slash).
#
# Environment: KZ_PORT (default 0 = any free port), KZ_AT_TTL (access token lifetime, s,
# default 300), KZ_RT_TTL (refresh token lifetime, s, default 86400).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] || { echo "usage: $0 STATEDIR" >&2; exit 2; }
state=$1
mkdir -p "$state"
state=$(cd "$state" && pwd)
chmod 700 "$state"
umask 077

if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "start.sh: provider already running (pid $(cat "$state/pid"))" >&2
    exit 1
fi

"$here/setup.sh"

if [ ! -f "$state/ca.pem" ] || [ ! -f "$state/server.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -subj "/CN=kztoken interop test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$state/ca.key" -out "$state/ca.pem" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=127.0.0.1" -keyout "$state/server.key" -out "$state/server.csr" 2>/dev/null
    openssl x509 -req -in "$state/server.csr" -CA "$state/ca.pem" -CAkey "$state/ca.key" \
        -CAcreateserial -days 7 -out "$state/server.pem" \
        -extfile <(printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth") 2>/dev/null
    rm -f "$state/server.csr" "$state/ca.srl"
fi
[ -f "$state/jwks.json" ] || node "$here/keys.mjs" new "$state/jwks.json"
for f in client_secret svc_client_secret; do
    [ -f "$state/$f" ] || openssl rand -hex 32 > "$state/$f"
done
chmod 600 "$state"/client_secret "$state"/svc_client_secret "$state"/*.key "$state/jwks.json"

rm -f "$state/url"
cd "$here"
KZ_STATE=$state nohup node provider.mjs </dev/null >>"$state/provider.log" 2>&1 &
echo $! > "$state/pid"

# wait for the URL (written once listening), then for discovery
for _ in $(seq 200); do
    [ -s "$state/url" ] && break
    kill -0 "$(cat "$state/pid")" 2>/dev/null || { echo "start.sh: provider died; log:" >&2; tail -20 "$state/provider.log" >&2; exit 1; }
    sleep 0.05
done
[ -s "$state/url" ] || { echo "start.sh: provider did not start" >&2; exit 1; }
url=$(cat "$state/url")
for _ in $(seq 100); do
    if curl -sf --cacert "$state/ca.pem" -o /dev/null "$url/.well-known/openid-configuration"; then
        echo "$url"
        exit 0
    fi
    sleep 0.1
done
echo "start.sh: discovery did not answer at $url" >&2
exit 1
