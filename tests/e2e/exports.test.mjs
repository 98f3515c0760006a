// The export panel's model choice (docs/exports.md): on the DeepSeek-V3
// sample, the SGLang map and the TensorRT-LLM YAML are refused until a model
// is chosen, a model that does not fit the data is named with both layer
// counts, and with DeepSeek-V3 the downloads are indexed by decoder layer
// (61 SGLang rows, YAML keys 3..60 and 61 for the MTP layer), show the server
// settings beside them, and equal `elb --model deepseek-v3 --mtp`.
// Env: ELB_BIN = a built `elb` CLI (else target/release/elb, else cargo run).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  openApp, setSettings, downloadBytes, runAndWait, elb, assertNoPanics, parseLbYaml, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;
let tmp;

before(async () => ({ site, browser, tmp } = await openSuite('elb-exports-')));
after(() => closeSuite({ site, browser, tmp }));

test('the model choice indexes the SGLang and TensorRT-LLM downloads by decoder layer', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    // The DeepSeek-V3 sample (58 MoE layers x 256 experts, 64 NPUs, 64 redundant).
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await setSettings(page, { algorithm: 'spec-moe-1', npus: 64, nodes: 8, redundant: 64 });
    await runAndWait(page, 180_000);
    const card = page.getByRole('region', { name: 'Decode results' });
    const group = card.getByRole('group', { name: 'Export (decode)' });
    const model = group.getByLabel('Model', { exact: true });

    // msit JSON: no model needed; its settings are shown beside it.
    await group.locator('.server-settings', { hasText: '"num_redundant_experts": 64' }).waitFor();

    // SGLang without a model: the error says to choose one, and nothing is downloaded.
    await group.getByLabel('Export format').selectOption('sglang');
    await group.locator('.field-error', { hasText: 'choose the model' }).first().waitFor();
    let downloaded = false;
    page.once('download', () => { downloaded = true; });
    await group.getByRole('button', { name: 'Download decode export' }).click();
    await group.locator('.field-error', { hasText: 'cannot be exported' }).waitFor();
    assert.equal(downloaded, false, 'no file without a model');

    // A model that does not fit the data: both layer counts named.
    await model.selectOption('kimi-k2');
    await group.locator('.field-error', { hasText: 'Kimi K2 has 60 MoE layers (decoder layers 1..60 of 61), but the data has 58' }).first().waitFor();

    // DeepSeek-V3: 61 rows, the settings beside the file.
    await model.selectOption('deepseek-v3');
    await group.locator('.server-settings', { hasText: '--ep-num-redundant-experts 64 --ep-size 64' }).waitFor();
    assert.match(await group.locator('.server-settings').innerText(), /61 rows, one per decoder layer of DeepSeek-V3 \/ R1/);
    const sg = await downloadBytes(page, 'Download decode export');
    assert.equal(sg.name, 'decode_physical_to_logical.json');
    const sgPage = JSON.parse(sg.bytes.toString('utf8'));
    assert.deepEqual(Object.keys(sgPage), ['physical_to_logical_map']);
    const rows = sgPage.physical_to_logical_map;
    assert.equal(rows.length, 61, 'one row per decoder layer');
    assert.ok(rows.every((r) => r.length === 256 + 64), 'E + redundant wide');
    assert.deepEqual(rows[0], Array.from({ length: 320 }, (_, p) => p % 256), 'dense layer 0: the trivial row');

    // TensorRT-LLM with the MTP entry.
    await group.getByLabel('Export format').selectOption('trtllm');
    await group.getByLabel(/MTP layer entry/).check();
    await group.locator('.server-settings', { hasText: 'keys 3..60 for the MoE layers of DeepSeek-V3 / R1 and 61 for its MTP layer' }).waitFor();
    const tr = await downloadBytes(page, 'Download decode export');
    assert.equal(tr.name, 'decode_moe_load_balancer.yaml');
    const trPage = parseLbYaml(tr.bytes.toString('utf8'));
    assert.equal(trPage.num_slots, 320);
    assert.deepEqual(Object.keys(trPage.initial_global_assignments).map(Number), Array.from({ length: 59 }, (_, i) => 3 + i));
    assert.deepEqual(trPage.initial_global_assignments['3'], rows[3], 'key 3 is the SGLang row 3');

    // The same files as the CLI's on the same sample.
    const dump = path.join(tmp, 'dump');
    const out = path.join(tmp, 'out');
    elb(['sample', '--preset', 'dsv3', '--format', 'series', '-o', dump]);
    elb(['-icp', dump, '-nn', '64', '-nd', '8', '-nre', '64', '-al', '1', '--export-format', 'all', '--model', 'deepseek-v3', '--mtp', '-o', out]);
    assert.deepEqual(sgPage, JSON.parse(fs.readFileSync(path.join(out, 'decode_physical_to_logical.json'), 'utf8')));
    assert.equal(tr.bytes.toString('utf8'), fs.readFileSync(path.join(out, 'decode_moe_load_balancer.yaml'), 'utf8'), 'byte-identical');
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});
