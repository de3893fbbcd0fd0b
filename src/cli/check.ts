/**
 * `pgwarden check`: validate a config file (and that its TLS certificates load) and say what it
 * configures, or list every problem.
 */
import { loadConfigFile } from '../config/index.ts';
import { checkTlsFiles } from '../tls-files.ts';
import { configPath, type ConfigLocation } from './common.ts';

export async function checkCommand(o: ConfigLocation): Promise<void> {
  const config = await loadConfigFile(configPath(o));
  checkTlsFiles(config);
  const upstreams = Object.keys(config.upstreams).length;
  const issuers = config.identity.issuers.length;
  process.stdout.write(`config OK: ${plural(upstreams, 'upstream')}, ${plural(issuers, 'issuer')}\n`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
