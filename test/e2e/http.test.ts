import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { GatewayConfig } from '../../src/config/index.ts';
import { GatewayError } from '../../src/errors.ts';
import net from 'node:net';
import { createHttpApp, startHttpServer, type HttpServer, allowedHosts } from '../../src/http/index.ts';
import { HTTP_MAX_CONNECTIONS_PER_SOURCE, HTTP_TIMEOUTS } from '../../src/http/server.ts';
import { RevocationList, type Identity, type TokenVerifier } from '../../src/identity/index.ts';
import { createLogger } from '../../src/log.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A real in-memory TokenVerifier: fixed token strings stand for identities. The JWT path is
 * tested with the identity part; here the subject is what the HTTP layer does with the result.
 */
class FixedTokens implements TokenVerifier {
  constructor(private readonly tokens: Record<string, Partial<Identity> | GatewayError | Error>) {}
  async verify(token: string): Promise<Identity> {
    const entry = this.tokens[token];
    if (entry === undefined) throw new GatewayError('auth.invalid_token', 'token is not a valid JWT');
    if (entry instanceof Error) throw entry;
    return { issuer: 'https://idp.test', issuerName: 'test', subject: 'nobody', groups: [], claims: {}, expiresAt: Date.now() + 60_000, ...entry };
  }
}

const TOKENS = {
  'tok-root': { subject: 'root-admin' },
  'tok-ops': { subject: 'svc-ops', groups: ['ops', 'sre'] },
  'tok-agent': { subject: 'agent-7', groups: ['agents'] },
  'tok-expired': new GatewayError('auth.expired', 'token expired at 2020-01-01T00:00:00Z'),
  'tok-idp-down': new GatewayError('auth.idp_unavailable', 'could not fetch the keys of https://idp.test'),
  'tok-crash': new Error('secret internal detail at /srv/x.ts:12'),
};

describe('HTTP app on a real server', () => {
  let server: HttpServer;
  let base: string;
  let admin: GatewayConfig['admin'] = { subjects: ['root-admin'], groups: ['sre'] };
  let ready: { ready: boolean; reason?: string } = { ready: true };
  const revocations = new RevocationList();
  const logs: string[] = [];
  const revokeCalls: [string, string | undefined][] = [];

  before(async () => {
    const sink = new Writable({ write: (chunk, _enc, cb) => (logs.push(String(chunk)), cb()) });
    const app = createHttpApp({
      allowedHosts: () => allowedHosts({ listenHost: '127.0.0.1', listenPort: server.port, publicUrls: [], extraHosts: [] }),
      logger: createLogger('debug', sink),
      verifier: new FixedTokens(TOKENS),
      admin: () => admin,
      ready: () => ready,
      revoke: (subject, issuer) => {
        revokeCalls.push([subject, issuer]);
        revocations.revoke(subject, issuer);
        return { terminated: subject === 'agent-7' ? 2 : 0 };
      },
      unrevoke: (subject, issuer) => revocations.unrevoke(subject, issuer),
      revocations: () => revocations.list(),
      devIssuer: {
        issuer: 'http://127.0.0.1:1/dev',
        discovery: () => ({ issuer: 'http://127.0.0.1:1/dev', jwks_uri: 'http://127.0.0.1:1/dev/jwks' }),
        jwks: () => ({ keys: [{ kty: 'RSA', kid: 'k1' }] }),
      },
    });
    server = await startHttpServer(app, '127.0.0.1', 0);
    assert.ok(server.port > 0, 'server.port > 0');
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  const call = (method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string } = {}) =>
    fetch(base + path, {
      method,
      headers: {
        ...(opts.token ? { Authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined || opts.rawBody !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });

  test('GET /healthz is ok', async () => {
    const res = await call('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('GET /readyz follows ready(), with the reason when not ready', async () => {
    assert.equal((await call('GET', '/readyz')).status, 200);
    ready = { ready: false, reason: 'upstream unreachable: app' };
    try {
      const res = await call('GET', '/readyz');
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', reason: 'upstream unreachable: app' });
    } finally {
      ready = { ready: true };
    }
  });

  test('admin: a missing or malformed Authorization header is 401 with WWW-Authenticate', async () => {
    const variants: Record<string, string>[] = [{}, { Authorization: 'Basic dXNlcjpwYXNz' }, { Authorization: 'Bearer' }];
    for (const headers of variants) {
      const res = await fetch(`${base}/admin/revocations`, { headers });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
      const body = (await res.json()) as { error: string; message: string };
      assert.equal(body.error, 'auth.missing_token');
      assert.match(body.message, /Authorization: Bearer/);
    }
  });

  const refusals: [string, string, number, string][] = [
    ['an unknown token', 'not-a-known-token', 401, 'auth.invalid_token'],
    ['an expired token', 'tok-expired', 401, 'auth.expired'],
    ['an unreachable IdP', 'tok-idp-down', 503, 'auth.idp_unavailable'],
    ['a subject that is not an admin', 'tok-agent', 403, 'forbidden'],
  ];
  for (const [name, token, status, error] of refusals) {
    test(`admin: ${name} is ${status} ${error}, never echoing the token`, async () => {
      const res = await call('POST', '/admin/revocations', { token, body: { subject: 'x' } });
      assert.equal(res.status, status);
      const text = await res.text();
      assert.equal(JSON.parse(text).error, error);
      assert.ok(!text.includes(token), 'token echoed');
      if (status === 401) assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*invalid_token/);
    });
  }

  test('admin: a verifier crash is a 500 without its text', async () => {
    const res = await call('GET', '/admin/revocations', { token: 'tok-crash' });
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: 'internal', message: 'internal error', hint: 'See the gateway log.' });
    assert.ok(!text.includes('secret internal detail'), '!text.includes(\'secret internal detail\')');
  });

  test('admin: revoke, list and lift a revocation (admin by subject)', async () => {
    let res = await call('POST', '/admin/revocations', { token: 'tok-root', body: { subject: 'agent-7' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await res.json(), { subject: 'agent-7', issuer: null, terminated: 2 });

    res = await call('POST', '/admin/revocations', { token: 'tok-root', body: { subject: 'agent-9', issuer: 'test' } });
    assert.deepEqual(await res.json(), { subject: 'agent-9', issuer: 'test', terminated: 0 });
    assert.deepEqual(revokeCalls.slice(-2), [['agent-7', undefined], ['agent-9', 'test']]);

    res = await call('GET', '/admin/revocations', { token: 'tok-root' });
    const listed = (await res.json()) as { revocations: { subject: string; issuer?: string; at: string }[] };
    assert.deepEqual(listed.revocations.map((r) => [r.subject, r.issuer]), [['agent-7', undefined], ['agent-9', 'test']]);
    assert.ok(listed.revocations.every((r) => !Number.isNaN(Date.parse(r.at))), 'listed.revocations.every((r) => !Number.isNaN(Date.parse(r.a');

    res = await call('DELETE', '/admin/revocations', { token: 'tok-root', body: { subject: 'agent-7' } });
    assert.deepEqual(await res.json(), { subject: 'agent-7', issuer: null, revoked: false });
    assert.deepEqual(revocations.list().map((r) => r.subject), ['agent-9']);
  });

  test('admin: membership of an admin group is enough, and admin() is read per request', async () => {
    assert.equal((await call('GET', '/admin/revocations', { token: 'tok-ops' })).status, 200);
    admin = { subjects: ['root-admin'], groups: [] };
    try {
      assert.equal((await call('GET', '/admin/revocations', { token: 'tok-ops' })).status, 403);
    } finally {
      admin = { subjects: ['root-admin'], groups: ['sre'] };
    }
  });

  test('admin: bad bodies are 400 problems', async () => {
    const bodies: [string | undefined, unknown, RegExp][] = [
      ['{not json', undefined, /must be JSON/],
      [undefined, { issuer: 'test' }, /^subject: /],
      [undefined, { subject: '' }, /^subject: /],
      [undefined, { subject: 'a', sub: 'b' }, /^body: /],
    ];
    for (const [rawBody, body, message] of bodies) {
      const res = await call('POST', '/admin/revocations', { token: 'tok-root', rawBody, body });
      assert.equal(res.status, 400);
      const problem = (await res.json()) as { error: string; message: string };
      assert.equal(problem.error, 'bad_request');
      assert.match(problem.message, message);
    }
  });

  test('admin: an oversized body is 413', async () => {
    const res = await call('POST', '/admin/revocations', { token: 'tok-root', body: { subject: 'x'.repeat(20_000) } });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: string }).error, 'too_large');
  });

  test('dev issuer: discovery and JWKS under the issuer path', async () => {
    let res = await call('GET', '/dev/.well-known/openid-configuration');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { issuer: string }).issuer, 'http://127.0.0.1:1/dev');
    res = await call('GET', '/dev/jwks');
    assert.deepEqual(await res.json(), { keys: [{ kty: 'RSA', kid: 'k1' }] });
  });

  test('unknown routes are 404 problems', async () => {
    const res = await call('GET', '/nope');
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { error: 'not_found', message: 'no route for GET /nope' });
  });

  test('no token ever reaches the log', () => {
    const all = logs.join('');
    assert.ok(all.length > 0, 'all.length > 0');
    for (const token of Object.keys(TOKENS)) assert.ok(!all.includes(`"${token}"`) && !all.includes(`Bearer ${token}`), `${token} logged`);
    assert.ok(all.includes('secret internal detail'), 'the internal error is logged for the operator');
  });
});

/** The app with no admin, no token and nothing to revoke, answering to the server it is served on. */
function bareApp(port: () => number) {
  return createHttpApp({
    allowedHosts: () => allowedHosts({ listenHost: '127.0.0.1', listenPort: port(), publicUrls: [], extraHosts: [] }),
    logger: createLogger('silent'),
    verifier: new FixedTokens({}),
    admin: () => ({ subjects: [], groups: [] }),
    ready: () => ({ ready: true }),
    revoke: () => ({ terminated: 0 }),
    unrevoke: () => {},
    revocations: () => [],
  });
}

test('startHttpServer: close() ends keep-alive connections promptly; a taken port is an error', async () => {
  const app = bareApp(() => server.port);
  const server = await startHttpServer(app, '127.0.0.1', 0);
  // fetch keeps the connection alive in its pool; close() must not wait for it to time out.
  assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
  await assert.rejects(startHttpServer(app, '127.0.0.1', server.port), /EADDRINUSE/);
  const started = Date.now();
  await server.close();
  // Waiting for the keep-alive connection to time out would take 5 s.
  assert.ok(Date.now() - started < 2500, `close took ${Date.now() - started} ms`);
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));
});

test('startHttpServer: a client that sends its headers too slowly, or nothing, gets 408 and is closed, while others are served', async () => {
  const server = await startHttpServer(bareApp(() => server.port), '127.0.0.1', 0);
  try {
    const watch = (send: string) =>
      new Promise<{ reply: string; afterMs: number }>((resolve, reject) => {
        const started = Date.now();
        let reply = '';
        const s = net.connect(server.port, '127.0.0.1', () => send && s.write(send));
        s.on('data', (d) => (reply += d));
        s.on('error', reject);
        s.on('close', () => resolve({ reply, afterMs: Date.now() - started }));
      });
    // Slowloris: a request line and one header, then nothing more. And a socket that never speaks.
    const slow = watch('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const silent = watch('');
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200, 'others are served meanwhile');
    for (const [what, r] of [['partial headers', await slow], ['nothing sent', await silent]] as const) {
      assert.match(r.reply, /^HTTP\/1\.1 408 /, what);
      assert.ok(r.afterMs >= HTTP_TIMEOUTS.headersTimeout - 100 && r.afterMs < HTTP_TIMEOUTS.headersTimeout + 5_000, `${what}: closed after ${r.afterMs} ms`);
    }
  } finally {
    await server.close();
  }
});

test('startHttpServer: one address holding its share of busy keep-alive connections gets 429 for one more, while another address is served', async () => {
  const server = await startHttpServer(bareApp(() => server.port), '127.0.0.1', 0);
  const held: net.Socket[] = [];
  try {
    const request = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`;
    /** A keep-alive connection from `localAddress` that made one request; resolves with its first answer. */
    const connection = (localAddress: string) =>
      new Promise<{ socket: net.Socket; reply: string }>((resolve, reject) => {
        let reply = '';
        const socket = net.connect({ port: server.port, host: '127.0.0.1', localAddress }, () => socket.write(request));
        socket.on('data', (d) => {
          reply += d;
          if (reply.includes('\r\n\r\n')) resolve({ socket, reply });
        });
        socket.on('error', reject);
        socket.on('close', () => resolve({ socket, reply }));
        held.push(socket);
      });
    // The attacker's connections, each answered and kept open.
    const mine = await Promise.all(Array.from({ length: HTTP_MAX_CONNECTIONS_PER_SOURCE }, () => connection('127.0.0.1')));
    for (const c of mine) assert.match(c.reply, /^HTTP\/1\.1 200 /);
    const over = await connection('127.0.0.1');
    assert.match(over.reply, /^HTTP\/1\.1 429 /, 'one more from the same address is refused');
    assert.match(over.reply, /too_many_connections/);
    await waitFor('the refused connection to close', () => over.socket.destroyed || over.socket.readableEnded);
    const other = await connection('127.0.0.2');
    assert.match(other.reply, /^HTTP\/1\.1 200 /, 'another address is served');
    // A connection given back makes room for the next one.
    mine[0].socket.destroy();
    await waitFor('room for a new connection', async () => /^HTTP\/1\.1 200 /.test((await connection('127.0.0.1')).reply));
  } finally {
    for (const s of held) s.destroy();
    await server.close();
  }
});
