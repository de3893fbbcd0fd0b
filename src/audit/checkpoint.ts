/**
 * Signed head checkpoints: what stops the chain's two blind spots, a deleted tail and a deleted
 * prefix behind a forged anchor.
 *
 * The hash chain proves that the records between its anchor and its last record are as written,
 * but anyone who can write the store can cut records off its end, or delete its oldest records
 * and write an anchor that fits the first one left. So the gateway regularly states, outside the
 * store (the gateway's log and the audit sinks), "instance I's chain has reached seq N with hash
 * H", signed with HMAC-SHA256 under `audit.checkpoint_key`, a secret the store never holds.
 * `pgwarden audit verify --checkpoint FILE` (or `--expect-head`) then requires that the store still
 * holds seq N with hash H. Retention, the one legitimate deleter of a prefix, records each anchor
 * it sets in a `retention` event on the chain, signed with the same key: an anchor no such record
 * vouches for means the oldest records were deleted by someone else.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson, type ChainAnchor } from './chain.ts';

export interface Checkpoint {
  instance: string;
  seq: number;
  hash: string;
  /** Epoch ms the checkpoint was made. */
  at: number;
  /** HMAC-SHA256 (hex) of the fields above, when a key is configured. */
  mac?: string;
}

function hmac(key: string, value: unknown): string {
  return createHmac('sha256', key).update(canonicalJson(value)).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export function checkpointMac(key: string, c: Omit<Checkpoint, 'mac'>): string {
  return hmac(key, { type: 'pgwarden-audit-checkpoint', v: 1, instance: c.instance, seq: c.seq, hash: c.hash, at: c.at });
}

export function makeCheckpoint(instance: string, head: { seq: number; hash: string }, at: number, key?: string): Checkpoint {
  const c: Checkpoint = { instance, seq: head.seq, hash: head.hash, at };
  return key ? { ...c, mac: checkpointMac(key, c) } : c;
}

export function checkpointSigned(key: string, c: Checkpoint): boolean {
  return typeof c.mac === 'string' && sameHex(c.mac, checkpointMac(key, c));
}

export function anchorMac(key: string, instance: string, a: ChainAnchor): string {
  return hmac(key, { type: 'pgwarden-audit-anchor', v: 1, instance, seq: a.seq, hash: a.hash, at: a.at });
}

export function anchorSigned(key: string, instance: string, a: ChainAnchor, mac: unknown): boolean {
  return typeof mac === 'string' && sameHex(mac, anchorMac(key, instance, a));
}

/** One JSON line as the sinks write it. */
export function checkpointLine(c: Checkpoint): string {
  return `${JSON.stringify({ checkpoint: c })}\n`;
}

function isCheckpoint(v: unknown): v is Checkpoint {
  const c = v as Checkpoint;
  return typeof c === 'object' && c !== null && typeof c.instance === 'string' && Number.isInteger(c.seq) && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash) && typeof c.at === 'number';
}

/**
 * The latest checkpoint per instance in a text of JSON lines: an audit sink's file or the
 * gateway's own log (whose `audit checkpoint` lines carry the same `checkpoint` object). Lines
 * that are not JSON, or carry no checkpoint, are skipped.
 */
export function latestCheckpoints(text: string): Checkpoint[] {
  const latest = new Map<string, Checkpoint>();
  for (const line of text.split('\n')) {
    if (!line.includes('"checkpoint"')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const c = (parsed as { checkpoint?: unknown }).checkpoint;
    if (!isCheckpoint(c)) continue;
    const seen = latest.get(c.instance);
    if (!seen || c.seq > seen.seq || (c.seq === seen.seq && c.at > seen.at)) latest.set(c.instance, c);
  }
  return [...latest.values()];
}

/** `INSTANCE:SEQ:HASH`, as `verify --expect-head` takes it (the instance may contain colons). */
export function parseExpectedHead(text: string): Checkpoint {
  const m = /^(.+):(\d+):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) throw new Error(`not INSTANCE:SEQ:HASH (a 64-digit hex hash): ${text}`);
  return { instance: m[1], seq: Number(m[2]), hash: m[3], at: 0 };
}
