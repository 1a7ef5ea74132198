import { StrictMode, Suspense, lazy } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Route, Routes } from 'react-router';
import { ApiError } from './api/client';
import { SessionProvider, useSession } from './auth/session';
import { StreamProvider } from './stream/StreamProvider';
import { Shell } from './components/Shell';
import { Spinner } from './components/ui';
import SignIn from './pages/SignIn';
import './styles.css';

const chunks = {
  overview: () => import('./pages/Overview'),
  live: () => import('./pages/Live'),
  search: () => import('./pages/Search'),
  anomalies: () => import('./pages/Anomalies'),
  alerts: () => import('./pages/Alerts'),
  reports: () => import('./pages/Reports'),
  integrity: () => import('./pages/Integrity'),
  settings: () => import('./pages/Settings'),
};
const Overview = lazy(chunks.overview);
const Live = lazy(chunks.live);
const Search = lazy(chunks.search);
const Anomalies = lazy(chunks.anomalies);
const Alerts = lazy(chunks.alerts);
const Reports = lazy(chunks.reports);
const Integrity = lazy(chunks.integrity);
const Settings = lazy(chunks.settings);
const NotFound = lazy(() => import('./pages/NotFound'));

// The page the browser opened starts loading now, alongside the session check, rather than
// after it: on a cold load that takes one round of requests off the time to a usable page. (A
// signed-out visitor fetches one chunk it does not use yet; the module cache keeps it.)
const firstPage = window.location.pathname.split('/')[1] || 'overview';
if (firstPage in chunks) chunks[firstPage as keyof typeof chunks]().catch(() => undefined);

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 15_000,
      refetchOnWindowFocus: false,
      retry: (count, error) => {
        // Client errors (including endpoints the server does not have yet) are not retried.
        if (error instanceof ApiError && error.status >= 400 && error.status < 500) return false;
        return count < 2;
      },
    },
  },
});

function App() {
  const { state } = useSession();
  if (state.status === 'loading') {
    return (
      <div className="boot">
        <Spinner label="Loading Veritrail" />
      </div>
    );
  }
  if (state.status === 'signed-out') return <SignIn notice={state.notice} />;
  const page = (element: React.ReactNode) => <Suspense fallback={<Spinner label="Loading page" />}>{element}</Suspense>;
  return (
    <StreamProvider enabled>
      <Routes>
        <Route element={<Shell />}>
          <Route index element={page(<Overview />)} />
          <Route path="live" element={page(<Live />)} />
          <Route path="search" element={page(<Search />)} />
          <Route path="anomalies" element={page(<Anomalies />)} />
          <Route path="anomalies/:id" element={page(<Anomalies />)} />
          <Route path="alerts" element={page(<Alerts />)} />
          <Route path="reports" element={page(<Reports />)} />
          <Route path="integrity" element={page(<Integrity />)} />
          <Route path="settings" element={page(<Settings />)} />
          <Route path="*" element={page(<NotFound />)} />
        </Route>
      </Routes>
    </StreamProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <BrowserRouter>
        <SessionProvider>
          <App />
        </SessionProvider>
      </BrowserRouter>
    </QueryClientProvider>
  </StrictMode>,
);
