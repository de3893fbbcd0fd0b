/**
 * Request bodies on the HTTP listener are read only up to a bound, whoever sends them. The
 * console's sign-out answers anyone (a POST without a session is a plain redirect), so before
 * this bound an unauthenticated client could make the gateway buffer a body of any size: 300 MB
 * sent to POST /console/logout raised the process's memory by about 1 GB. Each case sends a large
 * body from another process (curl) and judges the effect: the answer is 413 and the gateway's
 * memory does not grow with the body.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/postgres.ts';

let t: TestGateway;
let port: number;

before(async () => {
  port = await freePort();
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.http = `127.0.0.1:${port}`;
      // The sign-in is never used here: the issuer need not answer.
      raw.console = { issuer: 'http://127.0.0.1:9/', client_id: 'c', roles: { auditor: ['a'] }, session_secret: 'test-console-session-secret-0123456789abcdef' };
    },
  });
});
after(async () => {
  await t?.stop();
});

/** POST `mb` MiB of 'a' from a curl process; its HTTP status. */
function post(path: string, mb: number, headers: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = headers.flatMap((x) => ['-H', x]);
    const cmd = `head -c ${mb}M /dev/zero | tr '\\0' a | curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST ${h.map((x) => `'${x}'`).join(' ')} --data-binary @- http://127.0.0.1:${port}${path}`;
    const sh = spawn('sh', ['-c', cmd]);
    let out = '';
    sh.stdout.on('data', (c) => (out += c));
    sh.on('error', reject);
    sh.on('close', () => resolve(out));
  });
}

/** The largest growth of this process's memory (the gateway's) while `run` runs, in MB. */
async function growth(run: () => Promise<string>): Promise<{ status: string; mb: number }> {
  global.gc?.();
  const start = process.memoryUsage().rss;
  let peak = start;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  try {
    const status = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { status, mb: Math.round((peak - start) / 1e6) };
  } finally {
    clearInterval(timer);
  }
}

describe('an oversized body sent to the console is refused unread', () => {
  const cases: [string, string[]][] = [
    ['form, with Content-Length', ['content-type: application/x-www-form-urlencoded', 'expect:']],
    ['form, chunked (no length)', ['content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked', 'expect:']],
    ['multipart, chunked', ['content-type: multipart/form-data; boundary=x', 'transfer-encoding: chunked', 'expect:']],
  ];
  for (const [name, headers] of cases) {
    it(`POST /console/logout, 200 MB ${name}: 413, memory flat`, async () => {
      const { status, mb } = await growth(() => post('/console/logout', 200, headers));
      assert.equal(status, '413');
      assert.ok(mb < 100, `the gateway's memory grew by ${mb} MB for a body it refused`);
    });
  }
  it('a sign-in callback or a review form path is bounded the same way', async () => {
    for (const path of ['/console/dev-login', '/console/reviews/r-abc', '/console/nowhere']) {
      const { status, mb } = await growth(() => post(path, 50, ['content-type: application/x-www-form-urlencoded', 'transfer-encoding: chunked', 'expect:']));
      assert.ok(status === '413' || status === '404' || status === '303' || status === '403', `${path}: ${status}`);
      assert.ok(mb < 60, `${path}: the gateway's memory grew by ${mb} MB`);
    }
  });
  it('a sign-out of ordinary size still answers (303)', async () => {
    const status = await new Promise<string>((resolve) => {
      const sh = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '--data', 'csrf=x', `http://127.0.0.1:${port}/console/logout`]);
      let out = '';
      sh.stdout.on('data', (c) => (out += c));
      sh.on('close', () => resolve(out));
    });
    assert.equal(status, '303');
  });
});
