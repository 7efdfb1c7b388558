// node jwt-verify.mjs JWKS_FILE ISSUER AUDIENCE [ALG…] < token
// An independent reference check (jose, the library node-oidc-provider itself uses): verifies
// the signature against the JWKS, typ at+jwt, iss, aud, exp. Prints the payload as JSON and
// exits 0, or prints the error code (e.g. ERR_JWKS_NO_MATCHING_KEY, ERR_JWT_EXPIRED) and exits 1.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, issuer, audience, ...algorithms] = process.argv.slice(2);
const token = readFileSync(0, 'utf8').trim();
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
try {
  const { payload } = await jwtVerify(token, jwks, {
    issuer, audience, typ: 'at+jwt', clockTolerance: 0,
    algorithms: algorithms.length ? algorithms : ['RS256', 'ES256'],
  });
  process.stdout.write(`${JSON.stringify(payload)}\n`);
} catch (err) {
  process.stdout.write(`${err.code || err.name}\n`);
  process.exit(1);
}
