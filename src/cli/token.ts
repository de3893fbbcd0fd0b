/** `pgwarden token`: mint a token for one of the demo's identities; prints only the token. */
import { CliError, mintDemoToken, readDemoInfo, ttlSeconds } from './common.ts';

export async function tokenCommand(o: { dataDir: string; identity: string; ttl: string }): Promise<void> {
  const ttl = ttlSeconds(o.ttl);
  const info = await readDemoInfo(o.dataDir);
  const who = Object.hasOwn(info.identities, o.identity) ? info.identities[o.identity] : undefined;
  if (!who) {
    const known = Object.keys(info.identities);
    throw new CliError(`unknown identity "${o.identity}"; known: ${known.length ? known.join(', ') : '(none)'}`);
  }
  process.stdout.write(`${await mintDemoToken(o.dataDir, info, who, ttl)}\n`);
}
