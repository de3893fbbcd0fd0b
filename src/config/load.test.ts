import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, databaseRoutes, loadConfigFile, parseConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FILE = join(dir, 'pgwarden.yaml');
const SECRET = 's3cret-Value-42';
writeFileSync(join(dir, 'db-password'), `${SECRET}\n`);
writeFileSync(join(dir, 'two-newlines'), 'abc\n\n');

const ISSUER = ['identity:', '  issuers:', '    - issuer: https://idp.example.com', '      audience: pgwarden'];
const UPSTREAM = ['upstreams:', '  app:', '    url: postgres://pgwarden@db:5432/app'];
const ok = (...lines: string[]) => [...UPSTREAM, ...ISSUER, ...lines].join('\n');

/** The problems of a config that must fail, with the file prefix shortened to `F`. */
function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, FILE, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.message, err.problems.join('\n'));
    return err.problems.map((p) => p.replace(FILE, 'F'));
  }
  assert.fail('expected the config to be rejected');
}

describe('parseConfig accepts', () => {
  test('a minimal file, filling defaults', () => {
    const c = parseConfig(ok(), FILE, {});
    assert.equal(c.listen.postgres, '127.0.0.1:6432');
    assert.equal(c.upstreams.app.url, 'postgres://pgwarden@db:5432/app');
    assert.deepEqual(c.identity.issuers[0].subject_claims, ['sub', 'client_id', 'azp']);
    assert.equal(c.limits.shutdown_grace, 10_000);
    assert.equal(c.upstreams.app.connect_timeout, 10_000);
  });

  const interpolations: [string, string, NodeJS.ProcessEnv, string][] = [
    ['${env:VAR}', 'password: ${env:PW}', { PW: SECRET }, SECRET],
    ['${env:VAR} set to empty', 'password: "${env:PW}"', { PW: '' }, ''],
    ['${file:path} relative to the config, one trailing newline trimmed', 'password: ${file:db-password}', {}, SECRET],
    ['${file:path} keeps all but one trailing newline', 'password: ${file:two-newlines}', {}, 'abc\n'],
    ['$${ as a literal', 'password: "a$${env:X}b"', {}, 'a${env:X}b'],
    ['several references in one value', 'password: "${env:A}-${env:B}"', { A: 'x', B: 'y' }, 'x-y'],
  ];
  for (const [name, line, env, expected] of interpolations) {
    test(`interpolation: ${name}`, () => {
      const c = parseConfig(ok().replace('db:5432/app', () => `db:5432/app\n    ${line}`), FILE, env);
      assert.equal(c.upstreams.app.password, expected);
    });
  }

  test('durations in units and seconds', () => {
    const c = parseConfig(ok('limits:', '  shutdown_grace: 2m', '  handshake_timeout: 3'), FILE, {});
    assert.equal(c.limits.shutdown_grace, 120_000);
    assert.equal(c.limits.handshake_timeout, 3000);
  });

  test('a remote HTTP listener with TLS, or behind an https public URL', () => {
    parseConfig(ok('listen:', '  http: 0.0.0.0:8443', '  http_tls: { cert: c.pem, key: k.pem }', 'mcp:', '  resource: https://gw.example.com:8443/mcp'), FILE, {});
    parseConfig(ok('listen:', '  http: 0.0.0.0:8443', '  http_tls: { cert: c.pem, key: k.pem }', '  http_hosts: [gw.example.com]'), FILE, {});
    parseConfig(ok('listen:', '  http: 0.0.0.0:8443', '  http_tls: { cert: c.pem, key: k.pem }', 'mcp:', '  enabled: false'), FILE, {});
    const c = parseConfig(ok('listen:', '  http: 10.0.0.5:8080', 'console:', '  issuer: https://idp.example.com', '  client_id: c', '  session_secret: 0123456789abcdef0123456789abcdef', '  roles: { auditor: [a] }', '  public_url: https://pgwarden.example.com'), FILE, {});
    assert.equal(c.listen.require_tls, undefined, 'require_tls is decided from the listener when not set');
  });

  test('bare approver lists are fine when the console signs in at the agents\' issuer', () => {
    parseConfig(
      ok('console:', '  issuer: https://idp.example.com/', '  client_id: c', '  session_secret: 0123456789abcdef0123456789abcdef', '  roles: { approver: [dba] }',
        'reviews:', '  store: memory', '  rules:', '    - name: r', '      when: [drop]', '      approvers: { groups: [dba] }'),
      FILE,
      {},
    );
  });

  test('a remote listener with TLS, or with allow_insecure_remote', () => {
    parseConfig(ok('listen:', '  postgres: 0.0.0.0:6432', '  tls: { cert: c.pem, key: k.pem }', '  require_tls: true'), FILE, {});
    parseConfig(ok('listen:', '  postgres: 0.0.0.0:6432', '  allow_insecure_remote: true'), FILE, {});
    parseConfig(ok('listen:', '  postgres: "[::1]:6432"'), FILE, {});
    parseConfig(ok('listen:', '  postgres: localhost:6432'), FILE, {});
  });
});

describe('parseConfig rejects, naming file:line and key', () => {
  const cases: { name: string; text: string; env?: NodeJS.ProcessEnv; expected: string[] }[] = [
    {
      name: 'a syslog exporter with a scheme syslog has not',
      text: ok('audit:', '  sinks:', '    - syslog: { url: udp://siem:514 }'),
      expected: ['F:10 audit.sinks[0].syslog.url: expected tcp://HOST:PORT or tls://HOST:PORT'],
    },
    {
      name: 'an HTTP exporter with an unknown format (the http entry is described, not a missing jsonl)',
      text: ok('audit:', '  sinks:', '    - http:', '        url: https://splunk:8088', '        format: splunk'),
      expected: ['F:12 audit.sinks[0].http.format: expected one of "splunk_hec", "elastic_bulk", "ndjson"'],
    },
    {
      name: 'TLS options on a tcp:// syslog exporter, and a misspelt HTTP option',
      text: ok('audit:', '  sinks:', '    - syslog: { url: tcp://siem:514, ca: ./ca.pem }', '    - http: { url: https://h, format: ndjson, tokn: x }'),
      expected: ['F:10 audit.sinks[0].syslog.ca: only with a tls:// url', 'F:11 audit.sinks[1].http.tokn: unknown key (did you mean "token"?)'],
    },
    {
      name: 'two exporters that would share a cursor file',
      text: ok('audit:', '  sinks:', '    - syslog: { url: tcp://siem:514 }', '    - syslog: { url: tcp://siem:514, facility: local0 }'),
      expected: ['F:11 audit.sinks[1].syslog.name: sinks[0] has the same name "syslog-siem-514": give one of them another name (it names the cursor file)'],
    },
    {
      name: 'a missing required key (line of the list item)',
      text: [...UPSTREAM, 'identity:', '  issuers:', '    - issuer: https://idp.example.com', '      name: corp'].join('\n'),
      expected: ['F:6 identity.issuers[0].audience: required'],
    },
    {
      name: 'an empty value counts as missing',
      text: ok().replace('audience: pgwarden', 'audience:'),
      expected: ['F:7 identity.issuers[0].audience: required'],
    },
    {
      name: 'a wrong type and a wrong format',
      text: ok('limits:', '  max_connections: many', 'listen:', '  postgres: nowhere'),
      expected: ['F:9 limits.max_connections: expected a number, got a string', 'F:11 listen.postgres: expected host:port, e.g. 127.0.0.1:6432'],
    },
    {
      name: 'an unknown key, with the spelling the schema uses',
      text: ok().replace('audience: pgwarden', 'audience: pgwarden\n      groupsClaim: roles\n      colour: blue'),
      expected: ['F:8 identity.issuers[0].groupsClaim: unknown key (did you mean "groups_claim"?)', 'F:9 identity.issuers[0].colour: unknown key'],
    },
    {
      name: 'a bad duration, enum and URL',
      text: ok('  jwks_cooldown: 5 minutes', 'log: { level: loud }').replace('https://idp.example.com', 'not a url'),
      expected: [
        'F:6 identity.issuers[0].issuer: expected a URL',
        'F:8 identity.jwks_cooldown: expected a duration such as 500ms, 30s, 5m, 1h',
        'F:9 log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent"',
      ],
    },
    {
      name: 'an empty list and no upstreams',
      text: ['upstreams: {}', 'identity:', '  issuers: []'].join('\n'),
      expected: ['F:1 upstreams: at least one upstream', 'F:3 identity.issuers: must have at least 1 item'],
    },
    {
      name: 'an audience of the wrong type',
      text: ok().replace('audience: pgwarden', 'audience: 42'),
      expected: ['F:7 identity.issuers[0].audience: expected a string or a list, got an integer'],
    },
    {
      name: 'an empty file',
      text: '',
      expected: ['F:1: the file is empty: expected a mapping with at least upstreams and identity'],
    },
    {
      name: 'a YAML syntax error',
      text: ok('listen:', '  postgres: [1,', 'admin: {}'),
      expected: ['F:10: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    },
    {
      name: 'a duplicate key',
      text: ok('log: {}', 'log: {}'),
      expected: ['F:9: Map keys must be unique'],
    },
    {
      name: 'a missing environment variable',
      text: ok().replace('db:5432/app', 'db:5432/app\n    password: ${env:APP_DB_PASSWORD}'),
      expected: ['F:4 upstreams.app.password: environment variable APP_DB_PASSWORD is not set (referenced as ${env:APP_DB_PASSWORD})'],
    },
    {
      name: 'an unreadable file reference',
      text: ok().replace('db:5432/app', 'db:5432/app\n    password: ${file:nope.txt}'),
      expected: ['F:4 upstreams.app.password: cannot read ${file:nope.txt} (ENOENT)'],
    },
    {
      name: 'devices and directories are not values',
      text: ok('admin:', '  subjects: ["${file:/dev/zero}", "${file:.}", "${file:/dev/null}"]'),
      expected: [
        'F:9 admin.subjects[0]: ${file:/dev/zero} is not a regular file',
        'F:9 admin.subjects[1]: ${file:.} is not a regular file',
        'F:9 admin.subjects[2]: ${file:/dev/null} is not a regular file',
      ],
    },
    {
      name: 'an unknown reference and an unterminated one',
      text: ok('admin:', '  subjects: ["${secret-ish}", "${env:X"]'),
      expected: [
        'F:9 admin.subjects[0]: unknown reference: write ${env:NAME} or ${file:path}, or $${ for a literal "${"',
        'F:9 admin.subjects[1]: unterminated "${": write ${env:NAME} or ${file:path}, or $${ for a literal "${"',
      ],
    },
    {
      name: 'a remote listener without TLS',
      text: ok('listen:', '  postgres: 0.0.0.0:6432'),
      expected: ['F:9 listen.postgres: listens off loopback without TLS, and tokens travel as passwords: configure listen.tls or set listen.allow_insecure_remote: true'],
    },
    {
      name: 'the development issuer with its HTTP listener off loopback',
      text: ok('listen:', '  http: 10.0.0.5:8080', '  http_tls: { cert: c.pem, key: k.pem }', 'dev_issuer:', '  enabled: true', '  unsafe_anyone_can_mint_tokens: true'),
      expected: ['F:12 dev_issuer.enabled: the development issuer works only while every listener is on loopback, and listen.http is 10.0.0.5:8080: disable dev_issuer or listen on 127.0.0.1'],
    },
    {
      name: 'the development issuer with its Postgres listener off loopback, even with TLS waived',
      text: ok('listen:', '  postgres: 10.1.2.3:6432', '  allow_insecure_remote: true', 'dev_issuer:', '  enabled: true', '  unsafe_anyone_can_mint_tokens: true'),
      expected: ['F:12 dev_issuer.enabled: the development issuer works only while every listener is on loopback, and listen.postgres is 10.1.2.3:6432: disable dev_issuer or listen on 127.0.0.1'],
    },
    {
      name: 'the development issuer without its loud opt-in',
      text: ok('dev_issuer:', '  enabled: true'),
      expected: ['F:9 dev_issuer.enabled: the development issuer lets anyone mint tokens for any identity: it needs dev_issuer.unsafe_anyone_can_mint_tokens: true (never in production)'],
    },
    {
      name: 'bare subject and group lists with several issuers',
      text: [
        ...UPSTREAM, ...ISSUER, '    - issuer: https://second.example.com', '      audience: pgwarden',
        'admin:', '  groups: [pgwarden-admins]',
        'policies:', '  - name: a', '    match: { groups: [analysts] }', '    allow: [{ tables: [public.t], operations: [select] }]',
        '  - name: b', '    match: { groups: [analysts], issuers: [https://idp.example.com] }', '    allow: [{ tables: [public.t], operations: [select] }]',
        'reviews:', '  store: memory', '  rules:', '    - name: r', '      when: [drop]', '      approvers: { groups: [dba] }',
      ].join('\n'),
      expected: [
        'F:10 admin: several issuers are configured, so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens',
        'F:14 policies[0].match: several issuers are configured, so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens',
        'F:24 reviews.rules[0].approvers: several issuers are configured, so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens',
      ],
    },
    {
      name: 'bare approver lists with a console issuer apart from the agents\' issuer',
      text: [
        ...UPSTREAM, ...ISSUER,
        'admin:', '  groups: [pgwarden-admins]',
        'console:', '  issuer: https://people.example.com/', '  client_id: c', '  session_secret: 0123456789abcdef0123456789abcdef', '  roles: { approver: [dba] }',
        'policies:', '  - name: a', '    match: { groups: [analysts] }', '    allow: [{ tables: [public.t], operations: [select] }]',
        'reviews:', '  store: memory', '  rules:',
        '    - name: r', '      when: [drop]', '      approvers: { groups: [dba] }',
        '    - name: s', '      when: [truncate]', '      approvers: { groups: [dba], issuers: [https://people.example.com] }',
      ].join('\n'),
      expected: [
        'F:24 reviews.rules[0].approvers: console.issuer is another issuer than identity.issuers, and approvers are matched against both (console sign-ins and reviews API tokens), so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens',
      ],
    },
    {
      name: 'an HTTP listener off loopback without TLS',
      text: ok('listen:', '  http: 10.0.0.5:8080'),
      expected: [
        'F:9 listen.http: listens off loopback without TLS, and bearer tokens and console cookies travel over it: configure listen.http_tls, set console.public_url to the https:// address of a TLS proxy in front of it, or set listen.allow_insecure_remote: true',
      ],
    },
    {
      name: 'the MCP endpoint on a wildcard listener with no public URL',
      text: ok('listen:', '  http: 0.0.0.0:8443', '  http_tls: { cert: c.pem, key: k.pem }'),
      expected: [
        'F:1 mcp.resource: listen.http is 0.0.0.0:8443, every interface, so the MCP endpoint has no address clients reach it by: set mcp.resource (or console.public_url, or listen.http_hosts) to the URL clients use, or mcp.enabled: false',
      ],
    },
    {
      name: 'an issuer, admin or reviews audience that is only the MCP resource',
      text: ok('admin:', '  audience: http://127.0.0.1:8080/mcp', 'reviews:', '  api_audience: [http://127.0.0.1:8080/mcp]').replace('audience: pgwarden', 'audience: http://127.0.0.1:8080/mcp'),
      expected: [
        'F:7 identity.issuers[0].audience: names only audiences of the MCP endpoint (http://127.0.0.1:8080/mcp); tokens minted for /mcp are not accepted there, so it would accept none: name that surface\'s own audience (the MCP endpoint checks mcp.audience)',
        'F:9 admin.audience: names only audiences of the MCP endpoint (http://127.0.0.1:8080/mcp); tokens minted for /mcp are not accepted there, so it would accept none: name that surface\'s own audience (the MCP endpoint checks mcp.audience)',
        'F:11 reviews.api_audience: names only audiences of the MCP endpoint (http://127.0.0.1:8080/mcp); tokens minted for /mcp are not accepted there, so it would accept none: name that surface\'s own audience (the MCP endpoint checks mcp.audience)',
      ],
    },
    {
      name: 'an admin audience that is an audience only the MCP endpoint accepts',
      text: ok('admin:', '  audience: pgwarden-mcp', 'mcp:', '  audience: pgwarden-mcp'),
      expected: [
        'F:9 admin.audience: names only audiences of the MCP endpoint (http://127.0.0.1:8080/mcp, pgwarden-mcp); tokens minted for /mcp are not accepted there, so it would accept none: name that surface\'s own audience (the MCP endpoint checks mcp.audience)',
      ],
    },
    {
      name: 'require_tls without tls',
      text: ok('listen:', '  require_tls: true'),
      expected: ['F:9 listen.require_tls: needs listen.tls (cert and key) to offer TLS'],
    },
    {
      name: 'two upstreams claiming one database name',
      text: [...UPSTREAM, '  reports:', '    url: postgres://r@db:5432/reports', '    databases: [reports, app]', ...ISSUER].join('\n'),
      expected: ['F:6 upstreams.reports.databases[1]: database "app" is already routed to upstream "app"; client database names must be unique'],
    },
    {
      name: 'a password inside an upstream URL',
      text: ok().replace('pgwarden@db', `pgwarden:${SECRET}@db`),
      expected: ['F:3 upstreams.app.url: must not contain a password: move it to upstreams.app.password, e.g. password: ${env:DB_PASSWORD}'],
    },
    {
      name: 'several workers with a memory review store',
      text: ok('workers: 2', 'reviews:', '  store: memory', '  rules:', '    - { name: d, when: [drop], approvers: { groups: [dba] } }'),
      expected: ['F:10 reviews.store: memory cannot be shared by several workers: use a sqlite: review store, or workers: 1'],
    },
    {
      name: 'workers out of range',
      text: ok('workers: 0'),
      expected: ['F:8 workers: must be >= 1'],
    },
    {
      name: 'an upstream name with a space',
      text: ok().replace('  app:', '  "my app":'),
      expected: ['F:2 upstreams["my app"]: invalid name: must match /^[A-Za-z0-9_.-]+$/'],
    },
  ];

  for (const c of cases) {
    test(c.name, () => assert.deepEqual(problems(c.text, c.env), c.expected));
  }

  test('every problem in one pass, sorted by line', () => {
    const text = [
      'listen:',
      '  postgres: 0.0.0.0:6432',
      'upstreams:',
      '  app:',
      '    url: mysql://x',
      '    password: ${env:MISSING}',
      'identity:',
      '  issuers:',
      '    - audience: x',
    ].join('\n');
    assert.deepEqual(problems(text), [
      'F:2 listen.postgres: listens off loopback without TLS, and tokens travel as passwords: configure listen.tls or set listen.allow_insecure_remote: true',
      'F:5 upstreams.app.url: expected a postgres:// URL',
      'F:6 upstreams.app.password: environment variable MISSING is not set (referenced as ${env:MISSING})',
      'F:9 identity.issuers[0].issuer: required',
    ]);
  });

  test('secrets from env, files or the text never appear in problems', () => {
    const texts = [
      ok().replace('pgwarden@db', `pgwarden:${SECRET}@db`),
      ok('limits:', '  max_connections: ${env:PW}'),
      ok('listen:', '  postgres: ${file:db-password}'),
      ok('log:', '  level: ${env:PW}'),
      ok('admin:', `  subjects: "${SECRET}"`),
      ok('listen:', `  postgres: "${SECRET}`),
    ];
    for (const text of texts) {
      const found = problems(text, { PW: SECRET });
      assert.ok(found.length > 0);
      for (const p of found) assert.ok(!p.includes(SECRET), `leaked in: ${p}`);
    }
  });
});

describe('loadConfigFile', () => {
  test('reads a file and resolves ${file:} next to it', async () => {
    writeFileSync(FILE, ok().replace('db:5432/app', 'db:5432/app\n    password: ${file:db-password}'));
    const c = await loadConfigFile(FILE);
    assert.equal(c.upstreams.app.password, SECRET);
  });

  test('an unreadable file is a ConfigError naming it', async () => {
    const missing = join(dir, 'missing.yaml');
    await assert.rejects(loadConfigFile(missing), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [`${missing}: cannot read the config file (ENOENT)`]);
      return true;
    });
  });
});

test('databaseRoutes maps client database names to upstream keys', () => {
  const c = parseConfig(
    [...UPSTREAM, '  reports:', '    url: postgres://r@db:5432/reports', '    databases: [reports, analytics]', ...ISSUER].join('\n'),
    FILE,
    {},
  );
  assert.deepEqual([...databaseRoutes(c)], [
    ['app', 'app'],
    ['reports', 'reports'],
    ['analytics', 'reports'],
  ]);
});
