// End-to-end tests of "Compare algorithms" (issue 5): the small-summed fixture,
// the dsv3 sample with level 2 in the worker pool (page responsive), and stopping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  openApp, fixturesDir, dropFolder, setSettings, downloadBytes, waitDone, runAndWait, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;
const small = path.join(fixturesDir(), 'small-summed');

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));

test('compare on small-summed shows a row per algorithm and a table downloads', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, path.join(small, 'input'));
    await page.locator('section.summary').getByText('Dropped: input').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: false });
    await page.getByRole('button', { name: 'Compare algorithms', exact: true }).click();
    const section = page.locator('section.compare');
    await section.locator('.compare-status', { hasText: /^Compared / }).waitFor({ timeout: 120_000 });
    const table = section.locator('table.compare-table').first();
    await table.waitFor();
    const rowHeads = await table.locator('tbody th[scope=row]').allInnerTexts();
    const skipped = await section.locator('.compare-phase').first().locator('ul.warnings li').allInnerTexts();
    // Every algorithm either has a row or is listed as skipped with a reason.
    for (const name of ['C2LB (al 0)', 'Speculative-MoE level 1 (al 1)', 'Dynamic C2LB (al 2)',
      'Level 2 optimiser (al 3)', 'DeepSeek EPLB global', 'FlashLB (vLLM-Ascend / SGLang)']) {
      const shown = rowHeads.includes(name) || skipped.some((s) => s.startsWith(`${name}: not run`));
      assert.ok(shown, `${name} has a row or a reason (rows: ${rowHeads.join(' | ')}; skipped: ${skipped.join(' | ')})`);
    }
    assert.ok(rowHeads.includes('C2LB (al 0)'), 'C2LB runs on this fixture');
    assert.ok(rowHeads.includes('FlashLB (vLLM-Ascend / SGLang)'), 'FlashLB runs on this fixture');
    // The settings' algorithm select and the sweep's picker list it too (one catalogue).
    for (const sel of ['#f-algorithm', '#sweep-algorithm']) {
      const opts = await page.locator(`${sel} option`).allInnerTexts();
      assert.ok(opts.includes('FlashLB (vLLM-Ascend / SGLang)'), `${sel} lists FlashLB (${opts.join(' | ')})`);
    }
    assert.ok(rowHeads.length >= 4, `at least four algorithms run, got ${rowHeads.length}`);
    const canvas = section.locator('canvas').first();
    assert.ok(await canvas.getAttribute('aria-label'));
    const { name, bytes } = await downloadBytes(page, 'Download C2LB (al 0) decode table');
    assert.equal(name, 'decode_c2lb_global_deployment.json');
    const json = JSON.parse(bytes.toString('utf8'));
    assert.ok(json && typeof json === 'object');
    const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
    assert.deepEqual(bad, [], 'the page must not panic');
  } finally {
    await context.close();
  }
});

/** Record main-thread long tasks from now on (window.__elbCmpLong). */
async function watchLongTasks(page) {
  await page.evaluate(() => {
    window.__elbCmpLong = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__elbCmpLong.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: 'longtask' });
  });
}

test('compare on the dsv3 sample, level 2 included, solves in workers and keeps the page responsive', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    // The page opens on the dsv3 time-series sample and runs it: let that finish.
    await waitDone(page, 180_000);
    await watchLongTasks(page);
    const section = page.locator('section.compare');
    await page.getByRole('button', { name: 'Compare algorithms', exact: true }).click();
    // Progress names the algorithm and counts its layers.
    await section.getByText(/Level 2 optimiser \(al 3\) \(4 of \d+\): layers solved/).waitFor({ timeout: 180_000 });
    assert.ok(page.workers().length >= 1, 'the comparison uses web workers');
    await section.locator('.compare-status', { hasText: /^Compared / }).waitFor({ timeout: 600_000 });
    await page.waitForTimeout(300);
    const rowHeads = await section.locator('table.compare-table').first().locator('tbody th[scope=row]').allInnerTexts();
    assert.ok(rowHeads.includes('Level 2 optimiser (al 3)'), `level 2 has a row (rows: ${rowHeads.join(' | ')})`);
    const long = await page.evaluate(() => window.__elbCmpLong);
    const max = Math.max(0, ...long.map((e) => e.duration));
    console.log(`[compare] ${long.length} long tasks during the dsv3 comparison, longest ${max.toFixed(0)} ms`);
    assert.ok(max <= 200, `no main-thread task over 200 ms during the comparison (max ${max.toFixed(0)} ms)`);
    const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
    assert.deepEqual(bad, [], 'the page must not panic');
  } finally {
    await context.close();
  }
});

test('"Stop comparison" terminates the workers and leaves both stop buttons unambiguous', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await waitDone(page, 180_000);
    const section = page.locator('section.compare');
    await page.getByRole('button', { name: 'Compare algorithms', exact: true }).click();
    await section.getByText(/Level 2 optimiser \(al 3\) \(4 of \d+\): layers solved/).waitFor({ timeout: 180_000 });
    const workers = page.workers();
    assert.ok(workers.length >= 1, 'the comparison uses web workers');
    const closed = Promise.all(workers.map((w) => new Promise((resolve) => w.once('close', resolve))));
    // The main run's "Cancel" still matches one button only (Playwright's
    // non-exact, case-insensitive name match), and it is disabled now.
    assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Cancel' }).isEnabled(), false);
    await page.getByRole('button', { name: 'Stop comparison', exact: true }).click();
    await section.locator('.compare-status', { hasText: 'Comparison stopped.' }).waitFor();
    await closed;
    assert.equal(await page.getByRole('button', { name: 'Stop comparison', exact: true }).isEnabled(), false);
    assert.equal(await section.locator('progress').count(), 0, 'no progress bar after stopping');
    // The main run still works on the same pool afterwards.
    await setSettings(page, { algorithm: 'c2lb' });
    await runAndWait(page, 180_000);
    const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
    assert.deepEqual(bad, [], 'the page must not panic');
  } finally {
    await context.close();
  }
});
