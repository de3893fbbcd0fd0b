/**
 * SCRAM-SHA-256 client (RFC 5802 / RFC 7677) for signing in to the upstream with held credentials.
 *
 * The salted password is the expensive part (PBKDF2 with the server's iteration count, 4096 by
 * default): `ScramKeyCache` remembers it per (password, salt, iterations), so reconnects to the
 * same upstream role cost a few HMACs instead of thousands of hash rounds. The cache holds derived
 * keys only for credentials the gateway already holds.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export class ScramKeyCache {
  private readonly keys = new Map<string, Buffer>();

  saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
    const key = `${iterations}:${salt.toString('base64')}:${createHash('sha256').update(password).digest('base64')}`;
    let v = this.keys.get(key);
    if (!v) {
      v = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
      if (this.keys.size > 64) this.keys.clear();
      this.keys.set(key, v);
    }
    return v;
  }
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function parseAttributes(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) m.set(part[0], part.slice(2));
  }
  return m;
}

export class ScramSession {
  private readonly nonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private expectedServerSignature: Buffer | null = null;

  constructor(
    private readonly password: string,
    private readonly cache: ScramKeyCache,
  ) {}

  /** The client-first message (gs2 header `n,,`: no channel binding). */
  clientFirst(): Buffer {
    this.clientFirstBare = `n=,r=${this.nonce}`;
    return Buffer.from(`n,,${this.clientFirstBare}`);
  }

  /** Answer the server-first message with the client-final message. */
  clientFinal(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString('utf8');
    const attrs = parseAttributes(text);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce || !nonce.startsWith(this.nonce) || nonce.length === this.nonce.length) throw new Error('SCRAM: server nonce does not extend the client nonce');
    if (!salt) throw new Error('SCRAM: server sent no salt');
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) throw new Error('SCRAM: invalid iteration count');
    const salted = this.cache.saltedPassword(this.password, Buffer.from(salt, 'base64'), iterations);
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const finalWithoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${text},${finalWithoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = clientKey[i] ^ signature[i];
    this.expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    return Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`);
  }

  /** Check the server-final message: the server proves it knew the verifier too. */
  verifyServerFinal(serverFinal: Buffer): void {
    const attrs = parseAttributes(serverFinal.toString('utf8'));
    const err = attrs.get('e');
    if (err) throw new Error(`SCRAM: server error ${err}`);
    const v = attrs.get('v');
    if (!v || !this.expectedServerSignature) throw new Error('SCRAM: server sent no signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== 32 || !timingSafeEqual(got, this.expectedServerSignature)) throw new Error('SCRAM: server signature does not match');
  }
}

/** The md5 password answer: 'md5' + md5(md5(password + user) + salt). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return 'md5' + createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
}
