/** TLS certificate files named in the config, loaded with errors that name the config key. */
import type tls from 'node:tls';
import { ConfigError } from './config/config-error.ts';
import { loadTlsPair, tlsFileProblems } from './config/files.ts';
import type { GatewayConfig } from './config/schema.ts';
import { formatPath } from './config/yaml-nodes.ts';

/**
 * The certificate and key files of `listen.tls` or `listen.http_tls`, read and checked as a pair;
 * a file that cannot be read, or a pair that does not load, is an error naming the key.
 */
export function tlsFiles(key: 'listen.tls' | 'listen.http_tls', t: { cert: string; key: string }): { cert: Buffer; key: Buffer; context: tls.SecureContext } {
  const r = loadTlsPair(key.split('.'), t);
  if ('path' in r) throw new ConfigError([`${formatPath(r.path)}: ${r.message}`]);
  return r;
}

/**
 * Every TLS file the config names, loaded once: the listeners' certificate and key pairs, and
 * each upstream's CA file (which must hold a PEM certificate). A config error listing each that
 * does not load (a config read with `loadConfigFile` has had them checked, with their lines).
 */
export function checkTlsFiles(config: GatewayConfig): void {
  const problems = tlsFileProblems(config);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${formatPath(p.path)}: ${p.message}`));
}
