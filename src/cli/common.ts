/**
 * What the subcommands share: where the config is, the demo's data directory, minting a token with
 * the demo's development issuer, and the error type for failures the user can fix.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../config/index.ts';

/** An expected failure: printed as `pgwarden: <message>`, exit code 1, no stack trace. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export interface ConfigLocation {
  config?: string;
  dataDir?: string;
}

/** `--config F`, or `--data-dir D` meaning `D/pgwarden.yaml`; exactly one of them. */
export function configPath(o: ConfigLocation): string {
  if (o.config !== undefined && o.dataDir !== undefined) throw new CliError('pass either --config FILE or --data-dir DIR, not both');
  if (o.config !== undefined) return o.config;
  if (o.dataDir !== undefined) return join(o.dataDir, 'pgwarden.yaml');
  throw new CliError('pass --config FILE or --data-dir DIR');
}

const identitySchema = z.object({ subject: z.string().min(1), groups: z.array(z.string()).default([]) });

const demoInfoSchema = z.object({
  http: z.object({ host: z.string(), port: z.number().int() }),
  devIssuer: z.object({ issuer: z.string(), keyFile: z.string(), audience: z.string() }),
  adminIdentity: identitySchema,
  /** The development approver `pgwarden reviews --data-dir` signs in as (default: demo-approver in group dba). */
  approverIdentity: identitySchema.optional(),
  identities: z.record(z.string(), identitySchema).default({}),
});

/** `D/demo.json`, written by `pgwarden demo`: where it listens and how to mint its tokens. */
export type DemoInfo = z.infer<typeof demoInfoSchema>;

export async function readDemoInfo(dataDir: string): Promise<DemoInfo> {
  const path = join(dataDir, 'demo.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`${path} not found: start the demo first (pgwarden demo --data-dir ${dataDir})`);
    throw new CliError(`cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(`${path} is not valid JSON`);
  }
  const parsed = demoInfoSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(`${path}: ${issue.path.join('.') || 'top level'}: ${issue.message}`);
  }
  return parsed.data;
}

/** A token from the demo's development issuer (its key file is resolved against the data directory). */
export async function mintDemoToken(dataDir: string, info: DemoInfo, who: { subject: string; groups: string[] }, ttlSeconds: number): Promise<string> {
  // Imported here so that commands which never mint (check, start) do not load the JWT stack.
  const { DevIssuer } = await import('../identity/index.ts');
  const keyFile = isAbsolute(info.devIssuer.keyFile) ? info.devIssuer.keyFile : resolve(dataDir, info.devIssuer.keyFile);
  const issuer = await DevIssuer.open(keyFile, info.devIssuer.issuer);
  return issuer.mint({ subject: who.subject, groups: who.groups, audience: info.devIssuer.audience, ttlSeconds });
}

/** `10m`, `1h`, `90s` → whole seconds. */
export function ttlSeconds(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new CliError(`--ttl: "${text}" is not a duration such as 10m, 1h or 90s`);
  }
  if (ms <= 0) throw new CliError('--ttl must be longer than zero');
  return Math.ceil(ms / 1000);
}

/** A TCP port from the command line (0 picks a free one). */
export function portOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new CliError(`not a port number: ${value}`);
  return n;
}
