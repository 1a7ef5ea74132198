import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api, onUnauthorized, setCsrfToken } from '../api/client';
import type { Role, SessionInfo } from '../api/types';
import { can, type Permission } from './roles';

export type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; notice?: string }
  | { status: 'signed-in'; session: SessionInfo; mode: 'session' | 'dev-key' };

interface SessionApi {
  state: SessionState;
  role: Role | undefined;
  can: (permission: Permission) => boolean;
  signIn: (tenant: string, username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionApi | null>(null);

async function loadSession(): Promise<SessionState> {
  try {
    const session = await api<SessionInfo>('/api/v1/auth/me', { allowUnauthorized: true });
    setCsrfToken(session.csrf_token);
    return { status: 'signed-in', session, mode: 'session' };
  } catch (error) {
    if (error instanceof ApiError && error.endpointMissing) {
      // Before the session endpoints exist, the development proxy may
      // authenticate with an API key. Only in development, and only when the
      // server actually answers an authenticated call.
      if (import.meta.env.DEV) {
        try {
          const key = await api<{ origin: string }>('/api/v1/log/key', { allowUnauthorized: true });
          const tenant = key.origin.split('/').pop() ?? 'default';
          return {
            status: 'signed-in',
            mode: 'dev-key',
            session: {
              user: { id: 'dev-key', tenant, username: 'development key', role: 'admin' },
              role: 'admin',
              csrf_token: '',
            },
          };
        } catch {
          // fall through
        }
      }
      return { status: 'signed-out', notice: 'Sign-in is not available on this server yet (/api/v1/auth/me is missing).' };
    }
    if (error instanceof ApiError && error.status === 401) return { status: 'signed-out' };
    return { status: 'signed-out', notice: error instanceof Error ? error.message : String(error) };
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });
  const queryClient = useQueryClient();

  useEffect(() => {
    let live = true;
    loadSession().then((next) => live && setState(next));
    return () => {
      live = false;
    };
  }, []);

  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrfToken(null);
        queryClient.clear();
        setState((current) =>
          current.status === 'signed-in' ? { status: 'signed-out', notice: 'Your session ended. Sign in again.' } : current,
        );
      }),
    [queryClient],
  );

  const signIn = useCallback(async (tenant: string, username: string, password: string) => {
    const session = await api<SessionInfo>('/api/v1/auth/login', {
      method: 'POST',
      body: { tenant, username, password },
      allowUnauthorized: true,
    });
    setCsrfToken(session.csrf_token);
    setState({ status: 'signed-in', session, mode: 'session' });
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api('/api/v1/auth/logout', { method: 'POST', allowUnauthorized: true });
    } catch {
      // Signing out locally is what matters; the cookie expires anyway.
    }
    setCsrfToken(null);
    queryClient.clear();
    setState({ status: 'signed-out', notice: 'You signed out.' });
  }, [queryClient]);

  const value = useMemo<SessionApi>(() => {
    const role = state.status === 'signed-in' ? state.session.role : undefined;
    return { state, role, can: (permission) => can(role, permission), signIn, signOut };
  }, [state, signIn, signOut]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}
