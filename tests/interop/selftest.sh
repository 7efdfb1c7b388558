#!/bin/bash
# selftest.sh — check the interop provider itself (no kztoken needed): starts a provider in a
# temporary state dir with 5 s access tokens, obtains every kind of token through the
# provider's own endpoints, and checks what NOTES.md says about them. Ends with
# "N passed, N failed"; exit status 0 only if none failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
S=$(mktemp -d /tmp/kz-interop-selftest.XXXXXX)
trap '"$here/stop.sh" "$S"; rm -rf "$S"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
nok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name"; fi; }
# claim FILE EXPR: evaluate a Python expression over the decoded token {h: header, p: payload}
claim() {
    "$KZ_PY" -c 'import json,sys
d = json.load(open(sys.argv[1])); h, p = d["header"], d["payload"]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}
jwks() { curl -sf --cacert "$S/ca.pem" "$URL/jwks" > "$S/jwks.pub.json"; }
verify() { node "$here/jwt-verify.mjs" "$S/jwks.pub.json" "$URL" "$@"; }
T=$S/t; mkdir -m 700 "$T"

start=$(date +%s%N)
KZ_AT_TTL=5 "$here/start.sh" "$S" >/dev/null || { echo "1..0 # start.sh failed"; echo "0 passed, 1 failed"; exit 1; }
URL=$(<"$S/url")
"$here/get-token.sh" "$S" alice > "$T/rs" && ok "get-token alice (RS256 JWT)" || nok "get-token alice (RS256 JWT)"
echo "# start + first token: $(( ($(date +%s%N) - start) / 1000000 )) ms"
jwks
check "discovery issuer is $URL" bash -c "curl -sf --cacert '$S/ca.pem' '$URL/.well-known/openid-configuration' | grep -q '\"issuer\":\"$URL\"'"
check "secrets are 0600 with one trailing newline" bash -c "[ \$(stat -c %a '$S/client_secret') = 600 ] && [ \$(wc -l < '$S/client_secret') = 1 ]"

"$here/jwt-decode.sh" < "$T/rs" > "$T/rs.json"
check "RS256: header typ at+jwt, alg RS256, kid rsa-g1" claim "$T/rs.json" 'h["typ"]=="at+jwt" and h["alg"]=="RS256" and h["kid"].startswith("rsa-g1-")'
check "RS256: iss, aud, exp-iat=5, sub" claim "$T/rs.json" "p['iss']=='$URL' and p['aud']=='urn:kztoken:host' and p['exp']-p['iat']==5 and p['sub']=='alice'"
check "RS256: preferred_username alice, groups [ops-admins]" claim "$T/rs.json" 'p["preferred_username"]=="alice" and p["groups"]==["ops-admins"]'
check "RS256: scope string, client_id, auth_time, jti" claim "$T/rs.json" 'p["scope"]=="login admin" and p["client_id"]=="host-fleet" and isinstance(p["auth_time"], int) and p["jti"]'
check "RS256: signature verifies (jose)" verify urn:kztoken:host RS256 < "$T/rs"
check "RS256: wrong audience refused (jose)" bash -c "! node '$here/jwt-verify.mjs' '$S/jwks.pub.json' '$URL' urn:kztoken:host-es < '$T/rs'"

"$here/get-token.sh" "$S" bob --es > "$T/es" && ok "get-token bob --es" || nok "get-token bob --es"
"$here/jwt-decode.sh" < "$T/es" > "$T/es.json"
check "ES256: alg ES256, kid ec-g1, aud host-es, groups [devs]" claim "$T/es.json" 'h["alg"]=="ES256" and h["typ"]=="at+jwt" and h["kid"].startswith("ec-g1-") and p["aud"]=="urn:kztoken:host-es" and p["groups"]==["devs"] and p["preferred_username"]=="bob"'
check "ES256: signature verifies (jose)" verify urn:kztoken:host-es ES256 < "$T/es"
check "ES256: 64-byte raw R||S signature" bash -c "[ \$(cut -d. -f3 < '$T/es' | tr -d '\n' | wc -c) = 86 ]"

"$here/get-token.sh" "$S" alice --scope login > "$T/sc"; "$here/jwt-decode.sh" < "$T/sc" > "$T/sc.json"
check "--scope login gives scope 'login'" claim "$T/sc.json" 'p["scope"]=="login"'
"$here/get-token.sh" "$S" alice --resource urn:kztoken:other > "$T/ot"; "$here/jwt-decode.sh" < "$T/ot" > "$T/ot.json"
check "resource urn:kztoken:other: aud urn:kztoken:other" claim "$T/ot.json" 'p["aud"]=="urn:kztoken:other"'

"$here/get-token.sh" "$S" bob --opaque > "$T/op" && ok "get-token bob --opaque" || nok "get-token bob --opaque"
check "opaque: 43 base64url chars, no dot" grep -qxE '[A-Za-z0-9_-]{43}' "$T/op"
"$here/introspect.sh" "$S" < "$T/op" > "$T/op.intro"
check "opaque: introspection active, sub/preferred_username bob, groups [devs], aud, scope, token_type Bearer" "$KZ_PY" -c "import json; d=json.load(open('$T/op.intro')); assert d['active'] is True and d['sub']=='bob' and d['preferred_username']=='bob' and d['groups']==['devs'] and d['aud']=='urn:kztoken:host-opaque' and d['scope']=='login admin' and d['token_type']=='Bearer' and d['iss']=='$URL' and d['exp']-d['iat']==5 and 'username' not in d"
check "opaque: introspection by the svc client too" "$here/introspect.sh" "$S" --client svc < "$T/op"
check "introspection of a JWT access token: active=false" bash -c "'$here/introspect.sh' '$S' < '$T/rs'; [ \$? = 1 ]"
cp "$S/client_secret" "$T/cs"; echo wrong > "$S/client_secret"
check "introspection with a wrong client secret: HTTP error" bash -c "'$here/introspect.sh' '$S' < '$T/op'; [ \$? = 3 ]"
cp "$T/cs" "$S/client_secret"

"$here/get-token.sh" "$S" alice --no-resource > "$T/nr"
"$here/introspect.sh" "$S" < "$T/nr" > "$T/nr.intro"
check "no resource: opaque, active, no aud, scope 'openid profile groups'" "$KZ_PY" -c "import json; d=json.load(open('$T/nr.intro')); assert d['active'] and 'aud' not in d and d['scope']=='openid profile groups'"

# refresh: rotation 20 times
"$here/get-token.sh" "$S" alice --refresh-file "$T/rt" > "$T/r0" && ok "get-token alice --refresh" || nok "get-token alice --refresh"
cp "$T/rt" "$T/rt.first"
"$here/introspect.sh" "$S" < "$T/rt" > "$T/rt.intro"
check "refresh token introspection: active, no token_type, no aud, no groups" "$KZ_PY" -c "import json; d=json.load(open('$T/rt.intro')); assert d['active'] and 'token_type' not in d and 'aud' not in d and 'groups' not in d and d['sub']=='alice'"
rot_ok=1
for i in $(seq 20); do
    prev=$(<"$T/rt")
    if ! "$here/refresh.sh" "$S" "$T/rt" > "$T/ri"; then rot_ok=0; echo "# refresh $i refused"; break; fi
    [ "$(<"$T/rt")" != "$prev" ] || { rot_ok=0; echo "# refresh $i did not rotate"; break; }
    verify urn:kztoken:host RS256 < "$T/ri" > "$T/ri.json" || { rot_ok=0; echo "# refresh $i: bad access token"; break; }
done
[ $rot_ok = 1 ] && ok "refresh rotation 20 times, each access token verifies" || nok "refresh rotation 20 times"
"$here/jwt-decode.sh" < "$T/ri" > "$T/ri.dec"
check "refreshed token keeps the original auth_time and groups" claim "$T/ri.dec" "p['auth_time']==$("$here/jwt-decode.sh" < "$T/r0" | "$KZ_PY" -c 'import json,sys; print(json.load(sys.stdin)["payload"]["auth_time"])') and p['groups']==['ops-admins']"
cp "$T/rt" "$T/rt.current"
check "reuse of a rotated refresh token: invalid_grant" bash -c "! '$here/refresh.sh' '$S' '$T/rt.first'"
check "after reuse the whole grant is revoked (current refresh token refused too)" bash -c "! '$here/refresh.sh' '$S' '$T/rt.current'"

# revocation
"$here/get-token.sh" "$S" bob --opaque --refresh-file "$T/rt2" > "$T/op2"
check "revoke refresh token: 200" "$here/revoke.sh" "$S" < "$T/rt2"
check "after revoking the refresh token its grant's opaque access token is inactive" bash -c "'$here/introspect.sh' '$S' < '$T/op2'; [ \$? = 1 ]"
check "revoked refresh token: refresh refused" bash -c "! '$here/refresh.sh' '$S' '$T/rt2'"
"$here/get-token.sh" "$S" bob --opaque > "$T/op3"
check "revoke opaque access token: 200" "$here/revoke.sh" "$S" < "$T/op3"
check "revoked opaque access token: introspection active=false" bash -c "'$here/introspect.sh' '$S' < '$T/op3'; [ \$? = 1 ]"

# client credentials
"$here/cc-token.sh" "$S" > "$T/cc"; "$here/jwt-decode.sh" < "$T/cc" > "$T/cc.json"
check "client_credentials: JWT sub kztoken-svc, no preferred_username/groups" claim "$T/cc.json" 'p["sub"]=="kztoken-svc" and p["client_id"]=="kztoken-svc" and "groups" not in p and "preferred_username" not in p and h["typ"]=="at+jwt"'
"$here/cc-token.sh" "$S" --opaque | "$here/introspect.sh" "$S" > "$T/cco.intro"
check "client_credentials opaque: introspection active, no sub" "$KZ_PY" -c "import json; d=json.load(open('$T/cco.intro')); assert d['active'] and 'sub' not in d and d['client_id']=='kztoken-svc'"

# refusals
check "wrong password refused" bash -c "! KZ_PASSWORD=nope '$here/get-token.sh' '$S' alice"
check "unknown user refused" bash -c "! '$here/get-token.sh' '$S' mallory"
check "unknown resource refused (invalid_target)" bash -c "! '$here/get-token.sh' '$S' alice --resource urn:nope"

# key rotation (fresh tokens: the earlier ones may have expired)
"$here/get-token.sh" "$S" alice > "$T/old-rs"; "$here/get-token.sh" "$S" alice --opaque > "$T/old-op"
"$here/rotate-keys.sh" "$S" > "$T/kids" && ok "rotate-keys.sh (keep old)" || nok "rotate-keys.sh (keep old)"
jwks
"$here/get-token.sh" "$S" alice > "$T/new-rs"; "$here/get-token.sh" "$S" alice --es > "$T/new-es"
check "after rotation: RS256 signed with the new kid" bash -c "'$here/jwt-decode.sh' < '$T/new-rs' | grep -q \"\$(sed -n 1p '$T/kids')\""
check "after rotation: ES256 signed with the new kid" bash -c "'$here/jwt-decode.sh' < '$T/new-es' | grep -q \"\$(sed -n 2p '$T/kids')\""
check "after rotation (keep): old token still verifies" verify urn:kztoken:host < "$T/old-rs"
check "after rotation: opaque token issued before is still active" "$here/introspect.sh" "$S" < "$T/old-op"
"$here/rotate-keys.sh" "$S" --drop-old > /dev/null && ok "rotate-keys.sh --drop-old" || nok "rotate-keys.sh --drop-old"
jwks
check "after dropping old keys: old token has no matching key" bash -c "[ \"\$(node '$here/jwt-verify.mjs' '$S/jwks.pub.json' '$URL' urn:kztoken:host < '$T/old-rs')\" = ERR_JWKS_NO_MATCHING_KEY ]"

# expiry (5 s access tokens)
"$here/get-token.sh" "$S" alice > "$T/exp-rs"
check "after dropping old keys: a new token verifies" verify urn:kztoken:host < "$T/exp-rs"
sleep 6
check "expiry: JWT older than 5 s is expired (jose)" bash -c "[ \"\$(node '$here/jwt-verify.mjs' '$S/jwks.pub.json' '$URL' urn:kztoken:host < '$T/exp-rs')\" = ERR_JWT_EXPIRED ]"
check "expiry: opaque token older than 5 s is inactive" bash -c "'$here/introspect.sh' '$S' < '$T/old-op'; [ \$? = 1 ]"

check "provider log mentions no JWT" bash -c "! grep -q eyJ '$S/provider.log'"
check "provider log mentions no client secret" bash -c "! grep -qF -f '$S/client_secret' '$S/provider.log'"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
