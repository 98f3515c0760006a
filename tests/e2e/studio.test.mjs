// End-to-end tests of the studio's result extras: the expert-popularity
// heatmap (replica marks, hover read-out), the NPU heatmaps' read-out, the
// sample preset selector, "Download all" as one ZIP, the share link's size
// and the share file (forced with `?share-limit=`) in a fresh context.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  openApp, fixturesDir, dropFolder, setSettings, downloadBytes, runAndWait, waitDone, assertNoPanics, openSuite, closeSuite,
} from './helpers.mjs';
import { readZip } from './zip.mjs';

let site;
let browser;
const small = path.join(fixturesDir(), 'small-summed');
const expectedAl0 = fs.readFileSync(path.join(small, 'expected', 'al0-a2.json'), 'utf8');
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));


/** Drop the small fixture, msit's settings (-nn 8 -nd 2 -nre 8, msit-compatible), run. */
async function runSmall(context, page, folder = path.join(small, 'input')) {
  await dropFolder(context, page, folder);
  await page.locator('section.summary').getByText(`Dropped: ${path.basename(folder)}`).waitFor();
  await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: true });
  await runAndWait(page);
}

/** Copies of each expert per layer in a deployment table: copies[layer][expert]. */
function copiesOf(table) {
  return table.layer_list.map((l) => {
    const c = {};
    for (const d of l.device_list) for (const e of d.device_expert) c[e] = (c[e] || 0) + 1;
    return c;
  });
}

test('the expert popularity heatmap is drawn, marks replicas and reads out the cell under the mouse', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await runSmall(context, page);
    const card = page.getByRole('region', { name: 'Decode results' });
    const img = card.getByRole('img', { name: /^Expert popularity per layer \(4 layers x 16 experts\): \d+ of 64 experts have more than one copy/ });
    await img.waitFor();
    const chart = card.locator('.chart.popularity');
    const canvas = chart.locator('canvas');
    await canvas.scrollIntoViewIfNeeded();
    // Something was drawn: many colours on the canvas.
    const colours = await canvas.evaluate((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return seen.size;
    });
    assert.ok(colours > 20, `a drawn heatmap (${colours} colours)`);

    // Sweep the mouse over the grid: every read-out names a cell whose copy
    // count is the table's, and some cells are replicated.
    const copies = copiesOf(JSON.parse(expectedAl0));
    const box = await canvas.boundingBox();
    const readout = chart.locator('.readout');
    const re = /^layer (\d+), expert (\d+): (\S+) tokens, ([\d.]+) % of the layer, (\d+) cop(?:y|ies) in the new table$/;
    let seen = 0;
    let replicated = 0;
    for (const fy of [0.3, 0.6]) {
      for (let i = 0; i < 16; i++) {
        await page.mouse.move(box.x + box.width * (0.1 + 0.7 * (i / 15)), box.y + box.height * fy);
        const text = (await readout.innerText()).trim();
        const m = re.exec(text);
        if (!m) continue;
        seen++;
        const [l, e, n] = [Number(m[1]), Number(m[2]), Number(m[5])];
        assert.equal(n, copies[l][e] || 0, `layer ${l} expert ${e}: ${text}`);
        if (n > 1) replicated++;
      }
    }
    assert.ok(seen >= 16, `read-outs over the grid (${seen})`);
    assert.ok(replicated > 0, 'some hovered experts are replicated');
    assert.equal(await readout.getAttribute('aria-live'), 'off');

    // Save as PNG, like the other charts.
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      chart.getByRole('button', { name: 'Save Expert popularity as PNG', exact: true }).click(),
    ]);
    assert.equal(dl.suggestedFilename(), 'decode_expert_popularity.png');
    assert.deepEqual(fs.readFileSync(await dl.path()).subarray(0, 8), PNG_MAGIC);

    // The layers x NPUs heatmaps read out layer, NPU, before and after.
    const heat = card.locator('.chart', { has: page.getByRole('heading', { name: 'Load per NPU, every layer' }) });
    const hc = heat.locator('canvas');
    await hc.scrollIntoViewIfNeeded();
    const hb = await hc.boundingBox();
    for (const fx of [0.3, 0.75]) {
      await page.mouse.move(hb.x + hb.width * fx, hb.y + hb.height * 0.45);
      await heat
        .locator('.readout')
        .filter({ hasText: /^layer [0-3], NPU [0-7]: before \S+, after \S+ tokens$/ })
        .waitFor({ timeout: 5000 });
    }
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('the sample preset selector loads the chosen preset (keyboard operable)', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const preset = page.getByLabel('Sample preset', { exact: true });
    const format = page.getByLabel('Sample format', { exact: true });
    assert.equal(await preset.inputValue(), 'dsv3', 'the default preset is unchanged');
    assert.equal(await format.inputValue(), 'series');
    await preset.selectOption('small');
    await format.selectOption('summed');
    // Keyboard: Tab from the format selector to the button, Enter presses it.
    await format.focus();
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
    assert.equal(focused, 'Load sample data');
    await page.keyboard.press('Enter');
    await page.locator('section.summary').getByText(/Built-in sample data: small: 4 layers x 16 experts.*summed/).waitFor();
    assert.equal(await page.getByLabel('NPUs', { exact: true }).inputValue(), '8', "the preset's cluster");
    const card = page.getByRole('region', { name: 'Decode results' });
    await card.getByRole('img', { name: /^Expert popularity per layer \(4 layers x 16 experts\)/ }).waitFor({ timeout: 60_000 });
    await waitDone(page);
    assert.equal(await card.getByLabel('Layer', { exact: true }).locator('option').count(), 4);
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('Download all is one ZIP: both tables as downloaded one by one, plus the report as JSON and Markdown', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-zip-'));
  const both = path.join(dir, 'both');
  fs.mkdirSync(both);
  for (const f of fs.readdirSync(path.join(small, 'input'))) {
    const src = path.join(small, 'input', f);
    fs.copyFileSync(src, path.join(both, f));
    fs.copyFileSync(src, path.join(both, f.replace('decode_', 'prefill_')));
  }
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await runSmall(context, page, both);
    const { name, bytes } = await downloadBytes(page, 'Download all');
    assert.equal(name, 'elb_results.zip');
    const entries = readZip(bytes);
    assert.ok(entries.every((e) => e.method === 0), 'stored entries');
    assert.deepEqual(entries.map((e) => e.name).sort(), [
      'decode_global_deployment.json', 'elb_report.json', 'elb_report.md', 'prefill_global_deployment.json',
    ]);
    const byName = Object.fromEntries(entries.map((e) => [e.name, e.data]));
    for (const phase of ['decode', 'prefill']) {
      const single = await downloadBytes(page, `Download ${phase} table`);
      assert.deepEqual(byName[`${phase}_global_deployment.json`], single.bytes, `${phase}: same bytes as its own download`);
    }
    const report = JSON.parse(byName['elb_report.json'].toString('utf8'));
    assert.equal(report.tool, 'ELB Studio');
    assert.deepEqual(report.phases.map((p) => p.phase).sort(), ['decode', 'prefill']);
    const shown = await page
      .getByRole('region', { name: 'Decode results' })
      .getByRole('row', { name: /^Step imbalance/ })
      .locator('td')
      .nth(1)
      .innerText();
    const decode = report.phases.find((p) => p.phase === 'decode');
    assert.equal(decode.after.step_imbalance.toFixed(4), shown.trim(), 'the report has the figures shown');
    assert.equal(decode.settings.cluster.devices, 8);
    const md = byName['elb_report.md'].toString('utf8');
    assert.match(md, /^# ELB Studio report/);
    assert.match(md, /## decode/);
    assert.match(md, /\| step imbalance \| [\d.]+ \| [\d.]+ \|/);
    // Info-ZIP agrees, when installed.
    const zipPath = path.join(dir, name);
    fs.writeFileSync(zipPath, bytes);
    let unzip = null;
    try {
      unzip = execFileSync('unzip', ['-t', zipPath], { encoding: 'utf8' });
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
    if (unzip !== null) assert.match(unzip, /No errors detected/);
    assertNoPanics(errors);
  } finally {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** "Link: 12.3 kB" -> bytes (approximate for kB/MB). */
function parseSize(text) {
  const m = /Link: ([\d.]+) (B|kB|MB)/.exec(text);
  assert.ok(m, `a size in "${text}"`);
  return Number(m[1]) * { B: 1, kB: 1e3, MB: 1e6 }[m[2]];
}

test('the share link size is shown next to Copy share link', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await runSmall(context, page);
    const size = page.locator('#share-size');
    await size.filter({ hasText: /^Link: [\d.]+ (B|kB)$/ }).waitFor();
    const button = page.getByRole('button', { name: 'Copy share link', exact: true });
    assert.equal(await button.getAttribute('aria-describedby'), 'share-size share-where');
    await button.click();
    const link = await page.getByLabel('Share link', { exact: true }).inputValue();
    const shown = parseSize(await size.innerText());
    assert.ok(Math.abs(shown - link.length) <= Math.max(50, link.length * 0.001), `shown ${shown}, link ${link.length}`);
    assert.equal(await page.getByRole('button', { name: 'Download share file' }).count(), 0, 'a short link needs no file');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('over the size limit a share file is offered, and it reproduces the run in a fresh browser context', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-share-'));
  let shareFile;
  let table;
  // ?share-limit=100: any link is "too long", forcing the share-file path.
  const first = await openApp(browser, site.url + '?share-limit=100');
  try {
    const { context, page, errors } = first;
    await runSmall(context, page);
    await page.locator('#share-size').filter({ hasText: /too long/ }).waitFor();
    await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
    await page.locator('p.status').filter({ hasText: /would be .*Download share file/ }).waitFor();
    assert.equal(await page.getByLabel('Share link', { exact: true }).count(), 0, 'no over-long link is shown');
    const file = await downloadBytes(page, 'Download share file');
    assert.equal(file.name, 'elb-share.json');
    const json = JSON.parse(file.bytes.toString('utf8'));
    assert.equal(json.elb_share, 1);
    assert.match(json.fragment, /^#run=/);
    shareFile = path.join(dir, file.name);
    fs.writeFileSync(shareFile, file.bytes);
    table = (await downloadBytes(page, 'Download decode table')).bytes.toString('utf8');
    assert.equal(table, expectedAl0);
    assertNoPanics(errors);
  } finally {
    await first.context.close();
  }
  // A fresh context (no storage, no link): drop the file, then pick it.
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, shareFile);
    await page.locator('section.summary').getByText('From a share link: Dropped: input').waitFor();
    await page.locator('p.status', { hasText: 'Tables from the share link' }).waitFor();
    assert.equal(await page.getByLabel('NPUs', { exact: true }).inputValue(), '8');
    assert.equal(await page.getByLabel('msit-compatible output').isChecked(), true);
    assert.equal((await downloadBytes(page, 'Download decode table')).bytes.toString('utf8'), table);
    // The file picker opens it too (after other data was loaded).
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await page.getByLabel('Choose files').setInputFiles(shareFile);
    await page.locator('section.summary').getByText('From a share link: Dropped: input').waitFor();
    await page.locator('p.status', { hasText: 'Tables from the share link' }).waitFor();
    assert.equal((await downloadBytes(page, 'Download decode table')).bytes.toString('utf8'), table);
    assertNoPanics(errors);
  } finally {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
