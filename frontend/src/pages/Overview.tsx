import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useLatestCheckpoint } from '../api/queries';
import type { Anomaly, AuditEvent, EventPage, Stats } from '../api/types';
import { EventDrawer } from '../components/EventDrawer';
import { EventTable } from '../components/EventTable';
import { TimeChart } from '../components/TimeChart';
import { Card, Empty, ErrorNotice, PageHeader, SeverityBadge, Spinner, Stat, Time } from '../components/ui';
import { formatNumber } from '../lib/format';

const RANGES = [
  { id: '24h', label: 'Last 24 hours', hours: 24, bucket: 'hour' },
  { id: '7d', label: 'Last 7 days', hours: 24 * 7, bucket: 'hour' },
  { id: '30d', label: 'Last 30 days', hours: 24 * 30, bucket: 'day' },
  { id: '1y', label: 'Last year', hours: 24 * 365, bucket: 'day' },
] as const;

function sinceFor(id: (typeof RANGES)[number]['id']): string {
  const hours = RANGES.find((r) => r.id === id)!.hours;
  return new Date(Math.floor(Date.now() / 60_000) * 60_000 - hours * 3_600_000).toISOString();
}

const OUTCOME_COLORS = { success: '#3fb68b', failure: '#f0a23b', denied: '#ef5b6b', unknown: '#8b93a7' } as const;

function StatsChart({ stats }: { stats: Stats }) {
  const { times, series } = useMemo(() => {
    const times = stats.buckets.map((bucket) => new Date(bucket.start).getTime() / 1000);
    const series = (Object.keys(OUTCOME_COLORS) as (keyof typeof OUTCOME_COLORS)[]).map((outcome) => ({
      label: outcome,
      color: OUTCOME_COLORS[outcome],
      values: stats.buckets.map((bucket) => bucket[outcome]),
    }));
    return { times, series };
  }, [stats]);
  if (stats.buckets.length === 0) return <Empty>No events in this period.</Empty>;
  return <TimeChart times={times} series={series} label="Events per period by outcome" />;
}

function TopList({ title, rows }: { title: string; rows: { name: string; count: number }[] }) {
  const max = Math.max(1, ...rows.map((row) => row.count));
  return (
    <Card title={title}>
      {rows.length === 0 ? (
        <Empty>Nothing yet.</Empty>
      ) : (
        <ol className="top-list">
          {rows.map((row) => (
            <li key={row.name}>
              <span className="truncate mono" title={row.name}>
                {row.name}
              </span>
              <meter min={0} max={max} value={row.count} aria-label={`${row.count} events`} />
              <span className="num">{formatNumber(row.count)}</span>
            </li>
          ))}
        </ol>
      )}
    </Card>
  );
}

export default function Overview() {
  const [range, setRange] = useState<(typeof RANGES)[number]['id']>('7d');
  // Fixed when the period is chosen, so the query key is stable while the page is open.
  const [since, setSince] = useState(() => sinceFor('7d'));
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const selected = RANGES.find((r) => r.id === range)!;

  const stats = useQuery({
    queryKey: ['stats', since, selected.bucket],
    queryFn: ({ signal }) => api<Stats>('/api/v1/stats', { query: { since, bucket: selected.bucket }, signal }),
  });
  const recent = useQuery({
    queryKey: ['events', 'recent'],
    queryFn: ({ signal }) => api<EventPage>('/api/v1/events', { query: { limit: 8 }, signal }),
    refetchInterval: 15_000,
  });
  const anomalies = useQuery({
    queryKey: ['anomalies', 'open-summary'],
    queryFn: ({ signal }) => api<{ anomalies: Anomaly[] }>('/api/v1/anomalies', { query: { status: 'open', limit: 100 }, signal }),
  });
  const checkpoint = useLatestCheckpoint();
  const search = useQuery({
    queryKey: ['search-status'],
    queryFn: ({ signal }) => api<{ events: number; indexed: number; lag: number; semantic: string }>('/api/v1/search/status', { signal }),
  });

  const openAnomalies = anomalies.data?.anomalies ?? [];
  const topAnomalies = [...openAnomalies].sort((a, b) => b.score - a.score).slice(0, 4);

  return (
    <div className="page">
      <PageHeader
        title="Overview"
        description="What happened in this tenant's audit trail, and whether it is intact."
        actions={
          <label className="inline-field">
            <span>Period</span>
            <select
              value={range}
              onChange={(e) => {
                const next = e.target.value as typeof range;
                setRange(next);
                setSince(sinceFor(next));
              }}
            >
              {RANGES.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.label}
                </option>
              ))}
            </select>
          </label>
        }
      />
      <div className="stat-grid">
        <Stat
          label={`Events, ${selected.label.toLowerCase()}`}
          value={stats.data ? formatNumber(stats.data.total) : stats.isError ? '—' : '…'}
          hint={stats.isError ? 'needs /api/v1/stats' : undefined}
        />
        <Stat label="Events in the log" value={search.data ? formatNumber(search.data.events) : '…'} hint={search.data ? `${formatNumber(search.data.lag)} waiting for the search index` : undefined} />
        <Stat
          label="Open anomalies"
          value={anomalies.data ? `${openAnomalies.length}${openAnomalies.length === 100 ? '+' : ''}` : anomalies.isError ? '—' : '…'}
          hint={<Link to="/anomalies">Review anomalies</Link>}
        />
        <Stat
          label="Latest checkpoint"
          value={checkpoint.data ? formatNumber(checkpoint.data.tree_size) : checkpoint.isError ? 'none' : '…'}
          hint={checkpoint.data ? <Time iso={checkpoint.data.created_at} relative /> : 'events covered by a signed tree head'}
        />
      </div>

      <Card title="Events by outcome">
        {stats.isPending ? <Spinner /> : stats.isError ? <ErrorNotice error={stats.error} what="Event statistics" /> : <StatsChart stats={stats.data} />}
      </Card>

      <div className="grid-2">
        {stats.data ? (
          <>
            <TopList title="Top actors" rows={stats.data.top_actors.map((a) => ({ name: a.id, count: a.count }))} />
            <TopList title="Top actions" rows={stats.data.top_actions.map((a) => ({ name: a.action, count: a.count }))} />
          </>
        ) : null}
        <Card className={stats.data ? undefined : 'overview-events'} title="Open anomalies" actions={<Link to="/anomalies" className="button small">Open inbox</Link>}>
          {anomalies.isPending ? (
            <Spinner />
          ) : anomalies.isError ? (
            <ErrorNotice error={anomalies.error} what="Anomalies" />
          ) : topAnomalies.length === 0 ? (
            <Empty>No open anomalies.</Empty>
          ) : (
            <ul className="compact-list">
              {topAnomalies.map((anomaly) => (
                <li key={anomaly.id}>
                  <Link to={`/anomalies/${anomaly.id}`} className="compact-link">
                    <SeverityBadge severity={anomaly.severity} />
                    <span className="truncate">{anomaly.narrative}</span>
                    <span className="num muted">{anomaly.score.toFixed(2)}</span>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card className="overview-events" title="Latest events" actions={<Link to="/live" className="button small">Open Live</Link>}>
          {recent.isPending ? (
            <Spinner />
          ) : recent.isError ? (
            <ErrorNotice error={recent.error} what="Events" />
          ) : recent.data.events.length === 0 ? (
            <Empty>No events yet.</Empty>
          ) : (
            <EventTable events={recent.data.events} onOpen={setOpen} caption="Latest events" />
          )}
        </Card>
      </div>
      <EventDrawer eventId={open?.id ?? null} preview={open} onClose={() => setOpen(null)} />
    </div>
  );
}
