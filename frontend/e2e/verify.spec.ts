import type { Page, Route } from '@playwright/test';
import { test, expect, signIn, navigate, sampleEvent, unique, type AdminApi, type Receipt } from './fixtures';

async function storeCheckpointed(admin: AdminApi): Promise<{ action: string; receipt: Receipt }> {
  // A few events, so the tree is big enough for the inclusion proof to have hashes.
  const action = `${unique('e2e.verify.')}.delete`;
  const receipt = await admin.postEvent(sampleEvent(action, { severity: 'high' }));
  for (let i = 0; i < 3; i++) await admin.postEvent(sampleEvent(`${unique('e2e.verify.')}.filler`));
  const run = await admin.runJob('checkpoint');
  expect(run.outcome).toBe('success');
  return { action, receipt };
}

async function openInLive(page: Page, action: string) {
  await navigate(page, 'Live');
  await page.getByRole('button', { name: action }).click();
  const drawer = page.getByRole('dialog', { name: action });
  await expect(drawer).toBeVisible();
  return drawer;
}

/** The badge's background, as [r, g, b]. */
async function badgeColour(page: Page): Promise<number[]> {
  const colour = await page.locator('.verify-box .verify-title .badge').evaluate((el) => getComputedStyle(el).backgroundColor);
  return (colour.match(/\d+/g) ?? []).slice(0, 3).map(Number);
}

test('the Verified badge is green for a real event with a checkpoint', async ({ page, admin }) => {
  const { action, receipt } = await storeCheckpointed(admin);
  await signIn(page);
  const drawer = await openInLive(page, action);
  await expect(drawer.locator('dt:text-is("Event id") + dd')).toHaveText(receipt.id);
  const badge = drawer.locator('.verify-title .badge');
  await expect(badge).toHaveText('Verified', { timeout: 15_000 });
  await expect(badge).toHaveClass(/verify-ok/);
  const [r, g] = await badgeColour(page);
  expect(g!, 'the badge is green').toBeGreaterThan(r! + 60);
  await expect(drawer.locator('.verify-steps .step-bad')).toHaveCount(0);
});

test('the Verified badge turns red when a proof hash is tampered with', async ({ page, admin }) => {
  const { action, receipt } = await storeCheckpointed(admin);
  let tampered: string | null = null;
  await page.route(`**/api/v1/events/${receipt.id}?proof=true`, async (route: Route) => {
    const response = await route.fetch();
    const body = (await response.json()) as { proof: { hashes: string[] } | null };
    const hashes = body.proof?.hashes ?? [];
    if (hashes.length === 0) throw new Error(`no proof hashes to tamper with: ${JSON.stringify(body.proof)}`);
    const hash = hashes[0]!;
    // Flip one byte (its low bit) of the first proof hash.
    const byte = parseInt(hash.slice(0, 2), 16) ^ 0x01;
    hashes[0] = byte.toString(16).padStart(2, '0') + hash.slice(2);
    tampered = `${hash} -> ${hashes[0]}`;
    await route.fulfill({ response, json: body });
  });
  await signIn(page);
  const drawer = await openInLive(page, action);
  const badge = drawer.locator('.verify-title .badge');
  await expect(badge).toHaveText('Not verified', { timeout: 15_000 });
  expect(tampered).not.toBeNull();
  await expect(badge).toHaveClass(/verify-bad/);
  const [r, g] = await badgeColour(page);
  expect(r!, 'the badge is red').toBeGreaterThan(g! + 60);
  await expect(drawer.locator('.verify-steps .step-bad')).not.toHaveCount(0);
  console.log(`tampered proof hash ${tampered}; failed: ${await drawer.locator('.verify-title .muted').textContent()}`);
});
