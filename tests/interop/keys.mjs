// Signing keys of the interop provider (private JWKS kept in STATEDIR/jwks.json).
//
//   node keys.mjs new FILE                 write a fresh set: one RSA-2048 key, one EC P-256 key,
//                                          one Ed25519 key (OKP, for the EdDSA resource)
//   node keys.mjs rotate FILE [--drop-old] put a new RSA, EC and Ed25519 key first (the provider
//                                          signs with the first key of the right type); keep the
//                                          old ones published unless --drop-old
//
// kids look like "rsa-g2-3f9a1c" and "ec-g2-77d0e1": g<N> is the key generation, so a test can
// tell at a glance which rotation signed a token. The JWKs carry "use": "sig" and no "alg"
// (node-oidc-provider publishes what it is given; many real providers omit alg too).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';

function newKeys(gen) {
  const tag = () => randomBytes(3).toString('hex');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  // RSA and EC first: rotate-keys.sh prints the first two kids
  return [
    { kid: `rsa-g${gen}-${tag()}`, use: 'sig', ...rsa },
    { kid: `ec-g${gen}-${tag()}`, use: 'sig', ...ec },
    { kid: `ed-g${gen}-${tag()}`, use: 'sig', ...ed },
  ];
}

function write(file, jwks) {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(jwks, null, 1)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

const [cmd, file, opt] = process.argv.slice(2);
if (cmd === 'new' && file) {
  write(file, { generation: 1, keys: newKeys(1) });
} else if (cmd === 'rotate' && file) {
  const old = JSON.parse(readFileSync(file, 'utf8'));
  const gen = (old.generation || 1) + 1;
  const keys = newKeys(gen);
  write(file, { generation: gen, keys: opt === '--drop-old' ? keys : [...keys, ...old.keys] });
} else {
  process.stderr.write('usage: node keys.mjs new FILE | rotate FILE [--drop-old]\n');
  process.exit(2);
}
