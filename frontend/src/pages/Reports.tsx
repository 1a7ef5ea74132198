import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { ApiError, buildUrl, request } from '../api/client';
import { useSession } from '../auth/session';
import { EMPTY_EXPORT_FILTERS, EventFilterFields, type ExportFilters } from '../components/EventFilterForm';
import { Card, ErrorNotice, Notice, PageHeader, Spinner } from '../components/ui';
import { localInputToIso } from '../lib/format';

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

export default function Reports() {
  const { can } = useSession();
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
    <div className="page">
      <PageHeader title="Reports" description="Export the events of a filter for a spreadsheet or another system. Scheduled reports come later." />
      {!can('export') ? (
        <Notice tone="warning" title="Not available for your role">
          Exports are for analysts, auditors and admins.
        </Notice>
      ) : (
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
      )}
    </div>
  );
}
