import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { ApiKey, Role, User } from '../api/types';
import { useSession } from '../auth/session';
import { CopyButton } from '../components/CopyButton';
import { Dialog } from '../components/Dialog';
import { Card, Empty, ErrorNotice, Notice, PageHeader, Spinner, Time } from '../components/ui';

const ROLES: { id: Role; text: string }[] = [
  { id: 'viewer', text: 'read' },
  { id: 'analyst', text: 'read, search, anomaly feedback, export' },
  { id: 'auditor', text: 'read, verify, export, proofs' },
  { id: 'admin', text: 'everything' },
];
const SCOPES = ['ingest', 'read', 'triage', 'admin'];

function Users() {
  const queryClient = useQueryClient();
  const { state } = useSession();
  const me = state.status === 'signed-in' ? state.session.user.id : null;
  const [form, setForm] = useState({ username: '', role: 'viewer' as Role, password: '' });
  const [confirm, setConfirm] = useState<User | null>(null);
  const users = useQuery({
    queryKey: ['users'],
    queryFn: ({ signal }) => api<{ users: User[] }>('/api/v1/users', { signal }),
  });
  const create = useMutation({
    mutationFn: () => api<User>('/api/v1/users', { method: 'POST', body: form }),
    onSuccess: () => {
      setForm({ username: '', role: 'viewer', password: '' });
      void queryClient.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const disable = useMutation({
    mutationFn: (id: string) => api<User>(`/api/v1/users/${encodeURIComponent(id)}/disable`, { method: 'POST' }),
    onSuccess: () => {
      setConfirm(null);
      void queryClient.invalidateQueries({ queryKey: ['users'] });
    },
  });
  function submit(event: FormEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <Card title="Users">
      {users.isPending ? (
        <Spinner />
      ) : users.isError ? (
        <ErrorNotice error={users.error} what="Users" />
      ) : users.data.users.length === 0 ? (
        <Empty>No users.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">Users of this tenant</caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Role</th>
                <th scope="col" className="hide-sm">Created</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((user) => (
                <tr key={user.id}>
                  <td>{user.username}</td>
                  <td>{user.role}</td>
                  <td className="hide-sm">
                    <Time iso={user.created_at} />
                  </td>
                  <td>{user.disabled ? <span className="badge status-dead">disabled</span> : <span className="badge status-delivered">active</span>}</td>
                  <td className="row-actions">
                    {!user.disabled && user.id !== me ? (
                      <button type="button" className="button small danger" onClick={() => setConfirm(user)}>
                        Disable
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {users.isError ? null : (
        <form className="form inline-form" onSubmit={submit} aria-label="Add a user">
          <h3 className="subhead">Add a user</h3>
          <div className="form-row">
            <label className="field">
              <span>Username</span>
              <input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required autoComplete="off" />
            </label>
            <label className="field">
              <span>Role</span>
              <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
                {ROLES.map((role) => (
                  <option key={role.id} value={role.id}>
                    {role.id} — {role.text}
                  </option>
                ))}
              </select>
            </label>
            <label className="field">
              <span>Initial password</span>
              <input type="password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required minLength={12} autoComplete="new-password" />
            </label>
          </div>
          {create.isError ? <ErrorNotice error={create.error} what="The user" /> : null}
          <button type="submit" className="button primary" disabled={create.isPending}>
            Add user
          </button>
        </form>
      )}
      <Dialog
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Disable user?"
        footer={
          <>
            <button type="button" className="button ghost" onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button type="button" className="button danger" disabled={disable.isPending} onClick={() => confirm && disable.mutate(confirm.id)}>
              Disable user
            </button>
          </>
        }
      >
        <p>
          <strong>{confirm?.username}</strong> can no longer sign in. Their past actions stay in the log.
        </p>
        {disable.isError ? <ErrorNotice error={disable.error} what="Disable" /> : null}
      </Dialog>
    </Card>
  );
}

function Keys() {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['ingest']);
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [confirm, setConfirm] = useState<ApiKey | null>(null);
  const keys = useQuery({
    queryKey: ['keys'],
    queryFn: ({ signal }) => api<{ keys: ApiKey[] }>('/api/v1/keys', { signal }),
  });
  const create = useMutation({
    mutationFn: () => api<{ key: ApiKey; secret: string }>('/api/v1/keys', { method: 'POST', body: { name: name.trim(), scopes } }),
    onSuccess: (result) => {
      setSecret({ name: result.key.name ?? result.key.id, secret: result.secret });
      setName('');
      void queryClient.invalidateQueries({ queryKey: ['keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api(`/api/v1/keys/${encodeURIComponent(id)}`, { method: 'DELETE' }),
    onSuccess: () => {
      setConfirm(null);
      void queryClient.invalidateQueries({ queryKey: ['keys'] });
    },
  });
  return (
    <Card title="API keys">
      <p className="muted small">Keys let applications send events (ingest) and tools such as the witness read the log.</p>
      {keys.isPending ? (
        <Spinner />
      ) : keys.isError ? (
        <ErrorNotice error={keys.error} what="API keys" />
      ) : keys.data.keys.length === 0 ? (
        <Empty>No keys.</Empty>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">API keys of this tenant</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Scopes</th>
                <th scope="col" className="hide-sm">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.keys.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.name ?? <span className="muted mono">{key.id}</span>}
                    <div className="muted small">
                      created <Time iso={key.created_at} />
                    </div>
                  </td>
                  <td>{key.scopes.join(', ')}</td>
                  <td className="hide-sm">
                    <Time iso={key.last_used_at} relative />
                  </td>
                  <td>
                    {key.revoked_at ? (
                      <span className="badge status-dead">revoked</span>
                    ) : key.expires_at && new Date(key.expires_at) < new Date() ? (
                      <span className="badge status-pending">expired</span>
                    ) : (
                      <span className="badge status-delivered">active</span>
                    )}
                  </td>
                  <td className="row-actions">
                    {!key.revoked_at ? (
                      <button type="button" className="button small danger" onClick={() => setConfirm(key)}>
                        Revoke
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {keys.isError ? null : (
        <form
          className="form inline-form"
          aria-label="Create an API key"
          onSubmit={(event) => {
            event.preventDefault();
            create.mutate();
          }}
        >
          <h3 className="subhead">Create a key</h3>
          <div className="form-row">
            <label className="field">
              <span>Name</span>
              <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="billing-service" />
            </label>
            <fieldset className="fieldset inline">
              <legend>Scopes</legend>
              {SCOPES.map((scope) => (
                <label key={scope} className="check">
                  <input
                    type="checkbox"
                    checked={scopes.includes(scope)}
                    onChange={(e) => setScopes(e.target.checked ? [...scopes, scope] : scopes.filter((s) => s !== scope))}
                  />
                  <span>{scope}</span>
                </label>
              ))}
            </fieldset>
          </div>
          {create.isError ? <ErrorNotice error={create.error} what="The key" /> : null}
          <button type="submit" className="button primary" disabled={create.isPending || scopes.length === 0}>
            Create key
          </button>
        </form>
      )}
      <Dialog
        open={secret !== null}
        onClose={() => setSecret(null)}
        title="Copy the new key now"
        footer={
          <button type="button" className="button primary" onClick={() => setSecret(null)}>
            I have stored it
          </button>
        }
      >
        <Notice tone="warning">This is the only time the secret of “{secret?.name}” is shown.</Notice>
        <div className="secret-box">
          <code className="mono break">{secret?.secret}</code>
          {secret ? <CopyButton text={secret.secret} /> : null}
        </div>
      </Dialog>
      <Dialog
        open={confirm !== null}
        onClose={() => setConfirm(null)}
        title="Revoke key?"
        footer={
          <>
            <button type="button" className="button ghost" onClick={() => setConfirm(null)}>
              Cancel
            </button>
            <button type="button" className="button danger" disabled={revoke.isPending} onClick={() => confirm && revoke.mutate(confirm.id)}>
              Revoke key
            </button>
          </>
        }
      >
        <p>Applications using “{confirm?.name ?? confirm?.id}” are refused from now on.</p>
        {revoke.isError ? <ErrorNotice error={revoke.error} what="Revoke" /> : null}
      </Dialog>
    </Card>
  );
}

export default function Settings() {
  const { can, state } = useSession();
  const session = state.status === 'signed-in' ? state.session : null;
  return (
    <div className="page">
      <PageHeader title="Settings" description="Who may use this tenant, and the keys applications use." />
      {session ? (
        <Card title="You">
          <dl className="fields compact">
            <dt>Username</dt>
            <dd>{session.user.username}</dd>
            <dt>Tenant</dt>
            <dd className="mono">{session.user.tenant}</dd>
            <dt>Role</dt>
            <dd>
              {session.role} — {ROLES.find((r) => r.id === session.role)?.text}
            </dd>
          </dl>
        </Card>
      ) : null}
      {can('manage-users') ? (
        <div className="grid-2">
          <Users />
          <Keys />
        </div>
      ) : (
        <Notice tone="info">Users and API keys are managed by admins.</Notice>
      )}
    </div>
  );
}
