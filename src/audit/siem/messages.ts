/**
 * What the exporters send, as pure functions of the items: RFC 5424 syslog messages framed by
 * octet counting (RFC 6587 §3.4.1, which RFC 5425 uses over TLS too), and the bodies of the three
 * HTTP formats. Every message carries the item's id, so a receiver can drop the duplicates a retry
 * may bring (Elastic does it itself: each document is `create`d with the id as `_id`).
 */
import type { StoredRecord } from '../chain.ts';
import type { Checkpoint } from '../checkpoint.ts';
import { jsonLine } from '../sinks.ts';

/** Records of the chain that cannot be exported: the store no longer (or never) held them. */
export interface Gap {
  instance: string;
  /** First and last missing seq. */
  from: number;
  to: number;
  reason: string;
  /** Epoch ms the gap was found. */
  at: number;
}

/** One thing to deliver: a record, a head checkpoint (after the records it covers), or a gap. */
export type ExportItem =
  | { kind: 'record'; id: string; record: StoredRecord }
  | { kind: 'checkpoint'; id: string; checkpoint: Checkpoint }
  | { kind: 'gap'; id: string; gap: Gap };

export function recordItem(record: StoredRecord): ExportItem {
  return { kind: 'record', id: record.id, record };
}

/** A checkpoint's id: the same for every retry of it, different for any other checkpoint. */
export function checkpointItem(checkpoint: Checkpoint): ExportItem {
  return { kind: 'checkpoint', id: `checkpoint:${checkpoint.instance}:${checkpoint.seq}:${checkpoint.at}`, checkpoint };
}

export function gapItem(gap: Gap): ExportItem {
  return { kind: 'gap', id: `gap:${gap.instance}:${gap.from}-${gap.to}`, gap };
}

/** The item's type as receivers see it: the record's type, `checkpoint` or `gap`. */
export function itemType(item: ExportItem): string {
  return item.kind === 'record' ? item.record.type : item.kind;
}

function itemInstance(item: ExportItem): string {
  return item.kind === 'record' ? item.record.instance : item.kind === 'checkpoint' ? item.checkpoint.instance : item.gap.instance;
}

/** The seq the item is at: its record's, the checkpoint's head, the last seq of a gap. */
export function itemSeq(item: ExportItem): number {
  return item.kind === 'record' ? item.record.seq : item.kind === 'checkpoint' ? item.checkpoint.seq : item.gap.to;
}

export function itemAt(item: ExportItem): number {
  return item.kind === 'record' ? item.record.at : item.kind === 'checkpoint' ? item.checkpoint.at : item.gap.at;
}

/**
 * The item as one JSON object (no newline). A record is its JSON-lines sink line (the hashed
 * body's fields, `prevHash`, `hash`, `time`); a checkpoint is `{"id","checkpoint":{…}}`, which
 * `pgwarden audit verify --checkpoint` reads back from an exported file; a gap is `{"id","gap":{…}}`.
 */
export function itemJson(item: ExportItem): string {
  switch (item.kind) {
    case 'record':
      return jsonLine(item.record).slice(0, -1);
    case 'checkpoint':
      return `{"id":${JSON.stringify(item.id)},"checkpoint":${JSON.stringify(item.checkpoint)}}`;
    case 'gap':
      return `{"id":${JSON.stringify(item.id)},"gap":${JSON.stringify(item.gap)},"time":${JSON.stringify(new Date(item.gap.at).toISOString())}}`;
  }
}

export interface SyslogFields {
  facility: number;
  /** HOSTNAME (the gateway's host name; `-` when it has characters syslog does not allow). */
  hostname: string;
  procId: number | string;
  sdId: string;
}

const SEVERITY = { warning: 4, notice: 5, info: 6 } as const;

function severity(item: ExportItem): number {
  if (item.kind === 'gap') return SEVERITY.warning;
  if (item.kind === 'checkpoint') return SEVERITY.notice;
  return item.record.verdict === 'deny' ? SEVERITY.notice : SEVERITY.info;
}

/** PRINTUSASCII of at most `max` characters, or the NILVALUE. */
function header(value: string, max: number): string {
  return /^[!-~]+$/.test(value) ? value.slice(0, max) : '-';
}

/** An SD-PARAM value: `"`, `\` and `]` are escaped (RFC 5424 §6.3.3). */
function sdValue(v: string): string {
  return v.replace(/["\\\]]/g, (c) => `\\${c}`);
}

const BOM = '\uFEFF';

/**
 * One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME pgwarden PROCID MSGID [SD] BOM JSON`, with
 * the structured data `[sdId id="…" instance="…" seq="…" type="…"]`. MSG is UTF-8, so it starts
 * with a byte order mark as §6.4 asks.
 */
export function syslogMessage(item: ExportItem, f: SyslogFields): string {
  const pri = f.facility * 8 + severity(item);
  const time = new Date(itemAt(item)).toISOString();
  const type = itemType(item);
  const sd = `[${f.sdId} id="${sdValue(item.id)}" instance="${sdValue(itemInstance(item))}" seq="${itemSeq(item)}" type="${sdValue(type)}"]`;
  return `<${pri}>1 ${time} ${header(f.hostname, 255)} pgwarden ${header(String(f.procId), 128)} ${header(type, 32)} ${sd} ${BOM}${itemJson(item)}`;
}

/** Octet-counting framing: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetFrame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

export interface HttpFormatOptions {
  format: 'splunk_hec' | 'elastic_bulk' | 'ndjson';
  hostname: string;
  /** splunk_hec */
  source?: string;
  sourcetype?: string;
  /** splunk_hec (optional) and elastic_bulk (the index created in). */
  index?: string;
}

export const DEFAULT_ELASTIC_INDEX = 'pgwarden-audit';

/**
 * One item's part of an HTTP batch body, newline included:
 * - `splunk_hec`: `{"time":<epoch seconds>,"host","source","sourcetype"[,"index"],"event":{…}}`;
 * - `elastic_bulk`: a `create` action with `_id` = the item's id, then the document (with
 *   `@timestamp`), so a document sent twice is refused by Elastic as a conflict;
 * - `ndjson`: the item's JSON.
 */
export function httpChunk(item: ExportItem, o: HttpFormatOptions): string {
  const json = itemJson(item);
  switch (o.format) {
    case 'splunk_hec': {
      const index = o.index === undefined ? '' : `,"index":${JSON.stringify(o.index)}`;
      return `{"time":${(itemAt(item) / 1000).toFixed(3)},"host":${JSON.stringify(o.hostname)},"source":${JSON.stringify(o.source ?? 'pgwarden')},"sourcetype":${JSON.stringify(o.sourcetype ?? 'pgwarden:audit')}${index},"event":${json}}\n`;
    }
    case 'elastic_bulk': {
      const action = `{"create":{"_index":${JSON.stringify(o.index ?? DEFAULT_ELASTIC_INDEX)},"_id":${JSON.stringify(item.id)}}}\n`;
      return `${action}${json.slice(0, -1)},"@timestamp":${JSON.stringify(new Date(itemAt(item)).toISOString())}}\n`;
    }
    case 'ndjson':
      return `${json}\n`;
  }
}

/**
 * What an Elastic `_bulk` response says went wrong, or null when every document is in the index:
 * created (201) or already there with this id (409, a duplicate from a retry). Elastic answers 200
 * even when some items failed, so the items are what counts.
 */
export function bulkFailure(responseBody: string): string | null {
  let parsed: { errors?: unknown; items?: unknown };
  try {
    parsed = JSON.parse(responseBody) as typeof parsed;
  } catch {
    return 'the _bulk response is not JSON';
  }
  if (parsed.errors === false) return null;
  if (!Array.isArray(parsed.items)) return 'the _bulk response has no items';
  for (const entry of parsed.items as Record<string, { status?: unknown; error?: { type?: unknown; reason?: unknown } }>[]) {
    const result = entry && (entry.create ?? Object.values(entry)[0]);
    const status = Number(result?.status);
    if ((status >= 200 && status < 300) || status === 409) continue;
    const why = result?.error ? `${String(result.error.type ?? 'error')}: ${String(result.error.reason ?? '')}` : 'no reason given';
    return `an item was refused with status ${Number.isFinite(status) ? status : 'unknown'} (${why.slice(0, 300)})`;
  }
  return null;
}
