import { defineConfig } from '@playwright/test';

// Browser tests against a real Veritrail server that scripts/browser-test.sh starts (BASE_URL,
// VERITRAIL_E2E_KEY, VERITRAIL_E2E_PASSWORD, VERITRAIL_E2E_STATE). They use the system's Chromium;
// Playwright's own browser download is never needed.
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'e2e',
  // One server, two cores: one test at a time keeps timings (the Live latency) honest.
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  outputDir: process.env.VERITRAIL_E2E_OUTPUT ?? 'test-results',
  use: {
    baseURL: process.env.BASE_URL,
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: chromium,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  projects: [
    { name: 'seed', testMatch: /seed\.setup\.ts/ },
    { name: 'dashboard', testIgnore: /restart\.spec\.ts|seed\.setup\.ts/, dependencies: ['seed'] },
    // Restarts the server: runs after everything else so no other test sees it go away.
    { name: 'restart', testMatch: /restart\.spec\.ts/, dependencies: ['dashboard'] },
  ],
});
