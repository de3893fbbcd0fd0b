/**
 * `pgwarden audit tail|search|show|replay|verify|export`: read the audit log the config names
 * (`audit.store`), never write it. Human-readable lines by default; `--json` (one JSON record per
 * line) where a program may read the output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import {
  loadReplay,
  outcomeSummary,
  recordDetail,
  recordLine,
  replayStepLines,
  toAuditRecord,
  verifyStore,
  verifyJournal,
  journalDir,
  FileJournal,
  latestCheckpoints,
  parseExpectedHead,
  type VerifyOptions,
  type AuditRecord,
  type RecordType,
  type Verdict,
} from '../audit/index.ts';
import { jsonLine } from '../audit/sinks.ts';
import { loadConfigFile, parseDuration } from '../config/index.ts';
import { openAuditStore, type AuditQuery, type AuditStore, type StoredRow } from '../store/index.ts';
import { CliError, configPath, type ConfigLocation } from './common.ts';

type ConfigOptions = (cmd: Command) => Command;

/** Add the `audit` command and its subcommands to the program. */
export function registerAuditCommands(program: Command, configOptions: ConfigOptions): void {
  const audit = program.command('audit').description('read, search, replay and verify the audit log');

  configOptions(audit.command('tail').description('print the latest records; -f keeps printing new ones'))
    .option('-f, --follow', 'wait for new records and print them as they are written')
    .option('-n, --lines <n>', 'how many records to print first', '20')
    .option('--json', 'one JSON record per line')
    .action((o) => tailCommand(o));

  configOptions(audit.command('search').description('find statements by identity, time, table, decision or text'))
    .option('--identity <subject>', 'the token subject')
    .option('--since <when>', 'a duration ago (1h, 30m, 7d) or a date/time (2025-01-31T12:00Z)')
    .option('--until <when>', 'a duration ago or a date/time')
    .option('--table <name>', 'schema.table, or a table name in any schema')
    .option('--decision <verdict>', 'allow, deny or review')
    .option('--text <substring>', 'text in the statement (case-insensitive)')
    .option('--session <id>', 'only this session')
    .option('--limit <n>', 'most statements to print (the latest ones)', '100')
    .option('--json', 'one JSON record per line')
    .action((o) => searchCommand(o));

  configOptions(audit.command('show').description('print one record in full').argument('<id>', 'the record id'))
    .option('--json', 'print the record (and its outcome) as JSON')
    .action((id: string, o) => showCommand(id, o));

  configOptions(audit.command('replay').description("print a session's statements and results in order, with their timing").argument('<session>', 'the session id'))
    .option('--speed <n>', 'replay this many times faster than it happened', '1')
    .option('--no-wait', 'print everything at once')
    .option('--json', 'one JSON step per line (implies --no-wait)')
    .action((session: string, o) => replayCommand(session, o));

  configOptions(audit.command('verify').description('check the hash chains of the index and the journal, and that they agree: exit 0 if intact, 1 naming the first bad record'))
    .option('--checkpoint <file>', 'a file of JSON lines holding signed head checkpoints (an audit sink file, or the gateway log): the chains must still reach the latest')
    .option('--expect-head <instance:seq:hash>', 'a head the chain must still reach (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--json', 'print the result as JSON')
    .action((o) => verifyCommand(o));

  configOptions(audit.command('export').description('write records for another system'))
    .option('--since <when>', 'a duration ago or a date/time')
    .option('--until <when>', 'a duration ago or a date/time')
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .action((o) => exportCommand(o));
}

interface CommonOptions extends ConfigLocation {
  json?: boolean;
}

async function withStore<T>(o: ConfigLocation, run: (store: AuditStore, config: Awaited<ReturnType<typeof loadConfigFile>>, file: string) => Promise<T>): Promise<T> {
  const file = configPath(o);
  const config = await loadConfigFile(file);
  if (config.audit.store === 'memory') throw new CliError('the audit store is "memory": there is no log to read outside the running gateway');
  let store: AuditStore;
  try {
    store = await openAuditStore(config.audit.store, { baseDir: dirname(file), password: config.audit.password, readOnly: true });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    return await run(store, config, file);
  } finally {
    await store.close();
  }
}

/** `1h` / `30m` / `7d` ago, or an ISO date/time. */
export function parseWhen(text: string, flag: string, now = Date.now()): number {
  try {
    return now - parseDuration(text);
  } catch {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new CliError(`${flag}: "${text}" is neither a duration (1h, 30m, 7d) nor a date/time (2025-01-31T12:00Z)`);
    return t;
  }
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} must be a positive whole number`);
  return n;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function linesWithOutcomes(store: AuditStore, rows: StoredRow[]): Promise<string[]> {
  const statementIds = rows.filter((r) => r.type === 'statement').map((r) => r.id);
  const outcomes = await store.outcomes(statementIds);
  const shown = new Set(statementIds);
  // An outcome is printed on its statement's line; on its own only when that line is not shown.
  return rows.filter((r) => r.type !== 'statement_end' || r.ref === null || !shown.has(r.ref)).map((r) => {
    const end = outcomes.get(r.id);
    return recordLine(toAuditRecord(r), end ? toAuditRecord(end) : undefined);
  });
}

async function tailCommand(o: CommonOptions & { follow?: boolean; lines: string }): Promise<void> {
  const n = positive(o.lines, '--lines');
  await withStore(o, async (store) => {
    const first = await store.search({ newest: true, limit: n });
    if (o.json) for (const r of first) process.stdout.write(jsonLine(r));
    else for (const l of await linesWithOutcomes(store, first)) out(l);
    if (!o.follow) return;
    let pos = first.length ? first[first.length - 1].pos : 0;
    if (!first.length) pos = ((await store.search({ newest: true, limit: 1 }))[0]?.pos ?? 0);
    for (;;) {
      await sleep(250);
      const fresh = await store.search({ afterPos: pos, limit: 1000 });
      for (const r of fresh) {
        if (o.json) process.stdout.write(jsonLine(r));
        else out(recordLine(toAuditRecord(r)));
        pos = r.pos;
      }
    }
  });
}

interface SearchOptions extends CommonOptions {
  identity?: string;
  since?: string;
  until?: string;
  table?: string;
  decision?: string;
  text?: string;
  session?: string;
  limit: string;
}

export function searchQuery(o: SearchOptions, now = Date.now()): AuditQuery {
  if (o.decision !== undefined && !['allow', 'deny', 'review'].includes(o.decision)) throw new CliError(`--decision must be allow, deny or review, not "${o.decision}"`);
  return {
    types: ['statement'] as RecordType[],
    identity: o.identity,
    since: o.since === undefined ? undefined : parseWhen(o.since, '--since', now),
    until: o.until === undefined ? undefined : parseWhen(o.until, '--until', now),
    table: o.table,
    decision: o.decision as Verdict | undefined,
    text: o.text,
    sessionId: o.session,
    limit: positive(o.limit, '--limit'),
    newest: true,
  };
}

async function searchCommand(o: SearchOptions): Promise<void> {
  const q = searchQuery(o);
  await withStore(o, async (store) => {
    const rows = await store.search(q);
    if (o.json) {
      const outcomes = await store.outcomes(rows.map((r) => r.id));
      for (const r of rows) {
        const end = outcomes.get(r.id);
        out(JSON.stringify({ ...toAuditRecord(r), outcome: end ? toAuditRecord(end).data : undefined }));
      }
      return;
    }
    if (rows.length === 0) {
      process.stderr.write('no matching statements\n');
      return;
    }
    for (const l of await linesWithOutcomes(store, rows)) out(l);
  });
}

async function showCommand(id: string, o: CommonOptions): Promise<void> {
  await withStore(o, async (store) => {
    const row = await store.get(id);
    if (!row) throw new CliError(`no audit record ${id}`);
    const rec = toAuditRecord(row);
    const endRow = rec.type === 'statement' ? (await store.outcomes([id])).get(id) : undefined;
    const end = endRow ? toAuditRecord(endRow) : undefined;
    if (o.json) out(JSON.stringify({ ...rec, outcome: end }, null, 2));
    else out(recordDetail(rec, end));
  });
}

async function replayCommand(session: string, o: CommonOptions & { speed: string; wait: boolean }): Promise<void> {
  const speed = Number(o.speed);
  if (!(speed > 0)) throw new CliError('--speed must be a number above zero');
  await withStore(o, async (store) => {
    const replay = await loadReplay(store, session);
    if (!replay) throw new CliError(`no audit records for session ${session}`);
    let clock = 0;
    for (const step of replay.steps) {
      if (o.json) {
        out(JSON.stringify({ offsetMs: step.offsetMs, record: step.record, outcome: step.outcome?.data }));
        continue;
      }
      if (o.wait && step.offsetMs > clock) await sleep((step.offsetMs - clock) / speed);
      clock = step.offsetMs;
      for (const l of replayStepLines(step)) out(l);
    }
  });
}

async function verifyCommand(o: CommonOptions & { checkpoint?: string; expectHead?: string[] }): Promise<void> {
  const checkpoints: NonNullable<VerifyOptions['checkpoints']> = [];
  if (o.checkpoint !== undefined) {
    let text: string;
    try {
      text = readFileSync(o.checkpoint, 'utf8');
    } catch (err) {
      throw new CliError(`--checkpoint: cannot read ${o.checkpoint}: ${(err as Error).message}`);
    }
    const found = latestCheckpoints(text);
    if (found.length === 0) throw new CliError(`--checkpoint: ${o.checkpoint} holds no audit checkpoint line`);
    checkpoints.push(...found);
  }
  for (const h of o.expectHead ?? []) {
    try {
      checkpoints.push({ ...parseExpectedHead(h), trusted: true });
    } catch (err) {
      throw new CliError(`--expect-head: ${(err as Error).message}`);
    }
  }
  await withStore(o, async (store, config, file) => {
    let result = await verifyStore(store, { checkpoints, key: config.audit.checkpoint_key });
    // The journal: its own chain, and the index's agreement with it.
    const dir = journalDir(config.audit, dirname(file), config.audit.instance ?? hostname());
    if (result.ok && dir) {
      if (!existsSync(dir)) result = { ...result, warnings: [...(result.warnings ?? []), `no audit journal at ${dir}: only the index was checked`] };
      else {
        let journal: FileJournal;
        try {
          journal = new FileJournal(dir, { segmentBytes: config.audit.journal_segment_size, readOnly: true });
        } catch (err) {
          throw new CliError(`audit log FAILED: the journal ${dir} cannot be read: ${(err as Error).message}`);
        }
        result = await verifyJournal(journal, store, result, { key: config.audit.checkpoint_key });
      }
    }
    if (o.json) out(JSON.stringify(result));
    for (const w of result.warnings ?? []) if (!o.json) process.stderr.write(`warning: ${w}\n`);
    if (result.ok) {
      const against = checkpoints.length ? `, reaching ${checkpoints.length} checkpoint${checkpoints.length === 1 ? '' : 's'}` : '';
      if (!o.json) out(`audit log OK: ${result.records} record${result.records === 1 ? '' : 's'} in ${result.instances.length} chain${result.instances.length === 1 ? '' : 's'}${against}`);
      return;
    }
    const p = result.problem as NonNullable<typeof result.problem>;
    if (p.kind === 'missing_tail' || p.kind === 'missing_prefix' || p.kind === 'bad_checkpoint') {
      throw new CliError(`audit log FAILED (instance ${p.instance}): ${p.message}`);
    }
    throw new CliError(`audit log FAILED at record ${p.id} (instance ${p.instance}, seq ${p.seq}): ${p.message}`);
  });
}

const CSV_COLUMNS = ['id', 'instance', 'seq', 'time', 'type', 'session_id', 'subject', 'verdict', 'tables', 'text', 'outcome', 'data', 'prev_hash', 'hash'];

function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

function csvLine(r: StoredRow, rec: AuditRecord): string {
  const outcome = r.type === 'statement_end' ? outcomeSummary(rec) : '';
  return `${[r.id, r.instance, r.seq, new Date(r.at).toISOString(), r.type, r.sessionId, r.subject, r.verdict, r.tables?.trim(), r.text, outcome, JSON.stringify(rec.data), r.prevHash, r.hash].map(csvCell).join(',')}\n`;
}

async function exportCommand(o: ConfigLocation & { since?: string; until?: string; format: string }): Promise<void> {
  if (o.format !== 'jsonl' && o.format !== 'csv') throw new CliError(`--format must be jsonl or csv, not "${o.format}"`);
  const since = o.since === undefined ? undefined : parseWhen(o.since, '--since');
  const until = o.until === undefined ? undefined : parseWhen(o.until, '--until');
  await withStore(o, async (store) => {
    if (o.format === 'csv') process.stdout.write(`${CSV_COLUMNS.join(',')}\n`);
    let afterPos: number | undefined;
    for (;;) {
      const page = await store.search({ since, until, afterPos, limit: 5000 });
      let chunk = '';
      for (const r of page) chunk += o.format === 'csv' ? csvLine(r, toAuditRecord(r)) : jsonLine(r);
      if (chunk && !process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      if (page.length < 5000) return;
      afterPos = page[page.length - 1].pos;
    }
  });
}
