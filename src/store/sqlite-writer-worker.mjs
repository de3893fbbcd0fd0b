// The SQLite audit writer thread. Commits (WAL; synchronous=NORMAL or FULL, see SqliteStoreOptions) happen
// here so that a disk flush never stalls the gateway's event loop. Plain JavaScript: a worker
// does not inherit the parent's TypeScript loader.
//
// Messages in:  { id, op: 'append', rows: unknown[][] } | { id, op: 'deleteBefore', before } | { id, op: 'close' }
//               | { id, op: 'checkpoint', mode: 'PASSIVE' | 'TRUNCATE' }
//               | { id, op: 'putRevocation', subject, issuer, at } | { id, op: 'deleteRevocation', subject, issuer }
//               | { id, op: 'putConsoleSession', row: [id, subject, issuer, issuerName, body, expiresAt] }
//               | { id, op: 'deleteConsoleSession', sid } | { id, op: 'deleteConsoleSessionsOf', subject, issuer (null: any) }
// Messages out: { id, ok: true, result } | { id, ok: false, code, message }; first { ready: true } or { ready: false, code, message }.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, schema, insertSql, maxPageCount, sync, walLimitBytes } = workerData;

let db;
try {
  db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(sync === 'full' ? 'synchronous = FULL' : 'synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // Checkpoints are run by the store (see boundWal), never by a commit on the way.
  db.pragma('wal_autocheckpoint = 0');
  // After a checkpoint lets the WAL start over, the file is cut back to this size.
  db.pragma(`journal_size_limit = ${Number(walLimitBytes)}`);
  if (maxPageCount) db.pragma(`max_page_count = ${Number(maxPageCount)}`);
  db.exec(schema);
} catch (err) {
  parentPort.postMessage({ ready: false, code: err.code ?? 'open_failed', message: err.message });
  process.exit(1);
}

const insert = db.prepare(insertSql);
const appendAll = db.transaction((rows) => {
  for (const row of rows) insert.run(row);
});

const chainOf = db.prepare('SELECT seq, hash, at FROM audit_records WHERE instance = ? AND at < ? ORDER BY seq');
const instances = db.prepare('SELECT DISTINCT instance FROM audit_records');
const setAnchor = db.prepare(
  'INSERT INTO audit_anchors (instance, seq, hash, at) VALUES (?, ?, ?, ?) ON CONFLICT (instance) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at',
);
const deleteUpTo = db.prepare('DELETE FROM audit_records WHERE instance = ? AND seq <= ?');
const retain = db.transaction((before) => {
  let deleted = 0;
  for (const { instance } of instances.all()) {
    // Only a prefix of the chain goes: stop at the first record that is recent enough (clocks
    // may step back, so a later record can carry an earlier time).
    const firstKept = db.prepare('SELECT min(seq) AS seq FROM audit_records WHERE instance = ? AND at >= ?').get(instance, before).seq;
    let last = null;
    for (const r of chainOf.iterate(instance, before)) {
      if (firstKept !== null && r.seq > firstKept) break;
      last = r;
    }
    if (!last) continue;
    setAnchor.run(instance, last.seq, last.hash, last.at);
    deleted += deleteUpTo.run(instance, last.seq).changes;
  }
  return deleted;
});

const putRevocation = db.prepare('INSERT INTO revocations (subject, issuer, at) VALUES (?, ?, ?) ON CONFLICT (subject, issuer) DO NOTHING');
const deleteRevocation = db.prepare('DELETE FROM revocations WHERE subject = ? AND issuer = ?');

const dropExpiredConsoleSessions = db.prepare('DELETE FROM console_sessions WHERE expires_at <= ?');
const insertConsoleSession = db.prepare('INSERT OR REPLACE INTO console_sessions (id, subject, issuer, issuer_name, body, expires_at) VALUES (?, ?, ?, ?, ?, ?)');
const putConsoleSession = db.transaction((row) => {
  dropExpiredConsoleSessions.run(Date.now());
  insertConsoleSession.run(...row);
});
const deleteConsoleSession = db.prepare('DELETE FROM console_sessions WHERE id = ?');
const deleteConsoleSessionsOf = db.prepare('DELETE FROM console_sessions WHERE subject = ? AND (? IS NULL OR issuer = ? OR issuer_name = ?)');

parentPort.postMessage({ ready: true });
parentPort.on('message', (msg) => {
  try {
    let result = null;
    if (msg.op === 'append') appendAll(msg.rows);
    else if (msg.op === 'deleteBefore') result = retain(msg.before);
    else if (msg.op === 'checkpoint') result = db.pragma(`wal_checkpoint(${msg.mode === 'TRUNCATE' ? 'TRUNCATE' : 'PASSIVE'})`)[0];
    else if (msg.op === 'putRevocation') putRevocation.run(msg.subject, msg.issuer, msg.at);
    else if (msg.op === 'deleteRevocation') deleteRevocation.run(msg.subject, msg.issuer);
    else if (msg.op === 'putConsoleSession') putConsoleSession(msg.row);
    else if (msg.op === 'deleteConsoleSession') deleteConsoleSession.run(msg.sid);
    else if (msg.op === 'deleteConsoleSessionsOf') result = deleteConsoleSessionsOf.run(msg.subject, msg.issuer, msg.issuer, msg.issuer).changes;
    else if (msg.op === 'close') {
      db.close();
      parentPort.postMessage({ id: msg.id, ok: true, result: null });
      parentPort.close();
      return;
    }
    parentPort.postMessage({ id: msg.id, ok: true, result });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, ok: false, code: err.code ?? 'write_failed', message: err.message });
  }
});
