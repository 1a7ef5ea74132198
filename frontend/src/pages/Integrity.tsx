import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, describeError, request } from '../api/client';
import { useLatestCheckpoint, useLogKey } from '../api/queries';
import type { EventPage, JobRun, JobStatus, VerifyReport } from '../api/types';
import { useSession } from '../auth/session';
import { CopyButton } from '../components/CopyButton';
import { Card, ErrorNotice, Notice, PageHeader, Spinner, Time } from '../components/ui';
import { formatNumber, localInputToIso } from '../lib/format';
import { useStreamMessages } from '../stream/StreamProvider';
import { verifyNote } from '../verify/verify';

function CheckpointCard() {
  const checkpoint = useLatestCheckpoint();
  const logKey = useLogKey();
  const signature = useQuery({
    queryKey: ['note-verdict', checkpoint.data?.note, logKey.data?.public_key],
    enabled: Boolean(checkpoint.data && logKey.data),
    queryFn: async () => {
      const note = await verifyNote(checkpoint.data!.note, logKey.data!);
      if (note.treeSize !== checkpoint.data!.tree_size) throw new Error('the tree size differs from the signed note');
      return note;
    },
    retry: false,
    staleTime: Infinity,
  });
  return (
    <Card title="Latest signed checkpoint">
      {checkpoint.isPending ? (
        <Spinner />
      ) : checkpoint.isError ? (
        <ErrorNotice error={checkpoint.error} what="The latest checkpoint" />
      ) : (
        <>
          <div className="checkpoint-head">
            <div>
              <div className="stat-label">Tree size</div>
              <div className="stat-value">{formatNumber(checkpoint.data.tree_size)}</div>
            </div>
            <div>
              <div className="stat-label">Published</div>
              <div>
                <Time iso={checkpoint.data.created_at} />
              </div>
            </div>
            <div className="checkpoint-verdict">
              {signature.isPending ? (
                <span className="badge verify-pending">Checking signature…</span>
              ) : signature.isError ? (
                <span className="badge verify-bad" title={describeError(signature.error)}>
                  Signature not valid
                </span>
              ) : (
                <span className="badge verify-ok">Signature verified in your browser</span>
              )}
            </div>
          </div>
          {signature.isError ? <Notice tone="error">{describeError(signature.error)}</Notice> : null}
          <div className="stat-label">Root hash</div>
          <p className="mono break">{checkpoint.data.root_hash}</p>
          <div className="json-header">
            <div className="stat-label">Signed note</div>
            <CopyButton text={checkpoint.data.note} label="Copy note" />
          </div>
          <pre className="json note" role="region" tabIndex={0} aria-label="Signed checkpoint note">
            {checkpoint.data.note}
          </pre>
        </>
      )}
    </Card>
  );
}

function CheckpointHistory() {
  const { can } = useSession();
  const queryClient = useQueryClient();
  const [seen, setSeen] = useState<{ tree_size: number; created_at: string }[]>([]);
  const jobs = useQuery({
    queryKey: ['jobs'],
    enabled: can('run-jobs'),
    queryFn: ({ signal }) => api<{ jobs: JobStatus[] }>('/api/v1/admin/jobs', { signal }),
    refetchInterval: 60_000,
  });
  useStreamMessages('job', (message) => {
    if (message.run.job !== 'checkpoint') return;
    const latest = (message.run.details?.tenant as { latest?: { tree_size: number; created_at: string } } | undefined)?.latest;
    if (latest) setSeen((current) => (current.some((c) => c.tree_size === latest.tree_size) ? current : [...current, latest]));
    void queryClient.invalidateQueries({ queryKey: ['checkpoint', 'latest'] });
  });
  const checkpointJob = jobs.data?.jobs.find((job) => job.name === 'checkpoint');
  const integrityJob = jobs.data?.jobs.find((job) => job.name === 'integrity-check');
  return (
    <Card title="Checkpoints over time">
      <p className="muted small">
        The server publishes a signed checkpoint whenever the tree grew (schedule {checkpointJob?.schedule ?? 'from the configuration'}).
        This API offers the latest checkpoint and any checkpoint by tree size, but no list of them yet, so the history below shows only
        checkpoints published while this page is open.
      </p>
      {seen.length ? (
        <ol className="compact-list">
          {seen.map((c) => (
            <li key={c.tree_size}>
              tree size <strong>{formatNumber(c.tree_size)}</strong> · <Time iso={c.created_at} />
            </li>
          ))}
        </ol>
      ) : null}
      {jobs.data ? (
        <dl className="fields compact">
          <dt>Checkpoint job</dt>
          <dd>
            last run <Time iso={checkpointJob?.last_run?.finished_at} relative /> ({checkpointJob?.last_run?.outcome ?? '—'}), next{' '}
            <Time iso={checkpointJob?.next_run} relative />
          </dd>
          <dt>Integrity check</dt>
          <dd>
            last run <Time iso={integrityJob?.last_run?.finished_at} relative /> ({integrityJob?.last_run?.outcome ?? '—'}), next{' '}
            <Time iso={integrityJob?.next_run} relative />
          </dd>
        </dl>
      ) : jobs.isError ? (
        <ErrorNotice error={jobs.error} what="Job status" />
      ) : null}
    </Card>
  );
}

interface Progress {
  checked: number;
  total: number;
  report: VerifyReport | null;
  error: string | null;
  running: boolean;
}

function VerifyNow() {
  const { can } = useSession();
  const [progress, setProgress] = useState<Progress | null>(null);
  const full = useMutation({
    mutationFn: () => api<JobRun>('/api/v1/admin/jobs/integrity-check/run', { method: 'POST', query: { full: true } }),
  });

  async function run() {
    setProgress({ checked: 0, total: 0, report: null, error: null, running: true });
    try {
      const head = await api<EventPage>('/api/v1/events', { query: { limit: 1 } });
      const headSeq = head.events[0]?.seq ?? -1;
      const total = headSeq + 1;
      if (total === 0) {
        setProgress({ checked: 0, total: 0, report: null, error: null, running: false });
        return;
      }
      // Verify in slices so the page can show progress on large logs.
      const slice = Math.max(500, Math.ceil(total / 25));
      let checked = 0;
      let last: VerifyReport | null = null;
      for (let from = 0; from <= headSeq; from += slice) {
        const to = Math.min(headSeq, from + slice - 1);
        last = await api<VerifyReport>('/api/v1/verify', { query: { from_seq: from, to_seq: to } });
        checked += last.checked;
        setProgress({ checked, total, report: last.ok ? null : last, error: null, running: !last.ok ? false : to < headSeq });
        if (!last.ok) return;
      }
      setProgress({ checked, total, report: last, error: null, running: false });
    } catch (error) {
      setProgress((current) => ({ checked: current?.checked ?? 0, total: current?.total ?? 0, report: null, error: describeError(error), running: false }));
    }
  }

  if (!can('verify')) return null;
  const done = progress && !progress.running;
  return (
    <Card
      title="Verify the chain now"
      actions={
        <button type="button" className="button primary" onClick={run} disabled={progress?.running}>
          {progress?.running ? 'Verifying…' : 'Verify now'}
        </button>
      }
    >
      <p className="muted small">Re-reads every event, recomputes its hash and checks each link of the chain on the server.</p>
      {progress ? (
        <div className="verify-progress">
          <progress max={Math.max(progress.total, 1)} value={progress.checked} aria-label="Verification progress" />
          <span className="num">
            {formatNumber(progress.checked)} / {formatNumber(progress.total)}
          </span>
        </div>
      ) : null}
      {progress?.error ? <Notice tone="error" title="Verification could not run">{progress.error}</Notice> : null}
      {done && progress.report && progress.report.ok ? (
        <Notice tone="success" title="The chain is intact">
          {formatNumber(progress.checked)} events checked; head seq {progress.report.head_seq}, hash{' '}
          <span className="mono">{progress.report.head_hash?.slice(0, 16)}…</span>
        </Notice>
      ) : null}
      {done && progress.report && !progress.report.ok ? (
        <Notice tone="error" title={`The chain is broken at seq ${progress.report.first_bad_seq}`}>
          {progress.report.kind}: {progress.report.reason}
        </Notice>
      ) : null}
      {can('run-jobs') ? (
        <div className="button-row">
          <button type="button" className="button" onClick={() => full.mutate()} disabled={full.isPending}>
            {full.isPending ? 'Running full integrity check…' : 'Run full integrity check (checkpoints too)'}
          </button>
          {full.data ? (
            <span className={full.data.outcome === 'success' ? 'ok-text' : 'error-text'} role="status">
              {full.data.outcome === 'success' ? 'Finished' : `Failed: ${full.data.error ?? ''}`}
              {full.data.details?.tenant ? ` · ${JSON.stringify(full.data.details.tenant)}` : ''}
            </span>
          ) : null}
        </div>
      ) : null}
      {full.isError ? <ErrorNotice error={full.error} what="The integrity check" /> : null}
    </Card>
  );
}

function BundleDownload() {
  const { can } = useSession();
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const response = await request('/api/v1/export/bundle', {
        method: 'POST',
        body: { since: localInputToIso(since) ?? null, until: localInputToIso(until) ?? null },
      });
      const blob = await response.blob();
      const disposition = response.headers.get('Content-Disposition') ?? '';
      const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'veritrail-bundle.tar';
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }
  if (!can('export')) return null;
  return (
    <Card title="Evidence bundle">
      <p className="muted small">
        A tar file with the selected events (canonical JSONL), the latest signed checkpoint, an inclusion proof per event, the verifier key
        and a README, to check fully offline.
      </p>
      <form className="form-row bundle-form" onSubmit={submit}>
        <label className="field">
          <span>Since (local time)</span>
          <input type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </label>
        <label className="field">
          <span>Until (local time)</span>
          <input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </label>
        <button type="submit" className="button primary" disabled={busy}>
          {busy ? 'Preparing…' : 'Download bundle'}
        </button>
      </form>
      {error ? <ErrorNotice error={error} what="The bundle" /> : null}
    </Card>
  );
}

function LogKeyCard() {
  const logKey = useLogKey();
  const origin = window.location.origin;
  return (
    <Card title="The log's public key">
      {logKey.isPending ? (
        <Spinner />
      ) : logKey.isError ? (
        <ErrorNotice error={logKey.error} what="The log key" />
      ) : (
        <>
          <dl className="fields">
            <dt>Origin</dt>
            <dd className="mono">{logKey.data.origin}</dd>
            <dt>Key name</dt>
            <dd className="mono">{logKey.data.key_name}</dd>
            <dt>Ed25519 public key</dt>
            <dd className="mono break">{logKey.data.public_key}</dd>
            <dt>Verifier key</dt>
            <dd>
              <span className="mono break">{logKey.data.verifier_key}</span> <CopyButton text={logKey.data.verifier_key} />
            </dd>
          </dl>
          <h3 className="subhead">Verify offline</h3>
          <p className="small">Keep the verifier key somewhere the server cannot change it. Then check a downloaded bundle without any server:</p>
          <pre className="json">{`veritrail verify-bundle veritrail-bundle.tar --key '${logKey.data.verifier_key}'`}</pre>
          <p className="small">
            Or run a witness that polls the checkpoints and raises <code>WITNESS ALERT</code> on a rewritten history, a shrunk log or a split view
            (with an API key that has the <code>read</code> scope):
          </p>
          <pre className="json">{`veritrail witness --url ${origin} --key '${logKey.data.verifier_key}' \\
  --state witness-state.json --api-key "$VERITRAIL_KEY" --interval 300`}</pre>
          <p className="small muted">
            Operators can also verify straight from the database: <code>veritrail verify --tenant {logKey.data.origin.split('/').pop()}</code>.
          </p>
        </>
      )}
    </Card>
  );
}

export default function Integrity() {
  return (
    <div className="page">
      <PageHeader title="Integrity" description="Signed checkpoints, verification on demand and evidence anyone can check without trusting this server." />
      <div className="grid-2">
        <CheckpointCard />
        <LogKeyCard />
        <VerifyNow />
        <BundleDownload />
        <CheckpointHistory />
      </div>
    </div>
  );
}
