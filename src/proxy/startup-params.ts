/**
 * Which of the client's startup parameters reach the upstream.
 *
 * The client's `user` and `database` never do: the gateway signs in as its own upstream role to
 * the upstream's database. Every other parameter is a run-time setting (a GUC) that PostgreSQL
 * applies at backend start, so a client could use it to change who it is or what it may do
 * before a single statement is analysed. Settings that change identity or privileges, and
 * `replication`, are refused; `options` is parsed (`-c name=value`, `--name=value`) and each
 * setting in it is held to the same rule.
 *
 * The settings that change how the server lexes a statement (client_encoding,
 * standard_conforming_strings) are pinned: a client value other than the pinned one (or an
 * equivalent the gateway accepts) is refused, and the upstream always gets the pinned values.
 */
import { GatewayError } from '../errors.ts';
import { PINNED_UPSTREAM_SETTINGS, startupLexingRefusal } from '../engine/index.ts';
import { quotedValue } from './quoted-value.ts';

/** Settings a client MUST NOT choose at startup (lower case). */
const PROTECTED_SETTINGS = new Set([
  'role',
  'session_authorization',
  'is_superuser',
  'default_transaction_read_only',
  'transaction_read_only',
  'session_replication_role',
  'local_preload_libraries',
  'session_preload_libraries',
  'shared_preload_libraries',
  'jit_provider',
  'dynamic_library_path',
  'allow_system_table_mods',
  'ignore_system_indexes',
  'zero_damaged_pages',
]);

function refuse(name: string): GatewayError {
  return new GatewayError('auth.no_scope', `pgwarden: the startup setting "${quotedValue(name)}" may not be set by a client`, {
    sqlstate: '42501',
    hint: 'Remove it from the connection options; the gateway controls it.',
  });
}

function checkSetting(name: string, value: string): void {
  const lower = name.toLowerCase();
  if (PROTECTED_SETTINGS.has(lower)) throw refuse(name);
  const lexing = startupLexingRefusal(lower, value);
  if (lexing !== undefined) {
    // The refusal quotes the value, which is the client's: shown as quotedValue shows it.
    throw new GatewayError('protocol.unsupported', `pgwarden: ${lexing.replaceAll(`"${value}"`, `"${quotedValue(value)}"`)}`, {
      sqlstate: '0A000',
      hint:
        lower === 'client_encoding'
          ? 'Connect with client_encoding=UTF8 (e.g. PGCLIENTENCODING=UTF8); the gateway does not convert encodings.'
          : lower === 'standard_conforming_strings'
            ? 'Connect with standard_conforming_strings on (the default), and write backslash escapes as E\'…\' strings.'
            : 'Leave backslash_quote at its default (safe_encoding), or set it off.',
    });
  }
}

/**
 * Split a PostgreSQL `options` string into words as the server does (`pg_split_opts`): words end
 * at any character C's isspace() takes for a space (vertical tab and form feed included), a
 * backslash makes the next character part of the word, and a backslash at the end is dropped.
 * The split MUST be the server's: `-c application_name=x<VT>-crole=…` is one harmless setting
 * to a split on spaces and tabs alone, and two settings, the second a protected one, to the
 * server.
 */
export function splitOptions(options: string): string[] {
  const words: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < options.length; i++) {
    const c = options[i];
    if (c === '\\') {
      if (i + 1 < options.length) cur += options[++i];
      has = true;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f') {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

/** Validate `options`: only `-c name=value` / `--name=value` settings, none protected. */
export function checkOptions(options: string): void {
  // The server splits options with the C library's isspace() in the database's locale, where a
  // byte above 0x7f may count as a space (0xA0 in some single-byte locales): text that is not
  // ASCII could be split where the gateway does not split it. Such a value goes as a startup
  // parameter of its own, which is never split.
  if (/[^\x00-\x7f]/.test(options)) {
    throw new GatewayError('auth.no_scope', 'pgwarden: the startup option string may hold only ASCII characters', {
      sqlstate: '42501',
      hint: 'Pass a setting whose value is not ASCII as a startup parameter of its own (name=value), not inside options.',
    });
  }
  const words = splitOptions(options);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    let setting: string | undefined;
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    else
      throw new GatewayError('auth.no_scope', `pgwarden: the startup option "${quotedValue(w)}" is not allowed`, {
        sqlstate: '42501',
        hint: 'Only -c name=value settings may be passed in options.',
      });
    if (!setting || !setting.includes('=')) throw new GatewayError('protocol.violation', `pgwarden: invalid startup option "${quotedValue(w)}"`);
    const eq = setting.indexOf('=');
    checkSetting(setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1));
  }
}

/** The values PostgreSQL's parse_bool reads as false (unique prefixes of false/no, off, 0). */
function isFalse(value: string): boolean {
  const v = value.trim().toLowerCase();
  return v === '0' || (v.length >= 2 && 'off'.startsWith(v)) || (v.length > 0 && ('false'.startsWith(v) || 'no'.startsWith(v)));
}

/**
 * The parameters to send upstream (without user and database), the pinned lexing settings last
 * so that they win over the client's. Throws a GatewayError (sent as FATAL) naming the first
 * refused parameter.
 */
export function upstreamStartupParams(params: Map<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  // PostgreSQL reads a setting's name without regard to case and applies the startup packet's
  // settings in order, the last one winning: `search_path=public` followed by
  // `SEARCH_PATH=secret` runs under `secret`, and a client's `STATEMENT_TIMEOUT=0` after its
  // `statement_timeout` would undo the scope's limit written over the first. A setting named
  // twice is refused, and each goes upstream under its lower-case name, so that the value the
  // gateway reads (`startupSetting`) and the scope's settings written over it are the ones the
  // server applies.
  const seen = new Set<string>();
  for (const [name, value] of params) {
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      throw new GatewayError('protocol.violation', `pgwarden: the startup setting "${quotedValue(lower)}" is given more than once`, {
        hint: 'Give each setting once in the startup packet (names are not case-sensitive).',
      });
    }
    seen.add(lower);
    if (lower === 'user' || lower === 'database') continue;
    if (lower === 'replication') {
      // `replication=false` (any spelling PostgreSQL reads as false) asks for an ordinary session.
      if (isFalse(value)) continue;
      throw new GatewayError('protocol.unsupported', 'pgwarden: replication connections are not supported', { sqlstate: '0A000' });
    }
    if (lower === 'options') checkOptions(value);
    else if (lower.startsWith('_pq_.')) continue; // protocol extensions: none are supported
    else checkSetting(lower, value);
    // The accepted spelling of a pinned setting is replaced by the pinned value below.
    if (lower in PINNED_UPSTREAM_SETTINGS) continue;
    out[lower] = value;
  }
  return { ...out, ...PINNED_UPSTREAM_SETTINGS };
}

/**
 * The value a setting takes at backend start from the startup packet: an explicit parameter wins
 * over `-c name=value` in `options`, as in PostgreSQL.
 */
export function startupSetting(params: Map<string, string>, name: string): string | undefined {
  for (const [k, v] of params) if (k.toLowerCase() === name) return v;
  const options = [...params].find(([k]) => k.toLowerCase() === 'options')?.[1];
  if (!options) return undefined;
  let found: string | undefined;
  const words = splitOptions(options);
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const setting = w === '-c' ? words[++i] : w.startsWith('-c') ? w.slice(2) : w.startsWith('--') ? w.slice(2) : undefined;
    if (!setting) continue;
    const eq = setting.indexOf('=');
    if (eq > 0 && setting.slice(0, eq).replace(/-/g, '_').toLowerCase() === name) found = setting.slice(eq + 1);
  }
  return found;
}
