import type { Page } from '@playwright/test';
import { test, expect, signIn, navigate, expectNoSeriousAxeViolations, watchConsole } from './fixtures';

// axe-core on every page (and the dialogs people open most), at desktop and phone widths:
// no serious or critical violations.
const PAGES: { link: string; open?: (page: Page) => Promise<void> }[] = [
  { link: 'Overview' },
  {
    link: 'Live',
    open: async (page) => {
      await expect(page.getByRole('status').filter({ hasText: 'Streaming' })).toBeVisible();
    },
  },
  {
    link: 'Search',
    open: async (page) => {
      await page.getByLabel('Ask a question').fill('denied attempts to assume a role');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await expect(page.locator('.answer-text')).toBeVisible({ timeout: 30_000 });
    },
  },
  {
    link: 'Anomalies',
    open: async (page) => {
      await page.locator('.inbox-list a').first().click();
      await expect(page.locator('.narrative')).toBeVisible();
    },
  },
  { link: 'Alerts' },
  { link: 'Reports' },
  {
    link: 'Integrity',
    open: async (page) => {
      await expect(page.locator('.checkpoint-verdict .badge:not(.verify-pending)')).toBeVisible({ timeout: 15_000 });
    },
  },
  { link: 'Settings' },
];

for (const size of [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
]) {
  test.describe(size.name, () => {
    test.use({ viewport: { width: size.width, height: size.height } });

    test(`sign-in page has no serious axe violations (${size.name})`, async ({ page }) => {
      await page.goto('/');
      await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
      await expectNoSeriousAxeViolations(page, 'sign-in');
      // And with its error showing.
      await page.getByLabel('Username').fill('nobody');
      await page.getByLabel('Password').fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect(page.getByRole('alert')).toBeVisible();
      await expectNoSeriousAxeViolations(page, 'sign-in with error');
    });

    test(`every page has no serious axe violations (${size.name})`, async ({ page }) => {
      test.setTimeout(120_000);
      await signIn(page);
      const problems = watchConsole(page);
      for (const spec of PAGES) {
        await navigate(page, spec.link);
        await page.waitForLoadState('networkidle');
        if (spec.open) await spec.open(page);
        await expectNoSeriousAxeViolations(page, spec.link);
      }
      // The event drawer, from Live.
      await navigate(page, 'Live');
      await page.locator('.vrow .link-button').first().click();
      await expect(page.locator('.verify-box .badge:not(.verify-pending)')).toBeVisible({ timeout: 15_000 });
      await expectNoSeriousAxeViolations(page, 'event drawer');
      // The endpoints that do not exist yet (/api/v1/stats, exports) answer 404; nothing else may fail.
      const unexpected = problems.filter((text) => !/status of 404|Unexpected response code: 404/.test(text));
      expect(unexpected).toEqual([]);
    });
  });
}
