import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { Checkpoint, EventWithProof, LogKey } from './types';

export function useLogKey() {
  return useQuery({
    queryKey: ['log-key'],
    queryFn: ({ signal }) => api<LogKey>('/api/v1/log/key', { signal }),
    staleTime: Infinity,
  });
}

export function useLatestCheckpoint() {
  return useQuery({
    queryKey: ['checkpoint', 'latest'],
    queryFn: ({ signal }) => api<Checkpoint>('/api/v1/checkpoints/latest', { signal }),
    refetchInterval: 60_000,
  });
}

export function useEventWithProof(id: string | null) {
  return useQuery({
    queryKey: ['event', id, 'proof'],
    enabled: Boolean(id),
    queryFn: ({ signal }) => api<EventWithProof>(`/api/v1/events/${encodeURIComponent(id!)}`, { query: { proof: true }, signal }),
  });
}
