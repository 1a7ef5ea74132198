// The live stream: one WebSocket to /api/v1/stream that reconnects with
// exponential backoff and resumes from the last event seq it saw, so a server
// restart or a `lagged` notice leaves neither a gap nor a duplicate.

import type { Alert, Anomaly, AuditEvent, Delivery, JobRun } from '../api/types';

export type Topic = 'events' | 'anomalies' | 'alerts' | 'jobs' | 'integrity';

export interface StreamFilter {
  actor?: string;
  action?: string;
  outcome?: string;
  severity?: string;
  resource_type?: string;
}

export type ServerMessage =
  | { type: 'event'; event: AuditEvent }
  | { type: 'anomaly'; anomaly: Anomaly }
  | { type: 'alert'; alert: Alert & { deliveries?: Delivery[] } }
  | { type: 'job'; run: JobRun }
  | { type: 'integrity'; status: Record<string, unknown> }
  | { type: 'lagged'; resume_from_seq: number }
  | { type: 'heartbeat' };

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'unavailable' | 'stopped';

interface SocketLike {
  readyState: number;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface StreamOptions {
  topics: Topic[];
  filter?: StreamFilter;
  /** Resume after this seq (the newest one the caller already has). */
  sinceSeq?: number | null;
  onMessage: (message: ServerMessage) => void;
  onStatus?: (status: StreamStatus, detail?: string) => void;
  /** Called after the first connection failure that happened before any open. */
  probe?: () => Promise<'missing' | 'unknown'>;
  url?: string;
  createSocket?: (url: string) => SocketLike;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long. */
  silenceMs?: number;
  random?: () => number;
  timers?: {
    setTimeout: (fn: () => void, ms: number) => unknown;
    clearTimeout: (handle: unknown) => void;
  };
}

const SEEN_LIMIT = 100_000;

export function streamUrl(location: { protocol: string; host: string } = window.location): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1/stream`;
}

export class StreamClient {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private everOpened = false;
  private stopped = true;
  private retryTimer: unknown = null;
  private silenceTimer: unknown = null;
  private lastSeq: number | null;
  private readonly seen = new Set<number>();
  private readonly seenOrder: number[] = [];
  private readonly options: StreamOptions;
  private readonly timers: NonNullable<StreamOptions['timers']>;

  constructor(options: StreamOptions) {
    this.options = options;
    this.lastSeq = options.sinceSeq ?? null;
    this.timers = options.timers ?? {
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
    };
  }

  /** The newest event seq seen (or handed in), from which a reconnection resumes. */
  get resumeSeq(): number | null {
    return this.lastSeq;
  }

  /** Marks seqs the caller already holds (e.g. loaded over HTTP) so the stream drops them. */
  markSeen(seqs: Iterable<number>): void {
    for (const seq of seqs) this.remember(seq);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.close(1000, 'client stopped');
    }
    this.options.onStatus?.('stopped');
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    if (this.silenceTimer !== null) this.timers.clearTimeout(this.silenceTimer);
    this.retryTimer = null;
    this.silenceTimer = null;
  }

  private connect(): void {
    if (this.stopped) return;
    this.options.onStatus?.(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const url = this.options.url ?? streamUrl();
    const create = this.options.createSocket ?? ((target: string) => new WebSocket(target) as unknown as SocketLike);
    let socket: SocketLike;
    try {
      socket = create(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.everOpened = true;
      this.attempt = 0;
      this.options.onStatus?.('open');
      const subscribe: Record<string, unknown> = { type: 'subscribe', topics: this.options.topics };
      if (this.options.filter && Object.values(this.options.filter).some(Boolean)) {
        subscribe.filter = Object.fromEntries(Object.entries(this.options.filter).filter(([, value]) => value));
      }
      if (this.lastSeq !== null) subscribe.since_seq = this.lastSeq;
      socket.send(JSON.stringify(subscribe));
      this.armSilence();
    };
    socket.onmessage = (event) => this.receive(String(event.data));
    socket.onerror = () => {
      // A close always follows; reconnection happens there.
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handleClose();
    };
  }

  private async handleClose(): Promise<void> {
    if (this.stopped) return;
    if (!this.everOpened && this.attempt === 0 && this.options.probe) {
      const verdict = await this.options.probe().catch(() => 'unknown' as const);
      if (verdict === 'missing') {
        this.options.onStatus?.('unavailable', 'The live stream (/api/v1/stream) is not available on this server yet.');
        // Look again now and then: the endpoint may land with a server upgrade.
        this.attempt = 0;
        this.retryTimer = this.timers.setTimeout(() => {
          this.retryTimer = null;
          this.connect();
        }, 60_000);
        return;
      }
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.clearTimers();
    const base = this.options.baseDelayMs ?? 500;
    const max = this.options.maxDelayMs ?? 30_000;
    const ceiling = Math.min(max, base * 2 ** this.attempt);
    const random = this.options.random ?? Math.random;
    // Full jitter above half the ceiling: spreads clients after a server restart.
    const delay = ceiling / 2 + random() * (ceiling / 2);
    this.attempt += 1;
    this.options.onStatus?.('reconnecting');
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private armSilence(): void {
    if (this.silenceTimer !== null) this.timers.clearTimeout(this.silenceTimer);
    this.silenceTimer = this.timers.setTimeout(() => {
      this.silenceTimer = null;
      this.reconnectNow();
    }, this.options.silenceMs ?? 60_000);
  }

  private reconnectNow(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(4000, 'resuming');
    }
    this.scheduleReconnect();
  }

  private remember(seq: number): boolean {
    if (this.seen.has(seq)) return false;
    this.seen.add(seq);
    this.seenOrder.push(seq);
    if (this.seenOrder.length > SEEN_LIMIT) {
      const dropped = this.seenOrder.splice(0, this.seenOrder.length - SEEN_LIMIT);
      for (const old of dropped) this.seen.delete(old);
    }
    if (this.lastSeq === null || seq > this.lastSeq) this.lastSeq = seq;
    return true;
  }

  private receive(raw: string): void {
    this.armSilence();
    let message: ServerMessage;
    try {
      message = JSON.parse(raw) as ServerMessage;
    } catch {
      return;
    }
    switch (message.type) {
      case 'heartbeat':
        return;
      case 'lagged':
        // The server dropped messages for us: resume from where it says.
        if (typeof message.resume_from_seq === 'number') {
          const resume = message.resume_from_seq;
          this.lastSeq = this.lastSeq === null ? resume : Math.min(this.lastSeq, resume);
        }
        this.options.onMessage(message);
        this.attempt = 0;
        this.reconnectNow();
        return;
      case 'event':
        if (!message.event || typeof message.event.seq !== 'number') return;
        if (!this.remember(message.event.seq)) return;
        this.options.onMessage(message);
        return;
      default:
        this.options.onMessage(message);
    }
  }
}
