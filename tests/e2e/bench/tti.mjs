// Browser benchmark: the page's weight and its time to interactive on a
// throttled link (issue 12 item 4: 10 Mbit/s, 40 ms RTT, set with CDP
// Network.emulateNetworkConditions). The site is served gzip-compressed
// (gzip -9, as a production host would), the cache is off, and each run
// opens a fresh browser context.
//
// Per run, from navigation start (page clock):
// - first paint / first contentful paint (PerformanceObserver 'paint');
// - interactive: the app is mounted (its "Run" button is in the page) and
//   its thread is free to draw the next frame (a `requestAnimationFrame`
//   round trip after the button appeared);
// - bytes on the wire (CDP Network.loadingFinished encodedDataLength):
//   before first contentful paint, before interactive, and all the page
//   loads in the first 5 s (the start-up sample run loads the workers) —
//   wasm separately.
//
// The workers' files are fetched by the workers, which this page-level CDP
// session does not see (nor throttle): they are loaded after the page is
// interactive; the whole site's weight is what scripts/bench-browser.sh size
// reports.
//
// Writes target/bench/browser-tti.json.
// Usage: node tests/e2e/bench/tti.mjs [--runs 3] [--no-throttle]
import fs from 'node:fs';
import path from 'node:path';
import { startSite, launch, repoRoot } from '../helpers.mjs';
import { writeJson, machine } from './lib.mjs';

const argv = process.argv.slice(2);
const ri = argv.indexOf('--runs');
const runs = ri >= 0 ? Number(argv[ri + 1]) : 3;
const throttle = !argv.includes('--no-throttle');

const LINK = { offline: false, latency: 40, downloadThroughput: (10e6 / 8), uploadThroughput: (10e6 / 8) };

function paintProbe() {
  window.__elbPaint = {};
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__elbPaint[e.name] = e.startTime;
  }).observe({ type: 'paint', buffered: true });
}

const site = await startSite({ gzip: true });
// The server compresses each file once, on its first request: do that now,
// so no run waits for it.
for (const f of fs.readdirSync(process.env.ELB_DIST || path.join(repoRoot, 'dist'))) {
  await (await fetch(new URL(f, site.url), { headers: { 'accept-encoding': 'gzip' } })).arrayBuffer();
}
const browser = await launch();
const results = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(paintProbe);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    if (throttle) await cdp.send('Network.emulateNetworkConditions', LINK);
    const reqs = new Map();
    const loads = [];
    cdp.on('Network.requestWillBeSent', (e) => reqs.set(e.requestId, { url: e.request.url, t0: e.timestamp }));
    cdp.on('Network.loadingFinished', (e) => {
      const r = reqs.get(e.requestId);
      if (r) loads.push({ url: r.url, bytes: e.encodedDataLength, end: e.timestamp });
    });
    let navStart = null;
    cdp.on('Network.requestWillBeSent', (e) => {
      if (navStart === null && e.type === 'Document') navStart = e.timestamp;
    });
    await page.goto(site.url, { waitUntil: 'commit' });
    await page.getByRole('button', { name: 'Run', exact: true }).waitFor({ timeout: 120_000 });
    const interactive = await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now()))));
    const paint = await page.evaluate(() => window.__elbPaint);
    // The page's own clock starts at navigation; CDP timestamps are in s.
    const wallNow = await page.evaluate(() => performance.now());
    await page.waitForTimeout(5000);
    const toPage = (ts) => (ts - navStart) * 1000;
    const sum = (pred) => loads.filter(pred).reduce((a, l) => a + l.bytes, 0);
    const isWasm = (l) => /\.wasm(\?|$)/.test(l.url);
    const fcp = paint['first-contentful-paint'] ?? null;
    const r = {
      run: i + 1,
      first_paint_ms: paint['first-paint'] ?? null,
      first_contentful_paint_ms: fcp,
      interactive_ms: Math.round(interactive),
      bytes_before_fcp: fcp === null ? null : sum((l) => toPage(l.end) <= fcp),
      wasm_bytes_before_fcp: fcp === null ? null : sum((l) => isWasm(l) && toPage(l.end) <= fcp),
      bytes_before_interactive: sum((l) => toPage(l.end) <= interactive),
      wasm_bytes_before_interactive: sum((l) => isWasm(l) && toPage(l.end) <= interactive),
      bytes_first_5s: sum(() => true),
      wasm_bytes_first_5s: sum(isWasm),
      files: loads.map((l) => ({ file: l.url.split('/').pop(), bytes: l.bytes, end_ms: Math.round(toPage(l.end)) })),
      measured_after_ms: Math.round(wallNow),
    };
    results.push(r);
    console.log(
      `[tti] run ${r.run}: first paint ${r.first_paint_ms?.toFixed(0)} ms, FCP ${fcp?.toFixed(0)} ms, interactive ${r.interactive_ms} ms; ` +
        `wire before FCP ${r.bytes_before_fcp} B (wasm ${r.wasm_bytes_before_fcp}), before interactive ${r.bytes_before_interactive} B ` +
        `(wasm ${r.wasm_bytes_before_interactive}); first 5 s ${r.bytes_first_5s} B (wasm ${r.wasm_bytes_first_5s})`,
    );
    await context.close();
  }
} finally {
  await browser.close();
  await site.close();
}
const p = writeJson('browser-tti.json', { link: throttle ? LINK : null, gzip: true, runs: results });
console.log(`[tti] ${JSON.stringify(machine())} -> ${p}`);
