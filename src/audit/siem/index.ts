/**
 * SIEM export: the audit chain delivered at least once to syslog (RFC 5424 over TCP or TLS) or to
 * an HTTP endpoint in batches (Splunk HEC, Elastic `_bulk`, NDJSON).
 *
 * Data flow: AuditWriter commit → `Exporter.write` (an announcement only) → the exporter reads the
 * records from the AuditStore after its cursor → `messages.ts` encodes them → `transport.ts` sends
 * a batch → on acknowledgement the cursor file (`cursor.ts`) moves. Head checkpoints reach the
 * exporter through `Exporter.checkpoint` and wait in the cursor file until delivered.
 */
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Logger } from '../../log.ts';
import type { AuditStore } from '../../store/audit-store.ts';
import { Exporter } from './exporter.ts';
import { exporterNameOf, type ExportConfig } from './schema.ts';
import { HttpTransport, SyslogTransport, type Transport } from './transport.ts';

export { Exporter, GAP_GRACE_MS, type ExporterDeps, type ExporterOptions, type ExporterStatus } from './exporter.ts';
export { exporterNameOf, httpSinkSchema, syslogSinkSchema, type ExportConfig, type HttpExportConfig, type SyslogExportConfig } from './schema.ts';
export { bulkFailure, checkpointItem, gapItem, httpChunk, itemJson, octetFrame, recordItem, syslogMessage, type ExportItem, type Gap } from './messages.ts';
export { readCursor, writeCursor, type CursorState } from './cursor.ts';
export { retryDelay } from './backoff.ts';
export { HttpTransport, SyslogTransport, type Transport } from './transport.ts';

export interface OpenExportersDeps {
  store: AuditStore;
  /** The store's URL as configured (a SQLite log's directory holds the cursors). */
  storeUrl: string;
  instance: string;
  logger: Logger;
  /** Relative paths (cursor, CA, certificate) are resolved here: the config file's directory. */
  baseDir: string;
}

/** The cursor file's directory: next to a SQLite audit log, else `./pgwarden-data/`. */
export function cursorDir(storeUrl: string, baseDir: string): string {
  if (storeUrl.startsWith('sqlite:')) {
    const p = storeUrl.slice('sqlite:'.length);
    return dirname(isAbsolute(p) ? p : resolve(baseDir, p));
  }
  return resolve(baseDir, 'pgwarden-data');
}

/** Build one exporter per `syslog`/`http` sink (not started: see Exporter.start). */
export function openExporters(configs: readonly ExportConfig[], d: OpenExportersDeps): Exporter[] {
  const exporters: Exporter[] = [];
  for (const c of configs) {
    const name = exporterNameOf(c);
    const o = 'syslog' in c ? c.syslog : c.http;
    const transport: Transport = 'syslog' in c ? new SyslogTransport(c.syslog, d.baseDir) : new HttpTransport(c.http, d.baseDir);
    const cursorPath = o.cursor ? resolve(d.baseDir, o.cursor) : join(cursorDir(d.storeUrl, d.baseDir), `siem-${name}.cursor`);
    exporters.push(new Exporter({ name, batch: o.batch, retry: o.retry, poll: o.poll, shutdown_grace: o.shutdown_grace, from: o.from }, { store: d.store, instance: d.instance, logger: d.logger, cursorPath, transport }));
  }
  return exporters;
}
