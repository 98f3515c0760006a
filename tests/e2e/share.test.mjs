// Share links and share files (issue 14), in TWO browser contexts: a sender
// runs, copies the link (or downloads the share file), a receiver with no
// storage opens it and must see the same thing without pressing Run: the
// same tables byte for byte, the same figures, the same interval chart data,
// every chart the same pixel for pixel, the same settings; Run again gives the same tables. Summed and
// time-series data, every algorithm family. Also: a version-1 link still
// opens, a newer-version, tampered or truncated link is a clear error and
// shows nothing else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  openApp, setSettings, waitDone, runAndWait, dropFolder, repoRoot, assertNoPanics, openSuite, closeSuite,
} from './helpers.mjs';

let site;
let browser;

before(async () => ({ site, browser } = await openSuite()));
after(() => closeSuite({ site, browser }));

const SHARED = 'Tables from the share link';

/** Load a built-in sample preset and wait for its automatic run. */
async function loadSample(page, preset, format) {
  await page.getByLabel('Sample preset', { exact: true }).selectOption(preset);
  await page.getByLabel('Sample format', { exact: true }).selectOption(format);
  await page.getByRole('button', { name: 'Load sample data' }).click();
  await page.locator('section.summary').getByText(`Built-in sample data: ${preset}:`).waitFor();
}

/** What the page shows: per phase card the table bytes, figures text and interval data; the form. */
async function view(page) {
  const out = { phases: {}, form: {} };
  const cards = page.locator('section.phase-result');
  const n = await cards.count();
  assert.ok(n >= 1, 'at least one result card');
  for (let i = 0; i < n; i++) {
    const card = cards.nth(i);
    const name = await card.getAttribute('aria-label');
    const phase = /^(\w+) results$/i.exec(name)[1].toLowerCase();
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      card.getByRole('button', { name: `Download ${phase} table`, exact: true }).click(),
    ]);
    const table = fs.readFileSync(await dl.path(), 'utf8');
    const figures = await card.locator('table.figures').innerText();
    const before = await card.locator('.before-label').innerText();
    const chart = card.locator('.chart', { has: page.getByRole('heading', { name: 'Step imbalance over time', exact: true }) }).locator('canvas[data-values]');
    const intervals = (await chart.count()) ? await chart.getAttribute('data-values') : null;
    out.phases[phase] = { table, figures, before, intervals };
  }
  for (const label of ['Algorithm', 'NPUs', 'Nodes', 'Redundant experts', 'Seed']) {
    out.form[label] = await page.getByLabel(label, { exact: true }).inputValue();
  }
  out.format = await page.locator('section.summary').innerText().then((t) => /Format\s*(.*)/.exec(t)?.[1]);
  return out;
}

/** Sender: sample, settings, run; returns its view and the share link. */
async function send(preset, format, settings, url = site.url) {
  const app = await openApp(browser, url);
  const { page } = app;
  await loadSample(page, preset, format);
  await waitDone(page, 120_000);
  await setSettings(page, settings);
  await runAndWait(page, 120_000);
  const seen = await view(page);
  seen.charts = await charts(page);
  return { app, seen };
}

/** Every chart of every result card as PNG data, once two reads agree (drawing is asynchronous). */
async function charts(page) {
  const read = () => page.locator('section.phase-result canvas').evaluateAll((cs) => cs.map((c) => c.toDataURL()));
  let last = await read();
  for (let i = 0; i < 40; i++) {
    await page.waitForTimeout(250);
    const now = await read();
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
  return last;
}

async function copyLink(page) {
  await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
  return page.getByLabel('Share link', { exact: true }).inputValue();
}

/** Receiver checks: same view without Run, then Run again gives the same tables. */
async function assertReproduced(page, seen, what) {
  await page.locator('p.status', { hasText: SHARED }).waitFor({ timeout: 60_000 });
  const got = await view(page);
  got.charts = await charts(page);
  assert.ok(seen.charts.length >= 3, `${what}: the cards have charts`);
  const { charts: sentCharts, ...sent } = seen;
  const { charts: gotCharts, ...received } = got;
  assert.deepEqual(received, sent, `${what}: the receiver sees what the sender saw`);
  assert.equal(gotCharts.length, sentCharts.length, `${what}: as many charts`);
  gotCharts.forEach((c, i) => assert.ok(c === sentCharts[i], `${what}: chart ${i} is drawn pixel for pixel the same`));
  await runAndWait(page, 120_000);
  const again = await view(page);
  for (const [phase, v] of Object.entries(seen.phases)) {
    assert.equal(again.phases[phase].table, v.table, `${what}: Run again gives the same ${phase} table`);
    assert.equal(again.phases[phase].figures, v.figures, `${what}: and the same ${phase} figures`);
  }
}

const FAMILIES = [
  { algorithm: 'c2lb' },
  { algorithm: 'spec-moe-1' },
  { algorithm: 'spec-moe-2', seed: 5 },
  { algorithm: 'deepseek-global' },
  { algorithm: 'flashlb' },
];

for (const format of ['series', 'summed']) {
  for (const fam of FAMILIES) {
    test(`a share link reproduces ${fam.algorithm} on ${format} data in a fresh context, without Run`, async () => {
      const { app, seen } = await send('small', format, fam);
      let link;
      try {
        if (format === 'series') {
          for (const p of Object.values(seen.phases)) assert.ok(p.intervals, 'the sender has an interval chart');
        }
        link = await copyLink(app.page);
        assert.match(link, /#run=2\./, 'a version-2 link');
        assertNoPanics(app.errors);
      } finally {
        await app.context.close();
      }
      const rx = await openApp(browser, link);
      try {
        await assertReproduced(rx.page, seen, `${fam.algorithm} ${format}`);
        await rx.page.locator('section.summary').getByText(/From a share link: Built-in sample data: small/).waitFor();
        assertNoPanics(rx.errors);
      } finally {
        await rx.context.close();
      }
    });
  }
}

test('beside Copy share link the page says where the data goes and what the link holds', async () => {
  const { context, page, errors } = await openApp(browser, site.url);
  try {
    const where = page.locator('#share-where');
    await where.waitFor();
    const text = await where.innerText();
    assert.match(text, /fragment/);
    assert.match(text, /do not send/);
    assert.match(text, /tables/);
    const button = page.getByRole('button', { name: 'Copy share link', exact: true });
    assert.match(await button.getAttribute('aria-describedby'), /share-where/);
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('past the limit the page says so before copying, and the share file reproduces everything', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-share-'));
  let shareFile;
  const { app, seen } = await send('small', 'series', { algorithm: 'spec-moe-2', seed: 9 }, site.url + '?share-limit=100');
  try {
    const { page } = app;
    await page.locator('#share-size').filter({ hasText: /too long/ }).waitFor();
    await page.getByRole('button', { name: 'Copy share link', exact: true }).click();
    await page.locator('p.status').filter({ hasText: /nothing was copied.*Download share file/ }).waitFor();
    assert.equal(await page.getByLabel('Share link', { exact: true }).count(), 0, 'no over-long link is shown');
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download share file', exact: true }).click(),
    ]);
    shareFile = path.join(dir, dl.suggestedFilename());
    fs.writeFileSync(shareFile, fs.readFileSync(await dl.path()));
    const json = JSON.parse(fs.readFileSync(shareFile, 'utf8'));
    assert.match(json.fragment, /^#run=2\./);
    assertNoPanics(app.errors);
  } finally {
    await app.context.close();
  }
  const rx = await openApp(browser, site.url);
  try {
    await dropFolder(rx.context, rx.page, shareFile);
    await assertReproduced(rx.page, seen, 'share file');
    assertNoPanics(rx.errors);
  } finally {
    await rx.context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a version-1 link (made before version 2) still opens, runs, and says what it lacks', async () => {
  const fragment = fs.readFileSync(path.join(repoRoot, 'tests', 'fixtures', 'share', 'v1-small-series-al3.link'), 'utf8').trim();
  const { context, page, errors } = await openApp(browser, site.url + fragment);
  try {
    await waitDone(page, 120_000);
    await page.locator('p.status').filter({ hasText: /older version \(1\)/ }).waitFor();
    await page.locator('section.summary').getByText('From a share link (loads summed over time)').waitFor();
    assert.equal(await page.getByLabel('Algorithm', { exact: true }).inputValue(), 'spec-moe-2');
    assert.equal(await page.getByLabel('Seed', { exact: true }).inputValue(), '7');
    assert.equal(await page.getByLabel('NPUs', { exact: true }).inputValue(), '8');
    await page.getByRole('button', { name: 'Download decode table', exact: true }).waitFor();
    assertNoPanics(errors);
  } finally {
    await context.close();
  }
});

test('newer-version, tampered and truncated links are clear errors that show nothing else', async () => {
  const { app } = await send('small', 'series', { algorithm: 'spec-moe-1' });
  let link;
  try {
    link = await copyLink(app.page);
  } finally {
    await app.context.close();
  }
  const at = link.indexOf('#run=2.') + 7;
  const mid = at + Math.floor((link.length - at) / 2);
  const flip = (c) => (c === 'A' ? 'B' : 'A');
  const cases = [
    [site.url + '#run=9.AAAA', /version 9, newer than this page reads/],
    [link.slice(0, mid), /share link cannot be read/],
    [link.slice(0, mid) + flip(link[mid]) + link.slice(mid + 1), /share link cannot be read/],
    [link + 'AAAA', /share link cannot be read/],
  ];
  for (const [url, message] of cases) {
    const { context, page, errors } = await openApp(browser, url);
    try {
      await page.getByRole('alert').getByText(message).waitFor();
      assert.equal(await page.locator('section.phase-result').count(), 0, 'no partial view');
      assertNoPanics(errors);
    } finally {
      await context.close();
    }
  }
});
