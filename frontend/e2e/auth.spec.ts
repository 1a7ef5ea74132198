import { test, expect, signIn, navigate, env, unique, TENANT, ADMIN } from './fixtures';

test('an admin signs in, sees the admin controls, and signs out', async ({ page }) => {
  await signIn(page);
  const sidebar = page.locator('.sidebar-footer');
  await expect(sidebar).toContainText(ADMIN);
  await expect(sidebar).toContainText(`${TENANT} · admin`);
  for (const link of ['Overview', 'Live', 'Search', 'Anomalies', 'Alerts', 'Reports', 'Integrity', 'Settings']) {
    await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true })).toBeVisible();
  }

  // The controls a viewer must not see are there for an admin (so their absence below means something).
  await navigate(page, 'Settings');
  await expect(page.getByRole('form', { name: 'Add a user' })).toBeVisible();
  await expect(page.getByRole('form', { name: 'Create an API key' })).toBeVisible();
  await navigate(page, 'Alerts');
  await page.getByRole('tab', { name: 'Channels' }).click();
  await expect(page.getByRole('button', { name: 'New channel' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByText('You signed out.')).toBeVisible();
  // The session is gone on the server too, and a protected page leads back to sign-in.
  const me = await page.evaluate(() => fetch('/api/v1/auth/me').then((r) => r.status));
  expect(me).toBe(401);
  await page.goto('/settings');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Settings' })).toHaveCount(0);
});

test('a wrong password shows an error and stays on sign-in', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Tenant').fill(TENANT);
  await page.getByLabel('Username').fill(ADMIN);
  await page.getByLabel('Password').fill(`${env.password}-wrong`);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  expect((await answer).status()).toBe(401);
  await expect(page.getByRole('alert')).toHaveText('The tenant, username or password is not right.');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await expect(page.getByLabel('Password')).toHaveValue('');
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  const me = await page.evaluate(() => fetch('/api/v1/auth/me').then((r) => r.status));
  expect(me).toBe(401);
});

test('a viewer sees no admin controls and its session is refused admin calls', async ({ page, admin }) => {
  const username = unique('viewer-');
  const password = unique('viewer-password-');
  await admin.createUser(username, 'viewer', password);
  await signIn(page, username, password);
  await expect(page.locator('.sidebar-footer')).toContainText(`${TENANT} · viewer`);

  await navigate(page, 'Settings');
  await expect(page.getByText('Users and API keys are managed by admins.')).toBeVisible();
  await expect(page.getByRole('form', { name: 'Add a user' })).toHaveCount(0);
  await expect(page.getByRole('form', { name: 'Create an API key' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Add user' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Create key' })).toHaveCount(0);

  await navigate(page, 'Alerts');
  await page.getByRole('tab', { name: 'Channels' }).click();
  await expect(page.getByRole('tabpanel')).toBeVisible();
  await expect(page.getByRole('button', { name: 'New channel' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Send test' })).toHaveCount(0);
  await page.getByRole('tab', { name: 'Rules' }).click();
  await expect(page.getByRole('button', { name: 'New rule' })).toHaveCount(0);

  // Straight at the API with the viewer's own session cookie and CSRF token: refused.
  const calls = await page.evaluate(async () => {
    const me = (await fetch('/api/v1/auth/me').then((r) => r.json())) as { csrf_token: string; role: string };
    const headers = { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token };
    const createUser = await fetch('/api/v1/users', {
      method: 'POST',
      headers,
      body: JSON.stringify({ username: 'promoted-by-viewer', role: 'admin', password: 'a-long-enough-password' }),
    });
    const listUsers = await fetch('/api/v1/users');
    const channel = await fetch('/api/v1/alerts/channels', {
      method: 'POST',
      headers,
      body: JSON.stringify({ kind: 'slack', name: 'viewer-channel', config: { url: 'https://hooks.slack.com/services/T/B/C' } }),
    });
    const job = await fetch('/api/v1/admin/jobs/checkpoint/run', { method: 'POST', headers, body: '{}' });
    return {
      role: me.role,
      createUser: [createUser.status, ((await createUser.json()) as { error?: { code?: string } }).error?.code],
      listUsers: listUsers.status,
      channel: channel.status,
      job: job.status,
    };
  });
  expect(calls).toEqual({ role: 'viewer', createUser: [403, 'forbidden'], listUsers: 403, channel: 403, job: 403 });
  // Nothing was created behind the refusal.
  const users = await admin.json<{ users: { username: string }[] }>('GET', '/api/v1/users');
  expect(users.users.map((u) => u.username)).not.toContain('promoted-by-viewer');
});
