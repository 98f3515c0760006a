// Takes docs/robust.png, docs/migration.png and docs/exports.png (README,
// "Beyond the reference"), and prints how long the migration-aware
// refinement takes in the browser on the DeepSeek-V3-shaped fixture. Run
// after a build (`robust` as the argument: only the first, quick one;
// `exports`: only the last):
//   NODE_PATH=<tools>/node_modules node tests/e2e/screenshot_beyond2.mjs [robust|exports]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSite, launch, openApp, repoRoot, fixturesDir, dropFolder, setSettings, runAndWait } from './helpers.mjs';

const fixtures = fixturesDir();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-shots-'));
const site = await startSite();
const browser = await launch();
const only = process.argv[2];
try {
  // Robust: the settings card with level 2 chosen and the option ticked.
  if (only !== 'exports') {
    const { context, page } = await openApp(browser, site.url, { viewport: { width: 1280, height: 1000 } });
    await setSettings(page, { algorithm: 'spec-moe-2' });
    await page.getByLabel('Robust (optimise the worst interval)').check();
    const card = page.locator('section.settings');
    await card.scrollIntoViewIfNeeded();
    await card.screenshot({ path: path.join(repoRoot, 'docs', 'robust.png') });
    await context.close();
  }
  if (only === 'robust') throw new Error('done: robust only');
  // Migration: the dsv3-series dump with msit's level-1 table as the running placement, level 2 as the new table.
  const drop = path.join(tmp, 'dsv3-with-current');
  fs.cpSync(path.join(fixtures, 'dsv3-series', 'input'), drop, { recursive: true });
  fs.copyFileSync(path.join(fixtures, 'dsv3-series', 'expected', 'al1.json'), path.join(drop, 'running_global_deployment.json'));
  if (only !== 'exports') {
    const { context, page } = await openApp(browser, site.url, { viewport: { width: 1280, height: 1000 } });
    await dropFolder(context, page, drop);
    await page.locator('section.summary').getByText('Dropped: dsv3-with-current').waitFor({ timeout: 120_000 });
    await setSettings(page, { npus: 64, nodes: 8, redundant: 64, algorithm: 'spec-moe-2' });
    await runAndWait(page, 600_000);
    const group = page.getByRole('group', { name: 'Migration (decode)' });
    await group.getByLabel('Migration-aware').check();
    const hint = group.getByText(/Refined layer by layer in/);
    await hint.waitFor({ timeout: 300_000 });
    console.log(`dsv3-series, al3 vs current al1, within 2 %: ${await hint.innerText()}`);
    console.log((await group.getByRole('table').innerText()).replace(/\t/g, ' | '));
    await group.scrollIntoViewIfNeeded();
    await group.screenshot({ path: path.join(repoRoot, 'docs', 'migration.png') });
    await context.close();
  }
  // Exports: the DeepSeek-V3 sample, level 1, the TensorRT-LLM YAML for DeepSeek-V3 with its MTP entry.
  {
    const { context, page } = await openApp(browser, site.url, { viewport: { width: 1280, height: 1000 } });
    await page.getByRole('button', { name: 'Load sample data' }).click();
    await page.locator('section.summary').getByText('Built-in sample data').waitFor();
    await setSettings(page, { npus: 64, nodes: 8, redundant: 64, algorithm: 'spec-moe-1' });
    await runAndWait(page, 180_000);
    const card = page.getByRole('region', { name: 'Decode results' });
    const group = card.getByRole('group', { name: 'Export (decode)' });
    await group.getByLabel('Export format').selectOption('trtllm');
    await group.getByLabel('Model', { exact: true }).selectOption('deepseek-v3');
    await group.getByLabel(/MTP layer entry/).check();
    await group.scrollIntoViewIfNeeded();
    await group.screenshot({ path: path.join(repoRoot, 'docs', 'exports.png') });
    await context.close();
  }
  console.log(only === 'exports' ? 'wrote docs/exports.png' : 'wrote docs/robust.png, docs/migration.png, docs/exports.png');
} catch (e) {
  if (!String(e.message).startsWith('done:')) throw e;
  console.log('wrote docs/robust.png');
} finally {
  await browser.close();
  await site.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
