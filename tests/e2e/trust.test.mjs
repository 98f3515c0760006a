// Trust: the page never shows, runs or downloads something of other data, and
// never uses a broken current placement silently. Compared with the CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  openApp, fixturesDir, dropFolder, setSettings, downloadBytes, runAndWait, elb, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;
let tmp;
const fixtures = fixturesDir();
before(async () => ({ site, browser, tmp } = await openSuite('elb-trust-')));
after(() => closeSuite({ site, browser, tmp }));

/** A dsv3-shaped time-series dump with both phases: decode/ and prefill/. */
function bothPhasesDump() {
  const root = path.join(tmp, 'both');
  const dec = path.join(root, 'decode');
  const pre = path.join(tmp, 'prefill-src');
  elb(['sample', '--preset', 'dsv3', '--format', 'series', '--seed', '3', '-o', dec]);
  elb(['sample', '--preset', 'dsv3', '--format', 'series', '--seed', '4', '-o', pre]);
  const preOut = path.join(root, 'prefill');
  fs.mkdirSync(preOut, { recursive: true });
  for (const f of fs.readdirSync(pre)) {
    fs.copyFileSync(path.join(pre, f), path.join(preOut, f.replace(/^decode_/, 'prefill_')));
  }
  return root;
}

test('Run is disabled with the reason while a drop is read, then solves the dropped data (= the CLI)', async () => {
  const dump = bothPhasesDump();
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const run = page.getByRole('button', { name: 'Run', exact: true });
    // Let the start-up sample finish (it runs itself), so its results exist.
    await page.locator('p.status', { hasText: 'Done in' }).waitFor({ timeout: 120_000 });
    await dropFolder(context, page, dump);
    // At once: the sample's results are gone and Run says why it waits.
    assert.equal(await run.isDisabled(), true, 'Run is disabled while the drop is read');
    const reason = page.locator('#run-blocked');
    assert.match(await reason.innerText(), /Reading the data/);
    assert.equal(await page.locator('section.phase-result').count(), 0, 'no result of the old data is shown');
    assert.equal(await page.getByRole('button', { name: 'Download all' }).isDisabled(), true);
    await run.click({ force: true, timeout: 2000 }).catch(() => {});
    await page.locator('section.summary').getByText('Dropped: both').waitFor({ timeout: 120_000 });
    assert.equal(await run.isDisabled(), false);
    assert.equal((await reason.innerText()).trim(), '');
    await runAndWait(page, 180_000);
    const out = path.join(tmp, 'both-cli');
    elb(['-icp', dump, '-o', out]);
    for (const phase of ['decode', 'prefill']) {
      const { bytes } = await downloadBytes(page, `Download ${phase} table`);
      const cli = fs.readFileSync(path.join(out, `${phase}_global_deployment.json`), 'utf8');
      assert.equal(bytes.toString('utf8'), cli, `${phase}: the page's table is the CLI's for the dropped data`);
    }
    assert.deepEqual(errors.filter((e) => /panicked|RuntimeError/.test(e)), []);
  } finally {
    await context.close();
  }
});

test('a failed drop keeps its error, and Run stays disabled with the reason', async () => {
  const bad = path.join(tmp, 'bad');
  fs.mkdirSync(bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'decode_0.csv'), '1,2,3\n4,x,6\n');
  fs.writeFileSync(path.join(bad, 'decode_1.csv'), '1,2,3\n4,5,6\n');
  const { context, page } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, bad);
    const alert = page.locator('[role=alert] .error');
    await alert.waitFor({ timeout: 60_000 });
    const text = await alert.innerText();
    assert.match(text, /decode_0\.csv/);
    const run = page.getByRole('button', { name: 'Run', exact: true });
    assert.equal(await run.isDisabled(), true);
    assert.match(await page.locator('#run-blocked').innerText(), /last load failed/);
    await run.click({ force: true, timeout: 2000 }).catch(() => {});
    assert.equal(await alert.innerText(), text, 'the precise error stays');
  } finally {
    await context.close();
  }
});

test('a broken current map is shown as a problem and not used', async () => {
  const drop = path.join(tmp, 'broken-map');
  fs.cpSync(path.join(fixtures, 'small-series-nodes-map', 'input'), drop, { recursive: true });
  const mapPath = path.join(drop, 'collected_expert_map.json');
  const map = JSON.parse(fs.readFileSync(mapPath, 'utf8'));
  const dev = map.layer_list[0].device_list[0].device_expert;
  dev[1] = dev[0];
  fs.writeFileSync(mapPath, JSON.stringify(map, null, 2));
  const { context, page } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, drop);
    await page.locator('section.summary').getByText('Dropped: broken-map').waitFor({ timeout: 60_000 });
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'spec-moe-1' });
    await runAndWait(page);
    const card = page.locator('section.phase-result').first();
    const problem = card.locator('.current-problem');
    await problem.waitFor();
    const text = await problem.innerText();
    assert.match(text, /collected_expert_map\.json/);
    assert.match(text, /more than once/);
    assert.match(await card.locator('p.before-label').innerText(), /default layout/);
    const moved = await card.getByRole('row', { name: /^Slots moved/ }).locator('td').allInnerTexts();
    assert.match(moved[1], /no current placement/);
  } finally {
    await context.close();
  }
});

test("the page's before figures equal elb score with -nsed 2 and a dropped table", async () => {
  const small = path.join(fixtures, 'small-summed', 'input');
  const made = path.join(tmp, 'nsed-table');
  elb(['-icp', small, '-nre', '8', '-nd', '2', '-nn', '10', '-nsed', '2', '-al', '1', '-o', made]);
  const drop = path.join(tmp, 'nsed-drop');
  fs.cpSync(small, drop, { recursive: true });
  fs.copyFileSync(path.join(made, 'decode_global_deployment.json'), path.join(drop, 'running.json'));
  const score = JSON.parse(elb(['score', '-icp', drop, '-nn', '10', '-nd', '2', '-nsed', '2']));
  const { context, page } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, drop);
    await page.locator('section.summary').getByText('Dropped: nsed-drop').waitFor({ timeout: 60_000 });
    await setSettings(page, { npus: 10, nodes: 2, redundant: 8, shared: 2, algorithm: 'c2lb' });
    await runAndWait(page);
    const card = page.locator('section.phase-result').first();
    assert.match(await card.locator('p.before-label').innerText(), /current placement \(running\.json\)/);
    const row = async (name) => card.getByRole('row', { name: new RegExp(`^${name}`) }).locator('td').allInnerTexts();
    const [stepBefore] = await row('Step imbalance');
    assert.equal(Number(stepBefore).toFixed(3), score.decode.step_imbalance.toFixed(3));
    const [meanBefore] = await row('Mean layer imbalance');
    assert.equal(Number(meanBefore).toFixed(3), score.decode.mean_layer_imbalance.toFixed(3));
  } finally {
    await context.close();
  }
});
