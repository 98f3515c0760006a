// End-to-end test of "Compare algorithms" (issue 5) on the small-summed fixture.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  startSite, launch, openApp, fixturesDir, dropFolder, setSettings, downloadBytes,
} from './helpers.mjs';

let site;
let browser;
const small = path.join(fixturesDir(), 'small-summed');

before(async () => {
  site = await startSite();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.close();
});

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
      'Level 2 optimiser (al 3)', 'DeepSeek EPLB global']) {
      const shown = rowHeads.includes(name) || skipped.some((s) => s.startsWith(`${name}: not run`));
      assert.ok(shown, `${name} has a row or a reason (rows: ${rowHeads.join(' | ')}; skipped: ${skipped.join(' | ')})`);
    }
    assert.ok(rowHeads.includes('C2LB (al 0)'), 'C2LB runs on this fixture');
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
