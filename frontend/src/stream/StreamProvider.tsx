import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError, request } from '../api/client';
import { StreamClient, type ServerMessage, type StreamFilter, type StreamStatus, type Topic } from './stream';

type Listener = (message: ServerMessage) => void;

interface StreamApi {
  status: StreamStatus;
  detail: string | undefined;
  subscribe: (listener: Listener) => () => void;
}

const StreamContext = createContext<StreamApi | null>(null);

/** Asks over HTTP whether the stream endpoint exists at all (a failed upgrade says nothing). */
export async function probeStream(): Promise<'missing' | 'unknown'> {
  try {
    await request('/api/v1/stream');
    return 'unknown';
  } catch (error) {
    return error instanceof ApiError && error.endpointMissing ? 'missing' : 'unknown';
  }
}

interface UseStreamOptions {
  topics: Topic[];
  filter?: StreamFilter;
  sinceSeq?: number | null;
  enabled?: boolean;
  onMessage: Listener;
  /** Seqs already held, so the stream does not repeat them. */
  seen?: () => Iterable<number>;
}

/** Opens a dedicated stream for the lifetime of the caller (or until its options change). */
export function useStream({ topics, filter, sinceSeq, enabled = true, onMessage, seen }: UseStreamOptions) {
  const [status, setStatus] = useState<StreamStatus>('stopped');
  const [detail, setDetail] = useState<string | undefined>();
  const handler = useRef(onMessage);
  const seenRef = useRef(seen);
  useEffect(() => {
    handler.current = onMessage;
    seenRef.current = seen;
  });
  const topicsKey = topics.join(',');
  const filterKey = JSON.stringify(filter ?? {});
  useEffect(() => {
    if (!enabled) return undefined;
    const client = new StreamClient({
      topics: topicsKey.split(',') as Topic[],
      filter: JSON.parse(filterKey) as StreamFilter,
      sinceSeq: sinceSeq ?? null,
      probe: probeStream,
      onMessage: (message) => handler.current(message),
      onStatus: (next, why) => {
        setStatus(next);
        setDetail(why);
      },
    });
    if (seenRef.current) client.markSeen(seenRef.current());
    client.start();
    return () => client.stop();
  }, [topicsKey, filterKey, sinceSeq, enabled]);
  return { status, detail };
}

/** The app-wide stream of anomalies, alerts, job runs and integrity notices. */
export function StreamProvider({ children, enabled }: { children: ReactNode; enabled: boolean }) {
  const listeners = useRef(new Set<Listener>());
  const { status, detail } = useStream({
    topics: ['anomalies', 'alerts', 'jobs', 'integrity'],
    enabled,
    onMessage: (message) => listeners.current.forEach((listener) => listener(message)),
  });
  const [value] = useState<Omit<StreamApi, 'status' | 'detail'>>(() => ({
    subscribe: (listener: Listener) => {
      listeners.current.add(listener);
      return () => listeners.current.delete(listener);
    },
  }));
  return <StreamContext.Provider value={{ ...value, status, detail }}>{children}</StreamContext.Provider>;
}

export function useAppStream(): StreamApi {
  const value = useContext(StreamContext);
  if (!value) throw new Error('useAppStream outside StreamProvider');
  return value;
}

/** Calls `handler` for every app-stream message of one type. */
export function useStreamMessages<T extends ServerMessage['type']>(
  type: T,
  handler: (message: Extract<ServerMessage, { type: T }>) => void,
) {
  const { subscribe } = useAppStream();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(
    () =>
      subscribe((message) => {
        if (message.type === type) ref.current(message as Extract<ServerMessage, { type: T }>);
      }),
    [subscribe, type],
  );
}
