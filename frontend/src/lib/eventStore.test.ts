import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../api/types';
import { EventStore } from './eventStore';

const event = (seq: number) => ({ seq, id: `e${seq}`, action: `a.${seq}` }) as unknown as AuditEvent;
const seqs = (events: AuditEvent[]) => events.map((e) => e.seq);

describe('EventStore', () => {
  it('keeps events newest first whether they arrive in order, out of order or twice', () => {
    const store = new EventStore();
    expect(store.add([event(3), event(1), event(2)])).toBe(3);
    expect(seqs(store.flush())).toEqual([3, 2, 1]);
    // Live events, newer than everything held.
    store.add([event(5), event(4)]);
    expect(seqs(store.flush())).toEqual([5, 4, 3, 2, 1]);
    // An older page loaded later, with a duplicate.
    expect(store.add([event(0), event(2)])).toBe(1);
    expect(seqs(store.flush())).toEqual([5, 4, 3, 2, 1, 0]);
    expect(store.newest()).toBe(5);
  });

  it('drops the oldest rows beyond its cap and forgets them', () => {
    const store = new EventStore(3);
    store.add([event(1), event(2), event(3)]);
    store.flush();
    store.add([event(4), event(5)]);
    expect(seqs(store.flush())).toEqual([5, 4, 3]);
    expect(store.has(1)).toBe(false);
    expect([...store.seqs()].sort()).toEqual([3, 4, 5]);
  });

  it('answers newest() before a flush and returns the same array when nothing arrived', () => {
    const store = new EventStore();
    store.add([event(7)]);
    expect(store.newest()).toBe(7);
    const first = store.flush();
    expect(store.flush()).toBe(first);
  });
});
