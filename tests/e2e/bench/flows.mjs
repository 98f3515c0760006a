// Browser benchmark: main-thread long tasks (PerformanceObserver
// 'longtask', tasks over 50 ms) in every flow of the page, one after the
// other on the dsv3-series fixture with msit's level-1 table dropped as the
// running placement (issue 12 item 3 / issue 13: no task over 100 ms):
//   drop       the folder (65 files) -> its summary;
//   run        Run with level 2 -> "Done in";
//   migration  tick "Migration-aware" (refine towards the new table, 2 %) -> its table;
//   compare    "Compare algorithms" -> "Compared …";
//   sweep      "Run sweep" (the settings' algorithm: level 1, to keep it short) -> "Swept …";
//   holdout    "Run held-out check" (level 1) -> "Held-out check done";
//   holdout-rolling  the same with "16,4" (a rolling origin) and level 2.
// Each flow's window: from its click to its end plus 0.5 s.
//
// Writes target/bench/browser-flows.json.
// Usage: node tests/e2e/bench/flows.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSite, launch, fixturesDir, setSettings, waitDone, dropFolder } from '../helpers.mjs';
import { openBench, writeJson, machine, longTasks, pageNow, fmtMs, appMeasures, insideTask } from './lib.mjs';

const fixture = path.join(fixturesDir(), 'dsv3-series');
const drop = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-flows-'));
const folder = path.join(drop, 'dsv3-with-current');
fs.cpSync(path.join(fixture, 'input'), folder, { recursive: true });
fs.copyFileSync(path.join(fixture, 'expected', 'al1.json'), path.join(folder, 'current_global_deployment.json'));

const site = await startSite();
const browser = await launch();
const flows = [];
try {
  const { context, page, errors } = await openBench(browser, site.url);
  const flow = async (name, act) => {
    const t0 = await pageNow(page);
    await act();
    const end = await pageNow(page);
    await page.waitForTimeout(500);
    const tasks = (await longTasks(page)).filter((t) => t.start >= t0 && t.start <= end + 500);
    const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
    // What the page's own steps (ui::timed) took inside each long task; a
    // task with none is drawing (Leptos views, canvas) or the browser.
    const measures = await appMeasures(page);
    const inside = tasks.map((t) => ({ start_ms: Math.round(t.start - t0), ms: Math.round(t.duration), steps: insideTask(t, measures) }));
    const r = { flow: name, ms: Math.round(end - t0), long_tasks: tasks.length, longest_ms: Math.round(longest), over_100ms: tasks.filter((t) => t.duration > 100).length, tasks: inside };
    flows.push(r);
    console.log(`[flows] ${name}: ${fmtMs(r.ms)}; ${r.long_tasks} long tasks, longest ${r.longest_ms} ms, over 100 ms: ${r.over_100ms}`);
    for (const t of inside) console.log(`[flows]   +${t.start_ms} ms: ${t.ms} ms; ${t.steps.length ? t.steps.join(', ') : 'no app step (drawing / browser)'}`);
  };
  await flow('drop', async () => {
    await dropFolder(context, page, folder);
    await page.locator('section.summary').getByText('Dropped: dsv3-with-current').waitFor({ timeout: 300_000 });
  });
  await setSettings(page, { npus: 64, nodes: 8, redundant: 64, shared: 0, deviceType: 'a2', algorithm: 'spec-moe-2', msit: false });
  await flow('run', async () => {
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await waitDone(page, 900_000);
  });
  await flow('migration', async () => {
    const migration = page.getByRole('region', { name: 'Decode results' }).getByRole('group', { name: 'Migration (decode)' });
    await migration.getByLabel('Migration-aware').check();
    await migration.getByRole('table', { name: 'New table vs migration-aware (decode)' }).waitFor({ timeout: 900_000 });
  });
  await flow('compare', async () => {
    await page.getByRole('button', { name: 'Compare algorithms', exact: true }).click();
    await page.locator('section.compare .compare-status', { hasText: /^Compared / }).waitFor({ timeout: 1_800_000 });
  });
  await setSettings(page, { algorithm: 'spec-moe-1' });
  await flow('sweep', async () => {
    const section = page.getByRole('region', { name: 'Redundancy sweep' });
    await section.getByRole('button', { name: 'Run sweep', exact: true }).click();
    await section.locator('.sweep-status', { hasText: /^Swept / }).waitFor({ timeout: 1_800_000 });
  });
  await flow('holdout', async () => {
    const section = page.getByRole('region', { name: 'Held-out check' });
    await section.getByRole('button', { name: 'Run held-out check', exact: true }).click();
    await section.locator('.holdout-status', { hasText: /^Held-out check done/ }).waitFor({ timeout: 900_000 });
  });
  await setSettings(page, { algorithm: 'spec-moe-2' });
  await flow('holdout-rolling', async () => {
    const section = page.getByRole('region', { name: 'Held-out check' });
    await section.getByLabel('Fit part (% of intervals, or W,H)', { exact: true }).fill('16,4');
    await section.getByRole('button', { name: 'Run held-out check', exact: true }).click();
    await section.getByRole('table', { name: /re-fitted every 4 intervals on the last 16/ }).waitFor({ timeout: 1_800_000 });
    await section.locator('.holdout-status', { hasText: /^Held-out check done/ }).waitFor({ timeout: 1_800_000 });
  });
  const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
  if (bad.length) console.log(`[flows] page errors: ${bad.join(' | ')}`);
  await context.close();
} finally {
  await browser.close();
  await site.close();
  fs.rmSync(drop, { recursive: true, force: true });
}
const p = writeJson('browser-flows.json', flows);
console.log(`[flows] ${JSON.stringify(machine())} -> ${p}`);
