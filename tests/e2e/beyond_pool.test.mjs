// End-to-end tests of the redundancy sweep and the held-out check (issue 6,
// items 1 and 2 in the page): both solve in the page's worker pool.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  openApp, fixturesDir, dropFolder, setSettings, waitDone, assertNoPanics, openSuite, closeSuite, elb,
} from './helpers.mjs';

let site;
let browser;
const fixtures = fixturesDir();

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));


async function dropSmallSeries(context, page) {
  await waitDone(page, 180_000); // the sample the page opens on
  await dropFolder(context, page, path.join(fixtures, 'small-series', 'input'));
  await page.locator('section.summary').getByText('Dropped: input').waitFor();
  await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: false, algorithm: 'spec-moe-1' });
}

test('a sweep on small-series marks the knee, lists the points, and "Use" sets Redundant experts', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropSmallSeries(context, page);
    const section = page.getByRole('region', { name: 'Redundancy sweep' });
    await section.getByLabel('GB per redundant expert per card', { exact: true }).fill('2.4');
    await section.getByRole('button', { name: 'Run sweep', exact: true }).click();
    await section.locator('.sweep-status', { hasText: /^Swept 3 points/ }).waitFor({ timeout: 120_000 });
    // The engine's sweep for 8 NPUs, 16 experts: R = 0, 8, 16; level 1's knee is R = 8 (as `elb sweep`).
    const table = section.getByRole('table', { name: /Sweep points of the decode phase/ });
    const rs = await table.locator('tbody th[scope=row]').allInnerTexts();
    assert.deepEqual(rs, ['0', '8', '16']);
    const knee = table.locator('tbody tr.knee');
    assert.equal(await knee.count(), 1);
    assert.equal(await knee.locator('th').innerText(), '8');
    const cells = await knee.locator('td').allInnerTexts();
    assert.equal(cells[1], '2.40', 'extra memory of R = 8 on 8 NPUs at 2.4 GB: 2.4 GB per card');
    assert.match(cells[2], /^1\.0\d{3}$/, 'step imbalance shown');
    assert.match(cells[3], /^1\.\d{4}$/, 'time-resolved shown (time-series input)');
    await section.locator('.sweep-status', { hasText: 'Knee: R = 8' }).waitFor();
    const chart = section.getByRole('img', { name: /knee at R = 8/ });
    await chart.waitFor();
    // Hover read-out: the point under the mouse.
    const box = await chart.boundingBox();
    await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.6);
    await section.locator('.readout', { hasText: /R = 8 \(\+2\.40 GB per card\): step 1\.\d{4}/ }).waitFor();
    // Save as PNG.
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      section.getByRole('button', { name: 'Save Imbalance against redundant experts as PNG' }).click(),
    ]);
    assert.equal(dl.suggestedFilename(), 'decode_redundancy_sweep.png');
    // Pick a point: its R goes into the settings.
    await section.getByRole('button', { name: 'Use 16 redundant experts', exact: true }).click();
    assert.equal(await page.getByLabel('Redundant experts', { exact: true }).inputValue(), '16');
    assert.equal(await page.getByLabel('Algorithm', { exact: true }).inputValue(), 'spec-moe-1');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('the held-out check shows fit and held-out figures, in time and with a rolling origin (as the CLI); summed input explains why it is off', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropSmallSeries(context, page);
    const section = page.getByRole('region', { name: 'Held-out check' });
    const field = section.getByLabel('Fit part (% of intervals, or W,H)', { exact: true });
    assert.equal(await field.inputValue(), '70');
    await section.getByRole('button', { name: 'Run held-out check', exact: true }).click();
    await section.locator('.holdout-status', { hasText: /^Held-out check done/ }).waitFor({ timeout: 120_000 });
    // 22 kept intervals: 15 to fit (70%), 7 held out.
    const table = section.getByRole('table', { name: /fitted on the first 15 intervals, held out: the last 7/ });
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 2, 'the new table and the before placement');
    for (let i = 0; i < 2; i++) {
      const c = await rows.nth(i).locator('td').allInnerTexts();
      assert.equal(c.length, 6);
      for (const k of [0, 1, 3, 4]) assert.match(c[k], /^\d\.\d{4}$/, `figure ${k} of row ${i}: ${c}`);
      for (const k of [2, 5]) assert.match(c[k], /^[+-]\d+\.\d\d%$/, `difference ${k} of row ${i}: ${c}`);
    }
    assert.match(await rows.nth(0).locator('th').innerText(), /^New table \(Speculative-MoE level 1 \(al 1\)\)$/);
    // A rolling origin: a window that leaves nothing to score is refused as
    // typed; 16,4 re-fits twice and gives the CLI's pooled figure.
    await field.fill('22,1');
    await section.locator('.field-error', { hasText: 'decode: a window of 22 intervals leaves none to score: the dump has 22 kept intervals' }).waitFor();
    await field.fill('16,4');
    await section.locator('.field-error').waitFor({ state: 'detached' });
    await section.getByRole('button', { name: 'Run held-out check', exact: true }).click();
    const rolled = section.getByRole('table', { name: /re-fitted every 4 intervals on the last 16 \(2 tables\), held out: the 6 intervals after the first 16/ });
    await rolled.waitFor({ timeout: 120_000 });
    await section.locator('.holdout-status', { hasText: /^Held-out check done/ }).waitFor({ timeout: 120_000 });
    const newRow = await rolled.locator('tbody tr').nth(0).locator('td').allInnerTexts();
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-rolling-'));
    try {
      const cli = JSON.parse(elb(['-icp', path.join(fixtures, 'small-series', 'input'), '-nn', '8', '-nd', '2', '-nre', '8', '-al', '1',
        '--holdout-rolling', '16,4', '--json', '-q', '-o', out]));
      assert.equal(cli.decode.holdout.origins, 2);
      assert.equal(newRow[3], cli.decode.holdout.in_sample.toFixed(4), 'pooled time-resolved on the fitted windows');
      assert.equal(newRow[4], cli.decode.holdout.held_out.toFixed(4), 'pooled time-resolved held out, as `elb --holdout-rolling 16,4`');
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    // Summed input: the check is off and says why.
    await dropFolder(context, page, path.join(fixtures, 'small-summed', 'input'));
    await page.locator('section.summary').getByText('Dropped: input').waitFor();
    await section.getByText(/needs time-series input/).waitFor();
    assert.equal(await section.getByRole('button', { name: 'Run held-out check', exact: true }).isEnabled(), false);
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('"Stop sweep" stops a level-2 sweep of the dsv3 sample and terminates its workers', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await waitDone(page, 180_000);
    const section = page.getByRole('region', { name: 'Redundancy sweep' });
    await section.getByLabel('Sweep algorithm', { exact: true }).selectOption('spec-moe-2');
    await section.getByRole('button', { name: 'Run sweep', exact: true }).click();
    await section.locator('.count', { hasText: /^0 \/ 3 points/ }).waitFor();
    const workers = page.workers();
    assert.ok(workers.length >= 1, 'the sweep uses web workers');
    const closed = Promise.all(workers.map((w) => new Promise((resolve) => w.once('close', resolve))));
    assert.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 1, 'the main Cancel stays unambiguous');
    await section.getByRole('button', { name: 'Stop sweep', exact: true }).click();
    await section.locator('.sweep-status', { hasText: 'Sweep stopped.' }).waitFor();
    await closed;
    assert.equal(await section.getByRole('button', { name: 'Run sweep', exact: true }).isEnabled(), true);
    assert.equal(await section.locator('table.sweep-table').count(), 0, 'no points table after stopping');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});
