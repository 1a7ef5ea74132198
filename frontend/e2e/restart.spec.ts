import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { test, expect, signIn, navigate, sampleEvent, unique, env } from './fixtures';

const run = promisify(execFile);

async function server(command: 'start' | 'stop' | 'ingest', ...args: string[]) {
  await run(env.serverCtl, [command, env.state, ...args], { timeout: 90_000 });
}

test('the Live page resumes after a server restart with no gap and no duplicate', async ({ page, admin }) => {
  test.setTimeout(120_000);
  await signIn(page);
  await navigate(page, 'Live');
  const streaming = page.getByRole('status').filter({ hasText: 'Streaming' });
  await expect(streaming).toBeVisible();

  const before = await admin.postEvent(sampleEvent(`${unique('e2e.restart.')}.before`));
  await expect(page.getByRole('row').filter({ hasText: `${before.seq}` }).first()).toBeVisible();

  // While the server is down, events are appended straight to the database (`veritrail ingest`):
  // the page cannot have seen them live and must replay them when it reconnects.
  const dir = mkdtempSync(path.join(tmpdir(), 'veritrail-e2e-'));
  const tag = unique('e2e.restart.');
  const offline = Array.from({ length: 5 }, (_, i) => ({ ...sampleEvent(`${tag}.offline${i}`), id: unique(`offline-${i}-`) }));
  writeFileSync(path.join(dir, 'offline.jsonl'), offline.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const stopped = Date.now();
  try {
    await server('stop');
    await expect(streaming).toBeHidden({ timeout: 20_000 });
    await server('ingest', path.join(dir, 'offline.jsonl'));
    await server('start');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await expect(streaming).toBeVisible({ timeout: 30_000 });
  console.log(`restart: stream back ${Date.now() - stopped} ms after the stop began`);

  const after = [];
  for (let i = 0; i < 3; i++) after.push(await admin.postEvent(sampleEvent(`${unique('e2e.restart.')}.after`)));
  const last = after[after.length - 1]!;
  // 5 offline + 3 after the restart, every seq from before.seq + 1 to last.seq, each once.
  expect(last.seq).toBe(before.seq + 8);
  const seqCells = page.locator('.vbody .vrow .c-seq');
  await expect(seqCells.first()).toHaveText(String(last.seq), { timeout: 5_000 });
  const shown = (await seqCells.allTextContents()).map(Number).filter((seq) => seq >= before.seq);
  const expected = Array.from({ length: 9 }, (_, i) => last.seq - i);
  expect(shown).toEqual(expected);
  for (const event of offline) await expect(page.getByRole('button', { name: event.action, exact: true })).toHaveCount(1);
  await expect(page.locator('.live-meta')).toContainText('9 arrived live');
});
