/**
 * What a configuration reload changed, for the audit log: each changed setting by its path, with
 * its value before and after — except secrets, which are recorded as changed without either value.
 * An auditor reading a `config_reload` event sees that `listen.require_tls` went from true to false
 * or that a policy's tables were widened, and never a password, a key or a webhook's secret URL.
 *
 * A value is a secret when its key names one (password, secret, token, hash_key, key…), when it is
 * a webhook URL (Slack-style URLs are bearer credentials), or when it is a URL carrying a
 * password. Anything else is shown, cut to a bounded length.
 */

export interface ConfigChange {
  /** `listen.require_tls`, `policies[0].allow[1].tables`, … */
  key: string;
  /** Absent when the key was added; `(secret)` for a secret that was set. */
  before?: unknown;
  /** Absent when the key was removed; `(secret)` for a secret that is set. */
  after?: unknown;
  /** The value is a secret: it changed, and neither value is recorded, only whether it is set. */
  secret?: true;
}

export interface ConfigDiff {
  changes: ConfigChange[];
  /** The security-relevant sections among the changes (TLS, identity, policies, masking, …). */
  security: string[];
  /** More changes than were recorded. */
  truncated?: number;
}

const MAX_CHANGES = 100;
/** What a secret's value is recorded as (only whether it is set). */
export const SECRET = '(secret)';
const MAX_VALUE_CHARS = 300;

const SECRET_KEY = /(^|_)(password|passphrase|secret|token|key)$/i;

/** Top-level sections, or `section.key` paths, whose changes can weaken what the gateway enforces. */
const SECURITY = [
  'listen.tls',
  'listen.require_tls',
  'listen.http_tls',
  'listen.allow_insecure_remote',
  'listen.http_hosts',
  'listen.postgres',
  'listen.http',
  'identity',
  'admin',
  'policies',
  'masking',
  'reviews',
  'limits',
  'audit',
  'mcp',
  'console',
  'dev_issuer',
];

export function configDiff(before: unknown, after: unknown): ConfigDiff {
  const changes: ConfigChange[] = [];
  let dropped = 0;
  const push = (c: ConfigChange) => {
    if (changes.length < MAX_CHANGES) changes.push(c);
    else dropped++;
  };
  walk(before, after, [], push);
  const security = SECURITY.filter((s) => changes.some((c) => c.key === s || c.key.startsWith(`${s}.`) || c.key.startsWith(`${s}[`)));
  return dropped > 0 ? { changes, security, truncated: dropped } : { changes, security };
}

type Path = (string | number)[];

function walk(a: unknown, b: unknown, path: Path, push: (c: ConfigChange) => void): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], [...path, k], push);
    return;
  }
  // Arrays of objects (policies, rules) element by element; arrays of plain values as one value.
  if (Array.isArray(a) && Array.isArray(b) && (a.some(isPlainObject) || b.some(isPlainObject))) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(a[i], b[i], [...path, i], push);
    return;
  }
  if (same(a, b)) return;
  const key = render(path);
  if (isSecret(path, a) || isSecret(path, b)) {
    // Whether it was set, or is now, is not a secret: a removed TLS section must be visible.
    push({ key, ...(a === undefined ? {} : { before: SECRET }), ...(b === undefined ? {} : { after: SECRET }), secret: true });
    return;
  }
  const c: ConfigChange = { key };
  if (a !== undefined) c.before = shown(a);
  if (b !== undefined) c.after = shown(b);
  push(c);
}

function isSecret(path: Path, value: unknown): boolean {
  const last = path[path.length - 1];
  if (typeof last === 'string' && SECRET_KEY.test(last)) return true;
  if (path.includes('webhooks') && last === 'url') return true;
  if (path.includes('headers')) return true;
  // A whole object or list that holds a secret somewhere (an added webhook, an added upstream).
  if (isPlainObject(value) || Array.isArray(value)) return holdsSecret(value, path);
  return typeof value === 'string' && urlHasPassword(value);
}

function holdsSecret(value: unknown, path: Path): boolean {
  if (isPlainObject(value)) return Object.entries(value).some(([k, v]) => isSecret([...path, k], v));
  if (Array.isArray(value)) return value.some((v, i) => isSecret([...path, i], v));
  return false;
}

function urlHasPassword(text: string): boolean {
  try {
    return new URL(text).password !== '';
  } catch {
    return false;
  }
}

/** A value as the event records it: JSON-safe and bounded. */
function shown(value: unknown): unknown {
  const json = JSON.stringify(value) ?? 'null';
  if (json.length <= MAX_VALUE_CHARS) return JSON.parse(json);
  return `${json.slice(0, MAX_VALUE_CHARS)}… (${json.length} characters)`;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function render(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
