#!/bin/bash
# Self-test of the kztoken test identity provider: start it in a temp dir, exercise
# every endpoint and fault mode with curl, verify JWT signatures with Python
# cryptography and openssl, stop it. Prints "N passed, N failed"; non-zero on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/kzidp-selftest.XXXXXX)
D=$T/idp
pass=0
fail=0
cleanup() { "$here/stop.sh" "$D"; rm -rf "$T"; }
trap cleanup EXIT

ok()  { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else bad "$desc"; fi; }
not() { ! "$@"; }

URL=$("$here/start.sh" "$D" --http-port 0) || { echo "0 passed, 1 failed"; exit 1; }
HTTP_URL=$(cat "$D/http_url")
SECRET=$(cat "$D/client_secret")
printf 'user = "host-fleet:%s"\n' "$SECRET" >"$T/auth.cfg"      # keeps the secret out of argv
printf 'user = "host-fleet:wrong"\n' >"$T/badauth.cfg"

# req METHOD PATH [curl args...]: body in $T/body, headers in $T/hdr; sets CODE and RC.
req() {
    local m=$1 p=$2; shift 2
    CODE=$(curl -sS --cacert "$D/ca.pem" --max-time 10 -o "$T/body" -D "$T/hdr" \
        -w '%{http_code}' -X "$m" "$@" "$URL$p" 2>"$T/err")
    RC=$?
}
# js EXPR: a Python expression over d (the JSON body of the last answer) is true.
js() {
    /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
        "$T/body" "$1" 2>/dev/null
}
jget() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/body" "$1"; }
ctl() { "$here/idpctl" "$D" "$@"; }
code_is() { [ "$CODE" = "$1" ]; }
hdr_has() { grep -qi "^$1" "$T/hdr"; }
tokfile() { printf '%s' "$1" >"$T/tok"; }                  # token for --data-urlencode token@file
bearer() { printf 'Authorization: Bearer %s\n' "$1" >"$T/h"; }   # for -H @file
jwks() { curl -sS --cacert "$D/ca.pem" "$URL/jwks" >"$T/jwks.json"; }

# A verifier independent of the server code: JWK -> public key, then check the JWS.
cat >"$T/verify.py" <<'PY'
import base64, hashlib, hmac, json, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
def d(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def n(s): return int.from_bytes(d(s), "big")
jwks, token = json.load(open(sys.argv[1])), open(sys.argv[2]).read().strip()
h, p, s = token.split(".")
header, sig, data = json.loads(d(h)), d(s), (h + "." + p).encode()
alg = header["alg"]
H = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
try:
    if alg.startswith("HS"):
        key = open(sys.argv[3], "rb").read()
        good = hmac.compare_digest(hmac.new(key, data, getattr(hashlib, "sha" + alg[2:])).digest(), sig)
        sys.exit(0 if good else 1)
    jwk = [k for k in jwks["keys"] if k["kid"] == header["kid"]][0]
    if alg.startswith("RS"):
        rsa.RSAPublicNumbers(n(jwk["e"]), n(jwk["n"])).public_key().verify(sig, data, padding.PKCS1v15(), H)
    else:
        curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}[jwk["crv"]]
        pub = ec.EllipticCurvePublicNumbers(n(jwk["x"]), n(jwk["y"]), curve).public_key()
        half = len(sig) // 2
        pub.verify(encode_dss_signature(int.from_bytes(sig[:half], "big"), int.from_bytes(sig[half:], "big")), data, ec.ECDSA(H))
except Exception as exc:
    sys.exit(1)
PY
verify() { tokfile "$1"; /usr/bin/python3 "$T/verify.py" "$T/jwks.json" "$T/tok" "${2-}"; }
# claim TOKEN EXPR: a Python expression over c (claims) and h (header) is true.
claim() {
    tokfile "$1"
    /usr/bin/python3 -c '
import base64, json, sys
t = open(sys.argv[1]).read().split(".")
d = lambda s: json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
h, c = d(t[0]), d(t[1])
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/tok" "$2" 2>/dev/null
}
mint() { ctl mint "$1"; }

echo "# test IdP at $URL"
check "client_secret is 0600 with one trailing newline" \
    bash -c '[ "$(stat -c %a "$1/client_secret")" = 600 ] && [ "$(tail -c1 "$1/client_secret" | od -An -c | tr -d " ")" = "\n" ]' _ "$D"
check "url file has no trailing slash" bash -c '[[ "$1" =~ ^https://127\.0\.0\.1:[0-9]+$ ]]' _ "$URL"

# --- discovery and JWKS --------------------------------------------------------------
req GET /.well-known/openid-configuration
check "discovery 200 JSON" bash -c '[ "$1" = 200 ] && grep -qi "^content-type: application/json" "$2"' _ "$CODE" "$T/hdr"
check "discovery issuer and endpoints" js "d['issuer']=='$URL' and d['jwks_uri']=='$URL/jwks' and d['token_endpoint']=='$URL/token' and d['introspection_endpoint']=='$URL/introspect' and d['revocation_endpoint']=='$URL/revoke' and 'kaizala_token_endpoint' in d and 'tokeninfo_endpoint' in d and 'membership_endpoint' in d"
check "Date header present" hdr_has "date: "
req GET /jwks
check "jwks has rsa1 and ec1 with proper fields" js "sorted(k['kid'] for k in d['keys'])==['ec1','rsa1'] and all(k['use']=='sig' and 'alg' in k and '=' not in json.dumps(k) for k in d['keys']) and [k for k in d['keys'] if k['kid']=='ec1'][0]['crv']=='P-256'"
jwks
check "STATEDIR/jwks.json equals /jwks" /usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))!=json.load(open(sys.argv[2])))' "$T/jwks.json" "$D/jwks.json"
CODE=$(curl -sS -o "$T/body" -w '%{http_code}' "$HTTP_URL/.well-known/openid-configuration")
check "plain-HTTP listener serves discovery (issuer stays https)" bash -c '[ "$1" = 200 ] && grep -q "\"issuer\":\"$2\"" "$3"' _ "$CODE" "$URL" "$T/body"

# --- minting and signatures ------------------------------------------------------------
RS=$(mint '{"claims":{"preferred_username":"bob","groups":["ops-admins"]}}')
check "RS256 mint verifies" verify "$RS"
check "RS256 default claims" claim "$RS" "h=={'alg':'RS256','typ':'JWT','kid':'rsa1'} and c['iss']=='$URL' and c['aud']=='host-fleet' and c['sub']=='u-bob' and c['preferred_username']=='bob' and c['groups']==['ops-admins'] and c['scope']=='openid login' and c['exp']-c['iat']==300 and len(c['jti'])>0"
for alg in RS384 RS512 ES256 ES384; do
    tok=$(mint "{\"alg\":\"$alg\"}"); jwks
    check "$alg mint verifies" verify "$tok"
done
check "ES384 key ec384 published lazily" grep -q '"ec384"' "$T/jwks.json"
tok=$(mint '{"alg":"ES256"}')
check "ES256 header kid ec1 and raw 64-byte signature" claim "$tok" "h['kid']=='ec1' and len(base64.urlsafe_b64decode(open(sys.argv[1]).read().split('.')[2]+'=='))==64"
tok=$(mint '{"alg":"HS256","hmac_secret":"s3cret"}'); printf 's3cret' >"$T/hk"
check "HS256 with hmac_secret verifies" verify "$tok" "$T/hk"
tok=$(mint '{"alg":"none"}')
check "alg none token ends with a dot" bash -c '[[ "$1" == *. ]] && [ "$(tr -cd . <<<"$1" | wc -c)" = 2 ]' _ "$tok"
check "alg none header" claim "$tok" "h=={'alg':'none','typ':'JWT'}"
tok=$(mint '{"tamper":"signature"}')
check "tampered signature does not verify" not verify "$tok"
tok=$(mint '{"claims":{"exp":null,"aud":["a","b"]},"header":{"kid":null,"typ":"at+jwt"}}')
check "null claim/header removal and overrides" claim "$tok" "'exp' not in c and c['aud']==['a','b'] and 'kid' not in h and h['typ']=='at+jwt'"
tok=$(mint '{"kid":"nope"}' 2>/dev/null)
check "mint with unknown kid refused" test -z "$tok"

# Algorithm confusion: HS256 keyed with the PEM of rsa1, cross-checked with openssl.
tok=$(mint '{"alg":"HS256","hmac_with_pubkey":true}')
/usr/bin/python3 - "$T/jwks.json" "$T/rsa1.pem" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
n = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
k = [k for k in json.load(open(sys.argv[1]))["keys"] if k["kid"] == "rsa1"][0]
pem = rsa.RSAPublicNumbers(n(k["e"]), n(k["n"])).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
open(sys.argv[2], "wb").write(pem)
PY
openssl pkey -pubin -in "$T/rsa1.pem" -pubout -out "$T/rsa1.openssl.pem" 2>/dev/null
check "openssl writes the same rsa1 PEM" cmp -s "$T/rsa1.pem" "$T/rsa1.openssl.pem"
hexkey=$(od -An -tx1 -v "$T/rsa1.openssl.pem" | tr -d ' \n')
printf '%s' "${tok%.*}" >"$T/input"
mac=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary "$T/input" | base64 -w0 | tr '+/' '-_' | tr -d '=')
check "hmac_with_pubkey = HMAC-SHA256 keyed by openssl's PEM (kid rsa1)" bash -c '[ "$1" = "${2##*.}" ]' _ "$mac" "$tok"
check "hmac_with_pubkey header" claim "$tok" "h['alg']=='HS256' and h['kid']=='rsa1'"
# RS256 with openssl itself.
printf '%s' "${RS%.*}" >"$T/input"
printf '%s' "${RS##*.}" | tr -- '-_' '+/' | { s=$(cat); while [ $(( ${#s} % 4 )) -ne 0 ]; do s="$s="; done; printf '%s' "$s"; } | base64 -d >"$T/sig"
check "openssl verifies the RS256 signature" bash -c 'openssl dgst -sha256 -verify "$1" -signature "$2" "$3" >/dev/null' _ "$T/rsa1.openssl.pem" "$T/sig" "$T/input"

# --- introspection -------------------------------------------------------------------
tokfile "$RS"
req POST /introspect --data-urlencode "token@$T/tok"
check "introspect without client auth: 401 invalid_client" bash -c '[ "$1" = 401 ]' _ "$CODE"
check "  ... with error invalid_client" js "d=={'error':'invalid_client'} or d['error']=='invalid_client'"
req POST /introspect -K "$T/badauth.cfg" --data-urlencode "token@$T/tok"
check "introspect with wrong secret: 401" code_is 401
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect minted JWT: active with fields" js "d['active'] is True and d['sub']=='u-bob' and d['username']=='bob' and d['scope']=='openid login' and d['groups']==['ops-admins'] and d['token_type']=='access_token' and d['iss']=='$URL' and d['aud']=='host-fleet' and d['client_id']=='host-fleet' and 'jti' in d and 'exp' in d and 'iat' in d"
old=$(mint '{"claims":{"exp":1000000000}}'); tokfile "$old"
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect expired JWT: inactive" js "d=={'active':False}"
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token=unknown-token"
check "introspect unknown: inactive" js "d=={'active':False}"
OP=$(ctl opaque '{"username":"carol","groups":["devs"],"scope":"login"}')
check "opaque token is 43 base64url chars" bash -c '[[ "$1" =~ ^[A-Za-z0-9_-]{43}$ ]]' _ "$OP"
tokfile "$OP"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect opaque: active" js "d['active'] and d['username']=='carol' and d['sub']=='u-carol' and d['groups']==['devs'] and d['scope']=='login' and d['token_type']=='access_token'"
tok=$(ctl opaque '{"token_type":"refresh_token"}'); tokfile "$tok"
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect opaque refresh_token type" js "d['active'] and d['token_type']=='refresh_token'"
tok=$(ctl opaque '{"active":false}'); tokfile "$tok"
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect opaque active=false" js "d=={'active':False}"

# --- revocation ------------------------------------------------------------------------
tok=$(ctl opaque '{}'); tokfile "$tok"
req POST /revoke --data-urlencode "token@$T/tok"
check "revoke without client auth: 401" code_is 401
req POST /revoke -K "$T/auth.cfg" --data-urlencode "token@$T/tok" -d token_type_hint=access_token
check "revoke: 200" code_is 200
req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "revoked opaque: inactive" js "d=={'active':False}"
req POST /revoke -K "$T/auth.cfg" -d token=never-issued
check "revoke unknown token: 200" code_is 200

# --- tokeninfo -------------------------------------------------------------------------
for h in "Authorization: Bearer" "X-Auth-Token:" "accessToken:"; do
    printf '%s %s\n' "$h" "$OP" >"$T/h"
    req GET /tokeninfo -H "@$T/h"
    check "tokeninfo via '$h'" js "d['username']=='carol' and d['sub']=='u-carol' and d['groups']==['devs'] and d['scope']=='login' and 'exp' in d"
done
bearer "$RS"; req GET /tokeninfo -H "@$T/h"
check "tokeninfo for a minted JWT" js "d['username']=='bob'"
bearer "nope"; req GET /tokeninfo -H "@$T/h"
check "tokeninfo unknown: 401" code_is 401
req GET /tokeninfo
check "tokeninfo without token: 401" code_is 401
for st in 403 404; do
    tok=$(ctl opaque "{\"tokeninfo_status\":$st}"); bearer "$tok"
    req GET /tokeninfo -H "@$T/h"
    check "tokeninfo_status $st" code_is "$st"
done
exp_op=$(ctl opaque '{"exp":1000000000}'); bearer "$exp_op"; req GET /tokeninfo -H "@$T/h"
check "tokeninfo expired: 401" code_is 401

# --- /token: refresh chains and rotation -------------------------------------------------
R1=$(ctl refresh '{"username":"dave","groups":["devs"],"scope":"openid login","expires_in":120}')
ctl POST /test/stats/reset >/dev/null
tokfile "$R1"
req POST /token -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "token without client auth: 401 invalid_client" bash -c '[ "$1" = 401 ] && grep -q invalid_client "$2"' _ "$CODE" "$T/body"
req POST /token -K "$T/badauth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "token with wrong secret: 401" code_is 401
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "refresh: 200 with fields" js "d['token_type']=='Bearer' and d['expires_in']==120 and d['refresh_token']!='$R1' and d['scope']=='openid login'"
AT=$(jget access_token); R2=$(jget refresh_token)
jwks
check "access token verifies (RS256)" verify "$AT"
check "access token claims" claim "$AT" "h['typ']=='at+jwt' and h['alg']=='RS256' and h['kid']=='rsa1' and c['iss']=='$URL' and c['aud']=='host-fleet' and c['sub']=='u-dave' and c['preferred_username']=='dave' and c['groups']==['devs'] and c['scope']=='openid login' and c['exp']-c['iat']==120 and c['client_id']=='host-fleet' and len(c['jti'])>0"
tokfile "$AT"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect issued access token" js "d['active'] and d['username']=='dave'"
printf '{"refresh_token":"%s"}' "$R1" >"$T/j"
check "grace: R1 still valid after rotation" bash -c '"$1" "$2" POST /test/check_refresh - <"$3" | grep -q "\"valid\":true,\"current\":false"' _ "$here/idpctl" "$D" "$T/j"
tokfile "$R1"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "introspect refresh token: token_type refresh_token" js "d['active'] and d['token_type']=='refresh_token'"
# Use R2: R1's grace ends.
tokfile "$R2"; req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
R3=$(jget refresh_token)
check "refresh with R2: 200" code_is 200
printf '{"refresh_token":"%s"}' "$R1" | ctl POST /test/check_refresh - >"$T/body"
check "R1 dead once R2 was used" js "d['valid'] is False and d['refreshes']==2"
req GET "/test/chain?refresh_token=$R3"
check "GET /test/chain: R3 current" js "d['valid'] and d['current'] and d['refreshes']==2"
tokfile "$R1"; req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "reuse of dead R1: 400 invalid_grant" bash -c '[ "$1" = 400 ] && grep -q "\"error\":\"invalid_grant\"" "$2"' _ "$CODE" "$T/body"
printf '{"refresh_token":"%s"}' "$R3" | ctl POST /test/check_refresh - >"$T/body"
check "reuse detection revoked the chain (R3 dead)" js "d['valid'] is False"
tokfile "$AT"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "access tokens of a revoked chain are inactive" js "d=={'active':False}"
req GET /test/stats
check "stats count refreshes and attempts" js "d['refresh']==2 and d['refresh_attempts']==3 and d['paths']['/token']==5 and d['total']>=5"
# Grace: reusing the grace token again is accepted (crash before store), the unused new one dies.
G1=$(ctl refresh '{}'); tokfile "$G1"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"; G2=$(jget refresh_token)
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"; G3=$(jget refresh_token)
check "grace: the previous token may be redeemed again" bash -c '[ "$1" = 200 ] && [ "$2" != "$3" ]' _ "$CODE" "$G2" "$G3"
printf '{"refresh_token":"%s"}' "$G2" | ctl POST /test/check_refresh - >"$T/body"
check "grace: the never-used G2 is superseded" js "d['valid'] is False"
# Strict mode.
ctl POST /test/mode '{"rotation":"strict"}' >/dev/null
S1=$(ctl refresh '{}'); tokfile "$S1"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"; S2=$(jget refresh_token)
printf '{"refresh_token":"%s"}' "$S1" | ctl POST /test/check_refresh - >"$T/body"
check "strict: previous token dies at once" js "d['valid'] is False"
printf '{"refresh_token":"%s"}' "$S2" | ctl POST /test/check_refresh - >"$T/body"
check "strict: new token current" js "d['valid'] and d['current']"
# Rotation off.
ctl POST /test/mode '{"rotation":"off"}' >/dev/null
O1=$(ctl refresh '{}'); tokfile "$O1"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "rotation off: same refresh token returned" js "d['refresh_token']=='$O1'"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "rotation off: reusable" code_is 200
ctl POST /test/mode '{"rotation":"grace"}' >/dev/null
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token -d refresh_token=unknown
check "unknown refresh token: 400 invalid_grant" bash -c '[ "$1" = 400 ] && grep -q invalid_grant "$2"' _ "$CODE" "$T/body"
E1=$(ctl refresh '{"refresh_expires_in":-1}'); tokfile "$E1"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "expired refresh token: 400 invalid_grant" code_is 400
req POST /token -K "$T/auth.cfg" -d grant_type=client_credentials
check "client_credentials: 200, sub = client id" bash -c '[ "$1" = 200 ]' _ "$CODE"
tok=$(jget access_token)
check "client_credentials token claims" claim "$tok" "c['sub']=='host-fleet' and h['typ']=='at+jwt'"
req POST /token -K "$T/auth.cfg" -d grant_type=password
check "unsupported grant type: 400" code_is 400
# /revoke on a refresh token kills its chain; /test/revoke chain_of too.
V1=$(ctl refresh '{}'); tokfile "$V1"
req POST /revoke -K "$T/auth.cfg" --data-urlencode "token@$T/tok" -d token_type_hint=refresh_token
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
check "refresh token revoked via /revoke: invalid_grant" code_is 400
C1=$(ctl refresh '{}')
printf '{"chain_of":"%s"}' "$C1" | ctl POST /test/revoke - >/dev/null
printf '{"refresh_token":"%s"}' "$C1" | ctl POST /test/check_refresh - >"$T/body"
check "/test/revoke chain_of" js "d['valid'] is False"
tok=$(mint '{}'); printf '{"token":"%s"}' "$tok" | ctl POST /test/revoke - >/dev/null
tokfile "$tok"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "/test/revoke token" js "d=={'active':False}"

# --- Kaizala-style token endpoint ------------------------------------------------------------
kz_headers() { printf 'applicationId: %s\napplicationSecret: %s\nrefreshToken: %s\n' "$1" "$2" "$3" >"$T/h"; }
K1=$(ctl refresh '{"username":"erin"}')
kz_headers host-fleet "$SECRET" "$K1"; req GET /kaizala/token -H "@$T/h"
check "kaizala: 200 with accessToken, expiry in ms, endpointUrl, new refreshToken" js "d['endpointUrl']=='$URL/kaizala/api' and d['accessTokenExpiry']>10**12 and d['refreshToken']!='$K1'"
KAT=$(jget accessToken); jwks
check "kaizala access token verifies" verify "$KAT"
kz_headers host-fleet wrong "$K1"; req GET /kaizala/token -H "@$T/h"
check "kaizala bad app secret: 401" code_is 401
kz_headers host-fleet "$SECRET" unknown; req GET /kaizala/token -H "@$T/h"
check "kaizala unknown refresh token: 401" code_is 401
ctl POST /test/mode '{"kaizala_move":"body"}' >/dev/null
kz_headers host-fleet "$SECRET" "$K1"; req GET /kaizala/token -H "@$T/h"
check "kaizala move: 308 with Location (the new token URL) and endpointUrl" bash -c '[ "$1" = 308 ] && grep -qi "^location: $2/kaizala/api2/token" "$3" && grep -q "\"endpointUrl\":\"$2/kaizala/api2\"" "$4"' _ "$CODE" "$URL" "$T/hdr" "$T/body"
req GET /kaizala/token -H "@$T/h"
check "kaizala move happens once" code_is 200
ctl POST /test/mode '{"rotation":"off"}' >/dev/null
K2=$(ctl refresh '{}'); kz_headers host-fleet "$SECRET" "$K2"; req GET /kaizala/token -H "@$T/h"
check "kaizala without rotation: no refreshToken field" js "'refreshToken' not in d and 'accessToken' in d"
ctl POST /test/mode '{"rotation":"grace"}' >/dev/null

# --- membership ----------------------------------------------------------------------------
GR=$(ctl refresh '{"username":"host","group":"ops-admins"}'); tokfile "$GR"
req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token --data-urlencode "refresh_token@$T/tok"
GAT=$(jget access_token); bearer "$GAT"
req GET /membership/ops-admins/alice -H "@$T/h"
check "membership: alice in ops-admins (200)" bash -c '[ "$1" = 200 ] && grep -q "{\"member\":true}" "$2"' _ "$CODE" "$T/body"
req GET /membership/ops-admins/bob -H "@$T/h"
check "membership: bob not in ops-admins (404)" bash -c '[ "$1" = 404 ] && grep -q "{\"member\":false}" "$2"' _ "$CODE" "$T/body"
req GET /membership/devs/bob -H "@$T/h"
check "membership: token for another group (403)" code_is 403
bearer "$RS"; req GET /membership/ops-admins/alice -H "@$T/h"
check "membership: not a group token (403)" code_is 403
bearer "garbage"; req GET /membership/ops-admins/alice -H "@$T/h"
check "membership: bad token (401)" code_is 401
ctl POST /test/membership '{"group":"ops-admins","user":"bob","member":true}' >/dev/null
bearer "$GAT"; req GET /membership/ops-admins/bob -H "@$T/h"
check "membership table updated" code_is 200

# --- key rotation ------------------------------------------------------------------------
out=$(ctl POST /test/rotate '{"family":"RSA","drop_old":true}')
check "rotate RSA -> rsa2" grep -q '"kid":"rsa2"' <<<"$out"
req GET /jwks
check "rsa1 dropped, rsa2 published" js "'rsa2' in [k['kid'] for k in d['keys']] and 'rsa1' not in [k['kid'] for k in d['keys']] and 'ec1' in [k['kid'] for k in d['keys']]"
tok=$(mint '{}'); jwks
check "new default signer rsa2" claim "$tok" "h['kid']=='rsa2'"
check "rsa2 token verifies" verify "$tok"
out=$(ctl POST /test/rotate '{"family":"EC"}')
req GET /jwks
check "rotate EC without drop keeps ec1 and adds ec2" js "{'ec1','ec2'} <= set(k['kid'] for k in d['keys'])"

# --- clock offset --------------------------------------------------------------------------
co=$(ctl opaque '{}')
ctl POST /test/mode '{"clock_offset":3600}' >/dev/null
req GET /jwks
idp_date=$(sed -n 's/^[Dd]ate: //p' "$T/hdr" | tr -d '\r')
check "Date header follows clock_offset" bash -c 'd=$(( $(date -d "$1" +%s) - $(date +%s) )); [ $d -gt 3500 ] && [ $d -lt 3700 ]' _ "$idp_date"
tok=$(mint '{}')
check "mint iat follows clock_offset" claim "$tok" "c['iat'] - $(date +%s) > 3500"
tokfile "$co"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "opaque token expired under clock_offset" js "d=={'active':False}"
ctl POST /test/mode '{"clock_offset":0}' >/dev/null

# --- faults ----------------------------------------------------------------------------------
fault() { ctl POST /test/fault "$1" >/dev/null; }
fault '{"mode":"500","count":1}'; req GET /jwks
check "fault 500" code_is 500
req GET /jwks
check "fault with count=1 clears itself" code_is 200
fault '{"mode":"503","count":1}'; req GET /jwks
check "fault 503" code_is 503
fault '{"mode":"429","count":1}'; req GET /kaizala/token
check "fault 429 with Retry-After: 2" bash -c '[ "$1" = 429 ] && grep -qi "^retry-after: 2" "$2"' _ "$CODE" "$T/hdr"
fault '{"mode":"empty400","count":1}'; req POST /token -K "$T/auth.cfg" -d grant_type=refresh_token -d refresh_token=x
check "fault empty400: bare 400, no body" bash -c '[ "$1" = 400 ] && [ ! -s "$2" ]' _ "$CODE" "$T/body"
fault '{"mode":"badjson","count":1}'; req GET /jwks
check "fault badjson" bash -c '[ "$1" = 200 ] && [ "$(cat "$2")" = "{not json" ]' _ "$CODE" "$T/body"
fault '{"mode":"deepjson","count":1}'; req GET /jwks
check "fault deepjson: 100000 nested arrays" bash -c '[ "$1" = 200 ] && [ "$(head -c 100000 "$2" | tr -d "[" | wc -c)" = 0 ]' _ "$CODE" "$T/body"
fault '{"mode":"big2mb","count":1}'; req GET /jwks
check "fault big2mb: a 2 MiB JSON object" bash -c '[ "$1" = 200 ] && [ "$(stat -c %s "$2")" = 2097152 ] && /usr/bin/python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$2"' _ "$CODE" "$T/body"
fault '{"mode":"wrongtypes","count":2}'; req POST /introspect -K "$T/auth.cfg" -d token=x
check "fault wrongtypes (introspect)" js "d=={'active':'yes','exp':'tomorrow','groups':{'a':1},'sub':['x']}"
req GET /jwks
check "fault wrongtypes (jwks)" js "d=={'keys':'nope'}"
fault '{"mode":"huge","count":1}'; req GET /jwks --max-filesize 1048576
check "fault huge: Content-Length 100 MiB refused by curl --max-filesize" bash -c '[ "$1" = 63 ] && grep -qi "^content-length: 104857600" "$2"' _ "$RC" "$T/hdr"
fault '{"mode":"huge","count":1}'
head=$(curl -sS --cacert "$D/ca.pem" --max-time 10 "$URL/jwks" 2>/dev/null | head -c 12)
check "fault huge: body starts like JSON" test "$head" = '{"a":"xxxxxx'
fault '{"mode":"slow","delay":1,"count":1}'; s=$(date +%s%N); req GET /jwks; e=$(date +%s%N)
check "fault slow: answers after the delay" bash -c '[ "$1" = 200 ] && [ $(( ($3 - $2) / 1000000 )) -ge 950 ]' _ "$CODE" "$s" "$e"
fault '{"mode":"reset","count":1}'; req GET /jwks
check "fault reset: connection reset, no answer" bash -c '[ "$1" != 0 ] && [ "$1" != 28 ] && [ "$2" = 000 ]' _ "$RC" "$CODE"
fault '{"mode":"endless","count":1}'; req GET /jwks --max-time 2
check "fault endless: 200 then a body that never ends (curl times out)" bash -c '[ "$1" = 28 ] && [ "$2" = 200 ] && [ -s "$3" ]' _ "$RC" "$CODE" "$T/body"
fault '{"mode":"hang","paths":["/introspect"],"count":1}'
s=$(date +%s%N)
curl -sS --cacert "$D/ca.pem" --max-time 2 -o /dev/null -w '%{http_code}' -K "$T/auth.cfg" -d token=x "$URL/introspect" >"$T/hang.code" 2>/dev/null &
hang_pid=$!
sleep 0.3
req GET /jwks
check "fault hang limited to its paths; other requests answered meanwhile" code_is 200
req GET /test/stats
check "  ... and /test endpoints too" code_is 200
wait "$hang_pid"; hang_rc=$?; e=$(date +%s%N)
check "fault hang: client times out (curl 28)" bash -c '[ "$1" = 28 ] && [ $(( ($3 - $2) / 1000000 )) -ge 1900 ]' _ "$hang_rc" "$s" "$e"
fault '{"mode":"503"}'; fault '{"mode":"none"}'; req GET /jwks
check "fault none clears" code_is 200
req GET /test/stats
check "stats count paths (non-/test only)" js "d['paths'].get('/jwks',0)>5 and not any(p.startswith('/test') for p in d['paths'])"
ctl POST /test/stats/reset >/dev/null; req GET /test/stats
check "stats reset" js "d=={'total':0,'paths':{},'refresh':0,'refresh_attempts':0}"
ctl POST /test/revoke '{"all":true}' >/dev/null
tokfile "$OP"; req POST /introspect -K "$T/auth.cfg" --data-urlencode "token@$T/tok"
check "/test/revoke all" js "d=={'active':False}"

# --- the log never holds secrets or tokens ---------------------------------------------------
check "log holds no secret" bash -c '! grep -qF -- "$1" "$2"' _ "$SECRET" "$D/idp.log"
check "log holds no token" bash -c '! grep -qF -- "$1" "$3" && ! grep -qF -- "$2" "$3" && ! grep -qE "eyJ[A-Za-z0-9_-]{10}" "$3"' _ "$OP" "$R3" "$D/idp.log"
check "log lists method, path and status" grep -q 'POST /introspect 200' "$D/idp.log"

"$here/stop.sh" "$D"
check "stop.sh stops it" bash -c '[ ! -e "$1/pid" ] && ! curl -s --cacert "$1/ca.pem" --max-time 2 "$2/jwks" >/dev/null' _ "$D" "$URL"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
