/**
 * Settings that change how the server splits a statement into tokens (client_encoding,
 * standard_conforming_strings, backslash_quote) stay as the gateway pinned them: whichever way a
 * statement would change them — SET, SET LOCAL, SET NAMES, set_config anywhere in a query, a
 * function's SET clause, ALTER FUNCTION … SET — it is refused; returning to the pinned value
 * (RESET, DEFAULT, the pinned value itself) is allowed.
 */
import { allow, deny, type Family } from './harness.ts';

/** Encodings in which a lead byte can swallow the `\` or `'` after it. */
const CLIENT_ONLY = ['SJIS', 'BIG5', 'GBK', 'GB18030', 'UHC', 'JOHAB'];
const ENCODING = /may not set client_encoding/;
const SCS = /may not set standard_conforming_strings/;

export const lexingFamilies: Family[] = [
  {
    family: 'a client encoding that can hide a quote is refused, however it is set',
    cases: [
      ...CLIENT_ONLY.flatMap((enc) => [
        deny('analyst', `SET client_encoding = ${enc} is refused`, `set client_encoding = '${enc}'`, ENCODING, { rule: 'builtin:session-hardening' }),
        deny('support', `SET NAMES ${enc} is refused`, `set names '${enc}'`, ENCODING),
        deny('analyst', `SET LOCAL client_encoding = ${enc} is refused`, `set local client_encoding to ${enc.toLowerCase()}`, ENCODING),
        deny('migrator', `set_config('client_encoding', '${enc}') is refused`, `select set_config('client_encoding', '${enc}', false)`, ENCODING),
        deny('migrator', `a transaction-local set_config of ${enc} is refused`, `select set_config('client_encoding', '${enc}', true)`, ENCODING),
      ]),
      deny('analyst', 'a set_config of client_encoding in FROM is refused', "select * from set_config('client_encoding', 'SJIS', false)", ENCODING),
      deny('analyst', 'a set_config of client_encoding in a CTE is refused', "with s as (select set_config('client_encoding', 'BIG5', false)) select 1 from s", ENCODING),
      deny('analyst', 'a set_config of client_encoding in a subquery filter is refused', "select id from orders where status = (select set_config('client_encoding', 'GBK', false))", ENCODING),
      deny('analyst', 'a set_config of client_encoding after a read in one string is refused', "select id from orders; select set_config('client_encoding', 'UHC', false)", ENCODING),
      deny('analyst', 'a set_config of client_encoding inside PREPARE is refused', "prepare p as select set_config('client_encoding', 'JOHAB', false)", ENCODING),
      deny('analyst', 'a set_config of client_encoding with a computed value is refused', "select set_config('client_encoding', 'SJ' || 'IS', false)", /may not set client_encoding to a non-constant value/),
      deny('analyst', 'a set_config whose setting name is computed is refused', "select set_config('client_' || 'encoding', 'SJIS', false)", /setting name that is not a constant/),
      deny('analyst', 'a set_config whose setting name comes from a table is refused', "select set_config(status, 'SJIS', false) from orders", /setting name that is not a constant/),
      deny('analyst', 'a single-byte client encoding is refused too', "set client_encoding = 'LATIN1'", ENCODING),
      deny('analyst', 'the spelling of the setting name does not matter', "set CLIENT_ENCODING = 'sjis'", ENCODING),
      allow('analyst', 'SET client_encoding TO DEFAULT returns to the pinned UTF8', 'set client_encoding to default'),
      allow('analyst', 'RESET client_encoding returns to the pinned UTF8', 'reset client_encoding'),
      allow('analyst', 'SET NAMES without an encoding is the default', 'set names default'),
      allow('analyst', "SET NAMES 'UTF8' keeps the pinned encoding", "set names 'UTF8'"),
      allow('analyst', "set_config('client_encoding', 'UNICODE') keeps the pinned encoding", "select set_config('client_encoding', 'UNICODE', false)"),
    ],
  },
  {
    family: 'backslashes in plain strings stay literal (standard_conforming_strings stays on)',
    cases: [
      ...['off', 'false', 'no', '0', "'off'"].map((v) => deny('analyst', `SET standard_conforming_strings = ${v} is refused`, `set standard_conforming_strings = ${v}`, SCS)),
      deny('analyst', 'SET LOCAL standard_conforming_strings = off is refused', 'set local standard_conforming_strings to off', SCS),
      deny('support', "set_config('standard_conforming_strings', 'off') is refused", "select set_config('standard_conforming_strings', 'off', false)", SCS),
      deny('support', 'a transaction-local set_config of standard_conforming_strings is refused', "select set_config('standard_conforming_strings', 'off', true)", SCS),
      deny('analyst', 'a set_config of standard_conforming_strings in a scalar subquery is refused', "select (select set_config('standard_conforming_strings', 'off', false)) as x", SCS),
      deny('analyst', 'backslash_quote = on is refused', 'set backslash_quote = on', /may not set backslash_quote to on/),
      allow('analyst', 'RESET standard_conforming_strings returns to the pinned on', 'reset standard_conforming_strings'),
      allow('analyst', 'SET standard_conforming_strings = on keeps it', 'set standard_conforming_strings = on'),
      allow('analyst', 'SET standard_conforming_strings TO DEFAULT returns to the pinned on', 'set standard_conforming_strings to default'),
    ],
  },
  {
    family: 'a lexing setting stored in a function runs whenever the function does',
    cases: [
      deny('migrator', 'CREATE FUNCTION … SET client_encoding is refused', "create function sales.f() returns int language sql set client_encoding = 'SJIS' as 'select 1'", ENCODING),
      deny('migrator', 'CREATE PROCEDURE … SET client_encoding is refused', "create procedure sales.p() language sql set client_encoding to 'BIG5' as 'select 1'", ENCODING),
      deny('migrator', 'CREATE FUNCTION … SET standard_conforming_strings = off is refused', "create function sales.f() returns int language plpgsql set standard_conforming_strings = off as 'begin return 1; end'", SCS),
      deny('migrator', 'ALTER FUNCTION … SET client_encoding is refused', "alter function sales.f() set client_encoding = 'GBK'", ENCODING),
      deny('migrator', 'ALTER FUNCTION … SET standard_conforming_strings = off is refused', 'alter function sales.f() set standard_conforming_strings = off', SCS),
      deny('migrator', 'CREATE OR REPLACE FUNCTION with a second SET clause hiding the encoding is refused', "create or replace function sales.f() returns int language sql set work_mem = '64MB' set client_encoding = 'UHC' as 'select 1'", ENCODING),
      allow('migrator', 'a function SET clause of another setting is allowed', "create function sales.f() returns int language sql set work_mem = '64MB' as 'select 1'"),
      allow('migrator', "a function's own search_path is not the session's", "create function sales.f() returns int language sql set search_path = sales as 'select 1'"),
      allow('migrator', 'a function SET clause of the pinned value is allowed', "create function sales.f() returns int language sql set client_encoding = 'UTF8' as 'select 1'"),
      allow('migrator', 'ALTER FUNCTION … RESET client_encoding is allowed', 'alter function sales.f() reset client_encoding'),
    ],
  },
];
