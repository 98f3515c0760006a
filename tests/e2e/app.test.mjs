// End-to-end tests of the release build in headless Chromium, served under a
// sub-path. Run: `node --test tests/e2e/` after `trunk build --release`
// (tests/e2e/run.sh does both).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startSite, openApp, fixturesDir, dropFolder, setSettings, downloadBytes, runAndWait, waitDone, foreignRequests, assertNoPanics, openSuite, closeSuite,
} from './helpers.mjs';
import { readZip } from './zip.mjs';

let site;
let browser;
const fixtures = fixturesDir();
const small = path.join(fixtures, 'small-summed');
const expectedAl0 = fs.readFileSync(path.join(small, 'expected', 'al0-a2.json'));
// Requests of the first test's whole run (load, drop, run, download).
let firstRunRequests = null;
// The share link made after the first test's run.
let shareLink = null;

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));


test('a real folder drop, msit settings, Run, and the decode table equals msit al0-a2', async () => {
  const { context, page, requests, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, path.join(small, 'input'));
    // The recognition summary shows the fixture's shape.
    const summary = page.locator('section.summary');
    await summary.getByText('Dropped: input').waitFor();
    await assert.doesNotReject(summary.locator('dd', { hasText: /^16$/ }).first().waitFor());
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: true });
    await runAndWait(page);
    const { name, bytes } = await downloadBytes(page, 'Download decode table');
    assert.equal(name, 'decode_global_deployment.json');
    assert.deepEqual(JSON.parse(bytes.toString('utf8')), JSON.parse(expectedAl0.toString('utf8')));
    assert.equal(bytes.toString('utf8'), expectedAl0.toString('utf8'), 'byte-identical to msit');
    // A share link of this run for the round-trip test.
    await page.getByRole('button', { name: 'Copy share link' }).click();
    const field = page.getByLabel('Share link', { exact: true });
    await field.waitFor();
    shareLink = await field.inputValue();
    assert.match(shareLink, /#run=/);
    assertNoPanics(errors);
    firstRunRequests = requests.slice();
  } finally {
    await context.close();
  }
});

test('no request leaves the page origin during a whole run', () => {
  assert.ok(firstRunRequests, 'the first test recorded its requests');
  assert.ok(firstRunRequests.some((u) => u.endsWith('.wasm')), 'the wasm was fetched (requests were seen)');
  assert.ok(firstRunRequests.some((u) => u.includes('worker')), 'the worker was loaded');
  assert.deepEqual(foreignRequests(firstRunRequests, site.origin), []);
  assert.ok(
    firstRunRequests.every((u) => !u.startsWith(site.origin) || u.startsWith(site.url)),
    'every asset comes from the sub-path',
  );
});

test('a bad folder shows its error in the alert (keyboard: Enter opens the picker)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-bad-'));
  const bad = path.join(dir, 'bad-dump');
  fs.mkdirSync(bad);
  fs.writeFileSync(path.join(bad, 'decode_0.csv'), '1,2\n3,oops\n');
  fs.writeFileSync(path.join(bad, 'decode_1.csv'), '5,6\n7,8\n');
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      (async () => {
        await page.getByRole('region', { name: 'Drop hotspot folder' }).focus();
        await page.keyboard.press('Enter');
      })(),
    ]);
    await chooser.setFiles(bad);
    const alert = page.getByRole('alert');
    await alert.getByText('decode_0.csv').waitFor();
    const text = await alert.innerText();
    assert.match(text, /decode_0\.csv/);
    assert.match(text, /row 2/);
    assertNoPanics(errors);
  } finally {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the sample data runs with the default settings', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await runAndWait(page, 120_000);
    const dl = page.getByRole('button', { name: /^Download (decode|prefill) table$/ }).first();
    await dl.waitFor();
    assert.equal(await dl.isEnabled(), true);
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('Cancel stops a long run', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await setSettings(page, { algorithm: 'spec-moe-2' });
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.locator('p.status', { hasText: 'Solving' }).waitFor();
    // The solver's workers exist now; Cancel must terminate every one.
    const workers = page.workers();
    assert.ok(workers.length >= 1, 'the run uses web workers');
    const closed = Promise.all(workers.map((w) => new Promise((resolve) => w.once('close', resolve))));
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('p.status', { hasText: 'Cancelled' }).waitFor();
    await closed;
    assert.equal(await page.locator('section.phase-result').count(), 0, 'no results after Cancel');
    assert.equal(await page.getByRole('button', { name: 'Run', exact: true }).isEnabled(), true);
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('a share link reproduces the run in a fresh browser context', async () => {
  assert.ok(shareLink, 'the first test made a share link');
  const context = await browser.newContext({ acceptDownloads: true });
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(shareLink);
    // The sender's tables, shown without a run.
    await page.locator('p.status', { hasText: 'Tables from the share link' }).waitFor({ timeout: 60_000 });
    assert.equal(await page.getByLabel('NPUs', { exact: true }).inputValue(), '8');
    assert.equal(await page.getByLabel('msit-compatible output').isChecked(), true);
    const { bytes } = await downloadBytes(page, 'Download decode table');
    assert.equal(bytes.toString('utf8'), expectedAl0.toString('utf8'));
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('decode and prefill in one folder: two result cards, Download all gives both tables', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-two-'));
  const both = path.join(dir, 'both-phases');
  fs.mkdirSync(both);
  for (const f of fs.readdirSync(path.join(small, 'input'))) {
    const src = path.join(small, 'input', f);
    fs.copyFileSync(src, path.join(both, f));
    fs.copyFileSync(src, path.join(both, f.replace('decode_', 'prefill_')));
  }
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, both);
    await page.locator('section.summary').getByText('Dropped: both-phases').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: true });
    await runAndWait(page);
    await page.getByRole('region', { name: 'Prefill results' }).waitFor();
    await page.getByRole('region', { name: 'Decode results' }).waitFor();
    // One archive: both tables (msit's bytes) and the report.
    const { name, bytes } = await downloadBytes(page, 'Download all');
    assert.equal(name, 'elb_results.zip');
    const entries = readZip(bytes);
    const tables = entries.filter((e) => e.name.endsWith('_global_deployment.json'));
    assert.deepEqual(tables.map((e) => e.name).sort(), ['decode_global_deployment.json', 'prefill_global_deployment.json']);
    for (const e of tables) assert.equal(e.data.toString('utf8'), expectedAl0.toString('utf8'), `${e.name} is msit's table`);
    // Another layer in the selector redraws without errors.
    const decode = page.getByRole('region', { name: 'Decode results' });
    await decode.getByLabel('Layer', { exact: true }).selectOption('2');
    await decode.getByRole('img', { name: /^Load per NPU in layer 2:/ }).waitFor();
    assertNoPanics(errors);
  } finally {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a dump naming a missing placement file says to add it; with the file, it is the "before"', async () => {
  const nodesMap = path.join(fixtures, 'small-series-nodes-map', 'input');
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, path.join(nodesMap, 'node_0'));
    await page
      .locator('section.summary')
      .getByText(/the dump names collected_expert_map\.json as the current placement; add it/i)
      .waitFor();
    await dropFolder(context, page, nodesMap);
    await page.locator('section.summary').getByText('yes (collected_expert_map.json)').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'spec-moe-1' });
    await runAndWait(page);
    await page.getByRole('region', { name: 'Decode results' }).getByText(/Before: the current placement/).waitFor();
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('a broken share link is reported in the alert, not a crash', async () => {
  const { context, page, errors } = await openApp(browser, site.url + '#run=not-a-real-link');
  try {
    await page.getByRole('alert').getByText(/share link cannot be read/).waitFor();
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('a web worker that cannot load is reported with its cause, not a hang', async () => {
  const broken = await startSite();
  fs.rmSync(path.join(broken.tmp, 'tools', 'elb', 'worker_loader.js'));
  try {
    const { context, page, errors } = await openApp(browser, broken.url);
    try {
      // The sample loads on start, in a worker that cannot start: the page
      // (which parses and solves only in workers) says so.
      await page.getByRole('alert').getByText(/could not start its web worker/).waitFor();
      assertNoPanics(errors);
    } finally {
      await context.close();
    }
  } finally {
    await broken.close();
  }
});

test('the large-cluster sample (61 x 512 on 256 NPUs) loads, runs and downloads a whole table', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await page.getByLabel('Sample preset', { exact: true }).selectOption('xl');
    await page.getByLabel('Sample format', { exact: true }).selectOption('series');
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data: xl:').waitFor({ timeout: 300_000 });
    // The preset's cluster is taken and the page runs by itself (default
    // algorithm); the older data's results went when the new data came.
    await page.getByRole('button', { name: 'Download decode table', exact: true }).waitFor({ timeout: 300_000 });
    await waitDone(page, 300_000);
    assert.equal(await page.getByLabel('NPUs', { exact: true }).inputValue(), '256');
    assert.equal(await page.getByLabel('Nodes', { exact: true }).inputValue(), '32');
    const { bytes } = await downloadBytes(page, 'Download decode table');
    const table = JSON.parse(bytes.toString('utf8'));
    assert.equal(table.layer_list.length, 61);
    for (const layer of table.layer_list) {
      assert.equal(layer.device_list.length, 256);
      const ids = new Set();
      for (const d of layer.device_list) {
        assert.equal(d.device_expert.length, 3, `layer ${layer.layer_id} device ${d.device_id}`);
        d.device_expert.forEach((e) => ids.add(e));
      }
      assert.equal(ids.size, 512, `layer ${layer.layer_id}: every expert placed`);
    }
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});
