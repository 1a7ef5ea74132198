import type { AuditEvent } from '../api/types';

/** Most rows the Live table keeps; older ones are dropped (memory stays bounded). */
export const MAX_ROWS = 100_000;

/**
 * Events kept by seq, newest first, with a cap. Live events almost always arrive newer than
 * everything held, so a flush puts them in front (one copy) instead of sorting the whole table
 * again: at 1,000 events/s into a 60,000-row table, re-sorting every frame cost frames.
 */
export class EventStore {
  constructor(private readonly maxRows = MAX_ROWS) {}

  private bySeq = new Map<number, AuditEvent>();
  private fresh: AuditEvent[] = [];
  sorted: AuditEvent[] = [];

  has(seq: number) {
    return this.bySeq.has(seq);
  }
  add(events: AuditEvent[]): number {
    let added = 0;
    for (const event of events) {
      if (this.bySeq.has(event.seq)) continue;
      this.bySeq.set(event.seq, event);
      this.fresh.push(event);
      added += 1;
    }
    return added;
  }
  flush(): AuditEvent[] {
    if (this.fresh.length === 0) return this.sorted;
    const fresh = this.fresh.sort((a, b) => b.seq - a.seq);
    this.fresh = [];
    const newestHeld = this.sorted[0]?.seq ?? -1;
    const merged =
      fresh[fresh.length - 1]!.seq > newestHeld
        ? fresh.concat(this.sorted)
        : [...this.sorted, ...fresh].sort((a, b) => b.seq - a.seq);
    if (merged.length > this.maxRows) {
      for (const old of merged.slice(this.maxRows)) this.bySeq.delete(old.seq);
      merged.length = this.maxRows;
    }
    this.sorted = merged;
    return merged;
  }
  newest(): number | null {
    let newest = this.sorted[0]?.seq ?? null;
    for (const event of this.fresh) if (newest === null || event.seq > newest) newest = event.seq;
    return newest;
  }
  seqs() {
    return this.bySeq.keys();
  }
}
