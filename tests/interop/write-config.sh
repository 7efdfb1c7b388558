#!/bin/bash
# write-config.sh STATEDIR [OUT] — write a kztoken.conf (DESIGN.md §9) that accepts the tokens
# of the provider running in STATEDIR (default OUT: STATEDIR/kztoken.conf, mode 0600). Its
# store, cache and denylist live under STATEDIR/kz/. Environment: KZ_LEEWAY (default 1, so
# that 5 s tokens really expire in the expiry test; the product default is 60),
# KZ_CACHE_TTL (default 0: the revocation tests must see the provider's answer at once).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
kz_init "$1"
S=$(cd "$KZ_STATE" && pwd)
out=${2:-$S/kztoken.conf}
mkdir -p -m 700 "$S/kz" "$S/kz/enrolled" "$S/kz/cache"
umask 077
cat > "$out.tmp" <<CONF
; kztoken configuration for node-oidc-provider at $KZ_URL (tests/interop)
[kztoken]
provider = oidc
timeout = 5
connect_timeout = 2
leeway = ${KZ_LEEWAY:-1}
store_dir = $S/kz/enrolled
cache_dir = $S/kz/cache
cache_ttl = ${KZ_CACHE_TTL:-0}
negative_cache_ttl = ${KZ_CACHE_TTL:-0}
denylist_file = $S/kz/denylist

[provider oidc]
issuer = $KZ_URL
; one audience per resource indicator that names this host (urn:kztoken:other must fail)
audience = urn:kztoken:host, urn:kztoken:host-es, urn:kztoken:host-opaque
validation = auto
algorithms = RS256, ES256
discovery = $KZ_URL/.well-known/openid-configuration
; jwks_url = $KZ_URL/jwks
introspection_url = $KZ_URL/token/introspection
revocation_url = $KZ_URL/token/revocation
; revocation_check must stay none: this provider answers {"active":false} for every JWT
revocation_check = none
token_url = $KZ_URL/token
token_style = oauth2
client_id = host-fleet
client_secret_file = $S/client_secret
ca_file = $S/ca.pem
username_claim = preferred_username
groups_claim = groups
scope_claim = scope

[service sshd]
require_scope = login

[service sudo]
require_group = ops-admins
max_token_age = 600
CONF
mv -f "$out.tmp" "$out"
echo "$out"
