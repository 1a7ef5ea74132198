// Shared set-up of the browser tests: the server scripts/browser-test.sh started, its admin key
// and the bootstrap admin's password, and small helpers over the real HTTP API.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { test as base, expect, request as playwrightRequest, type APIRequestContext, type Page } from '@playwright/test';
import axe from 'axe-core';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the browser tests through scripts/browser-test.sh`);
  return value;
}

export const env = {
  get baseUrl() {
    return required('BASE_URL');
  },
  get key() {
    return required('VERITRAIL_E2E_KEY');
  },
  get password() {
    return required('VERITRAIL_E2E_PASSWORD');
  },
  get state() {
    return required('VERITRAIL_E2E_STATE');
  },
  get serverCtl() {
    return required('VERITRAIL_E2E_SERVER_CTL');
  },
  get cloudTrailDir() {
    return required('VERITRAIL_E2E_CLOUDTRAIL_DIR');
  },
  backend: process.env.VERITRAIL_E2E_BACKEND ?? 'unknown',
};

export const TENANT = 'default';
export const ADMIN = 'admin';

/** A short random suffix, so every run (and every test) names its own things. */
export function unique(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export interface Receipt {
  id: string;
  seq: number;
  hash: string;
  prev_hash: string;
  received_at: string;
}

export interface EventBody {
  id?: string;
  occurred_at?: string;
  actor: { id: string; type: string; name?: string; ip?: string; user_agent?: string };
  action: string;
  resource?: { type: string; id: string; name?: string };
  outcome: 'success' | 'failure' | 'denied' | 'unknown';
  severity?: string;
  details?: Record<string, unknown>;
  tags?: string[];
}

export function sampleEvent(action: string, overrides: Partial<EventBody> = {}): EventBody {
  return {
    actor: { id: 'alice@example.com', type: 'user', name: 'Alice', ip: '203.0.113.7', user_agent: 'e2e/1.0' },
    action,
    resource: { type: 'repository', id: 'r-42', name: 'billing' },
    outcome: 'success',
    severity: 'info',
    details: { source: 'browser test' },
    tags: ['e2e'],
    ...overrides,
  };
}

/** The admin key's view of the API. */
export class AdminApi {
  constructor(readonly http: APIRequestContext) {}

  static async open(): Promise<AdminApi> {
    const http = await playwrightRequest.newContext({
      baseURL: env.baseUrl,
      extraHTTPHeaders: { Authorization: `Bearer ${env.key}` },
    });
    return new AdminApi(http);
  }

  async json<T>(method: 'GET' | 'POST', url: string, data?: unknown, expected: number[] = [200, 201]): Promise<T> {
    const response = await this.http.fetch(url, { method, data, headers: data === undefined ? {} : { 'Content-Type': 'application/json' } });
    const text = await response.text();
    if (!expected.includes(response.status())) {
      throw new Error(`${method} ${url} answered ${response.status()}: ${text.slice(0, 500)}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  postEvent(event: EventBody): Promise<Receipt> {
    return this.json<Receipt>('POST', '/api/v1/events', event);
  }

  runJob(name: string, query = ''): Promise<{ outcome: string; error: string | null; details: Record<string, unknown> }> {
    return this.json('POST', `/api/v1/admin/jobs/${name}/run${query}`, {});
  }

  async createUser(username: string, role: string, password: string): Promise<void> {
    await this.json('POST', '/api/v1/users', { username, role, password });
  }

  /** Imports the invictus CloudTrail capture (idempotent: a second import adds nothing). */
  async importCloudTrail(): Promise<number> {
    const dir = env.cloudTrailDir;
    const files = readdirSync(dir).filter((name) => name.endsWith('.json')).sort();
    if (files.length === 0) throw new Error(`no CloudTrail files in ${dir}`);
    let records = 0;
    for (const file of files) {
      const body = readFileSync(path.join(dir, file), 'utf8');
      records += (JSON.parse(body) as { Records: unknown[] }).Records.length;
      const response = await this.http.post('/api/v1/ingest/cloudtrail', { data: body, headers: { 'Content-Type': 'application/json' } });
      if (![200, 201].includes(response.status())) {
        throw new Error(`POST /api/v1/ingest/cloudtrail (${file}) answered ${response.status()}: ${(await response.text()).slice(0, 500)}`);
      }
    }
    return records;
  }

  dispose(): Promise<void> {
    return this.http.dispose();
  }
}

/** Signs in through the form and waits for the dashboard's navigation. */
export async function signIn(page: Page, username = ADMIN, password = env.password): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Tenant').fill(TENANT);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The shell's main region (the navigation itself is behind the Menu button on a phone).
  await expect(page.locator('main#main.main')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign in' })).toHaveCount(0);
}

/** Follows a link of the main navigation (opening the menu first on a phone). */
export async function navigate(page: Page, link: string): Promise<void> {
  const menu = page.getByRole('button', { name: 'Menu' });
  if ((await menu.isVisible()) && (await menu.getAttribute('aria-expanded')) !== 'true') await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: link })).toBeVisible();
}

export interface AxeFinding {
  id: string;
  impact: string | null | undefined;
  help: string;
  nodes: string[];
}

/** Runs axe-core in the page (evaluated over the DevTools protocol, so the page's CSP allows it). */
export async function axeViolations(page: Page): Promise<AxeFinding[]> {
  await page.evaluate(axe.source);
  const found = await page.evaluate(async () => {
    const runner = (window as unknown as { axe: typeof import('axe-core') }).axe;
    const result = await runner.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
  return found;
}

export async function expectNoSeriousAxeViolations(page: Page, where: string): Promise<void> {
  const found = await axeViolations(page);
  const serious = found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const lesser = found.filter((v) => !serious.includes(v));
  if (lesser.length) console.log(`axe ${where}: ${lesser.map((v) => `${v.id} (${v.impact}) at ${v.nodes.join(', ')}`).join('; ')}`);
  expect(serious, `${where}: ${JSON.stringify(serious, null, 2)}`).toEqual([]);
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

export const test = base.extend<{ admin: AdminApi }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright reads the fixture's dependencies from this pattern
  admin: async ({}, use) => {
    const api = await AdminApi.open();
    await use(api);
    await api.dispose();
  },
});

export { expect };
