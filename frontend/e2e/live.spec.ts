import { test, expect, signIn, navigate, sampleEvent, unique } from './fixtures';

test('an event POSTed with the key appears on the Live page within 1 second', async ({ page, admin }) => {
  await signIn(page);
  await navigate(page, 'Live');
  await expect(page.getByRole('status').filter({ hasText: 'Streaming' })).toBeVisible();

  const action = `${unique('e2e.live.')}.create`;
  // The browser notes the moment the row is in the DOM; both clocks are this machine's.
  await page.evaluate((wanted) => {
    const w = window as unknown as { __seenAt?: number };
    const table = document.querySelector('[aria-label="Live events"]');
    if (!table) throw new Error('no Live events table');
    new MutationObserver((_, observer) => {
      if (w.__seenAt === undefined && table.textContent?.includes(wanted)) {
        w.__seenAt = Date.now();
        observer.disconnect();
      }
    }).observe(table, { childList: true, subtree: true, characterData: true });
  }, action);

  const sent = Date.now();
  const receipt = await admin.postEvent(sampleEvent(action));
  const acknowledged = Date.now();
  const seenAt = await page.waitForFunction(() => (window as unknown as { __seenAt?: number }).__seenAt, undefined, { timeout: 5_000 });
  const latency = Number(await seenAt.jsonValue()) - sent;
  console.log(`live latency: ${latency} ms from POST to row (POST answered in ${acknowledged - sent} ms)`);
  test.info().annotations.push({ type: 'live latency (ms)', description: String(latency) });

  const row = page.getByRole('row').filter({ has: page.getByRole('button', { name: action }) });
  await expect(row).toHaveCount(1);
  await expect(row.getByRole('cell').first()).toHaveText(String(receipt.seq));
  await expect(page.locator('.live-meta')).toContainText('arrived live');
  expect(latency).toBeLessThan(1000);
});
