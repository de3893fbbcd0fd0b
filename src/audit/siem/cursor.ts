/**
 * An exporter's durable cursor: the last seq the receiver acknowledged, per audit instance, and
 * the head checkpoints not delivered yet (they are not in the store, so they wait here). Kept in a
 * small private file (0600, in a 0700 directory) next to the audit data, replaced whole by a
 * rename after each acknowledged batch.
 *
 * The file is not fsynced: a cursor that goes back after a power loss only sends records again
 * (with the same ids), it never skips one. A file that cannot be read as a cursor is reported and
 * the exporter starts over from the oldest record, for the same reason.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { ensurePrivateFile } from '../../private-files.ts';
import type { Checkpoint } from '../checkpoint.ts';

export interface CursorState {
  /** Last acknowledged seq per instance. */
  instances: Record<string, { seq: number }>;
  /** Checkpoints waiting to be delivered, oldest first. */
  checkpoints: Checkpoint[];
}

export type CursorLoad = { state: CursorState } | { state: null; problem?: string };

function isCheckpoint(v: unknown): v is Checkpoint {
  const c = v as Checkpoint;
  return typeof c === 'object' && c !== null && typeof c.instance === 'string' && Number.isInteger(c.seq) && typeof c.hash === 'string' && typeof c.at === 'number';
}

export function readCursor(path: string): CursorLoad {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: null };
    return { state: null, problem: `cannot read ${path}: ${(err as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as { v?: unknown; instances?: unknown; checkpoints?: unknown };
    if (parsed.v !== 1 || typeof parsed.instances !== 'object' || parsed.instances === null || !Array.isArray(parsed.checkpoints)) throw new Error('not a version 1 cursor');
    const instances: CursorState['instances'] = {};
    for (const [name, c] of Object.entries(parsed.instances as Record<string, { seq?: unknown }>)) {
      if (!Number.isInteger(c?.seq) || (c.seq as number) < 0) throw new Error(`bad seq for instance ${name}`);
      instances[name] = { seq: c.seq as number };
    }
    if (!parsed.checkpoints.every(isCheckpoint)) throw new Error('bad checkpoint');
    return { state: { instances, checkpoints: parsed.checkpoints as Checkpoint[] } };
  } catch (err) {
    return { state: null, problem: `${path} is not a cursor file (${(err as Error).message})` };
  }
}

export function writeCursor(path: string, state: CursorState): void {
  const tmp = `${path}.tmp`;
  ensurePrivateFile(tmp, []);
  writeFileSync(tmp, `${JSON.stringify({ v: 1, instances: state.instances, checkpoints: state.checkpoints })}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
