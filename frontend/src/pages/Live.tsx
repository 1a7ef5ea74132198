import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { api, describeError } from '../api/client';
import { OUTCOMES, SEVERITIES, type AuditEvent, type EventPage } from '../api/types';
import { EventDrawer } from '../components/EventDrawer';
import { Notice, OutcomeBadge, PageHeader, SeverityBadge } from '../components/ui';
import { formatCompact, formatNumber } from '../lib/format';
import { EventStore } from '../lib/eventStore';
import { useStream } from '../stream/StreamProvider';

interface Filters {
  actor: string;
  action: string;
  outcome: string;
  severity: string;
  resource_type: string;
}

const EMPTY: Filters = { actor: '', action: '', outcome: '', severity: '', resource_type: '' };
const PAGE = 1000;
const ROW_HEIGHT = 36;

/** Filters the server cannot apply (action prefix, severity) are applied here. */
function matches(event: AuditEvent, filters: Filters): boolean {
  if (filters.action && !event.action.startsWith(filters.action)) return false;
  if (filters.severity && event.severity !== filters.severity) return false;
  if (filters.actor && event.actor.id !== filters.actor) return false;
  if (filters.outcome && event.outcome !== filters.outcome) return false;
  if (filters.resource_type && event.resource?.type !== filters.resource_type) return false;
  return true;
}

function serverQuery(filters: Filters) {
  return { actor: filters.actor, outcome: filters.outcome, resource_type: filters.resource_type };
}

export default function Live() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<AuditEvent[]>([]);
  const [paused, setPaused] = useState(false);
  const [pending, setPending] = useState<AuditEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [sinceSeq, setSinceSeq] = useState<number | null>(null);
  const [ready, setReady] = useState(false);
  const [openEvent, setOpenEvent] = useState<AuditEvent | null>(null);
  const [arrived, setArrived] = useState(0);
  const store = useRef(new EventStore());
  const frame = useRef<number | null>(null);
  const pausedRef = useRef(paused);
  useEffect(() => {
    pausedRef.current = paused;
  }, [paused]);

  const render = useCallback(() => {
    if (frame.current !== null) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = null;
      setRows(store.current.flush());
    });
  }, []);
  useEffect(() => () => {
    if (frame.current !== null) cancelAnimationFrame(frame.current);
  }, []);

  // (Re)load the newest page whenever the applied filters change.
  useEffect(() => {
    const controller = new AbortController();
    store.current = new EventStore();
    setRows([]);
    setPending([]);
    setReady(false);
    setLoading(true);
    setError(null);
    api<EventPage>('/api/v1/events', { query: { ...serverQuery(filters), limit: PAGE }, signal: controller.signal })
      .then((page) => {
        store.current.add(page.events.filter((event) => matches(event, filters)));
        setRows(store.current.flush());
        setCursor(page.next_cursor);
        setSinceSeq(page.events[0]?.seq ?? null);
        setReady(true);
      })
      .catch((caught: unknown) => {
        if (!controller.signal.aborted) setError(describeError(caught));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [filters]);

  const accept = useCallback(
    (events: AuditEvent[]) => {
      const fresh = events.filter((event) => matches(event, filters) && !store.current.has(event.seq));
      if (fresh.length === 0) return;
      if (pausedRef.current) {
        setPending((current) => [...current, ...fresh]);
        return;
      }
      store.current.add(fresh);
      setArrived((count) => count + fresh.length);
      render();
    },
    [filters, render],
  );

  const streamFilter = useMemo(
    () => ({ actor: filters.actor, outcome: filters.outcome, severity: filters.severity, resource_type: filters.resource_type }),
    [filters],
  );
  const { status: streamStatus, detail: streamDetail } = useStream({
    topics: ['events'],
    filter: streamFilter,
    sinceSeq,
    enabled: ready,
    onMessage: (message) => {
      if (message.type === 'event') accept([message.event]);
    },
    seen: () => store.current.seqs(),
  });

  // Without the stream, poll the list endpoint and fill the gap page by page.
  const polling = ready && streamStatus === 'unavailable';
  useEffect(() => {
    if (!polling) return undefined;
    let stopped = false;
    const poll = async () => {
      const newest = store.current.newest();
      let next: string | null = null;
      const collected: AuditEvent[] = [];
      try {
        for (let pageNo = 0; pageNo < 10; pageNo++) {
          const page: EventPage = await api<EventPage>('/api/v1/events', {
            query: { ...serverQuery(filters), limit: 200, cursor: next },
          });
          collected.push(...page.events);
          const reachedKnown = newest !== null && page.events.some((event) => event.seq <= newest);
          if (reachedKnown || !page.next_cursor) break;
          next = page.next_cursor;
        }
        if (!stopped) accept(collected.filter((event) => newest === null || event.seq > newest));
      } catch {
        // The next tick tries again.
      }
    };
    const timer = window.setInterval(poll, 5000);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [polling, filters, accept]);

  async function loadOlder() {
    if (!cursor) return;
    setLoading(true);
    try {
      const page = await api<EventPage>('/api/v1/events', { query: { ...serverQuery(filters), limit: PAGE, cursor } });
      store.current.add(page.events.filter((event) => matches(event, filters)));
      setRows(store.current.flush());
      setCursor(page.next_cursor);
    } catch (caught) {
      setError(describeError(caught));
    } finally {
      setLoading(false);
    }
  }

  function resume() {
    store.current.add(pending);
    setArrived((count) => count + pending.length);
    setPending([]);
    setPaused(false);
    setRows(store.current.flush());
  }

  function apply(event: FormEvent) {
    event.preventDefault();
    setFilters({ ...draft, actor: draft.actor.trim(), action: draft.action.trim(), resource_type: draft.resource_type.trim() });
  }

  const scroller = useRef<HTMLDivElement>(null);
  // The virtualizer is read during render only; it is never memoised.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });

  const live =
    streamStatus === 'open'
      ? { tone: 'live', text: 'Streaming' }
      : polling
        ? { tone: 'poll', text: 'Polling every 5 s' }
        : streamStatus === 'reconnecting'
          ? { tone: 'wait', text: 'Reconnecting…' }
          : { tone: 'wait', text: ready ? 'Connecting…' : 'Loading…' };

  return (
    <div className="page page-live">
      <PageHeader
        title="Live"
        description="Events as they are appended to the chain, newest first."
        actions={
          <>
            <span className={`live-state live-${live.tone}`} role="status">
              <span className="dot" aria-hidden="true" />
              {live.text}
            </span>
            {paused ? (
              <button type="button" className="button primary" onClick={resume}>
                Resume{pending.length ? ` (${formatNumber(pending.length)} new)` : ''}
              </button>
            ) : (
              <button type="button" className="button" onClick={() => setPaused(true)}>
                Pause
              </button>
            )}
          </>
        }
      />
      {polling && streamDetail ? (
        <Notice tone="pending" title="Live stream not available yet">
          {streamDetail} New events are fetched from <code>/api/v1/events</code> every 5 seconds instead.
        </Notice>
      ) : null}
      <form className="filters" onSubmit={apply} aria-label="Filter events">
        <label className="field">
          <span>Actor</span>
          <input value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.target.value })} placeholder="exact actor id" />
        </label>
        <label className="field">
          <span>Action prefix</span>
          <input value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })} placeholder="e.g. iam.amazonaws.com:" />
        </label>
        <label className="field">
          <span>Outcome</span>
          <select value={draft.outcome} onChange={(e) => setDraft({ ...draft, outcome: e.target.value })}>
            <option value="">Any</option>
            {OUTCOMES.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Severity</span>
          <select value={draft.severity} onChange={(e) => setDraft({ ...draft, severity: e.target.value })}>
            <option value="">Any</option>
            {SEVERITIES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Resource type</span>
          <input value={draft.resource_type} onChange={(e) => setDraft({ ...draft, resource_type: e.target.value })} placeholder="e.g. repository" />
        </label>
        <div className="filter-actions">
          <button type="submit" className="button primary">
            Apply
          </button>
          <button
            type="button"
            className="button ghost"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {error ? <Notice tone="error" title="Could not load events">{error}</Notice> : null}
      <div className="live-meta muted" aria-live="polite">
        {formatNumber(rows.length)} events shown{arrived ? ` · ${formatNumber(arrived)} arrived live` : ''}
        {paused ? ' · paused' : ''}
      </div>
      <div className="vtable" role="table" aria-label="Live events" aria-rowcount={rows.length + 1}>
        <div className="vrow vhead" role="row" aria-rowindex={1}>
          <span role="columnheader" className="c-seq">Seq</span>
          <span role="columnheader" className="c-time">Time</span>
          <span role="columnheader" className="c-actor">Actor</span>
          <span role="columnheader" className="c-action">Action</span>
          <span role="columnheader" className="c-resource">Resource</span>
          <span role="columnheader" className="c-outcome">Outcome</span>
        </div>
        <div className="vbody" ref={scroller} role="rowgroup">
          {rows.length === 0 && !loading ? <div className="empty">No events match.</div> : null}
          <div className="vspacer" style={{ height: virtualizer.getTotalSize() }}>
            {virtualizer.getVirtualItems().map((item) => {
              const event = rows[item.index]!;
              return (
                <div
                  key={event.seq}
                  className="vrow"
                  role="row"
                  aria-rowindex={item.index + 2}
                  style={{ transform: `translateY(${item.start}px)` }}
                >
                  <span role="cell" className="c-seq num muted">{event.seq}</span>
                  <span role="cell" className="c-time nowrap" title={event.occurred_at}>
                    {formatCompact(event.occurred_at)}
                  </span>
                  <span role="cell" className="c-actor truncate mono" title={event.actor.id}>
                    {event.actor.name ?? event.actor.id}
                  </span>
                  <span role="cell" className="c-action truncate">
                    <button type="button" className="link-button mono" onClick={() => setOpenEvent(event)} title={event.action}>
                      {event.action}
                    </button>
                  </span>
                  <span role="cell" className="c-resource truncate mono muted">
                    {event.resource ? `${event.resource.type}/${event.resource.id}` : '—'}
                  </span>
                  <span role="cell" className="c-outcome">
                    <OutcomeBadge outcome={event.outcome} />
                    {event.severity !== 'info' ? <SeverityBadge severity={event.severity} /> : null}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
      <div className="live-footer">
        {cursor ? (
          <button type="button" className="button" onClick={loadOlder} disabled={loading}>
            {loading ? 'Loading…' : `Load ${formatNumber(PAGE)} older events`}
          </button>
        ) : rows.length ? (
          <span className="muted">Start of the log reached.</span>
        ) : null}
      </div>
      <EventDrawer eventId={openEvent?.id ?? null} preview={openEvent} onClose={() => setOpenEvent(null)} />
    </div>
  );
}
