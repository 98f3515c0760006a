// Takes docs/sweep.png and docs/holdout.png: the redundancy sweep (level 1,
// on the small-series fixture: 8 NPUs, R = 0, 8, 16) and the held-out check
// (level 2, 70% / 30%) in headless Chromium. Run after a build:
//   NODE_PATH=<tools>/node_modules node tests/e2e/screenshot_beyond_pool.mjs [dark]
import path from 'node:path';
import { startSite, launch, openApp, repoRoot, fixturesDir, dropFolder, setSettings, waitDone } from './helpers.mjs';

const dark = process.argv[2] === 'dark';
const site = await startSite();
const browser = await launch();
try {
  const { context, page } = await openApp(browser, site.url, { colorScheme: dark ? 'dark' : 'light', viewport: { width: 1280, height: 1000 } });
  await waitDone(page, 180_000);
  await dropFolder(context, page, path.join(fixturesDir(), 'small-series', 'input'));
  await page.locator('section.summary').getByText('Dropped: input').waitFor();
  await setSettings(page, { npus: 8, nodes: 2, redundant: 8, msit: false, algorithm: 'spec-moe-2' });
  const sweep = page.getByRole('region', { name: 'Redundancy sweep' });
  await sweep.getByLabel('Sweep algorithm', { exact: true }).selectOption('spec-moe-1');
  await sweep.getByRole('button', { name: 'Run sweep', exact: true }).click();
  await sweep.locator('.sweep-status', { hasText: /^Swept/ }).waitFor({ timeout: 120_000 });
  const chart = sweep.locator('canvas');
  const box = await chart.boundingBox();
  await page.mouse.move(box.x + box.width * 0.52, box.y + box.height * 0.6);
  await page.waitForTimeout(300);
  await sweep.screenshot({ path: path.join(repoRoot, 'docs', 'sweep.png') });
  const hold = page.getByRole('region', { name: 'Held-out check' });
  await hold.getByRole('button', { name: 'Run held-out check', exact: true }).click();
  await hold.locator('.holdout-status', { hasText: /^Held-out check done/ }).waitFor({ timeout: 120_000 });
  await hold.screenshot({ path: path.join(repoRoot, 'docs', 'holdout.png') });
  console.log('wrote docs/sweep.png, docs/holdout.png');
} finally {
  await browser.close();
  await site.close();
}
