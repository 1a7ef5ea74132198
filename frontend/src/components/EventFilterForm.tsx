import { OUTCOMES } from '../api/types';

export interface ExportFilters {
  actor: string;
  action: string;
  resource_type: string;
  resource_id: string;
  outcome: string;
  since: string;
  until: string;
}

export const EMPTY_EXPORT_FILTERS: ExportFilters = { actor: '', action: '', resource_type: '', resource_id: '', outcome: '', since: '', until: '' };

export function EventFilterFields({ value, onChange }: { value: ExportFilters; onChange: (next: ExportFilters) => void }) {
  const set = (patch: Partial<ExportFilters>) => onChange({ ...value, ...patch });
  return (
    <div className="filter-grid">
      <label className="field">
        <span>Actor</span>
        <input value={value.actor} onChange={(e) => set({ actor: e.target.value })} placeholder="exact actor id" />
      </label>
      <label className="field">
        <span>Action</span>
        <input value={value.action} onChange={(e) => set({ action: e.target.value })} placeholder="exact action" />
      </label>
      <label className="field">
        <span>Resource type</span>
        <input value={value.resource_type} onChange={(e) => set({ resource_type: e.target.value })} />
      </label>
      <label className="field">
        <span>Resource id</span>
        <input value={value.resource_id} onChange={(e) => set({ resource_id: e.target.value })} />
      </label>
      <label className="field">
        <span>Outcome</span>
        <select value={value.outcome} onChange={(e) => set({ outcome: e.target.value })}>
          <option value="">Any</option>
          {OUTCOMES.map((o) => (
            <option key={o}>{o}</option>
          ))}
        </select>
      </label>
      <label className="field field-time">
        <span>Since (local time)</span>
        <input type="datetime-local" value={value.since} onChange={(e) => set({ since: e.target.value })} />
      </label>
      <label className="field field-time">
        <span>Until (local time, exclusive)</span>
        <input type="datetime-local" value={value.until} onChange={(e) => set({ until: e.target.value })} />
      </label>
    </div>
  );
}
