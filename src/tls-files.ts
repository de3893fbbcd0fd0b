/** TLS certificate files named in the config, loaded with errors that name the config key. */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from './config/config-error.ts';
import type { GatewayConfig } from './config/schema.ts';

/**
 * The certificate and key files of `listen.tls` or `listen.http_tls`, read and checked as a pair;
 * a file that cannot be read, or a pair that does not load, is an error naming the key.
 */
export function tlsFiles(key: 'listen.tls' | 'listen.http_tls', t: { cert: string; key: string }): { cert: Buffer; key: Buffer; context: tls.SecureContext } {
  const read = (field: 'cert' | 'key'): Buffer => {
    try {
      return readFileSync(t[field]);
    } catch (err) {
      throw new ConfigError([`${key}.${field}: cannot read ${t[field]} (${(err as Error).message})`]);
    }
  };
  const cert = read('cert');
  const pem = read('key');
  try {
    return { cert, key: pem, context: tls.createSecureContext({ cert, key: pem }) };
  } catch (err) {
    throw new ConfigError([`${key}: the certificate ${t.cert} and key ${t.key} do not load as a pair (${(err as Error).message})`]);
  }
}

/**
 * Every TLS file the config names, loaded once: the listeners' certificate and key pairs, and
 * each upstream's CA file (which must hold a PEM certificate). A config error for the first
 * that does not load.
 */
export function checkTlsFiles(config: GatewayConfig): void {
  if (config.listen.tls) tlsFiles('listen.tls', config.listen.tls);
  if (config.listen.http_tls) tlsFiles('listen.http_tls', config.listen.http_tls);
  for (const [name, up] of Object.entries(config.upstreams)) {
    const ca = up.tls?.ca;
    if (ca === undefined) continue;
    const key = `upstreams.${name}.tls.ca`;
    let pem: Buffer;
    try {
      pem = readFileSync(ca);
    } catch (err) {
      throw new ConfigError([`${key}: cannot read ${ca} (${(err as Error).message})`]);
    }
    try {
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
      new X509Certificate(pem);
    } catch (err) {
      throw new ConfigError([`${key}: ${ca} is not a PEM certificate (${(err as Error).message})`]);
    }
  }
}
