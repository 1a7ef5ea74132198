import { readFileSync } from 'node:fs';
import { test, expect, signIn, navigate, unique, sampleEvent, TENANT } from './fixtures';

test('an activity PDF report requested in the Reports page turns done and downloads as a PDF', async ({ page, admin }) => {
  test.setTimeout(120_000);
  // At least one event in the period, so the report has rows.
  await admin.postEvent(sampleEvent(unique('e2e.report.')));
  await signIn(page);
  await navigate(page, 'Reports');

  const form = page.getByRole('form', { name: 'Create a report' });
  await expect(form.getByLabel('Kind')).toHaveValue('activity');
  await expect(form.getByLabel('Format')).toHaveValue('pdf');
  // The period defaults to the last 7 days.
  const since = new Date(await form.getByLabel('From').inputValue());
  const until = new Date(await form.getByLabel('Until').inputValue());
  expect(Math.round((until.getTime() - since.getTime()) / 86_400_000)).toBe(7);
  // The subject field only shows for a subject report.
  await expect(form.getByLabel('Subject actor id')).toHaveCount(0);
  await form.getByLabel('Kind').selectOption('subject');
  await expect(form.getByLabel('Subject actor id')).toBeVisible();
  await form.getByLabel('Kind').selectOption('activity');

  const created = page.waitForResponse((r) => r.url().endsWith('/api/v1/reports') && r.request().method() === 'POST');
  await form.getByRole('button', { name: 'Create report' }).click();
  const response = await created;
  expect(response.status()).toBe(202);
  const report = (await response.json()) as { id: string; status: string };
  expect(report.status).toBe('pending');

  // The list polls until the worker has made it; no reload.
  const item = page.locator('.report-item').filter({ hasText: report.id });
  await expect(item).toHaveCount(1);
  await expect(item.locator('.badge.status-done')).toBeVisible({ timeout: 90_000 });
  await expect(item).toContainText('Activity');
  await expect(item).toContainText('PDF');
  await expect(item).toContainText(/\d+ pages/);
  await expect(item.getByRole('link', { name: /^Evidence/ })).toHaveAttribute('href', `/api/v1/reports/${report.id}/evidence`);

  const download = page.waitForEvent('download');
  await item.getByRole('link', { name: /^Download/ }).click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(new RegExp(`^veritrail-activity-${TENANT}-\\d{8}\\.pdf$`));
  const saved = await file.path();
  const bytes = readFileSync(saved);
  expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
});

test('a viewer does not see the Create report form', async ({ page, admin }) => {
  const username = unique('viewer-');
  const password = unique('viewer-password-');
  await admin.createUser(username, 'viewer', password);
  await signIn(page, username, password);
  await navigate(page, 'Reports');
  await expect(page.getByText('Not available for your role')).toBeVisible();
  await expect(page.getByRole('form', { name: 'Create a report' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Create report' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'New schedule' })).toHaveCount(0);
});

test('a schedule created in the Reports page runs now and is deleted', async ({ page, admin }) => {
  test.setTimeout(120_000);
  // An e-mail channel to a port nobody listens on: the run is made and recorded, its sending fails.
  const channelName = unique('e2e-mail-');
  await admin.json('POST', '/api/v1/alerts/channels', {
    kind: 'email',
    name: channelName,
    config: { smtp_host: '127.0.0.1', smtp_port: 9, from: 'veritrail@example.com', to: ['audit@example.com'], tls: 'none' },
  });
  const name = unique('Weekly activity ');
  await signIn(page);
  await navigate(page, 'Reports');
  await page.getByRole('button', { name: 'New schedule' }).click();
  const dialog = page.getByRole('dialog', { name: 'New schedule' });
  await dialog.getByLabel('Name').fill(name);
  await expect(dialog.getByLabel('Cron (six fields, seconds first)')).toHaveValue('0 0 6 * * *');
  await dialog.getByLabel('Period').selectOption('P7D');
  await dialog.getByRole('checkbox', { name: channelName }).check();
  await dialog.getByRole('button', { name: 'Create schedule' }).click();
  await expect(dialog).toBeHidden();

  const schedule = page.getByRole('list', { name: 'Schedules' }).getByRole('listitem').filter({ hasText: name });
  await expect(schedule).toContainText(channelName);
  await expect(schedule).toContainText('Last 7 days');
  await schedule.getByRole('button', { name: /^Run now/ }).click();
  await expect(schedule.getByRole('status')).toHaveText(/^(Report sent\.|Not sent: .+)$/, { timeout: 60_000 });

  await schedule.getByRole('button', { name: /^Delete/ }).click();
  await page.getByRole('dialog', { name: 'Delete schedule?' }).getByRole('button', { name: 'Delete schedule' }).click();
  await expect(schedule).toHaveCount(0);
});
