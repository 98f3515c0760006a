// Browser benchmark (c): main-thread long tasks (PerformanceObserver
// 'longtask', tasks over 50 ms) during a dsv3 level-2 solve, from pressing
// "Run" until the results are drawn (status "Done in", then 1 s more).
// Target (issue #5): no task over 200 ms.
// Cases: the built-in sample (dsv3 time series) and the dsv3-series fixture,
// algorithm "spec-moe-2" (level 2). With --profile, a CDP CPU profile of the
// main thread is taken too and the functions with most self time inside the
// longest task are listed (to say what in the app causes it).
//
// Writes target/bench/browser-longtasks.json.
// Usage: node tests/e2e/bench/longtasks.mjs [--profile] [--algo spec-moe-2]
import path from 'node:path';
import { startSite, launch, fixturesDir, setSettings, waitDone } from '../helpers.mjs';
import { openBench, writeJson, machine, longTasks, pageNow, appDoneMs, fmtMs, rendererCpuSeconds } from './lib.mjs';

const argv = process.argv.slice(2);
const profile = argv.includes('--profile');
const ai = argv.indexOf('--algo');
const algorithm = ai >= 0 ? argv[ai + 1] : 'spec-moe-2';

/** Self time per function within [t0, t1] (profile clock, µs) of a CDP profile. */
function hotFunctions(prof, t0us, t1us) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    if (t < t0us || t > t1us) continue;
    const n = byId.get(prof.samples[i]);
    if (!n) continue;
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? path.basename(f.url.split('?')[0]) : ''}`.trim();
    const dt = prof.timeDeltas[i + 1] ?? prof.timeDeltas[i];
    self.set(name, (self.get(name) ?? 0) + dt / 1000);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([name, ms]) => ({ name, ms: Math.round(ms) }));
}

const site = await startSite();
const browser = await launch();
const out = [];
try {
  for (const which of ['sample-dsv3-series', 'dsv3-series']) {
    const { context, page, errors } = await openBench(browser, site.url);
    try {
      if (which === 'dsv3-series') {
        await page.getByLabel('Choose folder').setInputFiles(path.join(fixturesDir(), 'dsv3-series', 'input'));
        await page.locator('section.summary').getByText('Dropped: input').waitFor({ timeout: 120_000 });
      } else {
        await page.getByRole('button', { name: 'Load sample data' }).click();
        await page.locator('section.summary').getByText('Built-in sample data').waitFor();
        await waitDone(page, 300_000); // "Load sample data" runs it at once
      }
      await setSettings(page, { npus: 64, nodes: 8, redundant: 64, shared: 0, deviceType: 'a2', algorithm, msit: false });
      let cdp = null;
      if (profile) {
        cdp = await context.newCDPSession(page);
        await cdp.send('Profiler.enable');
        await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
        await cdp.send('Profiler.start');
      }
      const t0 = await pageNow(page);
      const c0 = rendererCpuSeconds();
      await page.getByRole('button', { name: 'Run', exact: true }).click();
      await waitDone(page, 600_000);
      const doneAt = await pageNow(page);
      const cpu = rendererCpuSeconds() - c0;
      await page.waitForTimeout(1000);
      const t1 = await pageNow(page);
      const app = await appDoneMs(page);
      const tasks = (await longTasks(page)).filter((t) => t.start >= t0 && t.start <= t1);
      let hot = null;
      if (cdp) {
        const { profile: prof } = await cdp.send('Profiler.stop');
        const longest = tasks.reduce((m, t) => (t.duration > (m?.duration ?? 0) ? t : m), null);
        if (longest) {
          // The profile started right before t0: place the task by its offset
          // from t0 (a few ms of slack; good enough to name the culprits).
          const startUs = prof.startTime + (longest.start - t0) * 1000;
          hot = hotFunctions(prof, startUs, startUs + longest.duration * 1000);
        }
      }
      const max = Math.max(0, ...tasks.map((t) => t.duration));
      const row = {
        case: which,
        algorithm,
        app_done_ms: app,
        run_ms: doneAt - t0,
        renderer_cpu_s: cpu,
        long_tasks: tasks.map((t) => ({ at_ms: Math.round(t.start - t0), duration_ms: Math.round(t.duration) })),
        max_long_task_ms: max,
        over_200ms: tasks.filter((t) => t.duration > 200).length,
        target_ms: 200,
        hot_functions_in_longest_task: hot,
        page_errors: errors,
      };
      out.push(row);
      console.log(
        `${which}: ${algorithm} done in ${fmtMs(app)} (renderer CPU ${cpu.toFixed(2)} s); ${tasks.length} long tasks, longest ${fmtMs(max)} (target 200 ms), ${row.over_200ms} over 200 ms`,
      );
      for (const t of row.long_tasks) console.log(`  at +${t.at_ms} ms: ${t.duration_ms} ms${t.at_ms > row.run_ms - 50 ? ' (after the solve: results)' : ''}`);
      if (hot) for (const h of hot) console.log(`    ${h.ms} ms  ${h.name}`);
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
  await site.close();
}
console.log(`wrote ${writeJson('browser-longtasks.json', out)}`);
console.log(`machine: ${JSON.stringify(machine())}`);
