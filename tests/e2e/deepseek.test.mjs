// DeepSeek EPLB hierarchical in the page: the Expert groups field is checked
// as you type (its rule named), and a run gives the CLI's table.
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

before(async () => ({ site, browser, tmp } = await openSuite('elb-deepseek-')));
after(() => closeSuite({ site, browser, tmp }));

test('DeepSeek EPLB hierarchical: expert groups checked as typed, and the run gives the CLI table', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const input = path.join(fixtures, 'small-summed', 'input');
    await dropFolder(context, page, input);
    await page.locator('section.summary').getByText('Dropped: input').waitFor();
    await setSettings(page, { npus: 8, nodes: 2, redundant: 8, algorithm: 'deepseek-hierarchical' });
    const groups = page.getByLabel('Expert groups', { exact: true });
    // 16 experts do not split into 3 groups: the rule is shown beside the field.
    await groups.fill('3');
    const settings = page.locator('form, section').filter({ has: groups }).last();
    const err = settings.locator('.field-error').filter({ hasText: /group/i }).first();
    await err.waitFor();
    assert.match(await err.innerText(), /16|evenly|multiple|nodes/i, 'the error names the rule');
    await groups.fill('4');
    await err.waitFor({ state: 'detached' });
    await runAndWait(page, 60_000);
    const { bytes } = await downloadBytes(page, 'Download decode table');
    const out = path.join(tmp, 'cli');
    elb(['-icp', input, '-nn', '8', '-nd', '2', '-nre', '8', '--algorithm', 'deepseek-hierarchical', '--groups', '4', '-o', out]);
    const cli = fs.readFileSync(path.join(out, 'decode_global_deployment.json'));
    assert.equal(bytes.toString('utf8'), cli.toString('utf8'), 'page table == elb --algorithm deepseek-hierarchical --groups 4');
    assert.deepEqual(errors.filter((e) => /panic/i.test(e)), [], 'no panic');
  } finally {
    await context.close();
  }
});
