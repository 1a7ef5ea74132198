import { Fragment, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { SEVERITIES, type Alert, type Channel, type Delivery, type DeliveryAttempt, type DeliveryStatus, type Rule } from '../api/types';
import { useSession } from '../auth/session';
import { Dialog } from '../components/Dialog';
import { Card, Empty, ErrorNotice, Notice, PageHeader, SeverityBadge, Spinner, StatusBadge, Time } from '../components/ui';
import { useStreamMessages } from '../stream/StreamProvider';

type Tab = 'alerts' | 'deliveries' | 'channels' | 'rules';
const TABS: { id: Tab; label: string }[] = [
  { id: 'alerts', label: 'Raised' },
  { id: 'deliveries', label: 'Deliveries' },
  { id: 'channels', label: 'Channels' },
  { id: 'rules', label: 'Rules' },
];

function useAlertsLive() {
  const queryClient = useQueryClient();
  useStreamMessages('alert', () => {
    void queryClient.invalidateQueries({ queryKey: ['alerts'] });
  });
  useStreamMessages('job', (message) => {
    if (message.run.job === 'alert-delivery') void queryClient.invalidateQueries({ queryKey: ['alerts'] });
  });
}

function AlertsRaised() {
  const list = useQuery({
    queryKey: ['alerts', 'raised'],
    queryFn: ({ signal }) => api<{ alerts: Alert[] }>('/api/v1/alerts', { query: { limit: 100 }, signal }),
    refetchInterval: 30_000,
  });
  if (list.isPending) return <Spinner />;
  if (list.isError) return <ErrorNotice error={list.error} what="Alerts" />;
  if (list.data.alerts.length === 0) return <Empty>No alerts have been raised.</Empty>;
  return (
    <ul className="alert-list">
      {list.data.alerts.map((alert) => {
        const message = alert.message as { title?: string; summary?: string; severity?: string; kind?: string };
        return (
          <li key={alert.id} className="alert-item">
            <div className="alert-item-top">
              {message.severity ? <SeverityBadge severity={message.severity} /> : null}
              <strong className="truncate">{message.title ?? alert.dedup_key}</strong>
              <span className="muted nowrap">
                <Time iso={alert.created_at} relative />
              </span>
            </div>
            {message.summary ? <p className="alert-summary">{message.summary}</p> : null}
            <div className="alert-deliveries">
              {(alert.deliveries ?? []).map((delivery) => (
                <span key={delivery.id} className="delivery-chip">
                  {delivery.channel_name} <StatusBadge status={delivery.status} />
                </span>
              ))}
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function Attempts({ id }: { id: string }) {
  const attempts = useQuery({
    queryKey: ['alerts', 'attempts', id],
    queryFn: ({ signal }) => api<{ attempts: DeliveryAttempt[] }>(`/api/v1/alerts/deliveries/${encodeURIComponent(id)}/attempts`, { signal }),
  });
  if (attempts.isPending) return <Spinner />;
  if (attempts.isError) return <ErrorNotice error={attempts.error} what="Attempts" />;
  if (attempts.data.attempts.length === 0) return <span className="muted">No attempts yet.</span>;
  return (
    <ol className="attempts">
      {attempts.data.attempts.map((attempt) => (
        <li key={attempt.attempt}>
          #{attempt.attempt} <StatusBadge status={attempt.outcome} /> <Time iso={attempt.finished_at} />
          {attempt.error ? <span className="error-text"> {attempt.error}</span> : null}
        </li>
      ))}
    </ol>
  );
}

function Deliveries() {
  const { can } = useSession();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState<DeliveryStatus | ''>('');
  const [expanded, setExpanded] = useState<string | null>(null);
  const list = useQuery({
    queryKey: ['alerts', 'deliveries', status],
    queryFn: ({ signal }) => api<{ deliveries: Delivery[] }>('/api/v1/alerts/deliveries', { query: { status, limit: 200 }, signal }),
    refetchInterval: 15_000,
  });
  const retry = useMutation({
    mutationFn: (id: string) => api(`/api/v1/alerts/deliveries/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['alerts'] }),
  });
  return (
    <>
      <div className="toolbar">
        <label className="inline-field">
          <span>Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value as DeliveryStatus | '')}>
            <option value="">All</option>
            <option value="pending">Pending</option>
            <option value="delivered">Delivered</option>
            <option value="dead">Dead letters</option>
          </select>
        </label>
      </div>
      {retry.isError ? <ErrorNotice error={retry.error} what="Retry" /> : null}
      {list.isPending ? (
        <Spinner />
      ) : list.isError ? (
        <ErrorNotice error={list.error} what="Deliveries" />
      ) : list.data.deliveries.length === 0 ? (
        <Empty>No deliveries.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Alert deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Channel</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Attempts</th>
                <th scope="col" className="hide-sm">Last error</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.deliveries.map((delivery) => (
                <Fragment key={delivery.id}>
                  <tr>
                    <td className="nowrap">
                      <Time iso={delivery.created_at} relative />
                    </td>
                    <td className="truncate">{delivery.channel_name}</td>
                    <td>
                      <StatusBadge status={delivery.status} />
                    </td>
                    <td className="num">{delivery.attempts}</td>
                    <td className="truncate hide-sm error-text" title={delivery.last_error ?? ''}>
                      {delivery.last_error ?? ''}
                    </td>
                    <td className="row-actions">
                      <button
                        type="button"
                        className="button small ghost"
                        aria-expanded={expanded === delivery.id}
                        onClick={() => setExpanded(expanded === delivery.id ? null : delivery.id)}
                      >
                        Attempts
                      </button>
                      {delivery.status === 'dead' && can('manage-alerts') ? (
                        <button type="button" className="button small" disabled={retry.isPending} onClick={() => retry.mutate(delivery.id)}>
                          Retry
                        </button>
                      ) : null}
                    </td>
                  </tr>
                  {expanded === delivery.id ? (
                    <tr className="subrow">
                      <td colSpan={6}>
                        <Attempts id={delivery.id} />
                      </td>
                    </tr>
                  ) : null}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

const KIND_FIELDS: Record<Channel['kind'], { name: string; label: string; secret?: boolean; type?: string; placeholder?: string }[]> = {
  slack: [{ name: 'url', label: 'Incoming webhook URL', secret: true, placeholder: 'https://hooks.slack.com/services/…' }],
  discord: [{ name: 'url', label: 'Webhook URL', secret: true, placeholder: 'https://discord.com/api/webhooks/…' }],
  teams: [{ name: 'url', label: 'Incoming webhook URL', secret: true }],
  webhook: [
    { name: 'url', label: 'URL', placeholder: 'https://example.com/veritrail' },
    { name: 'secret', label: 'Signing secret', secret: true },
  ],
  email: [
    { name: 'smtp_host', label: 'SMTP host' },
    { name: 'smtp_port', label: 'SMTP port', type: 'number', placeholder: '587' },
    { name: 'from', label: 'From', placeholder: 'veritrail@example.com' },
    { name: 'to', label: 'To (comma-separated)', placeholder: 'security@example.com' },
    { name: 'username', label: 'Username' },
    { name: 'password', label: 'Password', secret: true },
  ],
};

function NewChannelDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [kind, setKind] = useState<Channel['kind']>('slack');
  const [name, setName] = useState('');
  const [tls, setTls] = useState('starttls');
  const [values, setValues] = useState<Record<string, string>>({});
  const [fromEnv, setFromEnv] = useState(false);
  const create = useMutation({
    mutationFn: (body: unknown) => api<Channel>('/api/v1/alerts/channels', { method: 'POST', body }),
    onSuccess: () => {
      setValues({});
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['alerts', 'channels'] });
      onClose();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const config: Record<string, unknown> = {};
    for (const field of KIND_FIELDS[kind]) {
      const value = values[field.name]?.trim();
      if (!value) continue;
      const key = field.secret && fromEnv ? `${field.name}_env` : field.name;
      if (field.name === 'smtp_port') config[key] = Number(value);
      else if (field.name === 'to') config[key] = value.split(',').map((v) => v.trim()).filter(Boolean);
      else config[key] = value;
    }
    if (kind === 'email') config.tls = tls;
    create.mutate({ kind, name: name.trim(), config });
  }
  return (
    <Dialog open={open} onClose={onClose} title="New channel">
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>Kind</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as Channel['kind'])}>
            <option value="slack">Slack</option>
            <option value="discord">Discord</option>
            <option value="teams">Microsoft Teams</option>
            <option value="webhook">Signed webhook</option>
            <option value="email">E-mail</option>
          </select>
        </label>
        <label className="field">
          <span>Name</span>
          <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="#security" />
        </label>
        {KIND_FIELDS[kind].map((field) => (
          <label key={`${kind}-${field.name}`} className="field">
            <span>
              {field.label}
              {field.secret && fromEnv ? ' — environment variable name' : ''}
            </span>
            <input
              type={field.secret && !fromEnv ? 'password' : field.type ?? 'text'}
              value={values[field.name] ?? ''}
              onChange={(e) => setValues({ ...values, [field.name]: e.target.value })}
              placeholder={field.secret && fromEnv ? 'VERITRAIL_ALERT_…' : field.placeholder}
              autoComplete="off"
            />
          </label>
        ))}
        {kind === 'email' ? (
          <label className="field">
            <span>TLS</span>
            <select value={tls} onChange={(e) => setTls(e.target.value)}>
              <option value="starttls">STARTTLS</option>
              <option value="tls">TLS</option>
              <option value="none">None</option>
            </select>
          </label>
        ) : null}
        <label className="check">
          <input type="checkbox" checked={fromEnv} onChange={(e) => setFromEnv(e.target.checked)} />
          <span>Read secrets from the server&apos;s environment variables</span>
        </label>
        <p className="muted small">Secrets are sealed on the server and never shown again.</p>
        {create.isError ? <ErrorNotice error={create.error} what="The channel" /> : null}
        <div className="button-row end">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={create.isPending}>
            Create channel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Channels() {
  const { can } = useSession();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<Channel | null>(null);
  const [testResult, setTestResult] = useState<{ id: string; ok: boolean; text: string } | null>(null);
  const list = useQuery({
    queryKey: ['alerts', 'channels'],
    queryFn: ({ signal }) => api<{ channels: Channel[] }>('/api/v1/alerts/channels', { signal }),
  });
  const test = useMutation({
    mutationFn: (id: string) => api<{ ok: boolean; delivery: Delivery }>(`/api/v1/alerts/channels/${encodeURIComponent(id)}/test`, { method: 'POST' }),
    onSuccess: (result, id) =>
      setTestResult({ id, ok: result.ok, text: result.ok ? 'Test message delivered.' : `Not delivered: ${result.delivery.last_error ?? result.delivery.status}` }),
    onError: (error, id) => setTestResult({ id, ok: false, text: error instanceof Error ? error.message : String(error) }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/alerts/channels/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      setConfirm(null);
      void queryClient.invalidateQueries({ queryKey: ['alerts', 'channels'] });
    },
  });
  return (
    <>
      {can('manage-alerts') ? (
        <div className="toolbar">
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            New channel
          </button>
        </div>
      ) : null}
      {list.isPending ? (
        <Spinner />
      ) : list.isError ? (
        <ErrorNotice error={list.error} what="Channels" />
      ) : list.data.channels.length === 0 ? (
        <Empty>No channels. Alerts are recorded but not sent anywhere.</Empty>
      ) : (
        <ul className="card-list">
          {list.data.channels.map((channel) => (
            <li key={channel.id} className="row-card">
              <div className="row-card-main">
                <strong>{channel.name}</strong>
                <span className="badge neutral">{channel.kind}</span>
                {channel.disabled ? <span className="badge status-dead">disabled</span> : null}
                <span className="muted small mono truncate">
                  {Object.entries(channel.config)
                    .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
                    .join(' · ')}
                </span>
                {testResult?.id === channel.id ? (
                  <span className={testResult.ok ? 'ok-text' : 'error-text'} role="status">
                    {testResult.text}
                  </span>
                ) : null}
              </div>
              {can('manage-alerts') ? (
                <div className="row-actions">
                  <button type="button" className="button small" disabled={test.isPending} onClick={() => test.mutate(channel.id)}>
                    Send test
                  </button>
                  <button type="button" className="button small danger" onClick={() => setConfirm(channel)}>
                    Delete
                  </button>
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      <NewChannelDialog open={creating} onClose={() => setCreating(false)} />
      <Dialog
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Delete channel?"
        footer={
          <>
            <button type="button" className="button ghost" onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button type="button" className="button danger" disabled={remove.isPending} onClick={() => confirm && remove.mutate(confirm.id)}>
              Delete channel
            </button>
          </>
        }
      >
        <p>
          Rules stop sending to <strong>{confirm?.name}</strong>. Deliveries already recorded stay in the history.
        </p>
        {remove.isError ? <ErrorNotice error={remove.error} what="Delete" /> : null}
      </Dialog>
    </>
  );
}

const splitList = (text: string) => text.split(',').map((v) => v.trim()).filter(Boolean);

function NewRuleDialog({ open, onClose, channels }: { open: boolean; onClose: () => void; channels: Channel[] }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState({
    name: '',
    kind: 'anomaly' as Rule['kind'],
    min_severity: 'medium',
    channels: [] as string[],
    subject_kind: '',
    subjects: '',
    detectors: '',
    actions: '',
    outcome: '',
    actors: '',
    resource_types: '',
    cooldown: '',
  });
  const create = useMutation({
    mutationFn: (body: unknown) => api<Rule>('/api/v1/alerts/rules', { method: 'POST', body }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ['alerts', 'rules'] });
      onClose();
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    const match: Record<string, unknown> = {};
    if (form.kind === 'anomaly') {
      if (form.subject_kind) match.subject_kind = form.subject_kind;
      if (form.subjects) match.subjects = splitList(form.subjects);
      if (form.detectors) match.detectors = splitList(form.detectors);
    } else {
      if (form.actions) match.actions = splitList(form.actions);
      if (form.outcome) match.outcome = form.outcome;
      if (form.actors) match.actors = splitList(form.actors);
      if (form.resource_types) match.resource_types = splitList(form.resource_types);
    }
    const body: Record<string, unknown> = { name: form.name.trim(), kind: form.kind, min_severity: form.min_severity, channels: form.channels };
    if (Object.keys(match).length) body.match = match;
    if (form.cooldown) body.cooldown_seconds = Number(form.cooldown);
    create.mutate(body);
  }
  const set = (patch: Partial<typeof form>) => setForm({ ...form, ...patch });
  return (
    <Dialog open={open} onClose={onClose} title="New rule">
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span>Name</span>
          <input value={form.name} onChange={(e) => set({ name: e.target.value })} required />
        </label>
        <div className="form-row">
          <label className="field">
            <span>Kind</span>
            <select value={form.kind} onChange={(e) => set({ kind: e.target.value as Rule['kind'] })}>
              <option value="anomaly">Anomalies</option>
              <option value="event">Events as ingested</option>
            </select>
          </label>
          <label className="field">
            <span>Minimum severity</span>
            <select value={form.min_severity} onChange={(e) => set({ min_severity: e.target.value })}>
              {SEVERITIES.filter((s) => s !== 'debug' && s !== 'info').map((s) => (
                <option key={s}>{s}</option>
              ))}
            </select>
          </label>
        </div>
        <fieldset className="fieldset">
          <legend>Send to</legend>
          {channels.length === 0 ? <span className="muted small">Create a channel first.</span> : null}
          {channels.map((channel) => (
            <label key={channel.id} className="check">
              <input
                type="checkbox"
                checked={form.channels.includes(channel.id)}
                onChange={(e) =>
                  set({ channels: e.target.checked ? [...form.channels, channel.id] : form.channels.filter((id) => id !== channel.id) })
                }
              />
              <span>
                {channel.name} <span className="muted">({channel.kind})</span>
              </span>
            </label>
          ))}
        </fieldset>
        {form.kind === 'anomaly' ? (
          <>
            <label className="field">
              <span>Subject kind</span>
              <select value={form.subject_kind} onChange={(e) => set({ subject_kind: e.target.value })}>
                <option value="">Any</option>
                <option value="actor">Actor</option>
                <option value="tenant">Tenant</option>
              </select>
            </label>
            <label className="field">
              <span>Subjects (comma-separated, prefix* allowed)</span>
              <input value={form.subjects} onChange={(e) => set({ subjects: e.target.value })} />
            </label>
            <label className="field">
              <span>Detectors (comma-separated)</span>
              <input value={form.detectors} onChange={(e) => set({ detectors: e.target.value })} placeholder="robust_zscore, kmeans_distance" />
            </label>
          </>
        ) : (
          <>
            <label className="field">
              <span>Actions (comma-separated, prefix* allowed)</span>
              <input value={form.actions} onChange={(e) => set({ actions: e.target.value })} placeholder="iam:*" />
            </label>
            <label className="field">
              <span>Outcome</span>
              <select value={form.outcome} onChange={(e) => set({ outcome: e.target.value })}>
                <option value="">Any</option>
                <option value="success">success</option>
                <option value="failure">failure</option>
                <option value="denied">denied</option>
                <option value="unknown">unknown</option>
              </select>
            </label>
            <label className="field">
              <span>Actors (comma-separated)</span>
              <input value={form.actors} onChange={(e) => set({ actors: e.target.value })} />
            </label>
            <label className="field">
              <span>Resource types (comma-separated)</span>
              <input value={form.resource_types} onChange={(e) => set({ resource_types: e.target.value })} />
            </label>
          </>
        )}
        <label className="field">
          <span>Cooldown (seconds, optional)</span>
          <input type="number" min={0} value={form.cooldown} onChange={(e) => set({ cooldown: e.target.value })} />
        </label>
        {create.isError ? <ErrorNotice error={create.error} what="The rule" /> : null}
        <div className="button-row end">
          <button type="button" className="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={create.isPending}>
            Create rule
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function Rules() {
  const { can } = useSession();
  const queryClient = useQueryClient();
  const [creating, setCreating] = useState(false);
  const rules = useQuery({
    queryKey: ['alerts', 'rules'],
    queryFn: ({ signal }) => api<{ rules: Rule[] }>('/api/v1/alerts/rules', { signal }),
  });
  const channels = useQuery({
    queryKey: ['alerts', 'channels'],
    queryFn: ({ signal }) => api<{ channels: Channel[] }>('/api/v1/alerts/channels', { signal }),
  });
  const update = useMutation({
    mutationFn: (rule: Rule) =>
      api<Rule>(`/api/v1/alerts/rules/${encodeURIComponent(rule.id)}`, {
        method: 'PUT',
        body: {
          name: rule.name,
          kind: rule.kind,
          min_severity: rule.min_severity,
          channels: rule.channels,
          ...(rule.match ? { match: rule.match } : {}),
          ...(rule.cooldown_seconds !== undefined ? { cooldown_seconds: rule.cooldown_seconds } : {}),
          enabled: rule.enabled,
        },
      }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['alerts', 'rules'] }),
  });
  const remove = useMutation({
    mutationFn: (id: string) => api(`/api/v1/alerts/rules/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['alerts', 'rules'] }),
  });
  const channelName = (id: string) => channels.data?.channels.find((c) => c.id === id)?.name ?? id;
  return (
    <>
      {can('manage-alerts') ? (
        <div className="toolbar">
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            New rule
          </button>
        </div>
      ) : null}
      {update.isError ? <ErrorNotice error={update.error} what="The rule" /> : null}
      {remove.isError ? <ErrorNotice error={remove.error} what="Delete" /> : null}
      {rules.isPending ? (
        <Spinner />
      ) : rules.isError ? (
        <ErrorNotice error={rules.error} what="Rules" />
      ) : rules.data.rules.length === 0 ? (
        <Empty>No rules. Integrity failures still alert every channel.</Empty>
      ) : (
        <ul className="card-list">
          {rules.data.rules.map((rule) => (
            <li key={rule.id} className="row-card">
              <div className="row-card-main">
                <strong>{rule.name}</strong>
                <span className="badge neutral">{rule.kind}</span>
                <span className="muted small">≥</span>
                <SeverityBadge severity={rule.min_severity} />
                {!rule.enabled ? <span className="badge status-dead">disabled</span> : null}
                <span className="muted small truncate">
                  to {rule.channels.map(channelName).join(', ') || 'no channel'}
                  {rule.match ? ` · match ${JSON.stringify(rule.match)}` : ''}
                  {rule.cooldown_seconds ? ` · cooldown ${rule.cooldown_seconds}s` : ''}
                </span>
              </div>
              {can('manage-alerts') ? (
                <div className="row-actions">
                  <button type="button" className="button small" disabled={update.isPending} onClick={() => update.mutate({ ...rule, enabled: !rule.enabled })}>
                    {rule.enabled ? 'Disable' : 'Enable'}
                  </button>
                  <button type="button" className="button small danger" disabled={remove.isPending} onClick={() => remove.mutate(rule.id)}>
                    Delete
                  </button>
                </div>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      <NewRuleDialog open={creating} onClose={() => setCreating(false)} channels={channels.data?.channels ?? []} />
    </>
  );
}

export default function Alerts() {
  const [tab, setTab] = useState<Tab>('alerts');
  useAlertsLive();
  return (
    <div className="page">
      <PageHeader title="Alerts" description="Where Veritrail sends word when something looks wrong, and whether it arrived." />
      <div className="tabs" role="tablist" aria-label="Alert views">
        {TABS.map((item) => (
          <button
            key={item.id}
            type="button"
            role="tab"
            id={`tab-${item.id}`}
            aria-selected={tab === item.id}
            aria-controls={`panel-${item.id}`}
            tabIndex={tab === item.id ? 0 : -1}
            className={`tab ${tab === item.id ? 'active' : ''}`}
            onClick={() => setTab(item.id)}
            onKeyDown={(event) => {
              const index = TABS.findIndex((t) => t.id === tab);
              const next = event.key === 'ArrowRight' ? index + 1 : event.key === 'ArrowLeft' ? index - 1 : null;
              if (next === null) return;
              const target = TABS[(next + TABS.length) % TABS.length]!;
              setTab(target.id);
              document.getElementById(`tab-${target.id}`)?.focus();
            }}
          >
            {item.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tabpanel">
        <Card>
          {tab === 'alerts' ? <AlertsRaised /> : null}
          {tab === 'deliveries' ? <Deliveries /> : null}
          {tab === 'channels' ? <Channels /> : null}
          {tab === 'rules' ? <Rules /> : null}
        </Card>
      </div>
      <Notice tone="info">Integrity failures alert every channel of the tenant, with or without a rule.</Notice>
    </div>
  );
}
