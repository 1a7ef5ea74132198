import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, buildUrl, request } from '../api/client';
import type { Channel, Report, ReportFormat, ReportKind, ReportPeriod, ReportSchedule, ScheduleRun } from '../api/types';
import { useSession } from '../auth/session';
import { Dialog } from '../components/Dialog';
import { EMPTY_EXPORT_FILTERS, EventFilterFields, type ExportFilters } from '../components/EventFilterForm';
import { Card, Empty, ErrorNotice, Notice, PageHeader, Spinner, StatusBadge, Time } from '../components/ui';
import { formatCompact, formatNumber, localInputToIso } from '../lib/format';

const KINDS: { id: ReportKind; label: string; hint: string }[] = [
  { id: 'activity', label: 'Activity', hint: 'the period’s events: summary, charts, anomalies and the event table' },
  { id: 'anomalies', label: 'Anomalies', hint: 'the period’s anomalies with their narratives and events' },
  { id: 'integrity', label: 'Integrity', hint: 'checkpoints, verification results and the log’s key' },
  { id: 'subject', label: 'Subject access', hint: 'everything about one actor (a GDPR access request)' },
];
const FORMATS: { id: ReportFormat; label: string }[] = [
  { id: 'pdf', label: 'PDF' },
  { id: 'csv', label: 'CSV' },
];
const PERIODS: { id: ReportPeriod; label: string }[] = [
  { id: 'P1D', label: 'Last day' },
  { id: 'P7D', label: 'Last 7 days' },
  { id: 'P30D', label: 'Last 30 days' },
];

const kindLabel = (kind: string) => KINDS.find((k) => k.id === kind)?.label ?? kind;
const periodLabel = (period: string) => PERIODS.find((p) => p.id === period)?.label ?? period;

/** A Date as a datetime-local input value, in local time to the minute. */
function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function lastDays(days: number): { since: string; until: string } {
  const until = new Date();
  until.setSeconds(0, 0);
  until.setMinutes(until.getMinutes() + 1);
  const since = new Date(until.getTime() - days * 86_400_000);
  return { since: toLocalInput(since), until: toLocalInput(until) };
}

const REPORTS_KEY = ['reports', 'list'];
const SCHEDULES_KEY = ['reports', 'schedules'];
const plural = (n: number, word: string) => `${formatNumber(n)} ${word}${n === 1 ? '' : 's'}`;
const inProgress = (report: Report) => report.status === 'pending' || report.status === 'running';

function CreateReport() {
  const queryClient = useQueryClient();
  const [form, setForm] = useState(() => ({ kind: 'activity' as ReportKind, format: 'pdf' as ReportFormat, subject: '', ...lastDays(7) }));
  const set = (patch: Partial<typeof form>) => setForm({ ...form, ...patch });
  const create = useMutation({
    mutationFn: (body: unknown) => api<Report>('/api/v1/reports', { method: 'POST', body }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: REPORTS_KEY }),
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const body: Record<string, unknown> = {
      kind: form.kind,
      format: form.format,
      since: localInputToIso(form.since),
      until: localInputToIso(form.until),
    };
    if (form.kind === 'subject') body.subject = form.subject.trim();
    create.mutate(body);
  }
  return (
    <Card title="Create a report">
      <form className="form" onSubmit={submit} aria-label="Create a report">
        <div className="form-row">
          <label className="field">
            <span>Kind</span>
            <select value={form.kind} onChange={(e) => set({ kind: e.target.value as ReportKind })} aria-describedby="report-kind-hint">
              {KINDS.map((kind) => (
                <option key={kind.id} value={kind.id}>
                  {kind.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Format</span>
            <select value={form.format} onChange={(e) => set({ format: e.target.value as ReportFormat })}>
              {FORMATS.map((format) => (
                <option key={format.id} value={format.id}>
                  {format.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>From</span>
            <input type="datetime-local" value={form.since} onChange={(e) => set({ since: e.target.value })} required />
          </label>
          <label className="field">
            <span>Until</span>
            <input type="datetime-local" value={form.until} onChange={(e) => set({ until: e.target.value })} required />
          </label>
        </div>
        <p className="muted small form-hint" id="report-kind-hint">
          {kindLabel(form.kind)}: {KINDS.find((k) => k.id === form.kind)?.hint}. Times are local; the report states them in UTC.
        </p>
        {form.kind === 'subject' ? (
          <label className="field">
            <span>Subject actor id</span>
            <input value={form.subject} onChange={(e) => set({ subject: e.target.value })} required placeholder="alice@example.com" autoComplete="off" />
          </label>
        ) : null}
        {create.isError ? <ErrorNotice error={create.error} what="The report" /> : null}
        {create.isSuccess ? (
          <Notice tone="success" title="Report requested">
            It is made in the background and appears below; its status updates by itself.
          </Notice>
        ) : null}
        <div className="button-row">
          <button type="submit" className="button primary" disabled={create.isPending}>
            Create report
          </button>
          <button type="button" className="button ghost" onClick={() => set(lastDays(7))}>
            Last 7 days
          </button>
          <button type="button" className="button ghost" onClick={() => set(lastDays(30))}>
            Last 30 days
          </button>
        </div>
      </form>
    </Card>
  );
}

function ReportItem({ report }: { report: Report }) {
  const name = `${kindLabel(report.kind)} ${report.format.toUpperCase()} report ${formatCompact(report.since)} to ${formatCompact(report.until)}`;
  return (
    <li className="row-card report-item">
      <div className="report-main">
        <div className="row-card-main">
          <strong>{kindLabel(report.kind)}</strong>
          <span className="badge neutral">{report.format.toUpperCase()}</span>
          <StatusBadge status={report.status} />
          {inProgress(report) ? <span className="spinner small-spinner" aria-hidden="true" /> : null}
          <span className="muted small mono">{report.id}</span>
        </div>
        <div className="report-meta muted small">
          <span>
            <time dateTime={report.since}>{formatCompact(report.since)}</time> – <time dateTime={report.until}>{formatCompact(report.until)}</time>
          </span>
          {report.subject ? <span>subject {report.subject}</span> : null}
          {report.pages !== undefined ? <span>{plural(report.pages, 'page')}</span> : null}
          {report.events !== undefined ? <span>{plural(report.events, 'event')}</span> : null}
          <span>
            created <Time iso={report.created_at} relative />
          </span>
          {report.finished_at ? (
            <span>
              finished <Time iso={report.finished_at} relative />
            </span>
          ) : null}
          {report.schedule_id ? <span>scheduled</span> : null}
        </div>
        {report.error ? <p className="error-text report-error">{report.error}</p> : null}
      </div>
      {report.status === 'done' ? (
        <div className="row-actions">
          <a className="button small primary" href={report.download} download>
            Download<span className="visually-hidden"> {name}</span>
          </a>
          {report.evidence ? (
            <a className="button small" href={report.evidence} download>
              Evidence<span className="visually-hidden"> bundle of the {name}</span>
            </a>
          ) : null}
        </div>
      ) : null}
    </li>
  );
}

function ReportList() {
  const list = useQuery({
    queryKey: REPORTS_KEY,
    queryFn: ({ signal }) => api<{ reports: Report[]; next_cursor: string | null }>('/api/v1/reports', { query: { limit: 50 }, signal }),
    // Poll while anything is being made, so a new report turns done without a reload.
    refetchInterval: (query) => (query.state.data?.reports.some(inProgress) ? 2_000 : 60_000),
  });
  return (
    <Card title="Reports" actions={list.isFetching && !list.isPending ? <span className="muted small">Updating…</span> : null}>
      {list.isPending ? (
        <Spinner label="Loading reports" />
      ) : list.isError ? (
        <ErrorNotice error={list.error} what="Reports" />
      ) : list.data.reports.length === 0 ? (
        <Empty>No reports yet. Create one above, or schedule one below.</Empty>
      ) : (
        <ul className="card-list" aria-label="Reports, newest first">
          {list.data.reports.map((report) => (
            <ReportItem key={report.id} report={report} />
          ))}
        </ul>
      )}
    </Card>
  );
}

function NewScheduleDialog({ open, onClose, channels }: { open: boolean; onClose: () => void; channels: Channel[] }) {
  const queryClient = useQueryClient();
  const empty = { name: '', cron: '0 0 6 * * *', kind: 'activity' as ReportKind, format: 'pdf' as ReportFormat, period: 'P7D' as ReportPeriod, subject: '', channels: [] as string[] };
  const [form, setForm] = useState(empty);
  const set = (patch: Partial<typeof form>) => setForm({ ...form, ...patch });
  const create = useMutation({
    mutationFn: (body: unknown) => api<ReportSchedule>('/api/v1/reports/schedules', { method: 'POST', body }),
    onSuccess: () => {
      setForm(empty);
      void queryClient.invalidateQueries({ queryKey: SCHEDULES_KEY });
      onClose();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const report: Record<string, unknown> = { kind: form.kind, format: form.format, period: form.period };
    if (form.kind === 'subject') report.subject = form.subject.trim();
    create.mutate({ name: form.name.trim(), cron: form.cron.trim(), report, channels: form.channels });
  }
  return (
    <Dialog open={open} onClose={onClose} title="New schedule">
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>Name</span>
          <input value={form.name} onChange={(e) => set({ name: e.target.value })} required placeholder="Weekly activity" />
        </label>
        <label className="field">
          <span>Cron (six fields, seconds first)</span>
          <input value={form.cron} onChange={(e) => set({ cron: e.target.value })} required className="mono" aria-describedby="schedule-cron-hint" />
        </label>
        <p className="muted small form-hint" id="schedule-cron-hint">
          <code>0 0 6 * * *</code> is 06:00 every day; <code>0 0 6 * * MON</code> 06:00 every Monday (UTC).
        </p>
        <div className="form-row">
          <label className="field">
            <span>Kind</span>
            <select value={form.kind} onChange={(e) => set({ kind: e.target.value as ReportKind })}>
              {KINDS.map((kind) => (
                <option key={kind.id} value={kind.id}>
                  {kind.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Format</span>
            <select value={form.format} onChange={(e) => set({ format: e.target.value as ReportFormat })}>
              {FORMATS.map((format) => (
                <option key={format.id} value={format.id}>
                  {format.label}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Period</span>
            <select value={form.period} onChange={(e) => set({ period: e.target.value as ReportPeriod })}>
              {PERIODS.map((period) => (
                <option key={period.id} value={period.id}>
                  {period.label}
                </option>
              ))}
            </select>
          </label>
        </div>
        {form.kind === 'subject' ? (
          <label className="field">
            <span>Subject actor id</span>
            <input value={form.subject} onChange={(e) => set({ subject: e.target.value })} required autoComplete="off" />
          </label>
        ) : null}
        <fieldset className="fieldset">
          <legend>E-mail to</legend>
          {channels.length === 0 ? <span className="muted small">No e-mail channel yet: an admin adds one on the Alerts page.</span> : null}
          {channels.map((channel) => (
            <label key={channel.id} className="check">
              <input
                type="checkbox"
                checked={form.channels.includes(channel.id)}
                onChange={(e) => set({ channels: e.target.checked ? [...form.channels, channel.id] : form.channels.filter((id) => id !== channel.id) })}
              />
              <span>{channel.name}</span>
            </label>
          ))}
        </fieldset>
        {create.isError ? <ErrorNotice error={create.error} what="The schedule" /> : null}
        <div className="button-row end">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={create.isPending || form.channels.length === 0}>
            Create schedule
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Schedules() {
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<ReportSchedule | null>(null);
  const [runResult, setRunResult] = useState<{ id: string; ok: boolean; text: string } | null>(null);
  const schedules = useQuery({
    queryKey: SCHEDULES_KEY,
    queryFn: ({ signal }) => api<{ schedules: ReportSchedule[] }>('/api/v1/reports/schedules', { signal }),
  });
  const channels = useQuery({
    queryKey: ['alerts', 'channels'],
    queryFn: ({ signal }) => api<{ channels: Channel[] }>('/api/v1/alerts/channels', { signal }),
  });
  const run = useMutation({
    mutationFn: (id: string) => api<ScheduleRun>(`/api/v1/reports/schedules/${encodeURIComponent(id)}/run`, { method: 'POST' }),
    onMutate: (id) => setRunResult({ id, ok: true, text: 'Making and sending the report…' }),
    onSuccess: (result, id) =>
      setRunResult({ id, ok: result.status === 'sent', text: result.status === 'sent' ? 'Report sent.' : `Not sent: ${result.error ?? result.status}` }),
    onError: (error, id) => setRunResult({ id, ok: false, text: error instanceof Error ? error.message : String(error) }),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: REPORTS_KEY });
      void queryClient.invalidateQueries({ queryKey: SCHEDULES_KEY });
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/reports/schedules/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      setConfirm(null);
      void queryClient.invalidateQueries({ queryKey: SCHEDULES_KEY });
    },
  });
  const emailChannels = (channels.data?.channels ?? []).filter((channel) => channel.kind === 'email' && !channel.disabled);
  const channelName = (id: string) => channels.data?.channels.find((c) => c.id === id)?.name ?? id;
  return (
    <Card
      title="Scheduled reports"
      actions={
        <button type="button" className="button small primary" onClick={() => setCreating(true)}>
          New schedule
        </button>
      }
    >
      {channels.isError ? <ErrorNotice error={channels.error} what="E-mail channels" /> : null}
      {schedules.isPending ? (
        <Spinner label="Loading schedules" />
      ) : schedules.isError ? (
        <ErrorNotice error={schedules.error} what="Schedules" />
      ) : schedules.data.schedules.length === 0 ? (
        <Empty>No schedules. A schedule e-mails a report of the period ending at each run.</Empty>
      ) : (
        <ul className="card-list" aria-label="Schedules">
          {schedules.data.schedules.map((schedule) => (
            <li key={schedule.id} className="row-card">
              <div className="report-main">
                <div className="row-card-main">
                  <strong>{schedule.name}</strong>
                  <span className="badge neutral">{kindLabel(schedule.report.kind)}</span>
                  <span className="badge neutral">{schedule.report.format.toUpperCase()}</span>
                  <span className="badge neutral">{periodLabel(schedule.report.period)}</span>
                </div>
                <div className="report-meta muted small">
                  <code>{schedule.cron}</code>
                  <span>
                    next <Time iso={schedule.next_run_at} />
                  </span>
                  <span>to {schedule.channels.map(channelName).join(', ')}</span>
                  {schedule.report.subject ? <span>subject {schedule.report.subject}</span> : null}
                </div>
                {runResult?.id === schedule.id ? (
                  <span className={runResult.ok ? 'ok-text small' : 'error-text small'} role="status">
                    {runResult.text}
                  </span>
                ) : null}
              </div>
              <div className="row-actions">
                <button type="button" className="button small" disabled={run.isPending} onClick={() => run.mutate(schedule.id)}>
                  Run now<span className="visually-hidden"> {schedule.name}</span>
                </button>
                <button type="button" className="button small danger" onClick={() => setConfirm(schedule)}>
                  Delete<span className="visually-hidden"> {schedule.name}</span>
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      <NewScheduleDialog open={creating} onClose={() => setCreating(false)} channels={emailChannels} />
      <Dialog
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Delete schedule?"
        footer={
          <>
            <button type="button" className="button ghost" onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button type="button" className="button danger" disabled={remove.isPending} onClick={() => confirm && remove.mutate(confirm.id)}>
              Delete schedule
            </button>
          </>
        }
      >
        <p>
          <strong>{confirm?.name}</strong> stops sending reports. Reports it already made stay in the list.
        </p>
        {remove.isError ? <ErrorNotice error={remove.error} what="Delete" /> : null}
      </Dialog>
    </Card>
  );
}

function exportQuery(filters: ExportFilters) {
  return {
    actor: filters.actor.trim(),
    action: filters.action.trim(),
    resource_type: filters.resource_type.trim(),
    resource_id: filters.resource_id.trim(),
    outcome: filters.outcome,
    since: localInputToIso(filters.since),
    until: localInputToIso(filters.until),
  };
}

function ExportEvents() {
  const [filters, setFilters] = useState<ExportFilters>(EMPTY_EXPORT_FILTERS);
  // Ask once whether the export endpoints exist (HEAD: nothing is downloaded).
  const available = useQuery({
    queryKey: ['export-available'],
    queryFn: async () => {
      try {
        await request('/api/v1/export/events.csv', { method: 'HEAD' });
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.endpointMissing) throw error;
        return true;
      }
    },
    staleTime: 5 * 60_000,
  });
  const query = exportQuery(filters);
  const csv = buildUrl('/api/v1/export/events.csv', query);
  const jsonl = buildUrl('/api/v1/export/events.jsonl', query);
  return (
    <Card title="Export events">
      <EventFilterFields value={filters} onChange={setFilters} />
      {available.isPending ? <Spinner label="Checking export" /> : null}
      {available.isError ? <ErrorNotice error={available.error} what="Export" /> : null}
      <div className="button-row">
        <a className={`button primary ${available.isError ? 'disabled' : ''}`} href={csv} download aria-disabled={available.isError}>
          Download CSV
        </a>
        <a className={`button ${available.isError ? 'disabled' : ''}`} href={jsonl} download aria-disabled={available.isError}>
          Download JSONL
        </a>
        <button type="button" className="button ghost" onClick={() => setFilters(EMPTY_EXPORT_FILTERS)}>
          Clear filters
        </button>
      </div>
      <p className="muted small">
        Times are sent in UTC. JSONL holds the stored events with their <code>seq</code>, <code>hash</code> and{' '}
        <code>prev_hash</code>; for evidence that can be checked offline, download an evidence bundle on the Integrity page.
      </p>
    </Card>
  );
}

export default function Reports() {
  const { can } = useSession();
  return (
    <div className="page">
      <PageHeader
        title="Reports"
        description="PDF and CSV reports for auditors, made in the background and proved against a signed checkpoint; schedules that e-mail them; and raw event exports."
      />
      {!can('export') ? (
        <Notice tone="warning" title="Not available for your role">
          Reports and exports are for analysts, auditors and admins.
        </Notice>
      ) : (
        <>
          <CreateReport />
          <ReportList />
          {/* The API asks the export permission for schedules too; mirror it. */}
          <Schedules />
          <ExportEvents />
        </>
      )}
    </div>
  );
}
