import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, expect, signIn, navigate, unique } from './fixtures';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

test('a Slack channel created in the Alerts page and tested reaches a local receiver', async ({ page }) => {
  const received: Received[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  try {
    const name = unique('#e2e-slack-');
    const hookPath = `/services/T000/B000/${unique('')}`;
    await signIn(page);
    await navigate(page, 'Alerts');
    await page.getByRole('tab', { name: 'Channels' }).click();
    await page.getByRole('button', { name: 'New channel' }).click();
    const dialog = page.getByRole('dialog', { name: 'New channel' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByLabel('Kind')).toHaveValue('slack');
    await dialog.getByLabel('Name').fill(name);
    await dialog.getByLabel('Incoming webhook URL').fill(`http://127.0.0.1:${port}${hookPath}`);
    await dialog.getByRole('button', { name: 'Create channel' }).click();
    await expect(dialog).toBeHidden();

    const card = page.locator('.row-card').filter({ hasText: name });
    await expect(card).toHaveCount(1);
    await expect(card).toContainText('slack');
    // The secret URL is never shown back, only its scheme and host.
    await expect(card).not.toContainText(hookPath);
    expect(received).toHaveLength(0);

    const started = Date.now();
    await card.getByRole('button', { name: 'Send test' }).click();
    await expect(card.getByRole('status')).toHaveText('Test message delivered.', { timeout: 20_000 });
    console.log(`slack test delivered in ${Date.now() - started} ms`);

    expect(received).toHaveLength(1);
    const hit = received[0]!;
    expect(hit.method).toBe('POST');
    expect(hit.url).toBe(hookPath);
    expect(hit.headers['content-type']).toMatch(/^application\/json/);
    const payload = JSON.parse(hit.body) as { text?: string; blocks?: unknown[] };
    expect(typeof payload.text).toBe('string');
    expect(Array.isArray(payload.blocks) && payload.blocks.length > 0, `Block Kit blocks in ${hit.body}`).toBe(true);

    // The delivery is recorded as delivered.
    await page.getByRole('tab', { name: 'Deliveries' }).click();
    const delivery = page.getByRole('row').filter({ hasText: name });
    await expect(delivery.first()).toContainText('delivered');
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
