import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { Anomaly, AnomalyStatus, AuditEvent, Verdict } from '../api/types';
import { useSession } from '../auth/session';
import { EventDrawer } from '../components/EventDrawer';
import { FeatureBars } from '../components/FeatureBars';
import { Card, Empty, ErrorNotice, Notice, OutcomeBadge, PageHeader, SeverityBadge, Spinner, StatusBadge, Time } from '../components/ui';
import { formatTime, humanize } from '../lib/format';
import { useStreamMessages } from '../stream/StreamProvider';

const SEVERITY_RANK = { critical: 4, high: 3, medium: 2, low: 1 } as const;
const STATUSES: { id: AnomalyStatus | ''; label: string }[] = [
  { id: 'open', label: 'Open' },
  { id: 'acknowledged', label: 'Acknowledged' },
  { id: 'true_positive', label: 'True positive' },
  { id: 'false_positive', label: 'False positive' },
  { id: '', label: 'All' },
];
const VERDICTS: { id: Verdict; label: string; tone: string }[] = [
  { id: 'acknowledged', label: 'Acknowledge', tone: '' },
  { id: 'true_positive', label: 'True positive', tone: 'danger' },
  { id: 'false_positive', label: 'False positive', tone: '' },
];

function sortInbox(list: Anomaly[], by: 'score' | 'severity'): Anomaly[] {
  return [...list].sort((a, b) =>
    by === 'score'
      ? b.score - a.score || SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]
      : SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || b.score - a.score,
  );
}

function ExplainingEvents({ ids, onOpen }: { ids: string[]; onOpen: (event: AuditEvent) => void }) {
  const shown = ids.slice(0, 15);
  const events = useQueries({
    queries: shown.map((id) => ({
      queryKey: ['event', id],
      queryFn: ({ signal }: { signal: AbortSignal }) => api<AuditEvent>(`/api/v1/events/${encodeURIComponent(id)}`, { signal }),
      staleTime: Infinity,
    })),
  });
  return (
    <>
      <ul className="explain-list">
        {shown.map((id, index) => {
          const result = events[index]!;
          const event = result.data;
          return (
            <li key={id}>
              {event ? (
                <button type="button" className="explain-row" onClick={() => onOpen(event)}>
                  <span className="mono truncate">{event.action}</span>
                  <span className="muted nowrap">{formatTime(event.occurred_at)}</span>
                  <OutcomeBadge outcome={event.outcome} />
                </button>
              ) : result.isError ? (
                <span className="muted mono">{id} (could not load)</span>
              ) : (
                <span className="muted mono">{id}…</span>
              )}
            </li>
          );
        })}
      </ul>
      {ids.length > shown.length ? <p className="muted small">and {ids.length - shown.length} more events</p> : null}
    </>
  );
}

function AnomalyDetail({ id, onOpenEvent }: { id: string; onOpenEvent: (event: AuditEvent) => void }) {
  const { can } = useSession();
  const queryClient = useQueryClient();
  const [note, setNote] = useState('');
  const detail = useQuery({
    queryKey: ['anomaly', id],
    queryFn: ({ signal }) => api<Anomaly>(`/api/v1/anomalies/${encodeURIComponent(id)}`, { signal }),
  });
  const feedback = useMutation({
    mutationFn: (verdict: Verdict) =>
      api<{ anomaly: Anomaly }>(`/api/v1/anomalies/${encodeURIComponent(id)}/feedback`, {
        method: 'POST',
        body: { verdict, note: note.trim() || null },
      }),
    onSuccess: () => {
      setNote('');
      void queryClient.invalidateQueries({ queryKey: ['anomaly', id] });
      void queryClient.invalidateQueries({ queryKey: ['anomalies'] });
    },
  });
  if (detail.isPending) return <Spinner label="Loading anomaly" />;
  if (detail.isError) return <ErrorNotice error={detail.error} what="The anomaly" />;
  const anomaly = detail.data;
  return (
    <article className="anomaly-detail" aria-labelledby="anomaly-title">
      <div className="anomaly-head">
        <SeverityBadge severity={anomaly.severity} />
        <StatusBadge status={anomaly.status} />
        <span className="score" title="Anomaly score from 0 (normal) to 1">
          score <strong>{anomaly.score.toFixed(2)}</strong>
        </span>
      </div>
      <h2 id="anomaly-title" className="anomaly-title mono break">
        {anomaly.subject.kind === 'tenant' ? 'Whole tenant' : anomaly.subject.id}
      </h2>
      <p className="narrative">{anomaly.narrative}</p>
      <dl className="fields compact">
        <dt>Window</dt>
        <dd>
          <Time iso={anomaly.window_start} /> – <Time iso={anomaly.window_end} />
        </dd>
        <dt>Detectors</dt>
        <dd>{anomaly.detectors.map(humanize).join(', ')}</dd>
        <dt>Found</dt>
        <dd>
          <Time iso={anomaly.created_at} relative />
        </dd>
      </dl>
      <h3 className="subhead">Observed against expected</h3>
      <FeatureBars features={anomaly.features} />
      <h3 className="subhead">Events that explain it ({anomaly.event_ids.length})</h3>
      <ExplainingEvents ids={anomaly.event_ids} onOpen={onOpenEvent} />
      {can('feedback') ? (
        <section className="feedback" aria-labelledby="feedback-title">
          <h3 className="subhead" id="feedback-title">
            Your verdict
          </h3>
          <label className="field">
            <span>Note (optional)</span>
            <textarea value={note} onChange={(e) => setNote(e.target.value)} maxLength={2000} rows={2} placeholder="Why? Others will see this." />
          </label>
          <div className="button-row">
            {VERDICTS.map((verdict) => (
              <button
                key={verdict.id}
                type="button"
                className={`button ${verdict.tone} ${anomaly.status === verdict.id ? 'selected' : ''}`}
                aria-pressed={anomaly.status === verdict.id}
                disabled={feedback.isPending}
                onClick={() => feedback.mutate(verdict.id)}
              >
                {verdict.label}
              </button>
            ))}
          </div>
          {feedback.isError ? <ErrorNotice error={feedback.error} what="Feedback" /> : null}
          <p className="muted small">A false positive also suppresses this subject and reason for a while and teaches the detector.</p>
        </section>
      ) : null}
      {anomaly.feedback_history?.length ? (
        <section>
          <h3 className="subhead">History</h3>
          <ul className="history">
            {anomaly.feedback_history.map((item, index) => (
              <li key={index}>
                <StatusBadge status={item.verdict} /> <Time iso={item.created_at as string | undefined} relative />
                {item.note ? <span className="history-note">“{item.note}”</span> : null}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </article>
  );
}

export default function Anomalies() {
  const { id } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<AnomalyStatus | ''>('open');
  const [sortBy, setSortBy] = useState<'score' | 'severity'>('score');
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [openEvent, setOpenEvent] = useState<AuditEvent | null>(null);
  const list = useQuery({
    queryKey: ['anomalies', status],
    queryFn: ({ signal }) => api<{ anomalies: Anomaly[] }>('/api/v1/anomalies', { query: { status, limit: 500 }, signal }),
  });
  useStreamMessages('anomaly', (message) => {
    setFresh((current) => new Set(current).add(message.anomaly.id));
    void queryClient.invalidateQueries({ queryKey: ['anomalies'] });
  });
  const inbox = sortInbox(list.data?.anomalies ?? [], sortBy);

  return (
    <div className="page">
      <PageHeader title="Anomalies" description="Unusual behaviour the detectors found, most anomalous first. New ones appear as they are found." />
      <div className={`split ${id ? 'has-detail' : ''}`}>
        <section className="inbox" aria-label="Anomaly inbox">
          <div className="inbox-controls">
            <label className="inline-field">
              <span>Status</span>
              <select value={status} onChange={(e) => setStatus(e.target.value as AnomalyStatus | '')}>
                {STATUSES.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.label}
                  </option>
                ))}
              </select>
            </label>
            <label className="inline-field">
              <span>Sort by</span>
              <select value={sortBy} onChange={(e) => setSortBy(e.target.value as 'score' | 'severity')}>
                <option value="score">Score</option>
                <option value="severity">Severity</option>
              </select>
            </label>
          </div>
          {list.isPending ? (
            <Spinner />
          ) : list.isError ? (
            <ErrorNotice error={list.error} what="Anomalies" />
          ) : inbox.length === 0 ? (
            <Empty>Nothing here. The detectors run every few minutes.</Empty>
          ) : (
            <ul className="inbox-list">
              {inbox.map((anomaly) => (
                <li key={anomaly.id}>
                  <Link
                    to={`/anomalies/${anomaly.id}`}
                    className={`inbox-item ${anomaly.id === id ? 'active' : ''}`}
                    aria-current={anomaly.id === id ? 'true' : undefined}
                  >
                    <div className="inbox-item-top">
                      <SeverityBadge severity={anomaly.severity} />
                      {fresh.has(anomaly.id) ? <span className="badge new">new</span> : null}
                      <span className="inbox-subject truncate mono">{anomaly.subject.kind === 'tenant' ? 'tenant' : anomaly.subject.id.split('/').pop()}</span>
                      <span className="num">{anomaly.score.toFixed(2)}</span>
                    </div>
                    <p className="inbox-narrative">{anomaly.narrative}</p>
                    <span className="muted small">
                      <Time iso={anomaly.window_start} /> · {anomaly.event_ids.length} events
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className="detail-pane" aria-label="Anomaly detail">
          {id ? (
            <>
              <button type="button" className="button ghost back-button" onClick={() => navigate('/anomalies')}>
                ← All anomalies
              </button>
              <Card>
                <AnomalyDetail id={id} onOpenEvent={setOpenEvent} />
              </Card>
            </>
          ) : (
            <Notice tone="info">Choose an anomaly to see why it was flagged.</Notice>
          )}
        </section>
      </div>
      <EventDrawer eventId={openEvent?.id ?? null} preview={openEvent} onClose={() => setOpenEvent(null)} />
    </div>
  );
}
