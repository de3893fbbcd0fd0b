/**
 * An audit store in memory: the real behaviour (atomic appends, search, anchors) with no file.
 * Used by `audit.store: memory` and by tests, which can also make its writes fail as a full disk
 * would (`failWrites`).
 */
import type { ChainAnchor, StoredRecord } from './record.ts';
import { StoreError, tableMatches, type AuditQuery, type AuditStore, type StoredConsoleSession, type StoredRevocation, type StoredRow } from './audit-store.ts';

export class MemoryAuditStore implements AuditStore {
  readonly kind = 'memory' as const;
  readonly location = 'memory';
  readonly #rows: StoredRow[] = [];
  readonly #anchors = new Map<string, ChainAnchor>();
  #pos = 0;
  /** While set, appends fail with this message (as a full disk or a lost database would). */
  failWrites: string | null = null;
  /** Number of append calls that committed (one per group-committed batch). */
  commits = 0;

  async head(instance: string): Promise<{ seq: number; hash: string } | null> {
    for (let i = this.#rows.length - 1; i >= 0; i--) if (this.#rows[i].instance === instance) return { seq: this.#rows[i].seq, hash: this.#rows[i].hash };
    const a = this.#anchors.get(instance);
    return a ? { seq: a.seq, hash: a.hash } : null;
  }

  /** Ids of every stored record (duplicates are refused, as by the other stores' keys). */
  readonly #ids = new Set<string>();

  async append(records: StoredRecord[]): Promise<void> {
    if (this.failWrites !== null) throw new StoreError(this.failWrites, 'write_failed');
    for (const r of records) if (this.#ids.has(r.id)) throw new StoreError(`duplicate audit record ${r.id}`, 'duplicate');
    for (const r of records) {
      this.#ids.add(r.id);
      this.#rows.push({ ...r, pos: ++this.#pos });
    }
    this.commits++;
  }

  async search(q: AuditQuery): Promise<StoredRow[]> {
    const text = q.text?.toLowerCase();
    const out = this.#rows.filter(
      (r) =>
        (q.identity === undefined || r.subject === q.identity) &&
        (q.since === undefined || r.at >= q.since) &&
        (q.until === undefined || r.at < q.until) &&
        (q.table === undefined || tableMatches(r.tables, q.table)) &&
        (q.decision === undefined || r.verdict === q.decision) &&
        (text === undefined || (r.text ?? '').toLowerCase().includes(text)) &&
        (q.sessionId === undefined || r.sessionId === q.sessionId) &&
        (q.instance === undefined || r.instance === q.instance) &&
        (q.types === undefined || q.types.includes(r.type)) &&
        (q.afterPos === undefined || r.pos > q.afterPos),
    );
    const limit = q.limit ?? 1000;
    return q.newest ? out.slice(-limit) : out.slice(0, limit);
  }

  async get(id: string): Promise<StoredRow | null> {
    return this.#rows.find((r) => r.id === id) ?? null;
  }

  async outcomes(ids: string[]): Promise<Map<string, StoredRow>> {
    const want = new Set(ids);
    const out = new Map<string, StoredRow>();
    for (const r of this.#rows) if (r.type === 'statement_end' && r.ref !== null && want.has(r.ref)) out.set(r.ref, r);
    return out;
  }

  async instances(): Promise<string[]> {
    return [...new Set([...this.#rows.map((r) => r.instance), ...this.#anchors.keys()])].sort();
  }

  async anchor(instance: string): Promise<ChainAnchor | null> {
    return this.#anchors.get(instance) ?? null;
  }

  async *scan(instance: string): AsyncIterable<StoredRecord[]> {
    yield this.#rows.filter((r) => r.instance === instance).sort((a, b) => a.seq - b.seq);
  }

  async readAfter(instance: string, afterSeq: number, limit: number): Promise<StoredRecord[]> {
    return this.#rows
      .filter((r) => r.instance === instance && r.seq > afterSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
  }

  readonly #revocations = new Map<string, StoredRevocation>();

  async revocations(): Promise<StoredRevocation[]> {
    return [...this.#revocations.values()].map((r) => ({ ...r }));
  }

  async putRevocation(r: StoredRevocation): Promise<void> {
    const key = JSON.stringify([r.issuer ?? null, r.subject]);
    if (!this.#revocations.has(key)) this.#revocations.set(key, { ...r });
  }

  async deleteRevocation(subject: string, issuer?: string): Promise<void> {
    this.#revocations.delete(JSON.stringify([issuer ?? null, subject]));
  }

  readonly #consoleSessions = new Map<string, StoredConsoleSession>();

  async consoleSession(id: string): Promise<StoredConsoleSession | null> {
    const s = this.#consoleSessions.get(id);
    return s ? { ...s, groups: [...s.groups] } : null;
  }

  async putConsoleSession(s: StoredConsoleSession): Promise<void> {
    const now = Date.now();
    for (const [id, old] of this.#consoleSessions) if (old.expiresAt <= now) this.#consoleSessions.delete(id);
    this.#consoleSessions.set(s.id, { ...s, groups: [...s.groups] });
  }

  async deleteConsoleSession(id: string): Promise<void> {
    this.#consoleSessions.delete(id);
  }

  async deleteConsoleSessionsOf(subject: string, issuer?: string): Promise<number> {
    let n = 0;
    for (const [id, s] of this.#consoleSessions) {
      if (s.subject !== subject || (issuer !== undefined && issuer !== s.issuer && issuer !== s.issuerName)) continue;
      this.#consoleSessions.delete(id);
      n++;
    }
    return n;
  }

  async deleteBefore(before: number): Promise<number> {
    let deleted = 0;
    for (const instance of await this.instances()) {
      const chain = this.#rows.filter((r) => r.instance === instance).sort((a, b) => a.seq - b.seq);
      // A prefix of the chain: stop at the first record that is recent enough.
      let last: StoredRow | null = null;
      for (const r of chain) {
        if (r.at >= before) break;
        last = r;
      }
      if (!last) continue;
      const cut = last.seq;
      this.#anchors.set(instance, { seq: last.seq, hash: last.hash, at: last.at });
      for (let i = this.#rows.length - 1; i >= 0; i--) {
        if (this.#rows[i].instance === instance && this.#rows[i].seq <= cut) {
          this.#ids.delete(this.#rows[i].id);
          this.#rows.splice(i, 1);
          deleted++;
        }
      }
    }
    return deleted;
  }

  /** Test access to the stored rows, to tamper with them as an attacker with file access would. */
  rows(): StoredRow[] {
    return this.#rows;
  }

  async close(): Promise<void> {}
}
