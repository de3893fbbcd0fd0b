/** The SQLite tables of the audit log, shared by the writer thread and the readers. */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_records (
  pos        INTEGER PRIMARY KEY,
  id         TEXT NOT NULL UNIQUE,
  instance   TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  at         INTEGER NOT NULL,
  type       TEXT NOT NULL,
  session_id TEXT,
  subject    TEXT,
  verdict    TEXT,
  tables     TEXT,
  text       TEXT,
  ref        TEXT,
  body       TEXT NOT NULL,
  prev_hash  TEXT NOT NULL,
  hash       TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS audit_records_chain ON audit_records (instance, seq);
CREATE INDEX IF NOT EXISTS audit_records_at ON audit_records (at);
CREATE INDEX IF NOT EXISTS audit_records_session ON audit_records (session_id);
CREATE INDEX IF NOT EXISTS audit_records_subject ON audit_records (subject, at);
CREATE INDEX IF NOT EXISTS audit_records_ref ON audit_records (ref) WHERE ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS revocations (
  subject TEXT NOT NULL,
  issuer  TEXT NOT NULL DEFAULT '',
  at      TEXT NOT NULL,
  PRIMARY KEY (subject, issuer)
);
CREATE TABLE IF NOT EXISTS console_sessions (
  id          TEXT PRIMARY KEY,
  subject     TEXT NOT NULL,
  issuer      TEXT NOT NULL,
  issuer_name TEXT NOT NULL,
  body        TEXT NOT NULL,
  expires_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_subject ON console_sessions (subject);
CREATE TABLE IF NOT EXISTS audit_anchors (
  instance TEXT PRIMARY KEY,
  seq      INTEGER NOT NULL,
  hash     TEXT NOT NULL,
  at       INTEGER NOT NULL
);
`;

/** Column order of an insert: the writer thread receives rows as arrays in this order. */
export const SQLITE_INSERT =
  'INSERT INTO audit_records (id, instance, seq, at, type, session_id, subject, verdict, tables, text, ref, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
