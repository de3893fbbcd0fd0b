/**
 * The files a config names that must load before anything starts: each listener's TLS
 * certificate and key (read and loaded as a pair) and each upstream's CA file (a PEM
 * certificate). Problems name the key that names the file, never the file's contents.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Problem } from './issues.ts';
import type { GatewayConfig } from './schema.ts';

/** A certificate and key pair loaded from the files `t` names, or the problem with them. */
export function loadTlsPair(at: readonly string[], t: { cert: string; key: string }): { cert: Buffer; key: Buffer; context: tls.SecureContext } | Problem {
  const read = (field: 'cert' | 'key'): Buffer | Problem => {
    try {
      return readFileSync(t[field]);
    } catch (err) {
      return { path: [...at, field], message: `cannot read ${t[field]} (${(err as Error).message})` };
    }
  };
  const cert = read('cert');
  if (!Buffer.isBuffer(cert)) return cert;
  const key = read('key');
  if (!Buffer.isBuffer(key)) return key;
  try {
    return { cert, key, context: tls.createSecureContext({ cert, key }) };
  } catch (err) {
    return { path: [...at], message: `the certificate ${t.cert} and key ${t.key} do not load as a pair (${(err as Error).message})` };
  }
}

/** Every problem with the TLS files `config` names, in config order. */
export function tlsFileProblems(config: GatewayConfig): Problem[] {
  const out: Problem[] = [];
  for (const at of ['tls', 'http_tls'] as const) {
    const t = config.listen[at];
    if (!t) continue;
    const r = loadTlsPair(['listen', at], t);
    if ('path' in r) out.push(r);
  }
  for (const [name, up] of Object.entries(config.upstreams)) {
    const ca = up.tls?.ca;
    if (ca === undefined) continue;
    const path = ['upstreams', name, 'tls', 'ca'];
    let pem: Buffer;
    try {
      pem = readFileSync(ca);
    } catch (err) {
      out.push({ path, message: `cannot read ${ca} (${(err as Error).message})` });
      continue;
    }
    try {
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
      new X509Certificate(pem);
    } catch (err) {
      out.push({ path, message: `${ca} is not a PEM certificate (${(err as Error).message})` });
    }
  }
  return out;
}
