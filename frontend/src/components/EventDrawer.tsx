import type { AuditEvent } from '../api/types';
import { useEventWithProof, useLogKey } from '../api/queries';
import { Dialog } from './Dialog';
import { ErrorNotice, OutcomeBadge, SeverityBadge, Spinner, Time } from './ui';
import { VerifiedBadge } from './VerifiedBadge';
import { CopyButton } from './CopyButton';

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

/** The detail drawer of one event: its fields, hashes, the Verified badge and the raw JSON. */
export function EventDrawer({ eventId, preview, onClose }: { eventId: string | null; preview?: AuditEvent | null; onClose: () => void }) {
  const full = useEventWithProof(eventId);
  const logKey = useLogKey();
  const event: AuditEvent | undefined = full.data ?? preview ?? undefined;
  const raw = full.data
    ? (({ proof: _proof, checkpoint: _checkpoint, proof_pending: _pending, ...rest }) => rest)(full.data)
    : event;
  return (
    <Dialog open={eventId !== null} onClose={onClose} title={event ? event.action : 'Event'} variant="drawer">
      {!event && full.isPending ? <Spinner label="Loading event" /> : null}
      {full.isError ? <ErrorNotice error={full.error} what="The event" /> : null}
      {event ? (
        <div className="event-detail">
          <div className="event-badges">
            <OutcomeBadge outcome={event.outcome} />
            <SeverityBadge severity={event.severity} />
            <span className="badge neutral">seq {event.seq}</span>
          </div>
          {full.data && logKey.data ? (
            <VerifiedBadge event={full.data} logKey={logKey.data} />
          ) : logKey.isError ? (
            <ErrorNotice error={logKey.error} what="The log key" />
          ) : full.isPending || logKey.isPending ? (
            <Spinner label="Fetching proof" />
          ) : null}
          <dl className="fields">
            <Field label="Occurred">
              <Time iso={event.occurred_at} />
            </Field>
            <Field label="Received">
              <Time iso={event.received_at} />
            </Field>
            <Field label="Actor">
              <span className="mono">{event.actor.id}</span>
              <span className="muted">
                {' '}
                ({event.actor.type}
                {event.actor.ip ? `, ${event.actor.ip}` : ''})
              </span>
            </Field>
            <Field label="Resource">
              {event.resource ? (
                <span className="mono">
                  {event.resource.type}/{event.resource.id}
                  {event.resource.name ? ` (${event.resource.name})` : ''}
                </span>
              ) : (
                <span className="muted">none</span>
              )}
            </Field>
            <Field label="Event id">
              <span className="mono break">{event.id}</span>
            </Field>
            <Field label="Hash">
              <span className="mono break">{event.hash}</span>
            </Field>
            <Field label="Previous hash">
              <span className="mono break">{event.prev_hash}</span>
            </Field>
            {event.tags.length ? (
              <Field label="Tags">
                {event.tags.map((tag) => (
                  <span key={tag} className="chip static">
                    {tag}
                  </span>
                ))}
              </Field>
            ) : null}
          </dl>
          <div className="json-header">
            <h3>JSON</h3>
            <CopyButton text={JSON.stringify(raw, null, 2)} label="Copy JSON" />
          </div>
          <pre className="json" role="region" tabIndex={0} aria-label="Event JSON">
            {JSON.stringify(raw, null, 2)}
          </pre>
        </div>
      ) : null}
    </Dialog>
  );
}
