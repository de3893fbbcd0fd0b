import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/index.ts';
import { policySchema } from './index.ts';

/** Issues of an invalid policy as `path: message`. */
function issues(input: unknown): string[] {
  const r = policySchema.safeParse(input);
  assert.equal(r.success, false, 'expected the policy to be rejected');
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const ok = { name: 'p', match: { groups: ['g'] } };

describe('policySchema accepts', () => {
  it('a minimal policy, filling defaults', () => {
    assert.deepEqual(policySchema.parse(ok), { name: 'p', match: { groups: ['g'] }, allow: [], deny: [], limits: { read_only: false } });
  });
  it('the full shape', () => {
    const p = policySchema.parse({
      name: 'analysts',
      match: { groups: ['analysts'], issuers: ['corp'] },
      databases: ['shop'],
      allow: [
        { tables: ['public.orders', 'public.*', '*.orders', 'public."Mixed.Case"'], operations: ['select', 'update'], columns: ['id', 'addr_*'], write_columns: ['status'] },
        { functions: ['public.order_total', 'sales.*'] },
        { ddl: { schemas: ['scratch'] } },
        { session: ['listen', 'notify', 'prepare', 'cursors', 'copy_to_stdout', 'copy_from_stdin', 'lock', 'custom_settings'] },
        { dcl: true },
        { do_blocks: ['plpgsql'] },
      ],
      deny: [{ tables: ['public.secrets'] }, { columns: ['public.customers.ssn'] }, { read_columns: ['*.*.password'], write_columns: ['*.*.id'] }, { functions: ['public.x_*'] }],
      limits: { statement_timeout: '5s', max_rows: 1000, read_only: true },
      role: 'analyst_ro',
    });
    assert.equal(p.limits.statement_timeout, 5000);
  });
  it('operations: all', () => assert.equal(policySchema.parse({ ...ok, allow: [{ tables: ['a.b'], operations: 'all' }] }).allow[0].operations, 'all'));
  it('a number of seconds as statement_timeout', () => assert.equal(policySchema.parse({ ...ok, limits: { statement_timeout: 1.5 } }).limits.statement_timeout, 1500));
});

describe('policySchema rejects', () => {
  const cases: [string, unknown, string][] = [
    ['a bare table name', { ...ok, allow: [{ tables: ['orders'], operations: ['select'] }] }, 'allow.0.tables.0: must be schema-qualified'],
    ['a table name with three parts', { ...ok, allow: [{ tables: ['a.b.c'], operations: ['select'] }] }, 'allow.0.tables.0: expected schema.table'],
    ['an empty part', { ...ok, allow: [{ tables: ['public.'], operations: ['select'] }] }, 'allow.0.tables.0: ends with a dot'],
    ['an unterminated quote', { ...ok, allow: [{ tables: ['public."x'], operations: ['select'] }] }, 'allow.0.tables.0: has an unterminated double quote'],
    ['white space in a name', { ...ok, allow: [{ tables: ['public.my table'], operations: ['select'] }] }, 'allow.0.tables.0: has white space'],
    ['tables without operations', { ...ok, allow: [{ tables: ['public.a'] }] }, 'allow.0.tables: needs operations'],
    ['an unknown operation', { ...ok, allow: [{ tables: ['public.a'], operations: ['read'] }] }, 'allow.0.operations'],
    ['columns without tables', { ...ok, allow: [{ functions: ['a.b'], columns: ['x'] }] }, 'allow.0.columns: applies to tables'],
    ['columns when select is not granted', { ...ok, allow: [{ tables: ['a.b'], operations: ['delete'], columns: ['x'] }] }, 'allow.0.columns: restricts reads'],
    ['write_columns when no write is granted', { ...ok, allow: [{ tables: ['a.b'], operations: ['select'], write_columns: ['x'] }] }, 'allow.0.write_columns: restricts writes'],
    ['an empty allow entry', { ...ok, allow: [{}] }, 'allow.0: must grant something'],
    ['an unknown key in an allow entry', { ...ok, allow: [{ tables: ['a.b'], operations: ['select'], schema: 'x' }] }, 'allow.0: Unrecognized key'],
    ['a bare function name', { ...ok, allow: [{ functions: ['order_total'] }] }, 'allow.0.functions.0: must be schema-qualified'],
    ['an untrusted DO language', { ...ok, allow: [{ do_blocks: ['plpython3u'] }] }, 'allow.0.do_blocks.0: is an untrusted language'],
    ['an unknown session permission', { ...ok, allow: [{ session: ['superuser'] }] }, 'allow.0.session.0'],
    ['a two-part deny column', { ...ok, deny: [{ columns: ['customers.ssn'] }] }, 'deny.0.columns.0: expected schema.table.column'],
    ['deny operations without tables', { ...ok, deny: [{ operations: ['select'], functions: ['a.b'] }] }, 'deny.0.operations: applies to tables'],
    ['an empty deny entry', { ...ok, deny: [{}] }, 'deny.0: must deny something'],
    ['an empty match', { name: 'p', match: {} }, 'match: must name subjects, groups or issuers'],
    ['a missing match', { name: 'p' }, 'match'],
    ['an empty group list', { name: 'p', match: { groups: [] } }, 'match.groups'],
    ['a zero statement_timeout', { ...ok, limits: { statement_timeout: '0s' } }, 'limits.statement_timeout: must be longer than 0'],
    ['an unreadable duration', { ...ok, limits: { statement_timeout: '5 seconds' } }, 'limits.statement_timeout'],
    ['a non-positive max_rows', { ...ok, limits: { max_rows: 0 } }, 'limits.max_rows'],
    ['an unknown top-level key', { ...ok, upstream: 'app' }, ': Unrecognized key'],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const got = issues(input);
      assert.ok(
        got.some((m) => m.startsWith(expected) || (expected.startsWith(':') && m.includes(expected.slice(2)))),
        `expected an issue starting with "${expected}", got ${JSON.stringify(got)}`,
      );
    });
  }
});

describe('policies in pgwarden.yaml', () => {
  const head = ['upstreams:', '  app:', '    url: postgres://pgwarden@db:5432/app', 'identity:', '  issuers:', '    - issuer: https://idp.example.com', '      audience: pgwarden'];
  it('default to none', () => assert.deepEqual(parseConfig(head.join('\n'), 'F', {}).policies, []));
  it('parse with the rest of the config', () => {
    const text = [...head, 'policies:', '  - name: analysts', '    match: { groups: [analysts] }', '    allow:', '      - { tables: [public.orders], operations: [select] }'].join('\n');
    assert.equal(parseConfig(text, 'F', {}).policies[0].name, 'analysts');
  });
  it('report a problem at its line and path', () => {
    const text = [...head, 'policies:', '  - name: analysts', '    match: { groups: [analysts] }', '    allow:', '      - tables: [orders]', '        operations: [select]', '    limits: { max_rows: -1, readonly: true }'].join('\n');
    let problems: string[] = [];
    try {
      parseConfig(text, 'F', {});
    } catch (err) {
      problems = (err as { problems: string[] }).problems;
    }
    assert.deepEqual(problems, [
      'F:12 policies[0].allow[0].tables[0]: must be schema-qualified (schema.table, e.g. public.orders, public.*, *.orders; use *.name for any schema): a bare name is ambiguous',
      'F:14 policies[0].limits.max_rows: must be > 0',
      'F:14 policies[0].limits.readonly: unknown key (did you mean "read_only"?)',
    ]);
  });
});
