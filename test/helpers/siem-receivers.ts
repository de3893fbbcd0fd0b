/**
 * Real SIEM receivers for tests, on free ports: a syslog receiver (RFC 6587 octet counting over
 * TCP, or TLS as RFC 5425) and an HTTP receiver that speaks Splunk HEC, Elastic `_bulk` (with
 * Elastic's own duplicate refusal: a second `create` of an `_id` is a 409) or NDJSON. Each can be
 * taken down (connections refused, open ones reset) and brought back on the same port, or made to
 * answer 503.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

/** One delivered item as a receiver saw it. */
export interface Received {
  id: string;
  /** The record's type, `checkpoint` or `gap`. */
  type: string;
  instance: string;
  seq: number;
  json: Record<string, any>;
  /** Syslog only: the header fields and structured data. */
  syslog?: { pri: number; timestamp: string; hostname: string; app: string; procId: string; msgId: string; sd: Record<string, string>; sdId: string };
  /** HTTP only: the request it came in. */
  request?: { path: string; headers: http.IncomingHttpHeaders };
  /** Splunk HEC only: the event envelope. */
  envelope?: Record<string, any>;
}

export interface Receiver {
  port: number;
  received: Received[];
  /** Refuse new connections and reset open ones. */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

function parseSyslog(msg: string): Received {
  const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[(\S+)((?: \w+="(?:[^"\\]|\\.)*")*)\] \uFEFF([\s\S]*)$/.exec(msg);
  if (!m) throw new Error(`not an RFC 5424 message as pgwarden sends it: ${msg.slice(0, 200)}`);
  const sd: Record<string, string> = {};
  for (const p of m[8].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) sd[p[1]] = p[2].replace(/\\(["\\\]])/g, '$1');
  const json = JSON.parse(m[9]) as Record<string, any>;
  return {
    id: sd.id,
    type: sd.type,
    instance: sd.instance,
    seq: Number(sd.seq),
    json,
    syslog: { pri: Number(m[1]), timestamp: m[2], hostname: m[3], app: m[4], procId: m[5], msgId: m[6], sd, sdId: m[7] },
  };
}

/** The id, type, instance and seq of an item's JSON (a record, `{id, checkpoint}` or `{id, gap}`). */
export function describeItem(json: Record<string, any>): Pick<Received, 'id' | 'type' | 'instance' | 'seq'> {
  if (json.checkpoint) return { id: json.id, type: 'checkpoint', instance: json.checkpoint.instance, seq: json.checkpoint.seq };
  if (json.gap) return { id: json.id, type: 'gap', instance: json.gap.instance, seq: json.gap.to };
  return { id: json.id, type: json.type, instance: json.instance, seq: json.seq };
}

async function listenOn(server: net.Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as net.AddressInfo).port;
}

/** A self-signed certificate for 127.0.0.1 / localhost, in a temporary directory. */
export function selfSignedCert(): { cert: string; key: string; certPath: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-siem-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  return {
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    certPath: join(dir, 'cert.pem'),
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function startSyslogReceiver(o: { tls?: { cert: string; key: string } } = {}): Promise<Receiver> {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  const onSocket = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString('ascii'));
        if (!Number.isInteger(len) || len <= 0) throw new Error('bad octet count');
        if (buf.length < sp + 1 + len) return;
        received.push(parseSyslog(buf.subarray(sp + 1, sp + 1 + len).toString('utf8')));
        buf = buf.subarray(sp + 1 + len);
      }
    });
  };
  const make = () => (o.tls ? tls.createServer({ cert: o.tls.cert, key: o.tls.key }, onSocket) : net.createServer(onSocket));
  let server = make();
  const port = await listenOn(server, 0);
  let listening = true;
  const down = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise((r) => server.close(r));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    received,
    down,
    async up() {
      server = make();
      await listenOn(server, port);
      listening = true;
    },
    stop: down,
  };
}

export type HttpFormat = 'splunk_hec' | 'elastic_bulk' | 'ndjson';

export interface HttpReceiver extends Receiver {
  /** Answer every request with 503 (true) or handle it (false). */
  unavailable: boolean;
  requests: { path: string; headers: http.IncomingHttpHeaders; items: number; status: number; bytes: number }[];
}

export async function startHttpReceiver(format: HttpFormat): Promise<HttpReceiver> {
  const received: Received[] = [];
  const requests: HttpReceiver['requests'] = [];
  const elasticIds = new Set<string>();
  const r = { unavailable: false };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const path = req.url ?? '';
      if (r.unavailable) {
        requests.push({ path, headers: req.headers, items: 0, status: 503, bytes: Buffer.concat(parts).length });
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"text":"Server is busy","code":9}');
        return;
      }
      const text = Buffer.concat(parts).toString('utf8');
      const lines = text.split('\n').filter((l) => l.length > 0);
      const request = { path, headers: req.headers };
      if (format === 'elastic_bulk') {
        const items: unknown[] = [];
        let errors = false;
        for (let i = 0; i < lines.length; i += 2) {
          const action = JSON.parse(lines[i]) as { create: { _index: string; _id: string } };
          const doc = JSON.parse(lines[i + 1]) as Record<string, any>;
          if (elasticIds.has(action.create._id)) {
            errors = true;
            items.push({ create: { _index: action.create._index, _id: action.create._id, status: 409, error: { type: 'version_conflict_engine_exception', reason: 'document already exists' } } });
            continue;
          }
          elasticIds.add(action.create._id);
          received.push({ ...describeItem(doc), json: doc, request });
          items.push({ create: { _index: action.create._index, _id: action.create._id, status: 201 } });
        }
        requests.push({ path, headers: req.headers, items: items.length, status: 200, bytes: text.length });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 1, errors, items }));
        return;
      }
      for (const line of lines) {
        const parsed = JSON.parse(line) as Record<string, any>;
        const json = format === 'splunk_hec' ? (parsed.event as Record<string, any>) : parsed;
        received.push({ ...describeItem(json), json, request, ...(format === 'splunk_hec' ? { envelope: parsed } : {}) });
      }
      requests.push({ path, headers: req.headers, items: lines.length, status: 200, bytes: Buffer.byteLength(text) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    });
  };
  let server = http.createServer(handler);
  const port = await listenOn(server, 0);
  let listening = true;
  const down = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise((res) => server.close(res));
    server.closeAllConnections();
    await closed;
  };
  return Object.assign(r, {
    port,
    received,
    requests,
    down,
    async up() {
      server = http.createServer(handler);
      await listenOn(server, port);
      listening = true;
    },
    stop: down,
  });
}
