/**
 * The `pgwarden` command as a user runs it: `node bin/pgwarden.mjs …` in a child process, checking
 * exit codes and exactly what is printed where.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { GatewayError } from '../../src/errors.ts';
import { createHttpApp, startHttpServer, type HttpServer, allowedHosts } from '../../src/http/index.ts';
import { DevIssuer, RevocationList, type Identity, type TokenVerifier } from '../../src/identity/index.ts';
import { silentLogger } from '../../src/log.ts';
import { freePort } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { pgwarden } from '../helpers/clients.ts';
import { selfSignedCert } from '../helpers/siem-receivers.ts';


const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = ['upstreams:', '  app:', '    url: postgres://pgwarden@db:5432/app', 'identity:', '  issuers:', '    - issuer: https://idp.example.com', '      audience: pgwarden', ''].join('\n');

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('pgwarden check', () => {
  test('a good config: summary on stdout, exit 0', async () => {
    const r = await pgwarden(['check', '--config', file('good.yaml', GOOD)]);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'config OK: 1 upstream, 1 issuer\n');
    assert.equal(r.code, 0);
  });

  test('--data-dir D reads D/pgwarden.yaml', async () => {
    const d = mkdtempSync(join(dir, 'data-'));
    writeFileSync(join(d, 'pgwarden.yaml'), GOOD.replace('upstreams:', 'upstreams:\n  other:\n    url: postgres://x@db/other'));
    const r = await pgwarden(['check', '--data-dir', d]);
    assert.equal(r.stdout, 'config OK: 2 upstreams, 1 issuer\n');
    assert.equal(r.code, 0);
  });

  test('a bad config: every problem with file:line on stderr, no secret, exit 1', async () => {
    const path = file(
      'bad.yaml',
      GOOD.replace('pgwarden@db', 'pgwarden:hunter2@db').replace('      audience: pgwarden\n', '') + 'listen:\n  postgres: 0.0.0.0:6432\n',
    );
    const r = await pgwarden(['check', '--config', path]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `${path}:3 upstreams.app.url: must not contain a password: move it to upstreams.app.password, e.g. password: \${env:DB_PASSWORD}`,
      `${path}:6 identity.issuers[0].audience: required`,
      `${path}:8 listen.postgres: listens off loopback without TLS, and tokens travel as passwords: configure listen.tls or set listen.allow_insecure_remote: true`,
    ]);
    assert.ok(!r.stderr.includes('hunter2'), '!r.stderr.includes(\'hunter2\')');
  });

  test('a missing file and a missing flag are one-line errors', async () => {
    const missing = join(dir, 'nope.yaml');
    let r = await pgwarden(['check', '--config', missing]);
    assert.deepEqual([r.code, r.stderr], [1, `${missing}: cannot read the config file (ENOENT)\n`]);
    r = await pgwarden(['check']);
    assert.deepEqual([r.code, r.stderr], [1, 'pgwarden: pass --config FILE or --data-dir DIR\n']);
  });
});

test('--help lists the commands; an unknown command fails', async () => {
  const [help, sub, bad] = await Promise.all([pgwarden(['--help']), pgwarden(['revoke', '--help']), pgwarden(['frobnicate'])]);
  assert.equal(help.code, 0);
  for (const cmd of ['check', 'start', 'revoke', 'token', 'demo']) assert.match(help.stdout, new RegExp(`^  ${cmd} `, 'm'));
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /--subject <subject>/);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
});

/** Verifies tokens of one development issuer with jose, as an IdP-backed verifier would. */
class DevTokens implements TokenVerifier {
  constructor(private readonly dev: DevIssuer, private readonly audience: string) {}
  async verify(token: string): Promise<Identity> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(this.dev.jwks()), { issuer: this.dev.issuer, audience: this.audience });
      return {
        issuer: this.dev.issuer,
        issuerName: 'dev',
        subject: String(payload.sub),
        groups: (payload.groups as string[] | undefined) ?? [],
        claims: payload,
        expiresAt: (payload.exp ?? 0) * 1000,
      };
    } catch {
      throw new GatewayError('auth.invalid_token', 'the token did not verify');
    }
  }
}

/** The admin API as the gateway serves it: a development issuer's tokens, `demo-admin` as admin, this revocation list. */
function adminApp(dev: DevIssuer, port: () => number, revocations: RevocationList, terminated: (subject: string) => number): ReturnType<typeof createHttpApp> {
  return createHttpApp({
    allowedHosts: () => allowedHosts({ listenHost: '127.0.0.1', listenPort: port(), publicUrls: [], extraHosts: [] }),
    logger: silentLogger(),
    verifier: new DevTokens(dev, 'pgwarden'),
    admin: () => ({ subjects: ['demo-admin'], groups: [] }),
    ready: () => ({ ready: true }),
    revoke: (subject, issuer) => (revocations.revoke(subject, issuer), { terminated: terminated(subject) }),
    unrevoke: (subject, issuer) => revocations.unrevoke(subject, issuer),
    revocations: () => revocations.list(),
  });
}

describe('pgwarden revoke and token against a real admin API', () => {
  let server: HttpServer;
  let url: string;
  let dev: DevIssuer;
  let dataDir: string;
  const revocations = new RevocationList();

  before(async () => {
    dataDir = mkdtempSync(join(dir, 'demo-'));
    dev = await DevIssuer.open(join(dataDir, 'dev-issuer.jwk'), 'http://127.0.0.1:1/dev');
    const app = adminApp(dev, () => server.port, revocations, (subject) => (subject === 'agent-7' ? 3 : 0));
    server = await startHttpServer(app, '127.0.0.1', 0);
    url = `http://127.0.0.1:${server.port}`;
    writeFileSync(
      join(dataDir, 'demo.json'),
      JSON.stringify({
        http: { host: '127.0.0.1', port: server.port },
        devIssuer: { issuer: dev.issuer, keyFile: 'dev-issuer.jwk', audience: 'pgwarden' },
        adminIdentity: { subject: 'demo-admin', groups: [] },
        identities: { analyst: { subject: 'analyst-1', groups: ['analysts'] }, support: { subject: 'support-bot', groups: ['support'] } },
      }),
    );
  });
  after(() => server.close());

  test('token prints only a token for the named identity, with the asked lifetime', async () => {
    const r = await pgwarden(['token', '--data-dir', dataDir, '--identity', 'analyst', '--ttl', '2m']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const claims = decodeJwt(r.stdout.trim());
    assert.equal(claims.sub, 'analyst-1');
    assert.deepEqual(claims.groups, ['analysts']);
    assert.equal(claims.aud, 'pgwarden');
    assert.equal(claims.iss, dev.issuer);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 120);
  });

  test('token: an unknown identity lists the known ones', async () => {
    const r = await pgwarden(['token', '--data-dir', dataDir, '--identity', 'ceo']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'pgwarden: unknown identity "ceo"; known: analyst, support\n']);
  });

  test('revoke with --data-dir mints an admin token and finds the gateway in demo.json', async () => {
    const r = await pgwarden(['revoke', '--subject', 'agent-7', '--data-dir', dataDir]);
    assert.deepEqual([r.code, r.stderr, r.stdout], [0, '', 'revoked agent-7: 3 open sessions terminated\n']);
    assert.deepEqual(revocations.list().map((x) => x.subject), ['agent-7']);
  });

  test('revoke --list and --undo with --url and PGWARDEN_TOKEN', async () => {
    const token = await dev.mint({ subject: 'demo-admin', audience: 'pgwarden', ttlSeconds: 60 });
    let r = await pgwarden(['revoke', '--subject', 'agent-9', '--issuer', 'dev', '--url', url], { PGWARDEN_TOKEN: token });
    assert.deepEqual([r.code, r.stdout], [0, 'revoked agent-9: 0 open sessions terminated\n']);
    r = await pgwarden(['revoke', '--list', '--url', url], { PGWARDEN_TOKEN: token });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^agent-7 since \S+\nagent-9 \(issuer dev\) since \S+\n$/);
    r = await pgwarden(['revoke', '--undo', '--subject', 'agent-7', '--url', url], { PGWARDEN_TOKEN: token });
    assert.deepEqual([r.code, r.stdout], [0, 'revocation of agent-7 lifted\n']);
    assert.deepEqual(revocations.list().map((x) => x.subject), ['agent-9']);
  });

  test('revoke: a bad token, a non-admin and an unreachable gateway are clear errors', async () => {
    const notAdmin = await dev.mint({ subject: 'analyst-1', audience: 'pgwarden', ttlSeconds: 60 });
    const closedPort = await freePort();
    const [bad, forbidden, down, noToken] = await Promise.all([
      pgwarden(['revoke', '--subject', 'x', '--url', url], { PGWARDEN_TOKEN: 'not.a.jwt' }),
      pgwarden(['revoke', '--subject', 'x', '--url', url], { PGWARDEN_TOKEN: notAdmin }),
      pgwarden(['revoke', '--subject', 'x', '--url', `http://127.0.0.1:${closedPort}`], { PGWARDEN_TOKEN: notAdmin }),
      pgwarden(['revoke', '--subject', 'x', '--url', url]),
    ]);
    assert.deepEqual([bad.code, bad.stderr], [1, 'pgwarden: the gateway rejected the token: the token did not verify (Request a fresh token from your identity provider.)\n']);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /^pgwarden: not allowed: analyst-1 is not an administrator of this gateway \(Add the subject to admin.subjects/);
    assert.equal(down.code, 1);
    assert.equal(down.stderr, `pgwarden: cannot reach the gateway at http://127.0.0.1:${closedPort} (ECONNREFUSED): is it running, and is that its HTTP address?\n`);
    assert.deepEqual([noToken.code, noToken.stderr], [1, 'pgwarden: no admin token: set PGWARDEN_TOKEN or pass --token-stdin (with a demo, --data-dir mints one)\n']);
    assert.ok(!forbidden.stderr.includes(notAdmin), '!forbidden.stderr.includes(notAdmin)');
  });

  test('revoke takes the token on standard input, and refuses one on the command line', async () => {
    const token = await dev.mint({ subject: 'demo-admin', audience: 'pgwarden', ttlSeconds: 60 });
    const viaStdin = await pgwarden(['revoke', '--subject', 'agent-11', '--url', url, '--token-stdin'], {}, 20_000, `${token}\n`);
    assert.deepEqual([viaStdin.code, viaStdin.stdout], [0, 'revoked agent-11: 0 open sessions terminated\n'], viaStdin.stderr);
    const onCommandLine = await pgwarden(['revoke', '--subject', 'agent-12', '--url', url, '--token', token]);
    assert.equal(onCommandLine.code, 1);
    assert.match(onCommandLine.stderr, /readable by every local user \(ps, shell history\): set PGWARDEN_TOKEN, or pass --token-stdin/);
    assert.ok(!revocations.list().some((r) => r.subject === 'agent-12'), 'nothing was revoked with a command-line token');
    await pgwarden(['revoke', '--undo', '--subject', 'agent-11', '--url', url], { PGWARDEN_TOKEN: token });
  });
});

test('start: serves, rejects a bad reload and keeps running, exits 0 on SIGTERM', async () => {
  const path = file('start.yaml', `${GOOD}listen:\n  postgres: 127.0.0.1:0\n  http: 127.0.0.1:0\nlimits:\n  shutdown_grace: 1s\n`);
  const child = spawn(process.execPath, [BIN, 'start', '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const listening = await waitFor('the gateway to listen', () => /"http":"127\.0\.0\.1:(\d+)"[^\n]*pgwarden listening/.exec(stderr), 20_000);
    const health = await fetch(`http://127.0.0.1:${listening[1]}/healthz`);
    assert.equal(health.status, 200);

    writeFileSync(path, `${GOOD}limits: { shutdown_grace: soon }\n`);
    child.kill('SIGHUP');
    await waitFor('the reload to be rejected', () => stderr.includes('config reload rejected, keeping the running config'), 10_000);
    assert.match(stderr, /limits\.shutdown_grace: expected a duration/);
    assert.equal((await fetch(`http://127.0.0.1:${listening[1]}/healthz`)).status, 200);

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

/** The 1-based line of `file` that first contains `needle`. */
function lineOf(file: string, needle: string): number {
  return readFileSync(file, 'utf8').split('\n').findIndex((l) => l.includes(needle)) + 1;
}

test('TLS files: one that cannot be read, a certificate and key that are not a pair, or an upstream CA that is no certificate, is a config error naming the line and key, and start exits 1', async () => {
  const a = selfSignedCert();
  const b = selfSignedCert();
  try {
    const listen = (tls: string) => `${GOOD}listen:\n  postgres: 127.0.0.1:0\n  http: 127.0.0.1:0\n${tls}`;
    const missing = file('tls-missing.yaml', listen(`  tls:\n    cert: ${join(dir, 'nope.pem')}\n    key: ${join(a.dir, 'key.pem')}\n`));
    const mismatched = file('tls-pair.yaml', listen(`  http_tls:\n    cert: ${a.certPath}\n    key: ${join(b.dir, 'key.pem')}\n`));
    const good = file('tls-good.yaml', listen(`  tls:\n    cert: ${a.certPath}\n    key: ${join(a.dir, 'key.pem')}\n`));
    for (const command of ['check', 'start']) {
      const r = await pgwarden([command, '--config', missing]);
      assert.equal(r.code, 1, `${command}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`${missing}:${lineOf(missing, 'cert:')} listen.tls.cert: cannot read ${join(dir, 'nope.pem')} (ENOENT`), r.stderr);
      const p = await pgwarden([command, '--config', mismatched]);
      assert.equal(p.code, 1, `${command}: ${p.stderr}`);
      assert.match(p.stderr, new RegExp(`^${mismatched.replaceAll('.', '\\.')}:${lineOf(mismatched, 'http_tls:')} listen\\.http_tls: the certificate .* and key .* do not load as a pair \\(.*key values mismatch\\)`, 'm'));
    }
    const ok = await pgwarden(['check', '--config', good]);
    assert.equal(ok.code, 0, ok.stderr);
    // An upstream's CA file: missing, or not a certificate (a key), is named by its key too.
    const upstreamCa = (ca: string) => GOOD.replace('    url: postgres://pgwarden@db:5432/app\n', `    url: postgres://pgwarden@db:5432/app\n    tls: { mode: verify-full, ca: ${ca} }\n`);
    const noCa = await pgwarden(['check', '--config', file('ca-missing.yaml', upstreamCa(join(dir, 'no-ca.pem')))]);
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /:\d+ upstreams\.app\.tls\.ca: cannot read .*no-ca\.pem \(ENOENT/m);
    const keyAsCa = await pgwarden(['check', '--config', file('ca-key.yaml', upstreamCa(join(a.dir, 'key.pem')))]);
    assert.equal(keyAsCa.code, 1);
    assert.match(keyAsCa.stderr, /:\d+ upstreams\.app\.tls\.ca: .*key\.pem is not a PEM certificate/m);
    const goodCa = await pgwarden(['check', '--config', file('ca-good.yaml', upstreamCa(a.certPath))]);
    assert.equal(goodCa.code, 0, goodCa.stderr);
  } finally {
    a.cleanup();
    b.cleanup();
  }
});

describe('the admin token never travels in clear text', () => {
  let dev: DevIssuer;
  let server: HttpServer;
  let cert: ReturnType<typeof selfSignedCert>;
  let other: ReturnType<typeof selfSignedCert>;
  let token: string;
  const revocations = new RevocationList();
  const configFor = (port: number, tlsCert: string, tlsKey: string) => {
    const file = join(dir, `tls-${port}.yaml`);
    writeFileSync(
      file,
      ['listen:', `  http: 127.0.0.1:${port}`, `  http_tls: { cert: ${tlsCert}, key: ${tlsKey} }`, 'upstreams:', '  app:', '    url: postgres://pgwarden@db:5432/app', 'identity:', '  issuers:', '    - issuer: http://127.0.0.1:1/dev', '      audience: pgwarden', ''].join('\n'),
    );
    return file;
  };

  before(async () => {
    cert = selfSignedCert();
    other = selfSignedCert();
    dev = await DevIssuer.open(join(mkdtempSync(join(dir, 'tls-')), 'dev-issuer.jwk'), 'http://127.0.0.1:1/dev');
    token = await dev.mint({ subject: 'demo-admin', audience: 'pgwarden', ttlSeconds: 60 });
    const app = adminApp(dev, () => server.port, revocations, () => 0);
    server = await startHttpServer(app, '127.0.0.1', 0, { cert: Buffer.from(cert.cert), key: Buffer.from(cert.key) });
  });
  after(async () => {
    await server?.close();
    cert?.cleanup();
    other?.cleanup();
  });

  test('with listen.http_tls, --config talks https and checks the listener certificate', async () => {
    const r = await pgwarden(['revoke', '--subject', 'tls-agent', '--config', configFor(server.port, cert.certPath, join(cert.dir, 'key.pem'))], { PGWARDEN_TOKEN: token });
    assert.deepEqual([r.code, r.stderr, r.stdout], [0, '', 'revoked tls-agent: 0 open sessions terminated\n']);
    // A config naming another certificate: the one the listener shows is not trusted.
    const wrong = await pgwarden(['revoke', '--subject', 'tls-agent-2', '--config', configFor(server.port, other.certPath, join(other.dir, 'key.pem'))], { PGWARDEN_TOKEN: token });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot reach the gateway at https:\/\/127\.0\.0\.1:\d+ \((SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID)\)/);
    assert.ok(!revocations.list().some((x) => x.subject === 'tls-agent-2'));
    // --ca trusts a CA of the caller's choosing, with the usual name check.
    const viaCa = await pgwarden(['revoke', '--list', '--url', `https://localhost:${server.port}`, '--ca', cert.certPath], { PGWARDEN_TOKEN: token });
    assert.equal(viaCa.code, 0, viaCa.stderr);
    assert.match(viaCa.stdout, /^tls-agent since /m);
  });

  test('a listener configured for TLS never gets the token in clear text, even when something else answers there', async () => {
    // Whatever listens on the configured address receives what the CLI sends: a TLS ClientHello,
    // never an HTTP request with the bearer token.
    let captured = Buffer.alloc(0);
    const sniffer = net.createServer((s) =>
      s
        .on('data', (d) => {
          captured = Buffer.concat([captured, d]);
          s.destroy();
        })
        .on('error', () => {}),
    );
    await new Promise<void>((resolve) => sniffer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (sniffer.address() as net.AddressInfo).port;
      const r = await pgwarden(['revoke', '--subject', 'sniffed', '--config', configFor(port, cert.certPath, join(cert.dir, 'key.pem'))], { PGWARDEN_TOKEN: token });
      assert.equal(r.code, 1);
      assert.ok(captured.length > 0, 'the CLI connected');
      assert.equal(captured[0], 0x16, 'it began a TLS handshake');
      assert.ok(!captured.toString('latin1').includes(token.split('.')[2]) && !captured.toString('latin1').includes('Bearer'), 'no token in what was sent');
    } finally {
      sniffer.close();
    }
  });

  test('a listener that never answers the TLS handshake: the CLI gives up with an error, it does not hang', async () => {
    const silent = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const started = Date.now();
      const r = await pgwarden(['revoke', '--subject', 'silent', '--config', configFor(port, cert.certPath, join(cert.dir, 'key.pem'))], { PGWARDEN_TOKEN: token });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot reach the gateway at https:\/\/127\.0\.0\.1:\d+ \((ETIMEDOUT|timed out)\)/);
      assert.ok(Date.now() - started < 30_000, 'within the request deadline');
    } finally {
      silent.close();
    }
  });

  test('a plain http address off loopback is refused before anything is sent', async () => {
    for (const args of [['revoke', '--subject', 'x', '--url', 'http://192.0.2.1:8080'], ['reviews', 'list', '--url', 'http://gateway.example:8080']]) {
      const r = await pgwarden(args, { PGWARDEN_TOKEN: token });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^pgwarden: refusing to send a token in clear text to \S+: use an https:\/\/ address/);
    }
    const stdio = await pgwarden(['mcp-stdio', '--url', 'http://gateway.example:8080/mcp'], { PGWARDEN_TOKEN: token });
    assert.equal(stdio.code, 1);
    assert.match(stdio.stderr, /refusing to send a token in clear text to gateway\.example:8080/);
  });
});
