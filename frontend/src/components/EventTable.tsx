import type { AuditEvent } from '../api/types';
import { OutcomeBadge, SeverityBadge, Time } from './ui';

/** A plain (non-virtual) event table for short lists; rows open the detail drawer. */
export function EventTable({ events, onOpen, caption }: { events: AuditEvent[]; onOpen: (event: AuditEvent) => void; caption: string }) {
  return (
    <div className="table-wrap">
      <table className="table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col" className="col-time">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col" className="hide-sm">Resource</th>
            <th scope="col" className="col-outcome">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.seq}>
              <td className="nowrap">
                <Time iso={event.occurred_at} relative />
              </td>
              <td className="truncate mono" title={event.actor.id}>
                {event.actor.name ?? event.actor.id}
              </td>
              <td>
                <button type="button" className="link-button mono" onClick={() => onOpen(event)}>
                  {event.action}
                </button>
              </td>
              <td className="truncate hide-sm mono">{event.resource ? `${event.resource.type}/${event.resource.id}` : '—'}</td>
              <td>
                <OutcomeBadge outcome={event.outcome} /> {event.severity !== 'info' ? <SeverityBadge severity={event.severity} /> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
