/**
 * The settings that decide how the server splits a statement's bytes into tokens, pinned for the
 * whole upstream session.
 *
 * The gateway analyses statement text as UTF-8 with standard-conforming strings. If the server
 * read the same bytes differently, it would run a statement the gateway never decided on:
 * - `client_encoding` SJIS, BIG5, GBK, GB18030, UHC or JOHAB: a lead byte swallows the `\` or `'`
 *   after it, so a literal ends elsewhere than the gateway believes;
 * - `standard_conforming_strings = off`: a backslash escapes the quote in '…' literals.
 *
 * Every upstream session therefore starts with these values as startup parameters (they outrank
 * ALTER ROLE / ALTER DATABASE … SET), a client asking for other values is refused at startup
 * (and for backslash_quote = on, which the policy refuses by SET too), the
 * policy refuses changes by statement (but for SQL_ASCII, see `readsAsUtf8`), and the session watches the server's ParameterStatus
 * reports: a session whose server left a pinned value is ended (something changed it that the
 * gateway could not see, e.g. a function calling set_config with a computed name).
 */

/** Startup parameters every upstream session gets, over anything the client asked for. */
export const PINNED_UPSTREAM_SETTINGS: Readonly<Record<string, string>> = {
  client_encoding: 'UTF8',
  standard_conforming_strings: 'on',
};

/** PostgreSQL's own spelling cleanup of an encoding name: letters and digits, lower case. */
export function encodingKey(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/**
 * Client encodings the gateway accepts from a client. UTF8 (alias UNICODE) is what the upstream
 * runs in; SQL_ASCII is what libpq's `client_encoding=auto` resolves to in a C locale, and over a
 * UTF-8 database the server validates and lexes it as UTF-8 anyway, so it is served as UTF8.
 */
const ACCEPTED_CLIENT_ENCODINGS = new Set(['utf8', 'unicode', 'sqlascii']);

/**
 * Whether the server reads statement text sent in client encoding `value` as UTF-8, as the
 * gateway does. UTF8 (alias UNICODE) always. SQL_ASCII turns conversion off: the server then
 * validates and lexes the client's bytes in the database's own encoding, so it reads them as
 * UTF-8 exactly when that is UTF8 (`server_encoding`, reported at startup); its results are
 * the database's bytes unconverted, which in a UTF8 database is UTF-8 as well.
 */
export function readsAsUtf8(value: string, serverEncoding: string | undefined): boolean {
  const key = encodingKey(value);
  return key === 'utf8' || key === 'unicode' || (key === 'sqlascii' && serverEncoding !== undefined && encodingKey(serverEncoding) === 'utf8');
}

/** The values PostgreSQL reads as boolean true (unique prefixes of true/yes, on, 1). */
function isTrue(value: string): boolean {
  const v = value.trim().toLowerCase();
  return v === 'on' || v === '1' || (v.length > 0 && ('true'.startsWith(v) || 'yes'.startsWith(v)));
}

/**
 * Why a client's startup value for a lexing setting is refused, or undefined when it is accepted
 * (or the setting is not one of them). `name` is lower case with `_`.
 */
export function startupLexingRefusal(name: string, value: string): string | undefined {
  if (name === 'client_encoding') {
    if (ACCEPTED_CLIENT_ENCODINGS.has(encodingKey(value))) return undefined;
    return `client_encoding "${value}" is not supported: the gateway reads statements as UTF-8, and in another encoding the database could read different statements than the ones decided on`;
  }
  if (name === 'standard_conforming_strings') {
    if (isTrue(value)) return undefined;
    return `standard_conforming_strings "${value}" is not supported: with it off, backslashes in '…' strings would make the database read different statements than the ones decided on`;
  }
  if (name === 'backslash_quote') {
    // The same values SET may choose (see the policy's protected settings).
    if (['off', 'false', 'no', '0', 'safeencoding'].includes(value.trim().toLowerCase().replace(/[-_]/g, ''))) return undefined;
    return `backslash_quote "${value}" is not supported: a backslash-quoted string could end where the gateway does not expect`;
  }
  return undefined;
}

/**
 * Why a value the server reports (ParameterStatus) means the session left its pinned lexing
 * settings; undefined when it did not (or the parameter is not pinned).
 */
export function pinnedSettingDrift(name: string, value: string, serverEncoding?: string): string | undefined {
  if (name === 'client_encoding' && !readsAsUtf8(value, serverEncoding)) {
    return encodingKey(value) === 'sqlascii'
      ? `the database reported client_encoding ${value}, which reads statements as UTF-8 only in a UTF8 database, and this one's encoding is ${serverEncoding ?? 'unknown'}`
      : `the database reported client_encoding ${value}; the session is pinned to UTF8`;
  }
  if (name === 'standard_conforming_strings' && value !== 'on') return `the database reported standard_conforming_strings ${value}; the session is pinned to on`;
  return undefined;
}
