import { useQuery } from '@tanstack/react-query';
import type { EventWithProof, LogKey } from '../api/types';
import { verifyEvent } from '../verify/verify';

/** Checks the event in this browser: signed checkpoint, inclusion proof, leaf and chain link. */
export function VerifiedBadge({ event, logKey }: { event: EventWithProof; logKey: LogKey }) {
  const verdict = useQuery({
    queryKey: ['verdict', event.id, event.hash, event.checkpoint?.tree_size ?? null, logKey.public_key],
    queryFn: () => verifyEvent(event, logKey),
    staleTime: Infinity,
  });
  if (verdict.isPending) {
    return (
      <div className="verify-box" role="status">
        <span className="badge verify-pending">Verifying…</span>
      </div>
    );
  }
  if (verdict.isError) {
    return (
      <div className="verify-box verify-bad" role="status">
        <span className="badge verify-bad">Not verified</span>
        <p>The check itself failed: {String(verdict.error)}</p>
      </div>
    );
  }
  const { ok, steps, failed } = verdict.data;
  const pending = !ok && failed?.id === 'signature' && !event.checkpoint;
  return (
    <div className={`verify-box ${ok ? 'verify-ok' : pending ? 'verify-wait' : 'verify-bad'}`} role="status">
      <div className="verify-title">
        <span className={`badge ${ok ? 'verify-ok' : pending ? 'verify-wait' : 'verify-bad'}`}>
          {ok ? 'Verified' : pending ? 'Not verified yet' : 'Not verified'}
        </span>
        <span className="muted">
          {ok
            ? 'checked in your browser against the log key'
            : pending
              ? 'no signed checkpoint covers this event yet'
              : `failed: ${failed?.label.toLowerCase()}`}
        </span>
      </div>
      <ol className="verify-steps">
        {steps.map((step) => (
          <li key={step.id} className={step.ok ? 'step-ok' : 'step-bad'}>
            <span className="step-mark" aria-hidden="true">
              {step.ok ? '✓' : '✕'}
            </span>
            <span className="visually-hidden">{step.ok ? 'Passed: ' : 'Failed: '}</span>
            <span className="step-label">{step.label}</span>
            <span className="step-detail">{step.detail}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}
