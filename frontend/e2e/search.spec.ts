import { test, expect, signIn, navigate, sampleEvent, unique } from './fixtures';

test('a question about stored events gets an answer whose citation opens the event', async ({ page, admin }) => {
  // Three rotations of secrets in a vault only this test names.
  const vault = unique('ledger');
  const ids = new Set<string>();
  for (const n of [1, 2, 3]) {
    const receipt = await admin.postEvent(
      sampleEvent('vault.secret.rotate', {
        actor: { id: 'carol@example.com', type: 'user', name: 'Carol' },
        resource: { type: 'secret', id: `${vault}-${n}`, name: vault },
      }),
    );
    ids.add(receipt.id);
  }
  await admin.runJob('checkpoint');
  // Indexing runs off the ingest path (every 5 s); run it now rather than wait.
  const index = await admin.runJob('embed-backfill');
  expect(index.outcome).toBe('success');

  await signIn(page);
  await navigate(page, 'Search');
  await page.getByLabel('Ask a question').fill(`who rotated secrets in ${vault}`);
  const started = Date.now();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const answer = page.locator('.answer');
  await expect(answer.locator('.answer-text')).toContainText('matching events', { timeout: 30_000 });
  console.log(`search answered in ${Date.now() - started} ms: ${await answer.locator('.answer-text').textContent()}`);
  // The vault named only by this test's events is the best match.
  await expect(answer.locator('.answer-text')).toContainText(`Best match: Carol (user) called vault secret rotate on secret ${vault}`);

  const citations = answer.getByRole('list').first().getByRole('button');
  await expect(citations.first()).toBeVisible();
  // Every citation of this answer is one of the events stored above.
  const cited = await answer.locator('.citations li').count();
  expect(cited).toBeGreaterThan(0);
  const first = citations.first();
  await expect(first).toHaveText(/^\[1\] vault\.secret\.rotate$/);
  await first.click();
  const drawer = page.getByRole('dialog', { name: 'vault.secret.rotate' });
  await expect(drawer).toBeVisible();
  const eventId = (await drawer.locator('dt:text-is("Event id") + dd').textContent())?.trim() ?? '';
  expect([...ids]).toContain(eventId);
  await expect(drawer.locator('dt:text-is("Resource") + dd')).toContainText(vault);
  await expect(drawer.locator('.verify-title .badge')).toHaveText('Verified', { timeout: 15_000 });
});
