import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scrubServerError, WITHHELD_CODE_MESSAGE } from './scrub.ts';
import { identity, scopeOf } from './test-builders.ts';

const RULES = { rules: [{ column: 'public.customers.email', with: 'email' as const }, { column: 'public.customers.ssn', with: 'redact' as const }] };
const scope = scopeOf(RULES);
const base = { S: 'ERROR', V: 'ERROR' };

describe('scrubServerError', () => {
  const cases: [string, Record<string, string>, Record<string, string> | null][] = [
    [
      'unique violation on a masked column',
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "customers_email_key"', D: 'Key (email)=(jane@example.com) already exists.', s: 'public', t: 'customers', n: 'customers_email_key' },
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "customers_email_key"', D: 'Key (email)=(***) already exists.', s: 'public', t: 'customers', n: 'customers_email_key' },
    ],
    [
      'unique violation on a composite key with a masked column and a value holding ")=("',
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (id, ssn)=(1, a)=(b) already exists.', s: 'public', t: 'customers' },
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (id, ssn)=(***) already exists.', s: 'public', t: 'customers' },
    ],
    [
      'unique violation on an expression index over a masked column',
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (lower(email::text))=(jane@example.com) already exists.', s: 'public', t: 'customers' },
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (lower(email::text))=(***) already exists.', s: 'public', t: 'customers' },
    ],
    [
      'unique violation on an unmasked column passes',
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "customers_pkey"', D: 'Key (id)=(7) already exists.', s: 'public', t: 'customers' },
      null,
    ],
    [
      'unique violation with no table named is scrubbed (fail closed)',
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (id)=(7) already exists.' },
      { ...base, C: '23505', M: 'duplicate key value violates unique constraint "k"', D: 'Key (id)=(***) already exists.' },
    ],
    [
      'foreign key violation',
      { ...base, C: '23503', M: 'insert or update on table "orders" violates foreign key constraint "f"', D: 'Key (email)=(jane@example.com) is not present in table "customers".', s: 'public', t: 'customers' },
      { ...base, C: '23503', M: 'insert or update on table "orders" violates foreign key constraint "f"', D: 'Key (email)=(***) is not present in table "customers".', s: 'public', t: 'customers' },
    ],
    [
      'exclusion violation',
      { ...base, C: '23P01', M: 'conflicting key value violates exclusion constraint "x"', D: 'Key (ssn)=(123-45-6789) conflicts with existing key (ssn)=(123-45-6789).', s: 'public', t: 'customers' },
      { ...base, C: '23P01', M: 'conflicting key value violates exclusion constraint "x"', D: 'Key (ssn)=(***) conflicts with existing key (ssn)=(***).', s: 'public', t: 'customers' },
    ],
    [
      'check violation: the failing row',
      { ...base, C: '23514', M: 'new row for relation "customers" violates check constraint "c"', D: 'Failing row contains (1, jane@example.com, 123-45-6789).', s: 'public', t: 'customers' },
      { ...base, C: '23514', M: 'new row for relation "customers" violates check constraint "c"', D: 'Failing row contains (***).', s: 'public', t: 'customers' },
    ],
    [
      'failing row of a table with no masked column passes',
      { ...base, C: '23502', M: 'null value in column "x" of relation "orders" violates not-null constraint', D: 'Failing row contains (1, null).', s: 'public', t: 'orders' },
      null,
    ],
    [
      'invalid input syntax echoing a cast value',
      { ...base, C: '22P02', M: 'invalid input syntax for type integer: "123-45-6789"', P: '8' },
      { ...base, C: '22P02', M: 'invalid input syntax for type integer: "***"', P: '8' },
    ],
    [
      'out of range value',
      { ...base, C: '22003', M: 'value "99999999999" is out of range for type integer' },
      { ...base, C: '22003', M: 'value "***" is out of range for type integer' },
    ],
    [
      'JSON parse error: detail and context',
      { ...base, C: '22P02', M: 'invalid input syntax for type json', D: 'Token "jane" is invalid.', W: 'JSON data, line 1: jane...' },
      { ...base, C: '22P02', M: 'invalid input syntax for type json', D: 'Token "***" is invalid.', W: 'JSON data, line 1: ***' },
    ],
    [
      'invalid byte sequence echoing bytes of the value',
      { ...base, C: '22021', M: 'invalid byte sequence for encoding "UTF8": 0xe9 0x20' },
      { ...base, C: '22021', M: 'invalid byte sequence for encoding "***": ***' },
    ],
    [
      'an error that echoes nothing passes',
      { ...base, C: '42P01', M: 'relation "nope" does not exist', P: '15' },
      null,
    ],
    [
      'building a unique index over duplicated masked values',
      { ...base, C: '23505', M: 'could not create unique index "ue"', D: 'Key (email)=(jane@example.com) is duplicated.', s: 'public', t: 'customers' },
      { ...base, C: '23505', M: 'could not create unique index "ue"', D: 'Key (email)=(***) is duplicated.', s: 'public', t: 'customers' },
    ],
    [
      'building an exclusion constraint over conflicting masked values',
      { ...base, C: '23P01', M: 'could not create exclusion constraint "ex"', D: 'Key (email)=(a@x.org) conflicts with key (email)=(b@x.org).', s: 'public', t: 'customers' },
      { ...base, C: '23P01', M: 'could not create exclusion constraint "ex"', D: 'Key (email)=(***) conflicts with key (email)=(***).', s: 'public', t: 'customers' },
    ],
    [
      'a notice raised by a trigger function is withheld, its location kept',
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'customer 901-37-4729', W: 'PL/pgSQL function public.tgn() line 1 at RAISE' },
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: WITHHELD_CODE_MESSAGE, W: 'PL/pgSQL function public.tgn() line 1 at RAISE' },
    ],
    [
      'an exception raised by database code loses its message, detail and hint',
      { ...base, C: 'P0001', M: 'bad row 901-37-4729', D: 'ssn 901-37-4729', H: 'see 901-37-4729', W: 'PL/pgSQL function f() line 3 at RAISE' },
      { ...base, C: 'P0001', M: WITHHELD_CODE_MESSAGE, D: '***', H: '***', W: 'PL/pgSQL function f() line 3 at RAISE' },
    ],
    [
      'an error inside a SQL function called from a trigger is withheld, with the statement text it quotes',
      { ...base, C: '42P01', M: 'relation "x" does not exist', q: "SELECT '901-37-4729' FROM x", p: '20', W: 'SQL statement "SELECT \'901-37-4729\' FROM x"\nPL/pgSQL function g() line 2 at EXECUTE\nSQL function "h" statement 1' },
      { ...base, C: '42P01', M: WITHHELD_CODE_MESSAGE, q: '***', p: '20', W: 'SQL statement "***"\nPL/pgSQL function g() line 2 at EXECUTE\nSQL function "h" statement 1' },
    ],
    [
      "a DO block's own notice passes (the client sent its code)",
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'hello 42', W: 'PL/pgSQL function inline_code_block line 1 at RAISE' },
      null,
    ],
    [
      'a notice from a function a DO block calls is withheld',
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'x 901-37-4729', W: 'PL/pgSQL function f() line 1 at RAISE\nSQL statement "SELECT f()"\nPL/pgSQL function inline_code_block line 1 at PERFORM' },
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: WITHHELD_CODE_MESSAGE, W: 'PL/pgSQL function f() line 1 at RAISE\nSQL statement "***"\nPL/pgSQL function inline_code_block line 1 at PERFORM' },
    ],
    [
      'a server message with no database code in its context passes',
      { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'table "x" does not exist, skipping' },
      null,
    ],
  ];
  for (const [name, input, want] of cases) it(name, () => assert.deepEqual(scrubServerError(input, scope), want));

  it('an identity no rule applies to gets errors untouched', () => {
    const support = scopeOf({ rules: [{ column: 'public.customers.email', with: 'email', except: { groups: ['support'] } }] }, identity('support-bot', ['support']));
    assert.equal(scrubServerError({ ...base, C: '23505', D: 'Key (email)=(jane@example.com) already exists.', s: 'public', t: 'customers' }, support), null);
  });
  it('content detection masks what it finds in any message', () => {
    const d = scopeOf({ detect: { kinds: ['email'] } });
    assert.deepEqual(scrubServerError({ ...base, C: 'P0001', M: 'customer jane@example.com is blocked' }, d), { ...base, C: 'P0001', M: 'customer **** is blocked' });
  });
});
