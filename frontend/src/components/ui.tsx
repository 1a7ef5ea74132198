import type { ReactNode } from 'react';
import { ApiError, describeError } from '../api/client';
import type { Outcome, Severity } from '../api/types';
import { formatRelative, formatTime } from '../lib/format';

export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {description ? <p className="page-description">{description}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </header>
  );
}

type Tone = 'info' | 'warning' | 'error' | 'success' | 'pending';

export function Notice({ tone = 'info', title, children }: { tone?: Tone; title?: string; children?: ReactNode }) {
  return (
    <div className={`notice notice-${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      {title ? <strong className="notice-title">{title}</strong> : null}
      {children ? <div className="notice-body">{children}</div> : null}
    </div>
  );
}

/** Shows an API error; an endpoint that has not landed yet reads as "waiting", not as a failure. */
export function ErrorNotice({ error, what }: { error: unknown; what?: string }) {
  if (error instanceof ApiError && error.endpointMissing) {
    return (
      <Notice tone="pending" title={`${what ?? 'This feature'}: not available on this server yet`}>
        The dashboard needs <code>{error.path}</code>, which this server does not offer. It appears once the server is
        upgraded.
      </Notice>
    );
  }
  if (error instanceof ApiError && error.status === 403) {
    return <Notice tone="warning" title="Not allowed for your role">{error.message}</Notice>;
  }
  return (
    <Notice tone="error" title={what ? `Could not load ${what.toLowerCase()}` : 'Something went wrong'}>
      {describeError(error)}
      {error instanceof ApiError && error.code && !error.code.startsWith('http_') && error.code !== 'network' ? (
        <span className="error-code"> ({error.code})</span>
      ) : null}
    </Notice>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <div className="spinner-row" role="status">
      <span className="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function Time({ iso, relative = false }: { iso: string | null | undefined; relative?: boolean }) {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={formatTime(iso)}>
      {relative ? formatRelative(iso) : formatTime(iso)}
    </time>
  );
}

export function OutcomeBadge({ outcome }: { outcome: Outcome | string }) {
  return <span className={`badge outcome-${outcome}`}>{outcome}</span>;
}

export function SeverityBadge({ severity }: { severity: Severity | string }) {
  return <span className={`badge severity-${severity}`}>{severity}</span>;
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{status.replace(/_/g, ' ')}</span>;
}

export function Card({ title, actions, children, className }: { title?: ReactNode; actions?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${className ?? ''}`}>
      {title || actions ? (
        <div className="card-header">
          {title ? <h2>{title}</h2> : <span />}
          {actions}
        </div>
      ) : null}
      {children}
    </section>
  );
}

export function Stat({ label, value, hint }: { label: string; value: ReactNode; hint?: ReactNode }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {hint ? <div className="stat-hint">{hint}</div> : null}
    </div>
  );
}
