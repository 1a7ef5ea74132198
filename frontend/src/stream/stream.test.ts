import { describe, expect, it } from 'vitest';
import { StreamClient, type ServerMessage, type StreamStatus } from './stream';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {
    this.closed = true;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({} as Event);
  }
  deliver(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) } as MessageEvent);
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({} as CloseEvent);
  }
}

function fakeTimers() {
  let pending: { fn: () => void; ms: number; id: number }[] = [];
  let next = 1;
  return {
    timers: {
      setTimeout: (fn: () => void, ms: number) => {
        const id = next++;
        pending.push({ fn, ms, id });
        return id;
      },
      clearTimeout: (handle: unknown) => {
        pending = pending.filter((timer) => timer.id !== handle);
      },
    },
    /** Runs the earliest timer shorter than `below` ms; returns its delay. */
    runNext(below = 50_000): number | null {
      const timer = pending.filter((t) => t.ms < below).sort((a, b) => a.ms - b.ms)[0];
      if (!timer) return null;
      pending = pending.filter((t) => t !== timer);
      timer.fn();
      return timer.ms;
    },
  };
}

const event = (seq: number) => ({ type: 'event', event: { seq, id: `e${seq}` } });

function setup(sinceSeq: number | null = null) {
  FakeSocket.all = [];
  const clock = fakeTimers();
  const received: ServerMessage[] = [];
  const statuses: StreamStatus[] = [];
  const client = new StreamClient({
    topics: ['events'],
    filter: { actor: 'alice', action: '' },
    sinceSeq,
    url: 'ws://test/api/v1/stream',
    createSocket: (url) => new FakeSocket(url),
    onMessage: (message) => received.push(message),
    onStatus: (status) => statuses.push(status),
    random: () => 0.5,
    timers: clock.timers,
  });
  client.start();
  return { client, clock, received, statuses, socket: () => FakeSocket.all[FakeSocket.all.length - 1]! };
}

const seqs = (messages: ServerMessage[]) =>
  messages.flatMap((message) => (message.type === 'event' ? [message.event.seq] : []));

describe('StreamClient', () => {
  it('subscribes with topics, the non-empty filter and since_seq', () => {
    const { socket } = setup(41);
    socket().open();
    expect(JSON.parse(socket().sent[0]!)).toEqual({
      type: 'subscribe',
      topics: ['events'],
      filter: { actor: 'alice' },
      since_seq: 41,
    });
  });

  it('resumes from the last seq after the server goes away, without gap or duplicate', () => {
    const { clock, received, socket } = setup();
    socket().open();
    [1, 2, 3].forEach((seq) => socket().deliver(event(seq)));
    socket().drop();
    expect(clock.runNext()).toBeGreaterThan(0);
    socket().open();
    expect(JSON.parse(socket().sent[0]!).since_seq).toBe(3);
    // The server replays from since_seq inclusive: 3 again, then new ones.
    [3, 4, 5].forEach((seq) => socket().deliver(event(seq)));
    expect(seqs(received)).toEqual([1, 2, 3, 4, 5]);
  });

  it('backs off exponentially while the server stays down, and resets once connected', () => {
    const { clock, socket } = setup();
    socket().open();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      socket().drop();
      delays.push(clock.runNext()!);
    }
    expect(delays).toEqual([375, 750, 1500, 3000, 6000]);
    socket().open();
    socket().drop();
    expect(clock.runNext()).toBe(375);
  });

  it('on lagged reconnects at once from resume_from_seq and drops what it already had', () => {
    const { clock, received, socket } = setup();
    socket().open();
    [10, 11, 12].forEach((seq) => socket().deliver(event(seq)));
    const first = socket();
    first.deliver({ type: 'lagged', resume_from_seq: 11 });
    expect(first.closed).toBe(true);
    clock.runNext();
    socket().open();
    expect(JSON.parse(socket().sent[0]!).since_seq).toBe(11);
    [11, 12, 13].forEach((seq) => socket().deliver(event(seq)));
    expect(seqs(received)).toEqual([10, 11, 12, 13]);
  });

  it('drops events the caller already loaded over HTTP', () => {
    const { client, received, socket } = setup(5);
    client.markSeen([3, 4, 5]);
    socket().open();
    [5, 6].forEach((seq) => socket().deliver(event(seq)));
    expect(seqs(received)).toEqual([6]);
  });

  it('ignores heartbeats and reconnects after a long silence', () => {
    const { clock, socket } = setup();
    socket().open();
    socket().deliver({ type: 'heartbeat' });
    const first = socket();
    expect(clock.runNext(100_000)).toBe(60_000);
    expect(first.closed).toBe(true);
    clock.runNext();
    expect(FakeSocket.all.length).toBe(2);
  });

  it('stops for good', () => {
    const { client, clock, statuses, socket } = setup();
    socket().open();
    client.stop();
    expect(socket().closed).toBe(true);
    expect(clock.runNext(100_000)).toBeNull();
    expect(statuses.at(-1)).toBe('stopped');
  });
});
