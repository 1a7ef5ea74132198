import { useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import { useSession } from '../auth/session';
import { Logo } from '../components/Shell';
import { Notice } from '../components/ui';

function loginError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'invalid_credentials') return 'The tenant, username or password is not right.';
    if (error.code === 'rate_limited') {
      return `Too many attempts. Try again${error.retryAfter ? ` in ${error.retryAfter} seconds` : ' later'}.`;
    }
    if (error.endpointMissing) return 'Sign-in is not available on this server yet.';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

export default function SignIn({ notice }: { notice?: string }) {
  const { signIn } = useSession();
  const [tenant, setTenant] = useState(() => localStorage.getItem('veritrail.tenant') ?? 'default');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      localStorage.setItem('veritrail.tenant', tenant);
      await signIn(tenant.trim(), username.trim(), password);
    } catch (caught) {
      setError(loginError(caught));
      setPassword('');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin" id="main">
      <form className="signin-card" onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <Logo />
        <h1>Sign in</h1>
        <p className="muted">Tamper-evident audit trail</p>
        {notice && !error ? <Notice tone="info">{notice}</Notice> : null}
        {error ? (
          <div id="signin-error">
            <Notice tone="error">{error}</Notice>
          </div>
        ) : null}
        <label className="field">
          <span>Tenant</span>
          <input name="tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} autoComplete="organization" required pattern="[a-z0-9_\-]{1,64}" />
        </label>
        <label className="field">
          <span>Username</span>
          <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="username" required />
        </label>
        <label className="field">
          <span>Password</span>
          <input name="password" type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" required />
        </label>
        <button type="submit" className="button primary full" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
