// node-oidc-provider configured for kztoken's interoperability tests.
//
// Started by start.sh as `node provider.mjs` with the environment:
//   KZ_STATE     state dir: server.pem, server.key, jwks.json, client_secret, svc_client_secret
//                (read here); url (written here once the server listens)
//   KZ_PORT      port on 127.0.0.1 (default 0: any free port; the issuer carries the real one)
//   KZ_AT_TTL    access token lifetime in seconds (default 300), for every resource
//   KZ_RT_TTL    refresh token lifetime in seconds (default 86400)
//   KZ_SHORT_TTL access token lifetime of the *-short resources (default 3), for expiry tests
//
// SIGHUP re-reads jwks.json and swaps in a new Provider with the same clients and the same
// storage (grants, refresh tokens and opaque tokens survive): that is how rotate-keys.sh
// rotates the signing keys without a restart. SIGTERM stops the server.
//
// Nothing here logs a token, a code, a secret or a password.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as https from 'node:https';
import * as path from 'node:path';

import Provider, { errors } from 'oidc-provider';

const STATE = process.env.KZ_STATE;
if (!STATE) {
  process.stderr.write('provider.mjs: KZ_STATE not set\n');
  process.exit(2);
}
const PORT = Number(process.env.KZ_PORT || 0);
const AT_TTL = Number(process.env.KZ_AT_TTL || 300);
const RT_TTL = Number(process.env.KZ_RT_TTL || 86400);
const SHORT_TTL = Number(process.env.KZ_SHORT_TTL || 3);

const readState = (name) => readFileSync(path.join(STATE, name), 'utf8');
const secretFrom = (name) => readState(name).replace(/\n$/, '');

// ---- users ------------------------------------------------------------------------------
// Test users only; the passwords are published in NOTES.md.
export const USERS = {
  alice: { password: 'alice-password', name: 'Alice Admin', groups: ['ops-admins'] },
  bob: { password: 'bob-password', name: 'Bob Developer', groups: ['devs'] },
};

// ---- resource servers (RFC 8707 resource indicators) -------------------------------------
// The audience of each resource's access tokens is the resource indicator itself.
export const RESOURCES = {
  'urn:kztoken:host': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
  'urn:kztoken:host-es': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } },
  'urn:kztoken:host-opaque': { accessTokenFormat: 'opaque' },
  // the same with a short lifetime, so an expiry test need not shorten every token
  'urn:kztoken:host-short': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } }, accessTokenTTL: SHORT_TTL },
  'urn:kztoken:host-opaque-short': { accessTokenFormat: 'opaque', accessTokenTTL: SHORT_TTL },
  // algorithms the provider signs with and libkzauth lacks: must fail as alg_not_allowed
  'urn:kztoken:host-ps': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'PS256' } } },
  'urn:kztoken:host-ed': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'EdDSA' } } },
  // a resource that is not this host: its tokens must fail as bad_audience
  'urn:kztoken:other': { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } },
};
const RESOURCE_SCOPE = 'login admin';

// ---- storage ------------------------------------------------------------------------------
// A Map with expiry, shared by every Provider instance of this process (so a key rotation
// by SIGHUP keeps all grants and tokens). Same semantics as the bundled MemoryAdapter,
// without its 1000-entry LRU limit.
const store = new Map(); // key -> { value, exp (ms or Infinity) }
const now = () => Date.now();
function sget(key) {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.exp <= now()) {
    store.delete(key);
    return undefined;
  }
  return e.value;
}
function sset(key, value, expiresIn) {
  store.set(key, { value, exp: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : Infinity });
}
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
class MapAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async destroy(id) { store.delete(this.key(id)); }

  async consume(id) {
    const v = sget(this.key(id));
    if (v) v.consumed = Math.floor(now() / 1000);
  }

  async find(id) { return sget(this.key(id)); }

  async findByUid(uid) { return this.find(sget(`sessionUid:${uid}`)); }

  async findByUserCode(code) { return this.find(sget(`userCode:${code}`)); }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') sset(`sessionUid:${payload.uid}`, id, expiresIn);
    const { grantId, userCode } = payload;
    if (GRANTABLE.has(this.model) && grantId) {
      const gk = `grant:${grantId}`;
      const members = sget(gk);
      if (members) members.push(key);
      else sset(gk, [key]);
    }
    if (userCode) sset(`userCode:${userCode}`, id, expiresIn);
    sset(key, payload, expiresIn);
  }

  async revokeByGrantId(grantId) {
    const gk = `grant:${grantId}`;
    (sget(gk) || []).forEach((k) => store.delete(k));
    store.delete(gk);
  }
}
// sweep expired entries now and then
setInterval(() => { for (const k of store.keys()) sget(k); }, 60_000).unref();

// ---- configuration ------------------------------------------------------------------------
const cookieKeys = [randomBytes(32).toString('base64url')];

function authTimeOf(ctx) {
  const e = ctx?.oidc?.entities || {};
  return e.AuthorizationCode?.authTime ?? e.RefreshToken?.authTime ?? e.Session?.authTime;
}

function configuration(jwks) {
  return {
    adapter: MapAdapter,
    jwks: { keys: jwks.keys },
    cookies: { keys: cookieKeys },
    clients: [
      {
        // the host: logs users in (code flow with PKCE), keeps refresh tokens, introspects
        client_id: 'host-fleet',
        client_secret: secretFrom('client_secret'),
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://host-fleet.invalid/callback'],
        scope: 'openid profile groups offline_access', // OIDC scopes; resource scopes come from RESOURCES
      },
      {
        // a machine client: client_credentials only
        client_id: 'kztoken-svc',
        client_secret: secretFrom('svc_client_secret'),
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        // the host's device flow (RFC 8628): a public client, as pam_kztoken device_flow uses it
        client_id: 'kztoken-device',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        redirect_uris: [],
        scope: 'openid profile groups',
      },
    ],
    scopes: ['openid', 'offline_access', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    async findAccount(ctx, sub) {
      const u = USERS[sub];
      if (!u) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, preferred_username: sub, name: u.name, groups: [...u.groups] };
        },
      };
    },
    // Identity of the user inside every access token (JWT) and introspection answer (opaque).
    async extraTokenClaims(ctx, token) {
      const u = token.accountId && USERS[token.accountId];
      if (!u) return undefined; // client_credentials tokens: sub = client_id, nothing more
      const claims = { preferred_username: token.accountId, groups: [...u.groups] };
      const at = authTimeOf(ctx);
      if (at) claims.auth_time = at;
      return claims;
    },
    features: {
      devInteractions: { enabled: false }, // our own, scriptable interactions below
      introspection: {
        enabled: true,
        allowedPolicy: async () => true,
      },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      // the device authorization grant; its /device pages are the provider's own
      // (device-login.sh drives them as a browser would)
      deviceFlow: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => oneOf,
        // a refresh or code exchange without `resource` gets the resource that was granted
        // (kztoken's oauth2 refresh sends no resource parameter)
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          const rs = RESOURCES[indicator];
          if (!rs) throw new errors.InvalidTarget();
          return { scope: RESOURCE_SCOPE, audience: indicator, accessTokenTTL: AT_TTL, ...rs };
        },
      },
    },
    pkce: { methods: ['S256'], required: () => true },
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    clientBasedCORS: () => false,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || AT_TTL,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || AT_TTL,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: RT_TTL,
      Interaction: 600,
      Session: 86400,
      Grant: RT_TTL,
    },
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  };
}

// ---- interactions: login and consent forms that curl can drive ---------------------------
//   GET  /interaction/UID          200, a form: data-prompt="login" or data-prompt="consent"
//   POST /interaction/UID/login    login=…&password=…  -> 303 back to /auth/UID (401 if wrong)
//   POST /interaction/UID/confirm  (consent: grant everything asked for) -> 303 /auth/UID
//   POST /interaction/UID/abort    -> 303, the client gets error=access_denied
function readBody(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 65536) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!DOCTYPE html><html><body>${html}</body></html>\n`);
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, '<p>interaction mismatch</p>');
    return;
  }
  const { prompt, params, session } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') {
      page(res, 200, `<form method="post" action="/interaction/${uid}/login" data-prompt="login">`
        + '<input name="login" autocomplete="username"><input name="password" type="password">'
        + '<button type="submit">Sign in</button></form>');
    } else {
      page(res, 200, `<form method="post" action="/interaction/${uid}/confirm" data-prompt="consent">`
        + `<p>${esc(params.client_id)} asks for: ${esc(params.scope || '')}</p>`
        + '<button type="submit">Allow</button></form>');
    }
    return;
  }
  if (req.method !== 'POST') {
    page(res, 405, '<p>method not allowed</p>');
    return;
  }
  const body = await readBody(req);
  if (action === 'login') {
    const login = body.get('login') || '';
    const u = Object.hasOwn(USERS, login) ? USERS[login] : undefined;
    if (prompt.name !== 'login' || !u || body.get('password') !== u.password) {
      page(res, 401, '<p>invalid login or password</p>');
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  } else if (action === 'confirm') {
    if (prompt.name !== 'consent') {
      page(res, 400, '<p>no consent asked</p>');
      return;
    }
    const { details: d } = prompt;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } else if (action === 'abort') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  } else {
    page(res, 404, '<p>not found</p>');
  }
}

// ---- server -------------------------------------------------------------------------------
let provider;
let providerCallback;
let issuer;

function build() {
  const jwks = JSON.parse(readState('jwks.json'));
  const p = new Provider(issuer, configuration(jwks));
  p.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err?.message}\n`));
  provider = p;
  providerCallback = p.callback();
  process.stderr.write(`provider ready, signing kids: ${jwks.keys.map((k) => k.kid).join(', ')}\n`);
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?\/?$/;

const server = https.createServer({ key: readState('server.key'), cert: readState('server.pem') }, (req, res) => {
  const m = INTERACTION.exec(new URL(req.url, issuer).pathname);
  if (m) {
    interaction(provider, req, res, m[1], m[2]).catch((err) => {
      if (!res.headersSent) page(res, 400, `<p>${err.name}</p>`);
      else res.end();
    });
    return;
  }
  providerCallback(req, res);
});

server.listen(PORT, '127.0.0.1', () => {
  issuer = `https://127.0.0.1:${server.address().port}`;
  build();
  const tmp = path.join(STATE, 'url.tmp');
  writeFileSync(tmp, `${issuer}\n`);
  renameSync(tmp, path.join(STATE, 'url'));
});

process.on('SIGHUP', () => {
  try {
    build();
  } catch (err) {
    process.stderr.write(`reload failed: ${err.message}\n`);
  }
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  });
}
