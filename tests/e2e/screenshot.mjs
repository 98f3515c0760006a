// Takes docs/screenshot.png: the built-in sample run with the default
// settings, in headless Chromium. Run after a build:
//   NODE_PATH=<tools>/node_modules node tests/e2e/screenshot.mjs [algorithm] [out.png] [dark]
import path from 'node:path';
import { startSite, launch, openApp, repoRoot, setSettings, runAndWait } from './helpers.mjs';

const algorithm = process.argv[2] || 'c2lb';
const out = process.argv[3] || path.join(repoRoot, 'docs', 'screenshot.png');
const dark = process.argv[4] === 'dark';
const site = await startSite();
const browser = await launch();
try {
  const { page } = await openApp(browser, site.url, { colorScheme: dark ? 'dark' : 'light', viewport: { width: 1280, height: 1000 } });
  await page.locator('section.summary').getByText('Built-in sample data').waitFor();
  await setSettings(page, { algorithm });
  await runAndWait(page, 120_000);
  await page.locator('section.phase-result canvas').first().waitFor();
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await site.close();
}
