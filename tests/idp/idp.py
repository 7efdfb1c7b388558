#!/usr/bin/python3
"""kztoken test identity provider.

A real HTTPS server on loopback serving what kztoken talks to: OIDC discovery, JWKS
(with key rotation), an OAuth2 token endpoint with refresh-token rotation and reuse
detection, a Kaizala-style token endpoint, RFC 7662 introspection, RFC 7009 revocation,
tokeninfo and group membership, plus /test/* control endpoints that let tests mint
tokens, revoke them, rotate keys, shift the clock and inject faults.

Usage: /usr/bin/python3 tests/idp/idp.py --dir STATEDIR [--port 0] [--http-port 0|-1]

Files in STATEDIR: ca.pem, server.pem, server.key, client_secret (0600, with a trailing
newline), jwks.json (the published JWKS, rewritten on rotation), pid, url (written last,
atomically, once the socket listens) and http_url (when --http-port >= 0).

Endpoints (client auth is HTTP Basic with host-fleet and the client_secret file):
  GET  /.well-known/openid-configuration, /jwks
  POST /introspect (RFC 7662), /revoke (RFC 7009), /token (refresh_token, client_credentials)
  GET  /tokeninfo (token in Authorization: Bearer, X-Auth-Token or accessToken)
  GET  /kaizala/token (headers applicationId, applicationSecret, refreshToken)
  GET  /kaizala/api/v1/users/me (the Kaizala user of an accessToken: /tokeninfo's answer)
  GET  /kaizala/api/v1/groups, /kaizala/api/v1/groups/{groupId}/members (the Kaizala
       platform API, header accessToken; see the Kaizala directory block below)
  GET  /membership/{group}/{user} (Bearer = an access token of that group's chain)
  /api/auth/0.1/... wazo-auth's token API (see "wazo-auth mode" below)
  GET  /scim/v2/Users, /scim/v2/Groups (SCIM 2.0 directory; see the SCIM block below)
Test controls (JSON in, JSON out, no auth):
  POST /test/mint, /test/opaque, /test/refresh_token, /test/revoke, /test/rotate,
       /test/fault, /test/mode, /test/membership, /test/check_refresh, /test/stats/reset,
       /test/tokeninfo (scripted tokeninfo answers, per token), /test/scim,
       /test/kaizala_dir
  GET  /test/stats, /test/chain?refresh_token=R
Fault modes: none hang slow 500 503 429 reset endless huge big2mb badjson deepjson
wrongtypes empty400 answer (optionally limited to path prefixes and to a count of requests).

All state is in memory, guarded by one lock. Only the standard library and Debian's
python3-cryptography are used. Tokens, secrets and Authorization headers are never logged.
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import certs  # noqa: E402  (our sibling module)

CLIENT_ID = "host-fleet"
MAX_REQUEST_BODY = 1 << 20          # we refuse bigger request bodies with 413
DEFAULT_ACCESS_LIFETIME = 300
DEFAULT_REFRESH_LIFETIME = 365 * 86400
LONG_WAIT = 120                     # how long "hang" and "endless" last at most


def log(msg):
    """One line to stderr (the log). Callers never pass tokens or secrets."""
    sys.stderr.write("%s idp: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def b64u(data):
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def int_bytes(value, length=None):
    """Big-endian unsigned bytes of an integer (minimal length unless given)."""
    if length is None:
        length = max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def new_opaque():
    """A random opaque token: 43 base64url characters, no dots."""
    return secrets.token_urlsafe(32)


HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
HMAC_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class SigningKey:
    """One asymmetric signing key, published in the JWKS unless dropped."""

    def __init__(self, kid, family, private_key):
        self.kid = kid
        self.family = family            # "RSA", "EC" (P-256) or "EC384" (P-384),
        self.private_key = private_key  # "PSS" (an RSA key whose JWK pins no alg), "ED"
        self.published = True
        self.pss_salt = None            # a PSS salt length other than the hash's, for tests

    @property
    def default_alg(self):
        return {"RSA": "RS256", "EC": "ES256", "EC384": "ES384", "PSS": "PS256",
                "ED": "EdDSA"}[self.family]

    def jwk(self):
        base = {"kid": self.kid, "use": "sig", "alg": self.default_alg}
        if self.family == "PSS":
            del base["alg"]                 # signs PS256/384/512 (and could RS*)
        if self.family == "ED":             # RFC 8037 OKP
            raw = self.private_key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            base.update(kty="OKP", crv="Ed25519", x=b64u(raw))
            return base
        pub = self.private_key.public_key().public_numbers()
        if self.family in ("RSA", "PSS"):
            base.update(kty="RSA", n=b64u(int_bytes(pub.n)), e=b64u(int_bytes(pub.e)))
        else:
            size = 32 if self.family == "EC" else 48
            base.update(kty="EC", crv="P-256" if size == 32 else "P-384",
                        x=b64u(int_bytes(pub.x, size)), y=b64u(int_bytes(pub.y, size)))
        return base

    def public_pem(self):
        """SubjectPublicKeyInfo PEM, as OpenSSL's PEM_write_bio_PUBKEY writes it."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, alg, data):
        """Sign with RSxxx, PSxxx, ESxxx or EdDSA; the raw r||s form for ECDSA, as JWS
        requires; PSS with MGF1 of the same hash and a salt of the hash's length."""
        if alg == "EdDSA" or self.family == "ED":
            if alg != "EdDSA" or self.family != "ED":
                raise ValueError("alg %s cannot be signed with key %s" % (alg, self.kid))
            return self.private_key.sign(data)
        digest = HASHES[alg[2:]]()
        if alg.startswith("PS"):
            if self.family not in ("RSA", "PSS"):
                raise ValueError("alg %s needs an RSA key, %s is %s" % (alg, self.kid, self.family))
            salt = self.pss_salt if self.pss_salt is not None else digest.digest_size
            return self.private_key.sign(data, padding.PSS(padding.MGF1(digest), salt), digest)
        if alg.startswith("RS"):
            if self.family not in ("RSA", "PSS"):
                raise ValueError("alg %s needs an RSA key, %s is %s" % (alg, self.kid, self.family))
            return self.private_key.sign(data, padding.PKCS1v15(), digest)
        want = {"ES256": "EC", "ES384": "EC384"}.get(alg)
        if want != self.family:
            raise ValueError("alg %s cannot be signed with key %s (%s)" % (alg, self.kid, self.family))
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(digest)))
        size = 32 if self.family == "EC" else 48
        return int_bytes(r, size) + int_bytes(s, size)


def make_key(kid, family):
    if family in ("RSA", "PSS"):
        return SigningKey(kid, family, rsa.generate_private_key(65537, 2048))
    if family == "ED":
        return SigningKey(kid, family, ed25519.Ed25519PrivateKey.generate())
    curve = ec.SECP256R1() if family == "EC" else ec.SECP384R1()
    return SigningKey(kid, family, ec.generate_private_key(curve))


class Chain:
    """A refresh-token chain (one enrollment). Tokens in it are current, grace or dead."""

    def __init__(self, info, now):
        self.id = secrets.token_hex(8)
        self.username = info["username"]
        self.sub = info["sub"]
        self.groups = info["groups"]
        self.scope = info["scope"]
        self.group = info.get("group")                  # set for a "group token"
        self.expires_in = info["expires_in"]            # access token lifetime
        self.iat = now
        self.refresh_exp = now + info["refresh_expires_in"]
        self.revoked = False
        self.refreshes = 0
        self.current = None                             # the newest refresh token
        self.grace = None                               # the previous one, until current is used
        self.access = []                                # access tokens minted from it


class Record:
    """What the IdP knows about a token it issued or was told about."""

    def __init__(self, kind, info, chain=None):
        self.kind = kind        # "jwt" (claims in info), "opaque" (fields in info), "refresh"
        self.info = info
        self.chain = chain
        self.revoked = False


class State:
    """All mutable state of the IdP, guarded by self.lock."""

    def __init__(self, statedir, client_secret):
        self.lock = threading.RLock()
        self.statedir = statedir
        self.client_secret = client_secret
        self.issuer = None                  # set once the HTTPS socket listens
        self.keys = {}                      # kid -> SigningKey (published or not)
        self.current = {}                   # family -> kid of the default signer
        self.counters = {"RSA": 0, "EC": 0}
        self.tokens = {}                    # token string -> Record
        self.membership = {"ops-admins": {"alice"}, "devs": {"alice", "bob"}}
        self.rotation = "grace"
        self.kaizala_move = False
        self.clock_offset = 0.0
        self.fault = None
        self.reset_stats()
        for family in ("RSA", "EC"):
            self.add_key(family)

    # --- clock ---------------------------------------------------------------------------
    def now(self):
        return time.time() + self.clock_offset

    def inow(self):
        return int(self.now())

    # --- keys ----------------------------------------------------------------------------
    def add_key(self, family):
        """Add a key of a family (RSA or EC) and make it that family's default signer."""
        with self.lock:
            self.counters[family] += 1
            kid = "%s%d" % ("rsa" if family == "RSA" else "ec", self.counters[family])
            self.keys[kid] = make_key(kid, family)
            previous = self.current.get(family)
            self.current[family] = kid
            self.write_jwks()
            return kid, previous

    def key_for(self, family):
        """The default signer of a family; the P-384 key is created on first use."""
        with self.lock:
            lazy = {"EC384": "ec384", "PSS": "ps1", "ED": "ed1"}
            if family in lazy and lazy[family] not in self.keys:
                self.keys[lazy[family]] = make_key(lazy[family], family)
                self.current[family] = lazy[family]
                self.write_jwks()
            return self.keys[self.current[family]]

    def jwks(self):
        with self.lock:
            return {"keys": [k.jwk() for k in self.keys.values() if k.published]}

    def write_jwks(self):
        """Keep STATEDIR/jwks.json in step with /jwks, for tests of a pinned jwks_file."""
        write_atomic(os.path.join(self.statedir, "jwks.json"),
                     json.dumps(self.jwks(), indent=1).encode() + b"\n", 0o644)

    # --- JWT -----------------------------------------------------------------------------
    def sign_jwt(self, header, claims, alg, key=None, hmac_key=None, tamper=None):
        """Build a compact JWS. header/claims are used as given (already merged)."""
        signing_input = (b64u(compact_json(header)) + "." + b64u(compact_json(claims))).encode()
        if alg == "none":
            signature = b""
        elif alg.startswith("HS"):
            signature = hmac.new(hmac_key, signing_input, HMAC_HASHES[alg[2:]]).digest()
        else:
            signature = key.sign(alg, signing_input)
        if tamper == "signature" and signature:
            flipped = bytearray(signature)
            flipped[len(flipped) // 2] ^= 0x5A
            flipped[-1] ^= 0x01
            signature = bytes(flipped)
        return signing_input.decode() + "." + b64u(signature)

    def access_token_for(self, chain):
        """An RS256 at+jwt access token for a chain, registered for introspection."""
        now = self.inow()
        jti = secrets.token_hex(12)
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": chain.sub,
                  "preferred_username": chain.username, "groups": list(chain.groups),
                  "scope": chain.scope, "iat": now, "exp": now + chain.expires_in,
                  "jti": jti, "client_id": CLIENT_ID}
        if chain.group:
            claims["group"] = chain.group
        key = self.key_for("RSA")
        token = self.sign_jwt({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims,
                              "RS256", key)
        self.tokens[token] = Record("jwt", claims, chain)
        chain.access.append(token)
        return token, claims["exp"]

    # --- refresh chains ------------------------------------------------------------------
    def new_chain(self, info):
        with self.lock:
            chain = Chain(info, self.inow())
            token = new_opaque()
            chain.current = token
            self.tokens[token] = Record("refresh", {}, chain)
            return token

    def revoke_chain(self, chain):
        chain.revoked = True
        for token in chain.access:
            self.tokens[token].revoked = True

    def refresh_state(self, token):
        """(record, state) with state in current, grace, dead, revoked, expired, unknown."""
        rec = self.tokens.get(token)
        if rec is None or rec.kind != "refresh":
            return None, "unknown"
        chain = rec.chain
        if chain.revoked or rec.revoked:
            return rec, "revoked"
        if self.now() >= chain.refresh_exp:
            return rec, "expired"
        if token == chain.current:
            return rec, "current"
        if token == chain.grace:
            return rec, "grace"
        return rec, "dead"

    def refresh(self, token):
        """Redeem a refresh token: (chain, access_token, access_exp, refresh_token to hand
        back) or GrantError. With rotation off the same refresh token is handed back."""
        with self.lock:
            self.stats["refresh_attempts"] += 1
            rec, state = self.refresh_state(token)
            if state == "dead":
                # A superseded token came back: someone replayed it. Kill the chain.
                self.revoke_chain(rec.chain)
                log("refresh token reuse detected: chain %s revoked" % rec.chain.id)
                raise GrantError("refresh token reused; chain revoked")
            if state not in ("current", "grace"):
                raise GrantError("refresh token %s" % state)
            chain = rec.chain
            if self.rotation == "off":
                new = token
            else:
                new = new_opaque()
                self.tokens[new] = Record("refresh", {}, chain)
                if state == "current":
                    # The current token's first use ends the previous token's grace.
                    chain.grace = token if self.rotation == "grace" else None
                elif self.rotation == "strict":
                    chain.grace = None
                # (state == grace under grace mode: the grace token stays valid, and the
                # unused current token it replaces is now dead.)
                chain.current = new
            chain.refreshes += 1
            self.stats["refresh"] += 1
            access, exp = self.access_token_for(chain)
            return chain, access, exp, new

    # --- introspection -------------------------------------------------------------------
    def describe(self, token):
        """The RFC 7662 answer for a token, or None when it is not active."""
        with self.lock:
            rec = self.tokens.get(token)
            if rec is None or rec.revoked:
                return None
            now = self.now()
            if rec.kind == "refresh":
                rec, state = self.refresh_state(token)
                if state not in ("current", "grace"):
                    return None
                c = rec.chain
                out = {"sub": c.sub, "username": c.username, "scope": c.scope,
                       "groups": list(c.groups), "exp": int(c.refresh_exp), "iat": c.iat,
                       "iss": self.issuer, "aud": CLIENT_ID, "client_id": CLIENT_ID,
                       "token_type": "refresh_token"}
            elif rec.kind == "opaque":
                i = rec.info
                if not i["active"] or (i["exp"] is not None and now >= i["exp"]):
                    return None
                out = {"sub": i["sub"], "username": i["username"], "scope": i["scope"],
                       "groups": list(i["groups"]), "exp": i["exp"], "iat": i["iat"],
                       "iss": self.issuer, "aud": CLIENT_ID, "client_id": i["client_id"],
                       "token_type": i["token_type"]}
            else:
                c = rec.info
                if rec.chain is not None and rec.chain.revoked:
                    return None
                exp = c.get("exp")
                if isinstance(exp, (int, float)) and not isinstance(exp, bool) and now >= exp:
                    return None
                scope = c.get("scope")
                if isinstance(scope, list):
                    scope = " ".join(str(s) for s in scope)
                out = {"sub": c.get("sub"),
                       "username": c.get("preferred_username", c.get("username")),
                       "scope": scope, "groups": c.get("groups", []), "exp": exp,
                       "iat": c.get("iat"), "iss": c.get("iss"), "aud": c.get("aud"),
                       "client_id": c.get("client_id", CLIENT_ID),
                       "token_type": "access_token", "jti": c.get("jti")}
            out = {k: v for k, v in out.items() if v is not None}
            out["active"] = True
            return out

    def revoke_token(self, token):
        """Revoke an access or refresh token (a refresh token takes its chain along)."""
        with self.lock:
            rec = self.tokens.get(token)
            if rec is None:
                return False
            if rec.kind == "refresh":
                self.revoke_chain(rec.chain)
            else:
                rec.revoked = True
            return True

    # --- faults and stats ----------------------------------------------------------------
    def take_fault(self, path):
        """The fault that applies to this request, if any (consuming one of its count)."""
        with self.lock:
            f = self.fault
            if f is None:
                return None
            if f["paths"] and not any(path.startswith(p) for p in f["paths"]):
                return None
            if f["count"] is not None:
                f["count"] -= 1
                if f["count"] <= 0:
                    self.fault = None
            return dict(f)

    def reset_stats(self):
        with self.lock:
            self.stats = {"total": 0, "paths": {}, "refresh": 0, "refresh_attempts": 0}

    def count(self, path):
        with self.lock:
            self.stats["total"] += 1
            self.stats["paths"][path] = self.stats["paths"].get(path, 0) + 1


class GrantError(Exception):
    pass


class BadRequest(Exception):
    """A /test request the IdP cannot honour: answered 400 with the message."""


def write_atomic(path, data, mode):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- device authorization grant (RFC 8628) -------------------------------------------------
# One self-contained block: the endpoints as a mixin of Handler, the state in DEVICE.
#   POST /device_authorization   client_id (public kztoken-device) or Basic host-fleet;
#                                scope, resource, acr_values are recorded
#   POST /token grant_type=urn:ietf:params:oauth:grant-type:device_code
#   GET  /device                 the verification page (a stub: approval is scripted)
# Test controls:
#   GET  /test/device            every authorization: user_code, client_id, scope, resource,
#                                acr_values, status, polls (never the device code)
#   POST /test/device            {"user_code": C (default: the newest pending), "action":
#                                "approve"|"deny", "user", "groups", "acr", "amr",
#                                "after_polls": N (stay pending for N more polls)}
#   POST /test/device_mode       {"interval": s, "expires_in": s, "slow_down": N (answer
#                                slow_down to the next N polls), "reset": true}
# "hang" and the other faults apply through /test/fault with paths /device_authorization
# or /token, as for every endpoint.
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PUBLIC_DEVICE_CLIENTS = ("kztoken-device",)


class DeviceFlow:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.auths = {}           # device_code -> dict, in creation order
        self.interval, self.expires_in, self.slow_down = 1, 600, 0

    def new_user_code(self):
        alphabet = "BCDFGHJKLMNPQRSTVWXZ"   # RFC 8628 6.1: no vowels, no look-alikes
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        return code[:4] + "-" + code[4:]

    def find(self, user_code):
        if user_code:
            for a in self.auths.values():
                if a["user_code"] == user_code:
                    return a
            raise BadRequest("no device authorization with that user_code")
        for a in reversed(list(self.auths.values())):
            if a["status"] == "pending":
                return a
        raise BadRequest("no pending device authorization")


DEVICE = DeviceFlow()


class DeviceFlowEndpoints:
    """Handler methods of the device grant (mixed into Handler)."""

    def device_client(self):
        """The client_id of a device request (Basic host-fleet, or a public client), or
        None after answering 401 invalid_client."""
        creds = self.basic_client()
        if creds is not None:
            if self.client_ok(*creds):
                return creds[0]
        elif self.form().get("client_id") in PUBLIC_DEVICE_CLIENTS:
            return self.form()["client_id"]
        self.send_error_json(401, "invalid_client", "client authentication failed")
        return None

    def device_authorization(self):
        client = self.device_client()
        if client is None:
            return
        form, base = self.form(), self.base_url()
        with DEVICE.lock:
            code = secrets.token_urlsafe(32)
            a = {"user_code": DEVICE.new_user_code(), "client_id": client,
                 "scope": form.get("scope"), "resource": form.get("resource"),
                 "acr_values": form.get("acr_values"), "status": "pending", "polls": 0,
                 "expires_at": STATE.now() + DEVICE.expires_in, "interval": DEVICE.interval,
                 "last_poll": 0.0, "after_polls": 0, "grant": None}
            DEVICE.auths[code] = a
            answer = {"device_code": code, "user_code": a["user_code"],
                      "verification_uri": base + "/device",
                      "verification_uri_complete": base + "/device?user_code=" + a["user_code"],
                      "expires_in": DEVICE.expires_in, "interval": DEVICE.interval}
        self.send_json(200, answer, [("Cache-Control", "no-store")])

    def device_page(self):
        self.send_body(200, b"<html><body>Enter the code shown on the host.</body></html>",
                       "text/html")

    def device_token(self):
        client = self.device_client()
        if client is None:
            return
        no_store = [("Cache-Control", "no-store")]
        with DEVICE.lock:
            a = DEVICE.auths.get(self.form().get("device_code", ""))
            if a is None or a["client_id"] != client or a["status"] == "used":
                return self.send_error_json(400, "invalid_grant", None, no_store)
            a["polls"] += 1
            now = STATE.now()
            early = a["last_poll"] and now - a["last_poll"] < a["interval"] - 0.3
            a["last_poll"] = now
            if now >= a["expires_at"]:
                error = "expired_token"
            elif early or DEVICE.slow_down > 0:
                DEVICE.slow_down = max(0, DEVICE.slow_down - 1)
                a["interval"] += 5
                error = "slow_down"
            elif a["status"] == "denied":
                error = "access_denied"
            elif a["status"] == "pending" or a["after_polls"] > 0:
                a["after_polls"] = max(0, a["after_polls"] - 1)
                error = "authorization_pending"
            else:
                error = None
            if error:
                return self.send_error_json(400, error, None, no_store)
            a["status"] = "used"
            g = a["grant"]
            with STATE.lock:
                t = STATE.inow()
                claims = {"iss": STATE.issuer, "aud": a["resource"] or CLIENT_ID,
                          "sub": "u-%s" % g["user"], "preferred_username": g["user"],
                          "groups": g["groups"], "scope": a["scope"] or "openid",
                          "iat": t, "auth_time": t, "exp": t + DEFAULT_ACCESS_LIFETIME,
                          "jti": secrets.token_hex(12), "client_id": client}
                claims = merge(claims, {"acr": g.get("acr"), "amr": g.get("amr")})
                key = STATE.key_for("RSA")
                access = STATE.sign_jwt({"alg": "RS256", "typ": "at+jwt", "kid": key.kid},
                                        claims, "RS256", key)
                STATE.tokens[access] = Record("jwt", claims)
        self.send_json(200, {"access_token": access, "token_type": "Bearer",
                             "expires_in": DEFAULT_ACCESS_LIFETIME,
                             "scope": claims["scope"]}, no_store)

    def t_device_list(self):
        with DEVICE.lock:
            keys = ("user_code", "client_id", "scope", "resource", "acr_values", "status",
                    "polls")
            return {"authorizations": [{k: a[k] for k in keys}
                                       for a in DEVICE.auths.values()]}

    def t_device(self, body):
        action = body.get("action", "approve")
        if action not in ("approve", "deny"):
            raise BadRequest("action must be approve or deny")
        with DEVICE.lock:
            a = DEVICE.find(body.get("user_code"))
            if a["status"] != "pending":
                raise BadRequest("that authorization is %s" % a["status"])
            a["after_polls"] = int(body.get("after_polls", 0))
            if action == "deny":
                a["status"] = "denied"
            else:
                a["status"] = "approved"
                a["grant"] = {"user": str(body.get("user", "alice")),
                              "groups": list(body.get("groups", [])),
                              "acr": body.get("acr"), "amr": body.get("amr")}
            return {"user_code": a["user_code"], "status": a["status"]}

    def t_device_mode(self, body):
        with DEVICE.lock:
            if body.get("reset"):
                DEVICE.reset()
            DEVICE.interval = int(body.get("interval", DEVICE.interval))
            DEVICE.expires_in = int(body.get("expires_in", DEVICE.expires_in))
            DEVICE.slow_down = int(body.get("slow_down", DEVICE.slow_down))
            return {"interval": DEVICE.interval, "expires_in": DEVICE.expires_in,
                    "slow_down": DEVICE.slow_down}
# --- end of the device authorization grant ---------------------------------------------


STATE = None      # the State, set in main()


class Handler(DeviceFlowEndpoints, http.server.BaseHTTPRequestHandler):
    """One handler for both listeners (HTTPS and, optionally, plain HTTP)."""

    protocol_version = "HTTP/1.1"       # keep-alive, as libcurl likes it
    server_version = "kztoken-test-idp/1"
    sys_version = ""
    timeout = 30                        # idle keep-alive connections are closed after this

    # --- logging: method, path without query, status; nothing else ----------------------
    def log_request(self, code="-", size="-"):
        path = urllib.parse.urlsplit(self.path).path if hasattr(self, "path") else "?"
        path = wazo_redact(path)
        log("%s %s %s" % (getattr(self, "command", "?"), path, getattr(code, "value", code)))

    def log_error(self, fmt, *args):
        # The stock messages may quote the raw request line; log only the status code.
        if args and isinstance(args[0], int):
            log("error %d" % args[0])
        else:
            log("request error")

    def log_message(self, fmt, *args):
        pass

    def date_time_string(self, timestamp=None):
        """The Date header follows the IdP's (possibly shifted) clock."""
        return email.utils.formatdate(STATE.now() if timestamp is None else timestamp,
                                      usegmt=True)

    # --- response helpers ----------------------------------------------------------------
    def send_body(self, status, body, ctype="application/json", headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status, obj, headers=()):
        self.send_body(status, compact_json(obj), "application/json", headers)

    def send_error_json(self, status, error, description=None, headers=()):
        obj = {"error": error}
        if description:
            obj["error_description"] = description
        self.send_json(status, obj, headers)

    # --- request helpers -----------------------------------------------------------------
    def base_url(self):
        """The base URL of the listener this request came in on."""
        return self.server.base_url

    def read_body(self):
        """The request body (bytes), or None after answering 413/400 ourselves."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self.send_error_json(411, "invalid_request", "chunked bodies not supported")
            return None
        try:
            length = int(self.headers.get("Content-Length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BODY:
            self.close_connection = True
            self.send_error_json(413 if length > 0 else 400, "invalid_request", "bad body length")
            return None
        return self.rfile.read(length) if length else b""

    def form(self):
        try:
            parsed = urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return {k: v[0] for k, v in parsed.items()}

    def json_body(self):
        if not self.body.strip():
            return {}
        try:
            obj = json.loads(self.body)
        except ValueError:
            raise BadRequest("request body is not JSON")
        if not isinstance(obj, dict):
            raise BadRequest("request body must be a JSON object")
        return obj

    def basic_client(self):
        """(client_id, secret) from HTTP Basic, or None."""
        auth = self.headers.get("Authorization", "")
        if not auth[:6].lower() == "basic ":
            return None
        try:
            raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        if ":" not in raw:
            return None
        cid, secret = raw.split(":", 1)
        # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding.
        return urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)

    def client_ok(self, cid, secret):
        return (cid == CLIENT_ID and secret is not None
                and hmac.compare_digest(secret.encode(), STATE.client_secret.encode()))

    def require_client(self):
        """Check HTTP Basic client auth; answer 401 invalid_client and return False if bad."""
        creds = self.basic_client()
        if creds and self.client_ok(*creds):
            return True
        self.send_error_json(401, "invalid_client", "client authentication failed",
                             [("WWW-Authenticate", 'Basic realm="kztoken-test-idp"')])
        return False

    def bearer(self):
        """The token from Authorization: Bearer, X-Auth-Token or accessToken."""
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        for name in ("X-Auth-Token", "accessToken"):
            value = self.headers.get(name)
            if value:
                return value.strip()
        return None

    # --- dispatch ------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        path, self.query = url.path, urllib.parse.parse_qs(url.query)
        self.body = self.read_body()
        if self.body is None:
            return
        try:
            if path.startswith("/test/"):
                self.route_test(path)
                return
            STATE.count(wazo_redact(path))
            fault = STATE.take_fault(path)
            if fault and self.apply_fault(fault, path):
                return
            self.route(path)
        except BadRequest as exc:
            self.send_error_json(400, "invalid_request", str(exc))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout):
            self.close_connection = True

    def route(self, path):
        m = self.command
        get = m in ("GET", "HEAD")
        if path.startswith(WAZO_PREFIX + "/"):
            return wazo_route(self, path[len(WAZO_PREFIX):])
        if path == "/.well-known/openid-configuration" and get:
            return self.discovery()
        if path == "/jwks" and get:
            return self.send_json(200, STATE.jwks())
        if path == "/introspect" and m == "POST":
            return self.introspect()
        if path == "/revoke" and m == "POST":
            return self.revoke()
        if path == "/token" and m == "POST":
            return self.token()
        if path == "/device_authorization" and m == "POST":
            return self.device_authorization()
        if path == "/device" and get:
            return self.device_page()
        if path == "/tokeninfo" and get:
            return self.tokeninfo()
        if path in ("/kaizala/token", "/kaizala/api/token", "/kaizala/api2/token") and get:
            return self.kaizala_token()
        if path.startswith("/scim/v2/") and get:
            return SCIM.handle(self, path)
        if path in ("/kaizala/api/v1/users/me", "/kaizala/api2/v1/users/me") and get:
            return self.tokeninfo()     # Kaizala's "who is this token": accessToken header
        if path.startswith(("/kaizala/api/v1/", "/kaizala/api2/v1/")) and get:
            return KAIZALA_DIR.handle(self, path)
        if path.startswith(("/membership/", "/membership2/")) and get:
            parts = path.split("/")
            if len(parts) == 4 and parts[2] and parts[3]:
                return self.membership(urllib.parse.unquote(parts[2]),
                                       urllib.parse.unquote(parts[3]))
        known = ("/.well-known/openid-configuration", "/jwks", "/introspect", "/revoke",
                 "/token", "/tokeninfo", "/kaizala/token")
        if path in known:
            return self.send_error_json(405, "method_not_allowed", None, [("Allow", "GET, POST")])
        self.send_error_json(404, "not_found")

    # --- faults --------------------------------------------------------------------------
    def apply_fault(self, fault, path):
        """Misbehave as told. Returns True when the request has been dealt with."""
        mode = fault["mode"]
        log("fault %s on %s" % (mode, path))
        if mode == "slow":
            time.sleep(float(fault.get("delay") or 1))
            return False
        if mode == "hang":
            # Say nothing for LONG_WAIT seconds, then drop the connection. Only this
            # request's thread sleeps.
            time.sleep(LONG_WAIT)
            self.close_connection = True
            return True
        if mode == "reset":
            self.abort_connection()
            return True
        if mode in ("500", "503"):
            self.send_error_json(int(mode), "server_error" if mode == "500"
                                 else "temporarily_unavailable", "injected fault")
            return True
        if mode == "429":
            retry = str(fault.get("retry_after", 2))
            self.send_error_json(429, "too_many_requests", "injected fault",
                                 [("Retry-After", retry)])
            return True
        if mode == "empty400":
            self.send_body(400, b"", ctype=None)
            return True
        if mode == "badjson":
            self.send_body(200, b"{not json")
            return True
        if mode == "deepjson":
            self.send_body(200, b"[" * 100000 + b"]" * 100000)
            return True
        if mode == "big2mb":
            size = 2 * 1024 * 1024
            head, tail = b'{"active":false,"padding":"', b'"}'
            self.send_body(200, head + b"x" * (size - len(head) - len(tail)) + tail)
            return True
        if mode == "wrongtypes":
            self.send_json(200, wrong_types_for(path))
            return True
        if mode == "huge":
            self.stream_huge(100 * 1024 * 1024)
            return True
        if mode == "endless":
            self.stream_endless()
            return True
        if mode == "answer":
            return self.fault_answer(fault.get("answer") or {}, path)
        return False

    # --- fault "answer" (enrollment faults, issue 12) -----------------------------------
    # A real refresh (the chain rotates), then an answer shaped as told by the "answer"
    # object of /test/fault: "set" (members to add or override), "drop" (members to
    # remove), "refresh_token" (the rotated token to hand out instead, registered in the
    # chain), "refresh_len" (a registered rotated token of that many characters), "cut"
    # (bytes of the body to send) with "cut_style" "length" (a shorter Content-Length:
    # broken JSON) or "close" (the full Content-Length, then the connection drops).
    # stats.last_answer tells the length of the full body and where the rotated refresh
    # token's closing quote ends (rt_end).
    def fault_answer(self, spec, path):
        if path != "/token" or self.command != "POST":
            return False
        if not self.require_client():
            return True
        form = self.form()
        if form.get("grant_type") != "refresh_token":
            return False
        try:
            chain, access, _exp, new = STATE.refresh(form.get("refresh_token") or "")
        except GrantError as exc:
            self.send_error_json(400, "invalid_grant", str(exc))
            return True
        custom = spec.get("refresh_token")
        if custom is None and spec.get("refresh_len"):
            custom = (new * (int(spec["refresh_len"]) // len(new) + 1))[:int(spec["refresh_len"])]
        if custom is not None and new != form.get("refresh_token"):
            with STATE.lock:
                STATE.tokens[str(custom)] = STATE.tokens.pop(new)
                chain.current = new = str(custom)
        obj = {"access_token": access, "token_type": "Bearer",
               "expires_in": chain.expires_in, "refresh_token": new, "scope": chain.scope}
        obj.update(spec.get("set") or {})
        for key in spec.get("drop") or []:
            obj.pop(key, None)
        body = json.dumps(obj).encode()
        rt = json.dumps(obj.get("refresh_token")).encode()
        at = body.find(b'"refresh_token": ' + rt)
        with STATE.lock:
            STATE.stats["last_answer"] = {
                "length": len(body),
                "rt_end": at + len(b'"refresh_token": ') + len(rt) if at >= 0 else -1}
        cut = spec.get("cut")
        if cut is None or int(cut) >= len(body):
            self.send_body(200, body)
            return True
        cut = int(cut)
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length",
                         str(cut if spec.get("cut_style") == "length" else len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[:cut])
        self.wfile.flush()
        return True
    # --- end of fault "answer" -----------------------------------------------------------

    def abort_connection(self):
        """Close the TCP connection abruptly: SO_LINGER 0 makes close() send a RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()            # drop the makefile reference so close() is real
            self.connection.close()
        except OSError:
            pass

    def stream_huge(self, size):
        """A 200 whose body is `size` bytes of a JSON-looking string, streamed."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"x" * 65536
        first = b'{"a":"' + chunk[6:]
        sent = 0
        try:
            while sent < size:
                piece = first if sent == 0 else chunk
                piece = piece[:size - sent]
                if sent + len(piece) == size:
                    piece = piece[:-2] + b'"}'
                self.wfile.write(piece)
                sent += len(piece)
        except (OSError, ValueError):
            pass                          # the client hung up, as it should

    def stream_endless(self):
        """A 200 with a body that never ends (close-delimited), trickling bytes."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        deadline = time.monotonic() + LONG_WAIT
        try:
            self.wfile.write(b'{"a":"')
            while time.monotonic() < deadline:
                self.wfile.write(b"xxxxxxxx")
                time.sleep(0.1)
        except (OSError, ValueError):
            pass

    # --- the provider's endpoints --------------------------------------------------------
    def discovery(self):
        base = self.base_url()
        self.send_json(200, {
            "issuer": STATE.issuer,
            "jwks_uri": base + "/jwks",
            "token_endpoint": base + "/token",
            "introspection_endpoint": base + "/introspect",
            "revocation_endpoint": base + "/revoke",
            "device_authorization_endpoint": base + "/device_authorization",
            "kaizala_token_endpoint": base + "/kaizala/token",
            "tokeninfo_endpoint": base + "/tokeninfo",
            "membership_endpoint": base + "/membership/{group}/{user}",
            "grant_types_supported": ["refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        })

    def introspect(self):
        if not self.require_client():
            return
        answer = STATE.describe(self.form().get("token", ""))
        self.send_json(200, answer or {"active": False}, [("Cache-Control", "no-store")])

    def revoke(self):
        if not self.require_client():
            return
        STATE.revoke_token(self.form().get("token", ""))
        self.send_body(200, b"", ctype=None)

    def token(self):
        if self.form().get("grant_type") == DEVICE_GRANT:
            return self.device_token()      # public clients too
        if not self.require_client():
            return
        form = self.form()
        grant = form.get("grant_type")
        no_store = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        if grant == "refresh_token":
            refresh = form.get("refresh_token")
            if not refresh:
                with STATE.lock:
                    STATE.stats["refresh_attempts"] += 1
                return self.send_error_json(400, "invalid_request", "refresh_token missing")
            try:
                chain, access, exp, new = STATE.refresh(refresh)
            except GrantError as exc:
                return self.send_error_json(400, "invalid_grant", str(exc), no_store)
            return self.send_json(200, {
                "access_token": access, "token_type": "Bearer",
                "expires_in": chain.expires_in, "refresh_token": new,
                "scope": chain.scope}, no_store)
        if grant == "client_credentials":
            with STATE.lock:
                now = STATE.inow()
                claims = {"iss": STATE.issuer, "aud": CLIENT_ID, "sub": CLIENT_ID,
                          "scope": form.get("scope") or "openid", "groups": [],
                          "iat": now, "exp": now + DEFAULT_ACCESS_LIFETIME,
                          "jti": secrets.token_hex(12), "client_id": CLIENT_ID}
                key = STATE.key_for("RSA")
                access = STATE.sign_jwt({"alg": "RS256", "typ": "at+jwt", "kid": key.kid},
                                        claims, "RS256", key)
                STATE.tokens[access] = Record("jwt", claims)
            return self.send_json(200, {
                "access_token": access, "token_type": "Bearer",
                "expires_in": DEFAULT_ACCESS_LIFETIME, "scope": claims["scope"]}, no_store)
        self.send_error_json(400, "unsupported_grant_type")

    def tokeninfo(self):
        token = self.bearer()
        if not token:
            return self.send_error_json(401, "invalid_token", "no token",
                                        [("WWW-Authenticate", "Bearer")])
        scripted = scripted_tokeninfo(token)
        if scripted is not None:
            return self.send_json(*scripted)
        with STATE.lock:
            rec = STATE.tokens.get(token)
            override = rec.info["tokeninfo_status"] if rec and rec.kind == "opaque" else 200
            answer = STATE.describe(token)
        if override != 200:
            return self.send_error_json(override, "tokeninfo_status", "set by the test")
        if answer is None or answer.get("token_type") != "access_token":
            return self.send_error_json(401, "invalid_token", None,
                                        [("WWW-Authenticate", 'Bearer error="invalid_token"')])
        out = {k: answer.get(k) for k in ("sub", "username", "groups", "scope", "exp")}
        if answer.get("username"):
            out["mobileNumber"] = kaizala_mobile(answer["username"])
        self.send_json(200, out)

    def kaizala_token(self):
        base = self.base_url()
        kaizala_record(self)
        with STATE.lock:
            move, STATE.kaizala_move = STATE.kaizala_move, False
        if move:
            return self.send_json(*kaizala_move_answer(move, base))
        cid = self.headers.get("applicationId")
        secret = self.headers.get("applicationSecret")
        refresh = self.headers.get("refreshToken")
        if not self.client_ok(cid, secret):
            return self.send_error_json(401, "invalid_client", "bad application credentials")
        if not refresh:
            with STATE.lock:
                STATE.stats["refresh_attempts"] += 1
            return self.send_error_json(401, "invalid_grant", "refreshToken missing")
        try:
            chain, access, exp, new = STATE.refresh(refresh)
        except GrantError as exc:
            return self.send_error_json(401, "invalid_grant", str(exc))
        with STATE.lock:
            KAIZALA_ISSUED.add(access)
        answer = {"accessToken": access, "accessTokenExpiry": int(exp) * 1000,
                  "endpointUrl": base + "/kaizala/api"}
        if new != refresh:
            answer["refreshToken"] = new
        self.send_json(200, answer, [("Cache-Control", "no-store")])

    def membership(self, group, user):
        moved = membership_move_answer(self.base_url(), self.path)
        if moved:
            return self.send_json(*moved)
        token = self.bearer() if self.headers.get("Authorization") else None
        with STATE.lock:
            rec = STATE.tokens.get(token) if token else None
            answer = STATE.describe(token) if rec else None
            if (rec is None or rec.kind != "jwt" or answer is None
                    or answer.get("token_type") != "access_token"):
                return self.send_error_json(401, "invalid_token", None,
                                            [("WWW-Authenticate", "Bearer")])
            if rec.chain is None or rec.chain.group != group:
                return self.send_error_json(403, "insufficient_scope",
                                            "not a group token for this group")
            member = user in STATE.membership.get(group, set())
        self.send_json(200 if member else 404, {"member": member})

    # --- test control --------------------------------------------------------------------
    def route_test(self, path):
        m = self.command
        if path == "/test/stats" and m == "GET":
            with STATE.lock:
                return self.send_json(200, json.loads(json.dumps(STATE.stats)))
        if path == "/test/wazo" and m == "POST":
            return self.send_json(200, t_wazo(self.json_body()))
        if path == "/test/kaizala_seen":
            return self.send_json(200, t_kaizala_seen(m == "POST"))
        if path == "/test/kaizala_dir" and m == "GET":
            return self.send_json(200, KAIZALA_DIR.seen_list())
        if path == "/test/chain" and m == "GET":
            return self.send_json(200, self.chain_status(
                (self.query.get("refresh_token") or [""])[0]))
        if path == "/test/device" and m == "GET":
            return self.send_json(200, self.t_device_list())
        if m != "POST":
            return self.send_error_json(404, "not_found")
        handlers = {
            "/test/device": self.t_device, "/test/device_mode": self.t_device_mode,
            "/test/mint": self.t_mint, "/test/opaque": self.t_opaque,
            "/test/refresh_token": self.t_refresh_token, "/test/revoke": self.t_revoke,
            "/test/rotate": self.t_rotate, "/test/fault": self.t_fault,
            "/test/stats/reset": self.t_stats_reset, "/test/mode": self.t_mode,
            "/test/membership": self.t_membership, "/test/check_refresh": self.t_check,
            "/test/tokeninfo": t_tokeninfo,
            "/test/scim": SCIM.control,
            "/test/kaizala_dir": KAIZALA_DIR.control,
        }
        fn = handlers.get(path)
        if fn is None:
            return self.send_error_json(404, "not_found")
        try:
            answer = fn(self.json_body())
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadRequest("bad field in request: %s" % exc)
        self.send_json(200, answer)

    def chain_status(self, token):
        """Whether a refresh token would be accepted now; consumes nothing."""
        with STATE.lock:
            rec, state = STATE.refresh_state(token)
            return {"valid": state in ("current", "grace"), "current": state == "current",
                    "state": state, "refreshes": rec.chain.refreshes if rec else 0}

    def t_check(self, body):
        return self.chain_status(str(body.get("refresh_token", "")))

    def t_mint(self, body):
        alg = body.get("alg", "RS256")
        claims_in = body.get("claims") or {}
        header_in = body.get("header") or {}
        if not isinstance(claims_in, dict) or not isinstance(header_in, dict):
            raise BadRequest("claims and header must be objects")
        with STATE.lock:
            now = STATE.inow()
            username = claims_in.get("preferred_username") or "alice"
            lifetime = int(body.get("expires_in", DEFAULT_ACCESS_LIFETIME))
            claims = {"iss": STATE.issuer, "aud": CLIENT_ID, "sub": "u-%s" % username,
                      "preferred_username": "alice", "groups": [],
                      "scope": "openid login", "iat": now, "exp": now + lifetime,
                      "jti": secrets.token_hex(12)}
            claims = merge(claims, claims_in)
            # merge() drops a null claim; "null_claims" keeps one as JSON null
            for name in body.get("null_claims") or []:
                claims[str(name)] = None

            key, hmac_key = None, None
            kid = body.get("kid")
            if alg in ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384",
                       "PS512", "EdDSA"):
                # PS* with kid ps1 (an RSA JWK without alg) unless told another kid
                family = {"RS": "RSA", "ES": "EC", "PS": "PSS", "Ed": "ED"}[alg[:2]]
                if alg == "ES384":
                    family = "EC384"
                if family in ("EC384", "PSS", "ED"):
                    STATE.key_for(family)           # created on first use
                if kid is not None:
                    key = STATE.keys.get(kid)
                    if key is None:
                        raise BadRequest("no key with kid %r" % kid)
                else:
                    key = STATE.key_for(family)
                kid = key.kid
            elif alg in ("HS256", "HS384", "HS512"):
                if body.get("hmac_with_pubkey"):
                    hmac_key = STATE.keys["rsa1"].public_pem()
                    kid = kid or "rsa1"
                else:
                    hmac_key = str(body.get("hmac_secret", "")).encode("utf-8")
                    if not hmac_key:
                        raise BadRequest("HS* needs hmac_secret or hmac_with_pubkey")
            elif alg != "none":
                raise BadRequest("unsupported alg %r" % alg)

            header = {"alg": alg, "typ": "JWT"}
            if kid is not None:
                header["kid"] = kid
            header = merge(header, header_in)
            try:
                if key is not None and body.get("pss_salt") is not None:
                    key.pss_salt = int(body["pss_salt"])
                token = STATE.sign_jwt(header, claims, alg, key, hmac_key, body.get("tamper"))
            except ValueError as exc:
                raise BadRequest(str(exc))
            finally:
                if key is not None:
                    key.pss_salt = None
            # Register what we issued (a tampered token is not ours, so it stays unknown).
            if body.get("tamper") is None:
                STATE.tokens[token] = Record("jwt", claims)
        return {"token": token, "jti": claims.get("jti"), "claims": claims, "header": header}

    def t_opaque(self, body):
        with STATE.lock:
            now = STATE.inow()
            username = body.get("username", "alice")
            exp = body.get("exp", now + int(body.get("expires_in", DEFAULT_ACCESS_LIFETIME)))
            info = {"sub": body.get("sub", "u-%s" % username), "username": username,
                    "groups": body.get("groups", []), "scope": body.get("scope", "openid login"),
                    "exp": exp, "iat": body.get("iat", now), "active": body.get("active", True),
                    "token_type": body.get("token_type", "access_token"),
                    "tokeninfo_status": int(body.get("tokeninfo_status", 200)),
                    "client_id": body.get("client_id", CLIENT_ID)}
            token = new_opaque()
            STATE.tokens[token] = Record("opaque", info)
        return {"token": token}

    def t_refresh_token(self, body):
        username = body.get("username", "alice")
        info = {"username": username, "sub": body.get("sub", "u-%s" % username),
                "groups": body.get("groups", []), "scope": body.get("scope", "openid login"),
                "group": body.get("group"),
                "expires_in": int(body.get("expires_in", DEFAULT_ACCESS_LIFETIME)),
                "refresh_expires_in": int(body.get("refresh_expires_in",
                                                   DEFAULT_REFRESH_LIFETIME))}
        return {"refresh_token": STATE.new_chain(info)}

    def t_revoke(self, body):
        with STATE.lock:
            if body.get("all"):
                for rec in STATE.tokens.values():
                    rec.revoked = True
                    if rec.chain is not None:
                        rec.chain.revoked = True
                return {"revoked": True}
            if "chain_of" in body:
                rec = STATE.tokens.get(str(body["chain_of"]))
                if rec is None or rec.chain is None:
                    raise BadRequest("unknown refresh token")
                STATE.revoke_chain(rec.chain)
                return {"revoked": True}
            return {"revoked": STATE.revoke_token(str(body.get("token", "")))}

    def t_rotate(self, body):
        family = str(body.get("family", "RSA")).upper()
        if family not in ("RSA", "EC"):
            raise BadRequest("family must be RSA or EC")
        with STATE.lock:
            kid, previous = STATE.add_key(family)
            if body.get("drop_old") and previous:
                STATE.keys[previous].published = False
                STATE.write_jwks()
        return {"kid": kid, "previous": previous}

    def t_fault(self, body):
        mode = str(body.get("mode", "none"))
        modes = ("none", "hang", "slow", "500", "503", "429", "reset", "endless", "huge",
                 "big2mb", "badjson", "deepjson", "wrongtypes", "empty400",
                 "answer")
        if mode not in modes:
            raise BadRequest("unknown fault mode %r" % mode)
        with STATE.lock:
            if mode == "none":
                STATE.fault = None
            else:
                paths = body.get("paths") or []
                if isinstance(paths, str):
                    paths = [paths]
                count = body.get("count")
                STATE.fault = {"mode": mode, "paths": list(paths),
                               "count": int(count) if count is not None else None,
                               "delay": float(body.get("delay", 1)),
                               # an int, or a string sent as given (an
                               # HTTP-date, a negative or huge value)
                               "retry_after": (body["retry_after"] if
                                               isinstance(body.get("retry_after"), str)
                                               else int(body.get("retry_after", 2))),
                               "answer": body.get("answer") or {}}
            return {"fault": STATE.fault}

    def t_stats_reset(self, body):
        STATE.reset_stats()
        return {"reset": True}

    def t_mode(self, body):
        with STATE.lock:
            if "rotation" in body:
                if body["rotation"] not in ("grace", "strict", "off"):
                    raise BadRequest("rotation must be grace, strict or off")
                STATE.rotation = body["rotation"]
            if "kaizala_move" in body:
                STATE.kaizala_move = kaizala_move_mode(body["kaizala_move"])
            if "membership_move" in body:
                membership_move_mode(body["membership_move"])
            if "clock_offset" in body:
                STATE.clock_offset = float(body["clock_offset"])
            return {"rotation": STATE.rotation, "kaizala_move": STATE.kaizala_move,
                    "clock_offset": STATE.clock_offset}

    def t_membership(self, body):
        group, user = str(body.get("group", "")), str(body.get("user", ""))
        if not group or not user:
            raise BadRequest("group and user are required")
        with STATE.lock:
            members = STATE.membership.setdefault(group, set())
            if body.get("member", True):
                members.add(user)
            else:
                members.discard(user)
            return {"group": group, "members": sorted(members)}


# --- scripted tokeninfo answers (tests/security) -----------------------------------------
# POST /test/tokeninfo {"token": T, "status": 403, "body": {...}} makes GET /tokeninfo
# answer exactly that status and JSON body for token T, whoever issued it and however
# often it is asked, until {"token": T, "clear": true} or {"clear_all": true}.  The body
# is sent as given (any JSON value; an object by default), so a test can script the
# answers no honest provider would give: a 403 naming nobody or another user, a 200 with
# "active": false or a refresh token's token_type, claims of the wrong type.  Kept by
# SHA-256 of the token under STATE.lock; the token itself is never logged.
SCRIPTED_TOKENINFO = {}


def scripted_key(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def scripted_tokeninfo(token):
    """(status, body) scripted for this token, or None."""
    with STATE.lock:
        return SCRIPTED_TOKENINFO.get(scripted_key(token))


def t_tokeninfo(body):
    """The /test/tokeninfo control: set or clear one token's scripted answer."""
    with STATE.lock:
        if body.get("clear_all"):
            SCRIPTED_TOKENINFO.clear()
            return {"scripted": 0}
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise BadRequest("token (a non-empty string) is required")
        if body.get("clear"):
            SCRIPTED_TOKENINFO.pop(scripted_key(token), None)
        else:
            status = int(body.get("status", 200))
            if not 100 <= status <= 599:
                raise BadRequest("status must be an HTTP status")
            SCRIPTED_TOKENINFO[scripted_key(token)] = (status, body.get("body", {}))
        return {"scripted": len(SCRIPTED_TOKENINFO)}
# --- end of scripted tokeninfo answers ---------------------------------------------------


# --- Kaizala moves (issue 14) ------------------------------------------------------------
# POST /test/mode {"kaizala_move": M} makes the next Kaizala token request answer 308, as
# Kaizala does when an endpoint moved: its Location is the new URL of that very request.
#   "location" (or true): Location only, /kaizala/api2/token on this host;
#   "body":    the same Location plus {"endpointUrl": ".../kaizala/api2"} in the body;
#   "foreign": Location on https://localhost:PORT, another host name of this same server,
#              so a client that follows it shows up with that Host header;
#   "foreign_body": Location on this host, but an endpointUrl on localhost.
# Every Kaizala token request is recorded (Host header, path, whether the secrets came)
# in KAIZALA_SEEN: GET /test/kaizala_seen lists them, POST /test/kaizala_seen clears.
KAIZALA_MOVES = ("location", "body", "foreign", "foreign_body")
KAIZALA_SEEN = []


def kaizala_move_mode(value):
    if value is True:
        return "location"
    if value in (False, None, "", "none"):
        return False
    if value not in KAIZALA_MOVES:
        raise BadRequest("kaizala_move must be one of %s" % ", ".join(KAIZALA_MOVES))
    return value


def kaizala_move_answer(move, base):
    """(status, body, headers) of the 308 for a move mode."""
    foreign = base.replace("://127.0.0.1:", "://localhost:")
    where = foreign if move == "foreign" else base
    headers = [("Location", where + "/kaizala/api2/token")]
    body = {}
    if move == "body":
        body["endpointUrl"] = base + "/kaizala/api2"
    if move == "foreign_body":
        body["endpointUrl"] = foreign + "/kaizala/api2"
    return 308, body, headers


def kaizala_record(handler):
    with STATE.lock:
        KAIZALA_SEEN.append({
            "host": handler.headers.get("Host", ""),
            "path": urllib.parse.urlsplit(handler.path).path,
            "secret": bool(handler.headers.get("applicationSecret")),
            "refresh_token": bool(handler.headers.get("refreshToken"))})


def t_kaizala_seen(clear):
    with STATE.lock:
        seen = list(KAIZALA_SEEN)
        if clear:
            KAIZALA_SEEN.clear()
        return {"seen": seen}
# POST /test/mode {"membership_move": M}: the next /membership/... request answers 308 with
# Location /membership2/... (the same answers there) on this host ("same") or on localhost
# ("foreign"); "none" stops it.
MEMBERSHIP_MOVE = {"mode": None}


def membership_move_mode(value):
    if value not in ("same", "foreign", "none", None):
        raise BadRequest("membership_move must be same, foreign or none")
    MEMBERSHIP_MOVE["mode"] = None if value in ("none", None) else value


def membership_move_answer(base, path):
    with STATE.lock:
        move, MEMBERSHIP_MOVE["mode"] = MEMBERSHIP_MOVE["mode"], None
    if not move or not path.startswith("/membership/"):
        return None
    if move == "foreign":
        base = base.replace("://127.0.0.1:", "://localhost:")
    return 308, {}, [("Location", base + "/membership2/" + path[len("/membership/"):])]
# --- end of Kaizala moves ----------------------------------------------------------------


# --- wazo-auth mode (issue 14) -----------------------------------------------------------
# wazo-auth's token API (wazo_auth/plugins/http/tokens/api.yml) under WAZO_PREFIX:
#   POST   /token {"refresh_token", "client_id", "expiration"}  -> 200 {"data": Token}; an
#          unknown or deleted refresh token (or another client_id) -> 401
#   GET    /token/{token}[?scope=ACL]  -> 200 {"data": Token}, 403 ACL not granted, 404
#   HEAD   /token/{token}[?scope=ACL]  -> 204, 403, 404
#   DELETE /token/{token}              -> 200 (revoked)
#   POST   /token/{token}/scopes/check {"scopes": [...]} -> 200 {"scopes": {ACL: bool}}, 404
#   DELETE /users/me/tokens/{client_id} (X-Auth-Token with ACL
#          auth.users.me.tokens.{client_id}.delete) -> 204, 404 none, 401
# Tokens are UUIDs; an expired token is unknown (404).  ACLs are checked server-side as
# wazo-auth's AccessCheck does: "*" is one dotted word, "#" anything, a word "me" also
# matches the token's auth_id, "my_session" its session, and "!" denies.
# Test control: POST /test/wazo {"op": "login", "username", "acl", "expiration",
# "access_type": "offline", "client_id", "no_username"} -> {"token", "refresh_token",
# "auth_id"}; {"op": "expire", "token"}; {"op": "delete_refresh", "refresh_token"}.
# Request paths are counted and logged with the token replaced by "*".
WAZO_PREFIX = "/api/auth/0.1"
WAZO = {"tokens": {}, "refresh": {}}


def wazo_redact(path):
    """A request path with any token in it replaced by '*'."""
    if not path.startswith(WAZO_PREFIX + "/token/"):
        return path
    rest = path[len(WAZO_PREFIX + "/token/"):]
    tail = "/scopes/check" if rest.endswith("/scopes/check") else ""
    return WAZO_PREFIX + "/token/*" + tail


def wazo_time(epoch, utc):
    t = time.gmtime(epoch) if utc else time.localtime(epoch)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%06d" % int((epoch % 1) * 1e6)


def wazo_acl_regex(access, auth_id, session):
    rx = re.escape(access).replace("\\*", "[^.#]*?").replace("\\#", ".*?")
    words = ["(me|%s)" % re.escape(auth_id) if w == "me" else
             (re.escape(session) if w == "my_session" else w) for w in rx.split("\\.")]
    return re.compile("^" + "\\.".join(words) + "$")


def wazo_acl_ok(rec, required):
    if required is None:
        return True
    acl = rec["acl"]
    for access in acl:
        if access.startswith("!") and wazo_acl_regex(access[1:], rec["auth_id"],
                                                     rec["session"]).match(required):
            return False
    return any(wazo_acl_regex(a, rec["auth_id"], rec["session"]).match(required)
               for a in acl if not a.startswith("!"))


def wazo_new_token(user, expiration, client_id=None):
    now = STATE.now()
    meta = {"uuid": user["auth_id"], "auth_id": user["auth_id"],
            "tenant_uuid": user["tenant"], "pbx_user_uuid": user["auth_id"]}
    if user.get("username"):
        meta["username"] = user["username"]
    rec = {"token": str(uuid.uuid4()), "auth_id": user["auth_id"], "acl": list(user["acl"]),
           "session": str(uuid.uuid4()), "issued": now, "expires": now + expiration,
           "metadata": meta, "client_id": client_id}
    WAZO["tokens"][rec["token"]] = rec
    return rec


def wazo_dict(rec):
    return {"token": rec["token"], "auth_id": rec["auth_id"],
            "xivo_user_uuid": rec["auth_id"], "xivo_uuid": "00000000-0000-4000-8000-000000000000",
            "issued_at": wazo_time(rec["issued"], False),
            "utc_issued_at": wazo_time(rec["issued"], True),
            "expires_at": wazo_time(rec["expires"], False),
            "utc_expires_at": wazo_time(rec["expires"], True),
            "acl": rec["acl"], "metadata": rec["metadata"], "session_uuid": rec["session"],
            "remote_addr": "127.0.0.1", "user_agent": "kztoken-test"}


def wazo_live(token):
    """The record of a token that exists and has not expired, or None (under the lock)."""
    rec = WAZO["tokens"].get(token)
    if rec is None or rec["expires"] <= STATE.now():
        return None
    return rec


def wazo_error(handler, status, message):
    handler.send_json(status, {"reason": [message], "timestamp": [time.time()],
                               "status_code": status})


def wazo_route(handler, path):
    m = handler.command
    parts = [urllib.parse.unquote(x) for x in path.split("/")[1:]]
    if path == "/token" and m == "POST":
        return wazo_refresh(handler)
    if len(parts) == 2 and parts[0] == "token" and m in ("GET", "HEAD", "DELETE"):
        return wazo_token(handler, parts[1])
    if len(parts) == 4 and parts[0] == "token" and parts[2:] == ["scopes", "check"] \
            and m == "POST":
        return wazo_scopes_check(handler, parts[1])
    if len(parts) == 4 and parts[:3] == ["users", "me", "tokens"] and m == "DELETE":
        return wazo_delete_refresh(handler, parts[3])
    wazo_error(handler, 404, "No such resource")


def wazo_refresh(handler):
    body = handler.json_body()
    rt, cid = body.get("refresh_token"), body.get("client_id")
    expiration = body.get("expiration", 7200)
    if not isinstance(expiration, int) or not 0 < expiration <= 315360000:
        return wazo_error(handler, 400, "Invalid expiration")
    with STATE.lock:
        ref = WAZO["refresh"].get(rt) if isinstance(rt, str) else None
        if ref is None or ref["deleted"] or ref["client_id"] != cid:
            return wazo_error(handler, 401, "Authentication Failed")
        rec = wazo_new_token(ref["user"], expiration, cid)
        return handler.send_json(200, {"data": wazo_dict(rec)})


def wazo_token(handler, token):
    scope = (handler.query.get("scope") or [None])[0]
    with STATE.lock:
        rec = wazo_live(token)
        if handler.command == "DELETE":
            WAZO["tokens"].pop(token, None)
            return handler.send_json(200, {"data": {"message": "success"}})
        if rec is None:
            return wazo_error(handler, 404, "No such token")
        if not wazo_acl_ok(rec, scope):
            return wazo_error(handler, 403, "Unauthorized for %s" % scope)
        if handler.command == "HEAD":
            return handler.send_body(204, b"", ctype=None)
        return handler.send_json(200, {"data": wazo_dict(rec)})


def wazo_scopes_check(handler, token):
    body = handler.json_body()
    scopes = body.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
        return wazo_error(handler, 400, "scopes: a list of strings is required")
    with STATE.lock:
        rec = wazo_live(token)
        if rec is None:
            return wazo_error(handler, 404, "No such token")
        return handler.send_json(200, {"scopes": {x: wazo_acl_ok(rec, x) for x in scopes}})


def wazo_delete_refresh(handler, client_id):
    with STATE.lock:
        rec = wazo_live(handler.headers.get("X-Auth-Token") or "")
        if rec is None or not wazo_acl_ok(rec, "auth.users.me.tokens.%s.delete" % client_id):
            return wazo_error(handler, 401, "Unauthorized")
        found = [r for r in WAZO["refresh"].values()
                 if r["user"]["auth_id"] == rec["auth_id"] and r["client_id"] == client_id
                 and not r["deleted"]]
        if not found:
            return wazo_error(handler, 404, "No such refresh token")
        for r in found:
            r["deleted"] = True
        return handler.send_body(204, b"", ctype=None)


def t_wazo(body):
    op = body.get("op")
    with STATE.lock:
        if op == "login":
            username = str(body.get("username", "alice"))
            user = {"auth_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "wazo:" + username)),
                    "username": None if body.get("no_username") else username,
                    "tenant": "11111111-2222-4333-8444-555555555555",
                    "acl": list(body.get("acl") or [])}
            rec = wazo_new_token(user, int(body.get("expiration", 7200)))
            out = {"token": rec["token"], "auth_id": user["auth_id"]}
            if body.get("access_type") == "offline":
                rt = str(uuid.uuid4())
                WAZO["refresh"][rt] = {"user": user, "deleted": False,
                                       "client_id": str(body.get("client_id", CLIENT_ID))}
                out["refresh_token"] = rt
            return out
        if op == "expire":
            rec = WAZO["tokens"].get(str(body.get("token")))
            if rec:
                rec["expires"] = STATE.now() - 1
            return {"expired": bool(rec)}
        if op == "delete_refresh":
            ref = WAZO["refresh"].get(str(body.get("refresh_token")))
            if ref:
                ref["deleted"] = True
            return {"deleted": bool(ref)}
        if op == "refresh_state":
            ref = WAZO["refresh"].get(str(body.get("refresh_token")))
            return {"state": "unknown" if ref is None else
                    "deleted" if ref["deleted"] else "active"}
    raise BadRequest("op must be login, expire, delete_refresh or refresh_state")
# --- end of wazo-auth mode ---------------------------------------------------------------

# ==== SCIM 2.0 directory (RFC 7643/7644), for `kztoken sync` =================================
# Backed by the users the tokens name: the users and groups of STATE.membership (the
# same table /test/membership edits), plus what /test/scim adds, renames or deletes.
#   GET /scim/v2/Groups[?filter=displayName eq "G"][&startIndex=N&count=M]
#   GET /scim/v2/Users[?filter=userName eq "U"][&startIndex=N&count=M]
#   GET /scim/v2/Users/{id}, /scim/v2/Groups/{id}
# Bearer = an active access token of this IdP.  Pages hold at most page_max (default 100)
# resources whatever count asks, so a client must page.  Every answer has a weak ETag;
# If-None-Match with it answers 304.  POST /test/scim takes any of:
#   {"reset": true}  {"page_max": N}  {"etags": false}
#   {"user": {"userName": U, "id": I, "displayName": D, "active": B}}   (add or change)
#   {"overlap": N}  every page after the first starts N items early (a directory that
#       changed between pages); {"raw_member": {"group": G, "value": V}} adds a member
#       value as is ("." ...); {"answer_as": {"id": A, "as": B}} GET /Users/A answers B
#   {"delete_user": U}  {"group_id": {"name": G, "id": I}}
#   {"generate": {"group": G, "n": N, "prefix": "user"}}              (bench: N members)
#   {"total_extra": N}  lists claim N more totalResults than they have (a lying server)
#   {"freeze": true}  answers from one snapshot until the next /test/scim call (bench:
#                     100,000 users are not recomputed for every page)
# The generic faults apply with paths ["/scim"] (500, 429, hang, badjson, ...).

class ScimDirectory:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.extra = {}           # userName -> {"id", "displayName", "active"}
        self.deleted = set()
        self.group_ids = {}
        self.page_max = 100
        self.etags = True
        self.frozen = None        # a snapshot served as is while set
        self.total_extra = 0
        self.overlap = 0          # each page after the first repeats this many
        self.raw_members = {}     # group -> extra raw member values ("." ...)
        self.answer_as = {}       # id -> the id whose record GET /Users/{id} answers

    @staticmethod
    def derived_id(kind, name):
        return kind + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]

    def snapshot(self):
        """(users by id, groups by id), computed under both locks."""
        with STATE.lock, self.lock:
            if self.frozen is not None:
                return self.frozen
            names = set(self.extra)
            for members in STATE.membership.values():
                names |= set(members)
            users = {}
            by_name = {}
            for n in sorted(names - self.deleted):
                x = self.extra.get(n, {})
                uid = x.get("id") or self.derived_id("u", n)
                users[uid] = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                              "id": uid, "userName": n,
                              "displayName": x.get("displayName", n.capitalize()),
                              "active": x.get("active", True),
                              "meta": {"resourceType": "User"}}
                by_name[n] = uid
            groups = {}
            for g in sorted(STATE.membership):
                gid = self.group_ids.get(g) or self.derived_id("g", g)
                members = [{"value": by_name[m], "display": m, "type": "User",
                            "$ref": "Users/" + by_name[m]}
                           for m in sorted(STATE.membership[g]) if m in by_name]
                members += [{"value": v, "type": "User"}
                            for v in self.raw_members.get(g, [])]
                groups[gid] = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                               "id": gid, "displayName": g, "members": members,
                               "meta": {"resourceType": "Group"}}
            return users, groups, self.page_max, self.etags

    def control(self, body):
        with self.lock:
            self.frozen = None
        if body.get("generate"):
            gen = body["generate"]
            group, n = str(gen["group"]), int(gen["n"])
            prefix = str(gen.get("prefix", "user"))
            with STATE.lock:
                STATE.membership.setdefault(group, set()).update(
                    "%s%d" % (prefix, i) for i in range(n))
        with self.lock:
            if body.get("reset"):
                self.reset()
            if "page_max" in body:
                self.page_max = max(1, int(body["page_max"]))
            if "etags" in body:
                self.etags = bool(body["etags"])
            if "total_extra" in body:
                self.total_extra = int(body["total_extra"])
            if "overlap" in body:
                self.overlap = max(0, int(body["overlap"]))
            if body.get("raw_member"):
                rm = body["raw_member"]
                self.raw_members.setdefault(str(rm["group"]), []).append(str(rm["value"]))
            if body.get("answer_as"):
                self.answer_as[str(body["answer_as"]["id"])] = str(body["answer_as"]["as"])
            if body.get("user"):
                u = body["user"]
                name = str(u["userName"])
                x = self.extra.setdefault(name, {})
                for k in ("id", "displayName", "active"):
                    if k in u:
                        x[k] = u[k]
                self.deleted.discard(name)
            if body.get("delete_user"):
                self.deleted.add(str(body["delete_user"]))
            if body.get("group_id"):
                self.group_ids[str(body["group_id"]["name"])] = str(body["group_id"]["id"])
            freeze = bool(body.get("freeze"))
        if freeze:
            snap = self.snapshot()
            with self.lock:
                self.frozen = snap
        with self.lock:
            return {"page_max": self.page_max, "etags": self.etags,
                    "frozen": self.frozen is not None,
                    "extra": sorted(self.extra), "deleted": sorted(self.deleted)}

    @staticmethod
    def parse_filter(text, attr):
        """The value of `attr eq "value"` (RFC 7644 3.4.2.2), or raises ValueError."""
        head, sep, rest = text.strip().partition(" ")
        op, sep2, value = rest.strip().partition(" ")
        value = value.strip()
        if (not sep or not sep2 or head.lower() != attr.lower() or op.lower() != "eq"
                or len(value) < 2 or value[0] != '"' or value[-1] != '"'):
            raise ValueError("unsupported filter")
        out, i, v = [], 0, value[1:-1]
        while i < len(v):
            if v[i] == "\\" and i + 1 < len(v):
                i += 1
            out.append(v[i])
            i += 1
        return "".join(out)

    def answer(self, h, status, obj, etags):
        body = compact_json(obj)
        headers = []
        if etags:
            tag = 'W/"%s"' % hashlib.sha256(body).hexdigest()[:20]
            headers.append(("ETag", tag))
            if h.headers.get("If-None-Match") == tag:
                h.send_response(304)
                h.send_header("ETag", tag)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        h.send_body(status, body, "application/scim+json", headers)

    def error(self, h, status, detail, scim_type=None):
        obj = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
               "status": str(status), "detail": detail}
        if scim_type:
            obj["scimType"] = scim_type
        h.send_body(status, compact_json(obj), "application/scim+json")

    def handle(self, h, path):
        token = h.bearer() if h.headers.get("Authorization") else None
        answer = STATE.describe(token) if token else None
        if answer is None or answer.get("token_type") != "access_token":
            return h.send_error_json(401, "invalid_token", None,
                                     [("WWW-Authenticate", "Bearer")])
        users, groups, page_max, etags = self.snapshot()
        parts = path[len("/scim/v2/"):].split("/")
        table = {"Users": (users, "userName"), "Groups": (groups, "displayName")}
        if parts[0] not in table or len(parts) > 2:
            return self.error(h, 404, "no such resource type")
        res, attr = table[parts[0]]
        if len(parts) == 2:
            want = urllib.parse.unquote(parts[1])
            with self.lock:
                want = self.answer_as.get(want, want) if parts[0] == "Users" else want
            obj = res.get(want)
            if obj is None:
                return self.error(h, 404, "no such resource")
            return self.answer(h, 200, obj, etags)
        items = list(res.values())
        flt = (h.query.get("filter") or [None])[0]
        if flt is not None:
            try:
                want = self.parse_filter(flt, attr)
            except ValueError:
                return self.error(h, 400, "unsupported filter", "invalidFilter")
            items = [r for r in items if r[attr] == want]
        try:
            start = max(1, int((h.query.get("startIndex") or ["1"])[0]))
            count = max(0, int((h.query.get("count") or [str(page_max)])[0]))
        except ValueError:
            return self.error(h, 400, "bad startIndex or count", "invalidValue")
        with self.lock:
            extra, overlap = self.total_extra, self.overlap
        first = start - 1 - (overlap if start > 1 else 0)
        page = items[max(0, first):start - 1 + min(count, page_max)]
        self.answer(h, 200, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                             "totalResults": len(items) + extra, "startIndex": start,
                             "itemsPerPage": len(page), "Resources": page}, etags)


SCIM = ScimDirectory()
# ==== end of SCIM ===========================================================================


# ==== Kaizala platform API as a directory, for `kztoken sync` (issue 15) ===================
# learn.microsoft.com/kaizala/connectors/groups and /members, under the endpointUrl the
# Kaizala token service hands out ({base}/kaizala/api):
#   GET /kaizala/api/v1/groups                  {"groups": [{"groupId", "groupName",
#                                                 "groupImageUrl"}]}
#   GET /kaizala/api/v1/groups/{groupId}/members {"members": [{"id", "role",
#                                                 "mobileNumber", "isProvisioned"}]}
# Header accessToken = an active access token minted by /kaizala/token (any other: 401).
# Backed by the users the tokens name (STATE.membership): each user's member id is a
# GUID derived from the name and its mobileNumber is kaizala_mobile(name), which the
# tokeninfo answer carries too, so that username_claim = mobileNumber names a user the
# same way at login and in the directory.  groupIds end in "@1" as Kaizala's do.
# /kaizala/api2/v1/... answers the same (where a move goes).  POST /test/kaizala_dir:
#   {"reset": true}
#   {"group": {"groupId": I, "groupName": N, "members": [user, ...]}}  an extra group
#   {"member": {"user": U, "set": {...}, "drop": [field, ...]}}  reshape U's record
#   {"move": "same"|"foreign"|"none"}  the next API request answers 308, Location the
#       same path under /kaizala/api2 on this host, or on localhost (another name of this
#       server, so a client that follows shows up with that Host header)
#   {"fail": 401|null}  every API request answers that status
#   {"clear_seen": true}
# GET /test/kaizala_dir lists the API requests seen: Host, path, whether a token came.
# Generic faults apply with paths ["/kaizala/api/v1"] (500, badjson, ...).
KAIZALA_ISSUED = set()
KAIZALA_NS = uuid.UUID("6f1c9d2e-3b7a-4e55-9a1f-0c2d4e6f8a10")


def kaizala_mobile(user):
    """A stable, made-up mobile number for a user name."""
    digits = int(hashlib.sha256(user.encode()).hexdigest(), 16) % 10 ** 8
    return "+9190%08d" % digits


class KaizalaDirectory:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.extra_groups = []
        self.member_edits = {}    # user -> {"set": {...}, "drop": [...]}
        self.move = None
        self.fail = None
        self.seen = []

    @staticmethod
    def group_id(name):
        return "%s@1" % uuid.uuid5(KAIZALA_NS, "group:" + name)

    def member(self, user):
        rec = {"id": str(uuid.uuid5(KAIZALA_NS, "user:" + user)), "role": "Member",
               "mobileNumber": kaizala_mobile(user), "isProvisioned": True}
        edit = self.member_edits.get(user, {})
        rec.update(edit.get("set") or {})
        for key in edit.get("drop") or []:
            rec.pop(key, None)
        return rec

    def groups(self):
        """[(groupId, groupName, [user, ...])], under both locks."""
        with STATE.lock, self.lock:
            out = [(self.group_id(g), g, sorted(STATE.membership[g]))
                   for g in sorted(STATE.membership)]
            out += [(g["groupId"], g["groupName"], list(g["members"]))
                    for g in self.extra_groups]
            return out

    def control(self, body):
        with self.lock:
            if body.get("reset"):
                self.reset()
            if body.get("group"):
                g = body["group"]
                self.extra_groups.append({"groupId": str(g["groupId"]),
                                          "groupName": g["groupName"],
                                          "members": [str(u) for u in g.get("members", [])]})
            if body.get("member"):
                m = body["member"]
                self.member_edits[str(m["user"])] = {"set": m.get("set") or {},
                                                     "drop": m.get("drop") or []}
            if "move" in body:
                if body["move"] not in ("same", "foreign", "none", None):
                    raise BadRequest("move must be same, foreign or none")
                self.move = None if body["move"] in ("none", None) else body["move"]
            if "fail" in body:
                self.fail = int(body["fail"]) if body["fail"] is not None else None
            if body.get("clear_seen"):
                self.seen = []
            return {"extra_groups": len(self.extra_groups), "move": self.move,
                    "fail": self.fail}

    def seen_list(self):
        with self.lock:
            return {"seen": list(self.seen)}

    def handle(self, h, path):
        token = h.headers.get("accessToken")
        with self.lock:
            self.seen.append({"host": h.headers.get("Host", ""), "path": path,
                              "token": bool(token)})
            move, self.move = self.move, None
            fail = self.fail
        if move:
            base = h.base_url()
            if move == "foreign":
                base = base.replace("://127.0.0.1:", "://localhost:")
            rest = path.split("/v1/", 1)[1]
            return h.send_json(308, {}, [("Location", base + "/kaizala/api2/v1/" + rest)])
        if fail:
            return h.send_error_json(fail, "injected", "set by the test")
        with STATE.lock:
            issued = token in KAIZALA_ISSUED if token else False
        answer = STATE.describe(token) if issued else None
        if answer is None or answer.get("token_type") != "access_token":
            return h.send_error_json(401, "invalid_token", "accessToken not accepted")
        parts = path.split("/v1/", 1)[1].split("/")
        groups = self.groups()
        if parts == ["groups"]:
            return h.send_json(200, {"groups": [
                {"groupId": gid, "groupName": name, "groupImageUrl": ""}
                for gid, name, _members in groups]})
        if len(parts) == 3 and parts[0] == "groups" and parts[2] == "members":
            want = urllib.parse.unquote(parts[1])
            for gid, _name, members in groups:
                if gid == want:
                    with self.lock:
                        recs = [self.member(u) for u in members]
                    return h.send_json(200, {"members": recs})
            return h.send_error_json(404, "not_found", "no such group")
        h.send_error_json(404, "not_found")


KAIZALA_DIR = KaizalaDirectory()
# ==== end of the Kaizala directory =========================================================


def merge(base, overrides):
    """base updated with overrides; an override of None (JSON null) removes the field."""
    out = dict(base)
    for k, v in overrides.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def wrong_types_for(path):
    """A well-formed JSON answer whose fields have the wrong types, per endpoint."""
    if path.startswith("/jwks"):
        return {"keys": "nope"}
    if path.startswith("/token"):
        return {"access_token": 123, "token_type": ["Bearer"], "expires_in": "soon",
                "refresh_token": {"a": 1}, "scope": 7}
    if path.startswith("/kaizala"):
        return {"accessToken": 123, "accessTokenExpiry": "tomorrow", "endpointUrl": 42,
                "refreshToken": ["x"]}
    if path.startswith("/.well-known"):
        return {"issuer": 1, "jwks_uri": ["x"], "token_endpoint": {"a": 1}}
    return {"active": "yes", "exp": "tomorrow", "groups": {"a": 1}, "sub": ["x"]}


class Server(http.server.ThreadingHTTPServer):
    """A threading server whose TLS handshake runs in the request's own thread, so a
    client that connects and says nothing cannot block the accept loop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, ssl_context=None):
        self.ssl_context = ssl_context
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        self.base_url = "%s://%s:%d" % ("https" if ssl_context else "http", host, port)

    def finish_request(self, request, client_address):
        conn = request
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log("TLS handshake failed: %s" % (getattr(exc, "reason", None) or exc))
                return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, ValueError)):
            return                          # clients hanging up are part of the tests
        super().handle_error(request, client_address)


def load_or_make_secret(path):
    """Reuse STATEDIR/client_secret across restarts, or create it (0600, newline)."""
    try:
        with open(path) as f:
            secret = f.read()
        if secret.endswith("\n"):
            secret = secret[:-1]
        if secret:
            os.chmod(path, 0o600)
            return secret
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(24)
    write_atomic(path, (secret + "\n").encode(), 0o600)
    return secret


def main():
    global STATE
    ap = argparse.ArgumentParser(description="kztoken test identity provider")
    ap.add_argument("--dir", required=True, help="state directory")
    ap.add_argument("--port", type=int, default=0, help="HTTPS port (0: any free port)")
    ap.add_argument("--http-port", type=int, default=-1,
                    help="plain-HTTP port for allow_http_loopback tests (-1: none, 0: any)")
    args = ap.parse_args()

    statedir = os.path.abspath(args.dir)
    os.makedirs(statedir, exist_ok=True)
    for name in ("url", "http_url"):
        try:
            os.unlink(os.path.join(statedir, name))
        except FileNotFoundError:
            pass

    cert, key = certs.make_tls_material(statedir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)

    STATE = State(statedir, load_or_make_secret(os.path.join(statedir, "client_secret")))
    https = Server(("127.0.0.1", args.port), ctx)
    STATE.issuer = https.base_url
    http_srv = Server(("127.0.0.1", args.http_port)) if args.http_port >= 0 else None

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    write_atomic(os.path.join(statedir, "pid"), b"%d\n" % os.getpid(), 0o644)
    if http_srv:
        threading.Thread(target=http_srv.serve_forever, daemon=True).start()
        write_atomic(os.path.join(statedir, "http_url"), (http_srv.base_url + "\n").encode(),
                     0o644)
    # The sockets listen since their construction: now the URL may be published.
    write_atomic(os.path.join(statedir, "url"), (https.base_url + "\n").encode(), 0o644)
    log("listening on %s%s" % (https.base_url,
                               " and " + http_srv.base_url if http_srv else ""))
    try:
        https.serve_forever(poll_interval=0.2)
    finally:
        for name in ("url", "http_url", "pid"):
            try:
                os.unlink(os.path.join(statedir, name))
            except FileNotFoundError:
                pass
        log("stopped")


if __name__ == "__main__":
    main()
