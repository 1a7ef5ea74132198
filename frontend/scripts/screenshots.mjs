// Screenshots of every page at desktop and phone sizes, for visual review.
//   BASE_URL=http://127.0.0.1:5173 CHROMIUM=/usr/bin/chromium OUT=shots node scripts/screenshots.mjs
// Run against a real server (BASE_URL=http://127.0.0.1:PORT) with VERITRAIL_PASSWORD (and
// VERITRAIL_USERNAME, default admin; VERITRAIL_TENANT, default default): every page is signed in.
// scripts/browser-test.sh --screenshots does this on a seeded server into docs/screenshots.
// Against the dev server (with VERITRAIL_DEV_KEY) or `vite preview`, MOCK_SESSION=1 makes the
// harness answer /api/v1/auth/me itself; everything else comes from the real server.
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL ?? 'http://127.0.0.1:5173';
const out = process.env.OUT ?? 'shots';
const only = process.env.ONLY ? process.env.ONLY.split(',') : null;
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const sizes = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
];

const pages = [
  { name: 'signin', path: '/', signedOut: true },
  { name: 'overview', path: '/' },
  { name: 'live', path: '/live', wait: '.vrow[aria-rowindex="2"]' },
  {
    name: 'live-drawer',
    path: '/live',
    wait: '.vrow[aria-rowindex="2"]',
    act: async (page) => {
      await page.locator('.vrow[aria-rowindex="2"] .link-button').click();
      await page.waitForSelector('.verify-box .badge:not(.verify-pending)', { timeout: 10000 });
    },
  },
  {
    name: 'search',
    path: '/search',
    act: async (page) => {
      await page.getByLabel('Ask a question').fill(process.env.QUESTION ?? 'denied attempts to assume a role by bert-jan between 2023-07-10 and 2023-07-11');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.waitForSelector('.answer-text', { timeout: 60000 });
    },
  },
  {
    name: 'anomalies',
    path: '/anomalies',
    act: async (page) => {
      await page.waitForSelector('.inbox-item', { timeout: 10000 });
      await page.locator('.inbox-item').first().click();
      await page.waitForSelector('.narrative', { timeout: 10000 });
    },
  },
  { name: 'alerts', path: '/alerts' },
  { name: 'reports', path: '/reports' },
  { name: 'integrity', path: '/integrity', wait: '.checkpoint-verdict .badge:not(.verify-pending)' },
  { name: 'settings', path: '/settings' },
];

const problems = [];
for (const size of sizes) {
  for (const spec of pages) {
    if (only && !only.includes(spec.name)) continue;
    const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
    if (!spec.signedOut && process.env.VERITRAIL_PASSWORD) {
      const login = await context.request.post(`${base}/api/v1/auth/login`, {
        data: { tenant: process.env.VERITRAIL_TENANT ?? 'default', username: process.env.VERITRAIL_USERNAME ?? 'admin', password: process.env.VERITRAIL_PASSWORD },
      });
      if (!login.ok()) throw new Error(`sign-in failed: ${login.status()} ${await login.text()}`);
    }
    const page = await context.newPage();
    page.on('console', (message) => {
      // Endpoints that have not landed yet answer 404; those are shown in the page, not errors.
      // Signed out, /api/v1/auth/me answers 401 by design.
      const expected = spec.signedOut ? /status of 40[14]|Unexpected response code: 404/ : /status of 404|Unexpected response code: 404/;
      if (message.type() === 'error' && !expected.test(message.text())) problems.push(`${size.name}/${spec.name}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${size.name}/${spec.name}: ${error.message}`));
    if (spec.signedOut) {
      await page.route('**/api/v1/auth/me', (route) =>
        route.fulfill({ status: 401, contentType: 'application/json', body: '{"error":{"code":"unauthorized","message":"sign in"}}' }),
      );
    } else if (process.env.MOCK_SESSION) {
      await page.route('**/api/v1/auth/me', (route) =>
        route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({ user: { id: 'u1', tenant: 'default', username: 'harness', role: 'admin' }, role: 'admin', csrf_token: 'x' }),
        }),
      );
    }
    await page.goto(base + spec.path, { waitUntil: 'networkidle' });
    if (spec.wait) await page.waitForSelector(spec.wait, { timeout: 10000 }).catch(() => problems.push(`${size.name}/${spec.name}: ${spec.wait} not found`));
    if (spec.act) await spec.act(page).catch((error) => problems.push(`${size.name}/${spec.name}: ${error.message.split('\n')[0]}`));
    await page.waitForTimeout(400);
    await page.screenshot({ path: `${out}/${spec.name}-${size.name}.png`, fullPage: false });
    await context.close();
  }
}
await browser.close();
console.log(problems.length ? problems.join('\n') : 'no console errors');
if (problems.length) process.exitCode = 1;
