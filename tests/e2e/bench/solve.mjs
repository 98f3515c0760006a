// Browser benchmark (a): time from pressing "Run" to the results, per
// algorithm, on the dsv3-summed and dsv3-series fixtures (picked with the
// "Choose folder" input), in headless Chromium with the page's workers.
//
// Two figures per run: the app's own "Done in N ms" (from Run to the scored
// results, before they are drawn) and ours, from the click to the status
// showing "Done in" (includes drawing the results). Fast algorithms take the
// fastest of 3 runs, level 2 one run.
//
// Writes target/bench/browser-solve.json and target/bench/wasm-times.json
// ({"<case>|<algo>": ms}, read by `elb-bench solve --wasm`).
// Usage: node tests/e2e/bench/solve.mjs [--case dsv3-summed] [--algo al3]
import path from 'node:path';
import { startSite, launch, fixturesDir, setSettings, waitDone } from '../helpers.mjs';
import { openBench, writeJson, appDoneMs, fmtMs, longTasks, pageNow } from './lib.mjs';

const ALGOS = [
  { key: 'al0-a2', algorithm: 'c2lb', deviceType: 'a2' },
  { key: 'al0-a3', algorithm: 'c2lb', deviceType: 'a3' },
  { key: 'al1', algorithm: 'spec-moe-1' },
  { key: 'al2', algorithm: 'dynamic-c2lb' },
  { key: 'al3', algorithm: 'spec-moe-2', slow: true },
  { key: 'al4', algorithm: 'spec-moe-1-mixed' },
  { key: 'al5', algorithm: 'spec-moe-2-mixed', slow: true },
  { key: 'deepseek-global', algorithm: 'deepseek-global' },
  { key: 'deepseek-hier', algorithm: 'deepseek-hierarchical' },
];
const CASES = ['dsv3-summed', 'dsv3-series'];

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : null;
};
const onlyCase = opt('--case');
const onlyAlgo = opt('--algo');

const site = await startSite();
const browser = await launch();
const results = [];
const wasmTimes = {};
try {
  for (const name of CASES) {
    if (onlyCase && name !== onlyCase) continue;
    const input = path.join(fixturesDir(), name, 'input');
    const { context, page, errors } = await openBench(browser, site.url);
    try {
      const hc = await page.evaluate(() => navigator.hardwareConcurrency);
      await page.getByLabel('Choose folder').setInputFiles(input);
      await page.locator('section.summary').getByText('Dropped: input').waitFor({ timeout: 120_000 });
      // msit's defaults, the fixtures' parameters: 64 NPUs, 8 nodes, 64 redundant.
      await setSettings(page, { npus: 64, nodes: 8, redundant: 64, shared: 0, msit: false });
      for (const a of ALGOS) {
        if (onlyAlgo && a.key !== onlyAlgo) continue;
        await setSettings(page, { deviceType: a.deviceType || 'a2', algorithm: a.algorithm });
        const runs = a.slow ? 1 : 3;
        let best = null;
        let bestApp = null;
        let error = null;
        let maxTask = 0;
        for (let i = 0; i < runs; i++) {
          const t0page = await pageNow(page);
          const t0 = performance.now();
          await page.getByRole('button', { name: 'Run', exact: true }).click();
          try {
            await waitDone(page, 600_000);
          } catch (e) {
            error = String(e.message || e).split('\n')[0];
            break;
          }
          const ms = performance.now() - t0;
          const app = await appDoneMs(page);
          const t1page = await pageNow(page);
          const tasks = (await longTasks(page)).filter((t) => t.start >= t0page && t.start <= t1page);
          maxTask = Math.max(maxTask, ...tasks.map((t) => t.duration), 0);
          if (best == null || ms < best) best = ms;
          if (app != null && (bestApp == null || app < bestApp)) bestApp = app;
        }
        const row = { case: name, algo: a.key, algorithm: a.algorithm, runs, click_to_done_ms: best, app_done_ms: bestApp, max_long_task_ms: maxTask, workers: hc, error };
        results.push(row);
        if (bestApp != null) wasmTimes[`${name}|${a.key}`] = bestApp;
        console.log(
          `${name.padEnd(12)} ${a.key.padEnd(16)} ${error ? `error: ${error}` : `app ${fmtMs(bestApp)}, click-to-done ${fmtMs(best)}, longest main-thread task ${fmtMs(maxTask)}`}`,
        );
      }
      const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
      if (bad.length) console.log(`page errors: ${bad.join('; ')}`);
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  await site.close();
}
console.log(`wrote ${writeJson('browser-solve.json', results)}`);
console.log(`wrote ${writeJson('wasm-times.json', wasmTimes)}`);
