/**
 * How many client bytes the gateway holds on behalf of sessions (an unfinished message being
 * framed, messages queued while a statement waits), per identity and in all. A session reports
 * its holding after every read; one that would take an identity or the gateway over its cap is
 * ended (its bytes are then released), so a client that sends large unfinished messages on many
 * connections cannot grow the gateway's memory without bound.
 */
export interface BufferLimits {
  perIdentity: number;
  total: number;
}

export class BufferBudget {
  private total = 0;
  private readonly byIdentity = new Map<string, number>();

  constructor(private readonly limits: () => BufferLimits) {}

  /** Bytes held in all. */
  get held(): number {
    return this.total;
  }

  heldBy(identity: string): number {
    return this.byIdentity.get(identity) ?? 0;
  }

  /**
   * Changes `identity`'s holding by `delta` bytes. Returns null when within the caps, else which
   * cap a growth went over (the change is recorded either way; the caller releases it).
   */
  change(identity: string, delta: number): null | { cap: 'identity' | 'total'; limit: number } {
    if (delta === 0) return null;
    const mine = (this.byIdentity.get(identity) ?? 0) + delta;
    if (mine <= 0) this.byIdentity.delete(identity);
    else this.byIdentity.set(identity, mine);
    this.total += delta;
    if (delta < 0) return null;
    const l = this.limits();
    if (mine > l.perIdentity) return { cap: 'identity', limit: l.perIdentity };
    if (this.total > l.total) return { cap: 'total', limit: l.total };
    return null;
  }
}
