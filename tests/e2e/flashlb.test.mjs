// FlashLB in the page (issue 13): chosen in the settings' algorithm select,
// a run gives exactly the CLI's table (the engine is deterministic natively
// and in wasm), on a time-series dump that names a current placement (the
// new table is matched to it) and on a plain one.
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

before(async () => ({ site, browser, tmp } = await openSuite('elb-flashlb-')));
after(() => closeSuite({ site, browser, tmp }));

for (const fixture of ['small-series-nodes-map', 'small-series']) {
  test(`FlashLB on ${fixture}: the page's table equals elb --algorithm flashlb`, async () => {
    const { context, page, errors } = await openApp(browser, site.url);
    try {
      const input = path.join(fixtures, fixture, 'input');
      await dropFolder(context, page, input);
      await page.locator('section.summary').getByText('Dropped: input').waitFor();
      await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: false, algorithm: 'flashlb' });
      assert.match(await page.locator('#f-algorithm-hint').innerText(), /vLLM-Ascend and SGLang/);
      await runAndWait(page, 60_000);
      const { bytes } = await downloadBytes(page, 'Download decode table');
      const out = path.join(tmp, fixture);
      elb(['-icp', input, '-nn', '8', '-nd', '2', '-nre', '8', '--algorithm', 'flashlb', '-o', out]);
      const cli = fs.readFileSync(path.join(out, 'decode_global_deployment.json'));
      assert.equal(bytes.toString('utf8'), cli.toString('utf8'), `page table == elb --algorithm flashlb on ${fixture}`);
      assert.deepEqual(errors.filter((e) => /panic/i.test(e)), [], 'no panic');
    } finally {
      await context.close();
    }
  });
}
