/**
 * The built-in development issuer behind `pgwarden demo`: one RS256 key kept in a file, a
 * discovery document and a JWKS for the HTTP part to serve, and `mint()` for demo tokens.
 *
 * It MUST NOT be enabled in production: anyone who can read the key file can mint any identity.
 * It has no token endpoint and no client authentication on purpose; tokens are minted in-process
 * (by `pgwarden demo` and `pgwarden token`) and verified through the ordinary verifier like those
 * of any other issuer.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

const ALG = 'RS256';

export interface MintOptions {
  subject: string;
  groups?: string[];
  audience: string;
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number;
  /** Extra claims; the registered ones (iss, sub, aud, iat, exp, jti) are always the issuer's own. */
  claims?: Record<string, unknown>;
}

export class DevIssuer {
  readonly issuer: string;
  readonly #kid: string;
  readonly #publicJwk: JWK;
  readonly #privateKey: CryptoKey;

  private constructor(issuer: string, kid: string, publicJwk: JWK, privateKey: CryptoKey) {
    this.issuer = issuer;
    this.#kid = kid;
    this.#publicJwk = publicJwk;
    this.#privateKey = privateKey;
  }

  /**
   * Load the private key from `keyFile`, or generate one and write it there (directories made as
   * needed, the file readable by its owner only) so tokens survive a restart of the demo.
   */
  static async open(keyFile: string, issuerUrl: string): Promise<DevIssuer> {
    const issuer = normaliseIssuer(issuerUrl);
    const jwk = (await loadKey(keyFile)) ?? (await createKey(keyFile));
    const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
    const privateKey = await importJWK({ ...jwk, alg: ALG }, ALG);
    if (privateKey instanceof Uint8Array || privateKey.type !== 'private') throw new Error(`${keyFile}: not an RSA private key`);
    const publicJwk: JWK = { kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: ALG, use: 'sig' };
    return new DevIssuer(issuer, kid, publicJwk, privateKey);
  }

  /** The OpenID Connect discovery document, served at `${issuer}/.well-known/openid-configuration`. */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/jwks`,
      id_token_signing_alg_values_supported: [ALG],
      subject_types_supported: ['public'],
      claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'groups'],
    };
  }

  /** The public key set, served at `${issuer}/jwks`. Never includes private members. */
  jwks(): { keys: JWK[] } {
    return { keys: [{ ...this.#publicJwk }] };
  }

  /** A signed access token for `subject`, valid now for `ttlSeconds`. */
  async mint(o: MintOptions): Promise<string> {
    const ttl = o.ttlSeconds ?? 3600;
    if (!Number.isFinite(ttl) || ttl <= 0) throw new RangeError('ttlSeconds must be a positive number');
    if (o.subject === '') throw new TypeError('a token needs a subject');
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = { ...o.claims };
    if (o.groups) payload.groups = [...o.groups];
    return new SignJWT(payload)
      .setProtectedHeader({ alg: ALG, kid: this.#kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(o.subject)
      .setAudience(o.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.ceil(ttl))
      .setJti(randomUUID())
      .sign(this.#privateKey);
  }
}

function normaliseIssuer(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`dev issuer URL must be http(s): ${url}`);
  return url.replace(/\/+$/, '');
}

async function loadKey(keyFile: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(keyFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new Error(`${keyFile}: not a JSON Web Key`);
  }
  if (jwk === null || typeof jwk !== 'object' || jwk.kty !== 'RSA' || typeof jwk.d !== 'string' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') {
    throw new Error(`${keyFile}: not an RSA private JSON Web Key`);
  }
  return jwk;
}

async function createKey(keyFile: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  const full: JWK = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG, use: 'sig' };
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  try {
    // `wx`: never overwrite a key another process wrote in the meantime; use that one instead.
    await writeFile(keyFile, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      const existing = await loadKey(keyFile);
      if (existing) return existing;
    }
    throw err;
  }
  return full;
}
