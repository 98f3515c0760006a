// Beyond the reference, in the page: the robust option of level 2, the
// migration view (slots moved per NPU against a current placement, and the
// migration-aware refinement), and the ecosystem exports (SGLang / vLLM
// JSON, TensorRT-LLM YAML) compared with `elb --export-format all`.
// Env: ELB_BIN = a built `elb` CLI (else target/release/elb, the main
// checkout's, else `cargo run --release`).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  openApp, fixturesDir, dropFolder, setSettings, downloadBytes, runAndWait, elb, assertNoPanics, parseLbYaml, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;
let tmp;
const fixtures = fixturesDir();

before(async () => ({ site, browser, tmp } = await openSuite('elb-beyond2-')));
after(() => closeSuite({ site, browser, tmp }));

test('the robust checkbox is offered for level 2 only, and a robust run gives the CLI --robust table', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const robust = page.getByLabel('Robust (optimise the worst interval)');
    for (const [algo, shown] of [['c2lb', false], ['spec-moe-2', true], ['spec-moe-1', false], ['deepseek-global', false], ['spec-moe-2-mixed', true]]) {
      await setSettings(page, { algorithm: algo });
      assert.equal(await robust.count(), shown ? 1 : 0, `${algo}: robust checkbox ${shown ? 'shown' : 'hidden'}`);
    }
    const input = path.join(fixtures, 'small-series', 'input');
    await dropFolder(context, page, input);
    await page.locator('section.summary').getByText('Dropped: input').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'spec-moe-2' });
    await robust.check();
    await page.getByText(/worst fitted interval/).first().waitFor();
    await runAndWait(page, 120_000);
    const { bytes } = await downloadBytes(page, 'Download decode table');
    const out = path.join(tmp, 'robust');
    elb(['-icp', input, '-nn', '8', '-nd', '2', '-nre', '8', '-al', '3', '--robust', '-o', out]);
    const cli = JSON.parse(fs.readFileSync(path.join(out, 'decode_global_deployment.json'), 'utf8'));
    assert.deepEqual(JSON.parse(bytes.toString('utf8')), cli, 'the page and elb --robust give the same table');
    // And it is not the plain level-2 table.
    const plainOut = path.join(tmp, 'plain');
    elb(['-icp', input, '-nn', '8', '-nd', '2', '-nre', '8', '-al', '3', '-o', plainOut]);
    const plain = JSON.parse(fs.readFileSync(path.join(plainOut, 'decode_global_deployment.json'), 'utf8'));
    assert.notDeepEqual(cli, plain, 'robust changes the table on this input');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('a current table dropped with the data: slots moved per NPU, and the migration-aware table', async () => {
  const small = path.join(fixtures, 'small-summed');
  const drop = path.join(tmp, 'with-current');
  fs.cpSync(path.join(small, 'input'), drop, { recursive: true });
  fs.copyFileSync(path.join(small, 'expected', 'al1.json'), path.join(drop, 'current_global_deployment.json'));
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, drop);
    await page.locator('section.summary').getByText('Dropped: with-current').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'spec-moe-2' });
    await runAndWait(page, 120_000);
    const card = page.getByRole('region', { name: 'Decode results' });
    const migration = card.getByRole('group', { name: 'Migration (decode)' });
    await migration.getByRole('heading', { name: 'Migration from the current placement' }).waitFor();
    const summary = await migration.locator('p').first().innerText();
    const m = summary.match(/loads (\d+) of (\d+) slots/);
    assert.ok(m, summary);
    // The CLI counts the same slots against the same current table.
    const outDir = path.join(tmp, 'migr');
    const cliOut = elb(['-icp', path.join(small, 'input'), '-nn', '8', '-nd', '2', '-nre', '8', '-al', '3',
      '--current', path.join(small, 'expected', 'al1.json'), '-o', outDir]);
    const cm = cliOut.match(/slots moved vs current \([^)]*\): (\d+) of (\d+)/);
    assert.ok(cm, cliOut);
    assert.equal(m[1], cm[1], 'slots moved: page vs CLI');
    assert.equal(m[2], cm[2]);
    const chart = migration.getByRole('img', { name: /^Slots loaded per NPU/ });
    assert.match(await chart.getAttribute('aria-label'), new RegExp(`new table ${m[1]} in all layers`));
    // Migration-aware, default target 2 %.
    assert.equal(await migration.getByLabel('Target within %').inputValue(), '2');
    await migration.getByLabel('Migration-aware').check();
    const table = migration.getByRole('table', { name: 'New table vs migration-aware (decode)' });
    await table.waitFor({ timeout: 60_000 });
    const row = async (name) => (await table.getByRole('row', { name: new RegExp(`^${name}`) }).locator('td').allInnerTexts());
    const [newMoved, awareMoved] = (await row('Slots moved')).map(Number);
    assert.equal(newMoved, Number(m[1]));
    assert.ok(awareMoved <= newMoved, `migration-aware moves ${awareMoved} <= ${newMoved}`);
    const [, valid] = await row('Valid table');
    assert.equal(valid, 'yes');
    // The CLI's migration-aware refinement moves the same number of slots.
    const awareCli = elb(['-icp', path.join(small, 'input'), '-nn', '8', '-nd', '2', '-nre', '8', '-al', '3',
      '--current', path.join(small, 'expected', 'al1.json'), '--migration-aware', '-o', path.join(tmp, 'migr2')]);
    const am = awareCli.match(/migration-aware \(within 2\.0%\): (\d+) slots moved instead of (\d+)/);
    assert.ok(am, awareCli);
    assert.equal(awareMoved, Number(am[1]), 'migration-aware slots: page vs CLI');
    assert.match(await chart.getAttribute('aria-label'), new RegExp(`migration-aware: ${awareMoved} in all layers`));
    // The refined table downloads and equals the CLI's.
    const { name, bytes } = await downloadBytes(page, 'Download migration-aware decode table');
    assert.equal(name, 'decode_migration_aware_global_deployment.json');
    const cliTable = JSON.parse(fs.readFileSync(path.join(tmp, 'migr2', 'decode_global_deployment.json'), 'utf8'));
    assert.deepEqual(JSON.parse(bytes.toString('utf8')), cliTable);
    // A bad target says so and offers nothing.
    await migration.getByLabel('Target within %').fill('abc');
    await migration.getByText(/Target within must be a percentage/).first().waitFor();
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('SGLang and TensorRT-LLM exports equal elb --export-format all', async () => {
  const input = path.join(fixtures, 'small-series', 'input');
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await dropFolder(context, page, input);
    await page.locator('section.summary').getByText('Dropped: input').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'spec-moe-1' });
    await runAndWait(page, 120_000);
    const outDir = path.join(tmp, 'exports');
    elb(['-icp', input, '-nn', '8', '-nd', '2', '-nre', '8', '-al', '1', '--export-format', 'all', '--first-moe-layer', '3', '-o', outDir]);
    const card = page.getByRole('region', { name: 'Decode results' });
    const group = card.getByRole('group', { name: 'Export (decode)' });
    // The SGLang and TensorRT-LLM files need the model: "other", first MoE layer 3.
    await group.getByLabel('Model', { exact: true }).selectOption('other');
    await group.getByLabel('First MoE layer').fill('3');
    // The msit button is unchanged.
    const msit = await downloadBytes(page, 'Download decode table');
    assert.equal(msit.name, 'decode_global_deployment.json');
    assert.deepEqual(JSON.parse(msit.bytes.toString('utf8')), JSON.parse(fs.readFileSync(path.join(outDir, 'decode_global_deployment.json'), 'utf8')));

    await group.getByLabel('Export format').selectOption('sglang');
    const sg = await downloadBytes(page, 'Download decode export');
    assert.equal(sg.name, 'decode_physical_to_logical.json');
    const sgPage = JSON.parse(sg.bytes.toString('utf8'));
    const sgCli = JSON.parse(fs.readFileSync(path.join(outDir, 'decode_physical_to_logical.json'), 'utf8'));
    assert.deepEqual(Object.keys(sgPage), ['physical_to_logical_map']);
    assert.equal(sgPage.physical_to_logical_map.length, 3 + 4, 'three dense rows, then the four MoE layers');
    assert.deepEqual(sgPage, sgCli);

    await group.getByLabel('Export format').selectOption('trtllm');
    const tr = await downloadBytes(page, 'Download decode export');
    assert.equal(tr.name, 'decode_moe_load_balancer.yaml');
    const trPage = parseLbYaml(tr.bytes.toString('utf8'));
    const trCli = parseLbYaml(fs.readFileSync(path.join(outDir, 'decode_moe_load_balancer.yaml'), 'utf8'));
    assert.equal(trPage.num_slots, 8 * 3);
    assert.deepEqual(Object.keys(trPage.initial_global_assignments), ['3', '4', '5', '6']);
    assert.deepEqual(trPage, trCli);
    // Each layer's assignment is the physical-to-logical row of the same layer.
    assert.deepEqual(trPage.initial_global_assignments['3'], sgPage.physical_to_logical_map[3]);
    assert.equal(tr.bytes.toString('utf8'), fs.readFileSync(path.join(outDir, 'decode_moe_load_balancer.yaml'), 'utf8'), 'byte-identical');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});
