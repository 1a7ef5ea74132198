import { useState, type ReactNode } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { useSession } from '../auth/session';
import { useAppStream } from '../stream/StreamProvider';
import { Notice } from './ui';

const ICONS: Record<string, ReactNode> = {
  overview: <path d="M3 13h4v4H3zM8 8h4v9H8zM13 3h4v14h-4z" />,
  live: <path d="M2 10h3l2-5 4 10 2-5h5" fill="none" />,
  search: <path d="M8.5 3a5.5 5.5 0 104.2 9.1l3.6 3.6M8.5 3a5.5 5.5 0 014.2 9.1" fill="none" />,
  anomalies: <path d="M10 2l8 14H2zM10 8v4M10 14v.5" fill="none" />,
  alerts: <path d="M5 14V9a5 5 0 0110 0v5l1.5 2h-13zM8.5 18h3" fill="none" />,
  reports: <path d="M5 2h7l4 4v12H5zM12 2v4h4M8 11h6M8 14h6" fill="none" />,
  integrity: <path d="M10 2l7 3v5c0 4-3 7-7 8-4-1-7-4-7-8V5zM7 10l2 2 4-4" fill="none" />,
  settings: <path d="M10 7a3 3 0 100 6 3 3 0 000-6zM10 1.5v3M10 15.5v3M1.5 10h3M15.5 10h3M4 4l2 2M14 14l2 2M4 16l2-2M14 6l2-2" fill="none" />,
};

const NAV = [
  { to: '/', label: 'Overview', icon: 'overview' },
  { to: '/live', label: 'Live', icon: 'live' },
  { to: '/search', label: 'Search', icon: 'search' },
  { to: '/anomalies', label: 'Anomalies', icon: 'anomalies' },
  { to: '/alerts', label: 'Alerts', icon: 'alerts' },
  { to: '/reports', label: 'Reports', icon: 'reports' },
  { to: '/integrity', label: 'Integrity', icon: 'integrity' },
  { to: '/settings', label: 'Settings', icon: 'settings' },
];

function Icon({ name }: { name: string }) {
  return (
    <svg className="nav-icon" viewBox="0 0 20 20" width="18" height="18" aria-hidden="true" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round" fill="currentColor">
      {ICONS[name]}
    </svg>
  );
}

export function Logo() {
  return (
    <span className="logo">
      <svg viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
        <rect width="32" height="32" rx="7" className="logo-bg" />
        <path d="M8 9l8 15 8-15" fill="none" className="logo-mark" strokeWidth="3.2" strokeLinecap="round" strokeLinejoin="round" />
      </svg>
      <span className="logo-text">Veritrail</span>
    </span>
  );
}

function StreamIndicator() {
  const { status, detail } = useAppStream();
  const text =
    status === 'open' ? 'Live' : status === 'unavailable' ? 'No live stream' : status === 'stopped' ? 'Offline' : 'Connecting';
  return (
    <span className={`stream-pill stream-${status}`} title={detail ?? `Live stream: ${status}`}>
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

export function Shell() {
  const { state, signOut } = useSession();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const [lastPath, setLastPath] = useState(location.pathname);
  if (lastPath !== location.pathname) {
    setLastPath(location.pathname);
    setMenuOpen(false);
  }
  if (state.status !== 'signed-in') return null;
  const { session, mode } = state;
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className={`sidebar ${menuOpen ? 'open' : ''}`}>
        <div className="sidebar-top">
          <Logo />
          <button
            type="button"
            className="button ghost icon-button menu-button"
            aria-expanded={menuOpen}
            aria-controls="primary-nav"
            onClick={() => setMenuOpen((open) => !open)}
          >
            <svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round">
              <path d={menuOpen ? 'M5 5l10 10M15 5L5 15' : 'M3 6h14M3 10h14M3 14h14'} />
            </svg>
            <span className="visually-hidden">Menu</span>
          </button>
        </div>
        <nav id="primary-nav" aria-label="Main" className="nav">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <NavLink to={item.to} end={item.to === '/'} className={({ isActive }) => `nav-link ${isActive ? 'active' : ''}`}>
                  <Icon name={item.icon} />
                  <span>{item.label}</span>
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-footer">
          <StreamIndicator />
          <div className="who">
            <span className="who-name">{session.user.username}</span>
            <span className="who-meta">
              {session.user.tenant} · {session.role}
            </span>
          </div>
          <button type="button" className="button full" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </aside>
      <main id="main" className="main" tabIndex={-1}>
        {mode === 'dev-key' ? (
          <div className="dev-banner">
            <Notice tone="warning" title="Development mode">
              The server has no session endpoints yet; requests are authenticated by the development proxy&apos;s API key.
            </Notice>
          </div>
        ) : null}
        <Outlet />
      </main>
    </div>
  );
}
