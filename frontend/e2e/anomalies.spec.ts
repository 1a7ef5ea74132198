import { test, expect, signIn, navigate, unique } from './fixtures';

test('feedback on an anomaly persists across a reload', async ({ page }) => {
  await signIn(page);
  await navigate(page, 'Anomalies');
  const first = page.locator('.inbox-list a').first();
  await expect(first).toBeVisible();
  await first.click();
  await expect(page).toHaveURL(/\/anomalies\/[^/]+$/);
  const id = new URL(page.url()).pathname.split('/').pop()!;
  const detail = page.getByRole('article');
  await expect(detail.locator('.narrative')).not.toBeEmpty();

  const note = unique('checked by the browser test ');
  await detail.getByLabel('Note (optional)').fill(note);
  const saved = page.waitForResponse((r) => /\/api\/v1\/anomalies\/[^/]+\/feedback$/.test(r.url()));
  await detail.getByRole('button', { name: 'Acknowledge' }).click();
  expect((await saved).status()).toBe(200);
  await expect(detail.getByRole('button', { name: 'Acknowledge' })).toHaveAttribute('aria-pressed', 'true');

  await page.reload();
  const again = page.getByRole('article');
  await expect(again.getByRole('button', { name: 'Acknowledge' })).toHaveAttribute('aria-pressed', 'true');
  await expect(again.getByRole('button', { name: 'True positive' })).toHaveAttribute('aria-pressed', 'false');
  await expect(again.locator('.history')).toContainText(note);
  await expect(again.locator('.anomaly-head')).toContainText('acknowledged');

  // It left the open inbox and shows under Acknowledged (the inbox stands beside the detail at this width).
  const inbox = page.getByRole('region', { name: 'Anomaly inbox' });
  await expect(inbox.getByLabel('Status')).toHaveValue('open');
  await expect(inbox.locator('.spinner-row')).toHaveCount(0);
  await expect(inbox.locator(`a[href="/anomalies/${id}"]`)).toHaveCount(0);
  await inbox.getByLabel('Status').selectOption('acknowledged');
  await expect(inbox.locator(`a[href="/anomalies/${id}"]`)).toHaveCount(1);
});
