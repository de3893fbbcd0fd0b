/**
 * How a batch reaches a receiver. `send` resolves once the batch counts as delivered and rejects
 * otherwise; the exporter advances its cursor only on a resolve, in order.
 *
 * - Syslog over TCP or TLS: frames are written to one long-lived connection. The protocol has no
 *   acknowledgement, so a batch counts as delivered once it was written AND the connection stayed
 *   up `confirm_after` longer: a receiver that restarts or crashes closes or resets the connection,
 *   and every batch not yet confirmed on it is rejected (and sent again from the cursor).
 * - HTTP: one POST per batch; delivered on a 2xx answer (for Elastic, with no refused item but
 *   409, a document that is already there).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { hostname } from 'node:os';
import tls from 'node:tls';
import { bulkFailure, DEFAULT_ELASTIC_INDEX, httpChunk, octetFrame, syslogMessage, type ExportItem, type HttpFormatOptions, type SyslogFields } from './messages.ts';
import { SYSLOG_FACILITIES, type HttpExportConfig, type SyslogExportConfig } from './schema.ts';

export interface Transport {
  readonly kind: 'syslog' | 'http';
  /** Where it sends, without credentials. */
  readonly target: string;
  /** How many batches may be on their way at once. */
  readonly window: number;
  encode(item: ExportItem): Buffer;
  send(chunks: Buffer[]): Promise<void>;
  /** Abort what is on its way and release connections. */
  close(): void;
}

function resolvePath(baseDir: string, path: string): string {
  return path.startsWith('/') ? path : `${baseDir.replace(/\/$/, '')}/${path}`;
}

function readPem(baseDir: string, path: string | undefined, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(resolvePath(baseDir, path));
  } catch (err) {
    throw new Error(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
}

export class SyslogTransport implements Transport {
  readonly kind = 'syslog' as const;
  readonly target: string;
  readonly window = 16;
  readonly #c: SyslogExportConfig;
  readonly #fields: SyslogFields;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | null;
  #socket: net.Socket | null = null;
  #connecting: Promise<net.Socket> | null = null;
  /** Batches written on the current connection and not confirmed yet. */
  readonly #unconfirmed = new Set<{ reject(err: Error): void; timer?: NodeJS.Timeout }>();
  #closed = false;

  constructor(c: SyslogExportConfig, baseDir: string) {
    this.#c = c;
    const u = new URL(c.url);
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(u.port);
    this.target = `${u.protocol}//${u.host}`;
    this.#tls = u.protocol === 'tls:' ? { ca: readPem(baseDir, c.ca, 'CA file'), cert: readPem(baseDir, c.cert, 'certificate'), key: readPem(baseDir, c.key, 'key') } : null;
    this.#fields = { facility: SYSLOG_FACILITIES[c.facility], hostname: hostname(), procId: process.pid, sdId: c.sd_id };
  }

  encode(item: ExportItem): Buffer {
    return octetFrame(syslogMessage(item, this.#fields));
  }

  async send(chunks: Buffer[]): Promise<void> {
    const socket = await this.#connect();
    await new Promise<void>((resolve, reject) => {
      const entry: { reject(err: Error): void; timer?: NodeJS.Timeout } = {
        reject: (err) => {
          this.#unconfirmed.delete(entry);
          clearTimeout(entry.timer);
          reject(err);
        },
      };
      this.#unconfirmed.add(entry);
      socket.write(Buffer.concat(chunks), (err) => {
        if (!this.#unconfirmed.has(entry)) return;
        if (err) return entry.reject(err);
        entry.timer = setTimeout(() => {
          this.#unconfirmed.delete(entry);
          resolve();
        }, this.#c.confirm_after);
      });
    });
  }

  #connect(): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(new Error('the exporter is closed'));
    if (this.#socket) return Promise.resolve(this.#socket);
    this.#connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = this.#tls
        ? tls.connect({ host: this.#host, port: this.#port, servername: this.#c.server_name ?? (net.isIP(this.#host) ? undefined : this.#host), ...this.#tls, minVersion: 'TLSv1.2' })
        : net.connect({ host: this.#host, port: this.#port });
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${this.#c.connect_timeout} ms`)), this.#c.connect_timeout);
      const failed = (err: Error) => {
        clearTimeout(timer);
        this.#connecting = null;
        reject(err);
      };
      s.once('error', failed);
      s.once(this.#tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        s.off('error', failed);
        s.setNoDelay(true);
        s.setKeepAlive(true, 10_000);
        // A syslog receiver sends nothing; whatever it does send is read and dropped.
        s.resume();
        const lost = (err?: Error) => {
          if (this.#socket === s) this.#socket = null;
          const why = err ?? new Error('the receiver closed the connection');
          for (const u of [...this.#unconfirmed]) u.reject(why);
        };
        s.on('error', (err) => lost(err));
        s.on('end', () => s.destroy());
        s.on('close', () => lost());
        this.#socket = s;
        this.#connecting = null;
        resolve(s);
      });
    });
    return this.#connecting;
  }

  close(): void {
    this.#closed = true;
    const err = new Error('the exporter is closed');
    for (const u of [...this.#unconfirmed]) u.reject(err);
    this.#socket?.destroy();
    this.#socket = null;
  }
}

const DEFAULT_PATHS = { splunk_hec: '/services/collector/event', elastic_bulk: '/_bulk', ndjson: '/' } as const;
const SCHEMES = { splunk_hec: 'Splunk', elastic_bulk: 'ApiKey', ndjson: 'Bearer' } as const;
/** Most bytes of a response body read (enough for a `_bulk` answer of 10 000 items). */
const MAX_RESPONSE = 8 * 1024 * 1024;

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly target: string;
  readonly window = 1;
  readonly #c: HttpExportConfig;
  readonly #url: URL;
  readonly #format: HttpFormatOptions;
  readonly #headers: Record<string, string>;
  readonly #agent: http.Agent;
  readonly #requests = new Set<http.ClientRequest>();
  #closed = false;

  constructor(c: HttpExportConfig, baseDir: string) {
    this.#c = c;
    const url = new URL(c.url);
    if ((url.pathname === '/' || url.pathname === '') && c.format !== 'ndjson') url.pathname = DEFAULT_PATHS[c.format];
    this.#url = url;
    this.target = `${url.protocol}//${url.host}${url.pathname}`;
    this.#format = { format: c.format, hostname: hostname(), source: c.source, sourcetype: c.sourcetype, index: c.format === 'elastic_bulk' ? (c.index ?? DEFAULT_ELASTIC_INDEX) : c.index };
    this.#headers = {
      'content-type': c.format === 'splunk_hec' ? 'application/json' : 'application/x-ndjson',
      ...(c.token === undefined ? {} : { authorization: `${SCHEMES[c.format]} ${c.token}` }),
      ...c.headers,
    };
    const ca = readPem(baseDir, c.ca, 'CA file');
    this.#agent = url.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca, minVersion: 'TLSv1.2' }) : new http.Agent({ keepAlive: true });
  }

  encode(item: ExportItem): Buffer {
    return Buffer.from(httpChunk(item, this.#format), 'utf8');
  }

  send(chunks: Buffer[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the exporter is closed'));
    const body = Buffer.concat(chunks);
    const lib = this.#url.protocol === 'https:' ? https : http;
    return new Promise<void>((resolve, reject) => {
      const req = lib.request(this.#url, { method: 'POST', agent: this.#agent, headers: { ...this.#headers, 'content-length': String(body.length) }, timeout: this.#c.timeout }, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size <= MAX_RESPONSE) parts.push(d);
        });
        res.on('error', reject);
        res.on('end', () => {
          this.#requests.delete(req);
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(parts).toString('utf8');
          if (status < 200 || status >= 300) return reject(new Error(`the receiver answered ${status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`));
          if (this.#c.format === 'elastic_bulk') {
            const failure = bulkFailure(text);
            if (failure) return reject(new Error(failure));
          }
          resolve();
        });
      });
      this.#requests.add(req);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#c.timeout} ms`)));
      req.on('error', (err) => {
        this.#requests.delete(req);
        reject(err);
      });
      req.end(body);
    });
  }

  close(): void {
    this.#closed = true;
    for (const r of this.#requests) r.destroy(new Error('the exporter is closed'));
    this.#requests.clear();
    this.#agent.destroy();
  }
}
