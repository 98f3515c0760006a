// Other servers' dumps dropped in the page (docs/inputs-servers.md): SGLang
// recorder .pt files and a vLLM EPLB load history are recognised, and the
// figures table shows every server's balance figure with its definition on
// hover (docs/metrics-servers.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  openApp, dropFolder, waitDone, runAndWait, setSettings, fixturesDir, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));

test('SGLang per-pass .pt files and a vLLM load history are read; the figures table has the servers\' figures with hover definitions', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    await waitDone(page, 120_000);
    const summary = page.locator('section.summary');

    await dropFolder(context, page, path.join(fixturesDir(), 'servers', 'sglang-per-pass'));
    await summary.getByText('SGLang expert-distribution recorder, per-pass mode (3 intervals)').waitFor({ timeout: 60_000 });
    await summary.getByText(/yes \(last_physical_to_logical_map of /).waitFor();
    await setSettings(page, { npus: 2, nodes: 1, redundant: 4, shared: 0, algorithm: 'spec-moe-2' });
    await runAndWait(page, 120_000);
    const card = page.getByRole('region', { name: 'Decode results' });
    for (const [label, word] of [
      ['SGLang balancedness (1.0 = perfect)', 'SGLang'],
      ['TensorRT-LLM imbalance ratio (0 = perfect)', 'TensorRT-LLM'],
      ['vLLM balancedness (1.0 = perfect)', 'vLLM'],
      ['EPLB benchmark balancedness (1.0 = perfect)', 'EPLB benchmark'],
    ]) {
      const row = card.getByRole('row', { name: new RegExp(`^${label.replace(/[().]/g, '\\$&')}`) });
      await row.waitFor();
      const title = await row.getAttribute('title');
      assert.ok(title && title.includes(word), `${label}: hover definition ${title}`);
      const cells = await row.locator('td').allInnerTexts();
      assert.equal(cells.length, 2);
      for (const c of cells) assert.match(c.trim(), /^\d+\.\d{4}$/, `${label}: ${cells}`);
    }

    await dropFolder(context, page, path.join(fixturesDir(), 'servers', 'vllm-load-history'));
    await summary.getByText('vLLM EPLB load history (4 intervals)').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('[role=alert] .error').count(), 0, 'no error');
    const bad = errors.filter((e) => /panicked|RuntimeError|unreachable|Content Security Policy|Refused to/i.test(e));
    assert.deepEqual(bad, []);
  } finally {
    await context.close();
  }
});
