// End-to-end tests of the result charts' tools: Save-as-PNG and hover read-outs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  openApp, runAndWait, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

test('a chart saves as a PNG and hovering the load chart shows a read-out', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await runAndWait(page, 120_000);
    const card = page.locator('section.phase-result').first();
    const save = card.getByRole('button', { name: 'Save Load per NPU as PNG', exact: true });
    const [dl] = await Promise.all([page.waitForEvent('download'), save.click()]);
    assert.match(dl.suggestedFilename(), /^[a-z]+_load_per_npu\.png$/);
    const bytes = fs.readFileSync(await dl.path());
    assert.ok(bytes.length > 1000, `a real image (${bytes.length} bytes)`);
    assert.deepEqual(bytes.subarray(0, 8), PNG_MAGIC, 'PNG magic bytes');

    // Hover the middle of the load chart: a read-out of one NPU appears.
    const chart = card.locator('.chart').first();
    const canvas = chart.locator('canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const readout = chart.locator('.readout');
    await readout.filter({ hasText: /NPU \d+: before \S+, after \S+ tokens/ }).waitFor({ timeout: 5000 });
    assert.equal(await readout.getAttribute('aria-live'), 'off');

    // The imbalance chart reads out a layer.
    const lines = card.locator('.chart').nth(1);
    await lines.locator('canvas').scrollIntoViewIfNeeded();
    const lbox = await lines.locator('canvas').boundingBox();
    await page.mouse.move(lbox.x + lbox.width / 2, lbox.y + lbox.height / 2);
    await lines.locator('.readout').filter({ hasText: /layer \d+: before [\d.]+, after [\d.]+/ }).waitFor({ timeout: 5000 });

    // The figures table has the placement-change rows.
    await card.getByRole('rowheader', { name: 'Replicas added' }).waitFor();
    await card.getByRole('rowheader', { name: 'Slots moved vs current placement' }).waitFor();
    assert.deepEqual(errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e)), []);
  } finally {
    await context.close();
  }
});
