// Measures the dashboard's budgets against a running Veritrail server, in a real Chromium:
//   1. first load with a cold cache (a fresh browser context each time): sign-in page, and the
//      Overview of a signed-in user until its data is shown; the JavaScript it took, on the wire
//      and gzipped; measured on the empty log and again after step 3 filled it;
//   2. an event stored (POST answered) → its row visible on the Live page, one event at a time;
//   3. the Live page under a sustained load (RATE events/s for DURATION s, in batches): frames
//      per second, long frames, the JS heap over time, and whether every event arrived.
// An idle phase of the same page first gives the baseline frame rate in the same run.
//
//   BASE_URL=http://127.0.0.1:8080 VERITRAIL_KEY=... VERITRAIL_PASSWORD=... \
//     [RATE=1000] [DURATION=60] [LOADS=5] [SAMPLES=100] [OUT=result.json] node bench/budgets.mjs
// scripts/dashboard-bench.sh starts a server and runs this on SQLite and PostgreSQL.
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const base = required('BASE_URL');
const key = required('VERITRAIL_KEY');
const password = required('VERITRAIL_PASSWORD');
const rate = Number(process.env.RATE ?? 1000);
const duration = Number(process.env.DURATION ?? 60);
const loads = Number(process.env.LOADS ?? 5);
const samples = Number(process.env.SAMPLES ?? 100);
const run = Date.now().toString(36);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};
const round = (value, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

async function post(path, body) {
  const response = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return response.json();
}

function event(action, n) {
  return {
    actor: { id: `user${n % 50}@example.com`, type: 'user', ip: `198.51.100.${n % 250}` },
    action,
    resource: { type: 'repository', id: `r-${n % 400}` },
    outcome: n % 17 === 0 ? 'denied' : 'success',
    details: { request: n, note: 'dashboard budget run' },
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

/** A fresh context (empty cache), signed in through the API so the page load is measured alone. */
async function signedInContext() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const response = await context.request.post(new URL('/api/v1/auth/login', base).href, {
    data: { tenant: 'default', username: 'admin', password },
    headers: { Origin: new URL(base).origin },
  });
  if (response.status() !== 200) throw new Error(`sign-in answered ${response.status()}`);
  return context;
}

/** Scripts the page fetched: bytes on the wire and the same files gzipped at level 9. */
async function scriptBytes(page) {
  const scripts = await page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .filter((entry) => entry.initiatorType === 'script' || entry.name.endsWith('.js'))
      .map((entry) => ({ url: entry.name, transfer: entry.transferSize })),
  );
  let wire = 0;
  let gzipped = 0;
  for (const script of scripts) {
    wire += script.transfer;
    const body = Buffer.from(await (await fetch(script.url)).arrayBuffer());
    gzipped += gzipSync(body, { level: 9 }).length;
  }
  return { files: scripts.length, wire_bytes: wire, gzip_bytes: gzipped };
}

async function firstLoads() {
  const signIn = [];
  const overview = [];
  let scripts = null;
  let waterfall = null;
  for (let i = 0; i < loads; i++) {
    const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await anonymous.newPage();
    let started = Date.now();
    await page.goto(base);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    signIn.push(Date.now() - started);
    await anonymous.close();

    const context = await signedInContext();
    const dashboard = await context.newPage();
    started = Date.now();
    await dashboard.goto(base);
    await dashboard.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    // Shown means every card has its data: no spinner left.
    await dashboard.waitForFunction(() => document.querySelectorAll('.spinner-row').length === 0);
    overview.push(Date.now() - started);
    if (i === 0) {
      scripts = await scriptBytes(dashboard);
      waterfall = await dashboard.evaluate(() =>
        performance.getEntriesByType('resource').map((entry) => ({
          path: new URL(entry.name).pathname + new URL(entry.name).search,
          start_ms: Math.round(entry.startTime),
          took_ms: Math.round(entry.duration),
        })),
      );
    }
    await context.close();
  }
  return {
    sign_in_page_ms: { runs: signIn, median: quantile(signIn, 0.5), max: Math.max(...signIn) },
    overview_with_data_ms: { runs: overview, median: quantile(overview, 0.5), max: Math.max(...overview) },
    initial_javascript: scripts,
    first_overview_requests: waterfall,
  };
}

/** Opens the Live page streaming, with an observer noting when each `bench.*` row appears. */
async function openLive(context) {
  const page = await context.newPage();
  await page.goto(new URL('/live', base).href);
  await page.getByRole('status').filter({ hasText: 'Streaming' }).waitFor({ timeout: 30_000 });
  await page.evaluate(() => {
    const seen = new Map();
    window.__benchSeen = seen;
    const table = document.querySelector('[aria-label="Live events"]');
    new MutationObserver((mutations) => {
      const now = Date.now();
      for (const mutation of mutations) {
        for (const node of mutation.addedNodes) {
          if (!(node instanceof HTMLElement)) continue;
          for (const button of node.querySelectorAll('.c-action button')) {
            const action = button.textContent ?? '';
            if (action.startsWith('bench.') && !seen.has(action)) seen.set(action, now);
          }
        }
      }
    }).observe(table, { childList: true, subtree: true });
  });
  return page;
}

async function liveLatency(page) {
  const sent = new Map();
  for (let i = 0; i < samples; i++) {
    const action = `bench.${run}.latency.${i}`;
    sent.set(action, Date.now());
    await post('/api/v1/events', event(action, i));
    await sleep(150);
  }
  await sleep(2000);
  const seen = new Map(await page.evaluate(() => [...window.__benchSeen.entries()]));
  const latencies = [];
  let missing = 0;
  for (const [action, at] of sent) {
    if (seen.has(action)) latencies.push(seen.get(action) - at);
    else missing += 1;
  }
  return {
    samples: sent.size,
    missing,
    p50_ms: quantile(latencies, 0.5),
    p95_ms: quantile(latencies, 0.95),
    max_ms: Math.max(...latencies),
  };
}

/** Frame times of the page over `seconds`, plus JS heap samples every 5 s. */
async function watchFrames(page, cdp, seconds, during = async () => {}) {
  await page.evaluate(() => {
    const frames = [];
    window.__benchFrames = frames;
    window.__benchStop = false;
    const tick = (time) => {
      frames.push(time);
      if (!window.__benchStop) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const heap = [];
  const sampler = (async () => {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const { metrics } = await cdp.send('Performance.getMetrics');
      heap.push(Math.round(metrics.find((metric) => metric.name === 'JSHeapUsedSize').value / 1024 / 1024));
      await sleep(5000);
    }
  })();
  await Promise.all([during(), sampler, sleep(seconds * 1000)]);
  const frames = await page.evaluate(() => {
    window.__benchStop = true;
    return window.__benchFrames;
  });
  // Frames per whole second, and frames that took longer than 1/30 s.
  const perSecond = [];
  for (let start = frames[0]; start + 1000 <= frames[frames.length - 1]; start += 1000) {
    perSecond.push(frames.filter((time) => time >= start && time < start + 1000).length);
  }
  const gaps = frames.slice(1).map((time, i) => time - frames[i]);
  return {
    seconds: perSecond.length,
    fps_median: quantile(perSecond, 0.5),
    fps_min: Math.min(...perSecond),
    fps_p5: quantile(perSecond, 0.05),
    seconds_below_30_fps: perSecond.filter((fps) => fps < 30).length,
    frames_over_33ms: gaps.filter((gap) => gap > 1000 / 30).length,
    longest_frame_ms: round(Math.max(...gaps)),
    heap_mb: heap,
  };
}

async function sustainedLoad(page, cdp) {
  const batch = Math.max(1, Math.round(rate / 10));
  let sent = 0;
  let lateTicks = 0;
  const load = async () => {
    const started = Date.now();
    for (let tick = 0; tick < duration * 10; tick++) {
      const due = started + tick * 100;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -100) lateTicks += 1;
      const events = Array.from({ length: batch }, (_, i) => event(`bench.${run}.load.${sent + i}`, sent + i));
      await post('/api/v1/events/batch', { events });
      sent += batch;
    }
  };
  const started = Date.now();
  const frames = await watchFrames(page, cdp, duration, load);
  const elapsed = (Date.now() - started) / 1000;
  // Every event of the load reached the page (the table keeps up to 100,000 rows).
  const deadline = Date.now() + 30_000;
  let arrived = 0;
  while (Date.now() < deadline) {
    const shown = await page.evaluate(() => document.querySelector('.live-meta')?.textContent ?? '');
    const match = shown.match(/([\d,]+) arrived live/);
    arrived = match ? Number(match[1].replace(/,/g, '')) : 0;
    if (arrived >= sent + samples) break;
    await sleep(500);
  }
  await cdp.send('HeapProfiler.collectGarbage');
  const { metrics } = await cdp.send('Performance.getMetrics');
  return {
    target_events_per_s: rate,
    sent,
    achieved_events_per_s: round(sent / elapsed),
    late_ticks: lateTicks,
    arrived_live: arrived - samples,
    ...frames,
    heap_after_gc_mb: Math.round(metrics.find((metric) => metric.name === 'JSHeapUsedSize').value / 1024 / 1024),
  };
}

try {
  const result = { base, when: new Date().toISOString(), first_load: await firstLoads() };
  const context = await signedInContext();
  const page = await openLive(context);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  result.idle_live = await watchFrames(page, cdp, 10);
  result.event_to_visible = await liveLatency(page);
  result.sustained_load = await sustainedLoad(page, cdp);
  await context.close();
  // The same first load once the log holds what the load stored.
  result.first_load_after_load = await firstLoads();
  const json = JSON.stringify(result, null, 2);
  if (process.env.OUT) writeFileSync(process.env.OUT, json + '\n');
  console.log(json);
} finally {
  await browser.close();
}
