// Shared set-up of the end-to-end tests: serve dist/ under a sub-path,
// launch Debian's Chromium through playwright-core, drop folders for real.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** playwright-core from NODE_PATH, <repo>/.tools or the main checkout's .tools. */
function loadPlaywright() {
  const require = createRequire(import.meta.url);
  const paths = [
    ...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
    path.join(repoRoot, '.tools', 'node_modules'),
    path.join(repoRoot, 'node_modules'),
  ];
  const resolved = require.resolve('playwright-core', { paths });
  return require(resolved);
}
export const { chromium } = loadPlaywright();

/** The fixtures: `tests/fixtures` in the repository (or `$ELB_FIXTURES`). */
export function fixturesDir() {
  const cands = [
    process.env.ELB_FIXTURES,
    path.join(repoRoot, 'tests', 'fixtures'),
  ].filter(Boolean);
  const found = cands.find((p) => fs.existsSync(path.join(p, 'README.md')));
  if (!found) throw new Error(`fixtures not found; tried ${cands.join(', ')} (set ELB_FIXTURES)`);
  return found;
}

export const SUB_PATH = 'tools/elb/';

/** Copy dist/ into a temp dir under SUB_PATH and serve it (`opts`: see serve()). */
export async function startSite(opts = {}) {
  const dist = process.env.ELB_DIST || path.join(repoRoot, 'dist');
  if (!fs.existsSync(path.join(dist, 'index.html'))) {
    throw new Error(`${dist}/index.html is missing: build first (trunk build --release)`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-e2e-'));
  const site = path.join(tmp, SUB_PATH);
  fs.mkdirSync(site, { recursive: true });
  fs.cpSync(dist, site, { recursive: true });
  const server = await serve(tmp, 0, opts);
  return {
    url: server.url + SUB_PATH,
    origin: new URL(server.url).origin,
    tmp,
    async close() {
      await server.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * What a test file needs around its tests: the site served, a browser and,
 * with `scratch` (a folder-name prefix), a scratch folder. Call in `before`
 * (`({ site, browser, tmp } = await openSuite('elb-x-'))`) and hand the same
 * object to [`closeSuite`] in `after`.
 */
export async function openSuite(scratch) {
  const site = await startSite();
  const browser = await launch();
  const tmp = scratch ? fs.mkdtempSync(path.join(os.tmpdir(), scratch)) : undefined;
  return { site, browser, tmp };
}

/** Close what [`openSuite`] opened (whatever part of it was opened). */
export async function closeSuite({ site, browser, tmp }) {
  await browser?.close();
  await site?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Extra flags for experiments (e.g. ELB_CHROMIUM_ARGS='--js-flags=--no-liftoff').
      ...(process.env.ELB_CHROMIUM_ARGS || '').split(' ').filter(Boolean),
    ],
  });
}

/**
 * A fresh context + page that records every request (page and workers),
 * page errors and console errors.
 */
export async function openApp(browser, url, opts = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 }, ...opts });
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  // The app is up when its Run button is there.
  await page.getByRole('button', { name: 'Run', exact: true }).waitFor();
  return { context, page, requests, errors };
}

/** No Rust panic or wasm trap reached the page or its console. */
/** Requests that went anywhere but the page's own origin (blob:/data: are local). */
export function foreignRequests(requests, origin) {
  return requests.filter((u) => !(u.startsWith(origin + '/') || u.startsWith('blob:') || u.startsWith('data:')));
}

/** Drop a real folder onto the drop zone (CDP drag events carry directories). */
export async function dropFolder(context, page, folder) {
  const zone = page.getByRole('region', { name: 'Drop hotspot folder' });
  await zone.scrollIntoViewIfNeeded();
  const box = await zone.boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  const cdp = await context.newCDPSession(page);
  const data = { items: [], files: [path.resolve(folder)], dragOperationsMask: 1 };
  for (const type of ['dragEnter', 'dragOver', 'drop']) {
    await cdp.send('Input.dispatchDragEvent', { type, x, y, data });
  }
  await cdp.detach();
}

/** Set the cluster fields (the algorithm first: it decides which fields apply). */
export async function setSettings(page, s) {
  if (s.algorithm) await page.getByLabel('Algorithm', { exact: true }).selectOption(s.algorithm);
  if (s.deviceType) await page.getByLabel('Device type', { exact: true }).selectOption(s.deviceType);
  const fields = [
    ['nodes', 'Nodes'],
    ['npus', 'NPUs'],
    ['redundant', 'Redundant experts'],
    ['shared', 'Shared-expert devices'],
    ['seed', 'Seed'],
  ];
  for (const [k, label] of fields) {
    if (s[k] !== undefined) await page.getByLabel(label, { exact: true }).fill(String(s[k]));
  }
  if (s.msit !== undefined) await page.getByLabel('msit-compatible output').setChecked(s.msit);
}

/** Click a download button and return the file's bytes and suggested name. */
export async function downloadBytes(page, buttonName) {
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: buttonName, exact: true }).click(),
  ]);
  const p = await dl.path();
  return { name: dl.suggestedFilename(), bytes: fs.readFileSync(p) };
}

/** Run and wait until the status says done (or fail with the alert's text). */
export async function runAndWait(page, timeout = 60_000) {
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await waitDone(page, timeout);
}

export async function waitDone(page, timeout = 60_000) {
  const done = page.locator('p.status', { hasText: 'Done in' });
  const alert = page.locator('[role=alert] .error');
  await done.or(alert).first().waitFor({ timeout });
  if (await alert.count()) throw new Error(`run failed: ${await alert.innerText()}`);
}

/**
 * Run the `elb` CLI and return its stdout: `$ELB_BIN`, else
 * target/release/elb (built by tests/e2e/run.sh), else `cargo run`.
 */
export function elb(args) {
  const bin = [process.env.ELB_BIN, path.join(repoRoot, 'target', 'release', 'elb')].find((b) => b && fs.existsSync(b));
  if (bin) return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return execFileSync('cargo', ['run', '--quiet', '--release', '--bin', 'elb', '--', ...args], { cwd: repoRoot, encoding: 'utf8' });
}

/** No panic, wasm trap or unreachable in the page's console errors. */
/** No panic, trap or Content-Security-Policy refusal among the page's console errors. */
export function assertNoPanics(errors) {
  const bad = errors.filter((e) => /panicked|RuntimeError|unreachable/i.test(e));
  assert.deepEqual(bad, [], 'the page must not panic');
  const csp = errors.filter((e) => /Content Security Policy|Refused to/i.test(e));
  assert.deepEqual(csp, [], 'nothing the page does is blocked by its CSP');
}

/** A minimal YAML reader for the TensorRT-LLM file: `key: value` and `  n: [a, b]`. */
export function parseLbYaml(text) {
  const out = { initial_global_assignments: {} };
  let inAssign = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '');
    if (!line.trim()) continue;
    const m = line.match(/^(\s*)([^:]+):\s*(.*)$/);
    assert.ok(m, `YAML line: ${raw}`);
    const [, indent, key, value] = m;
    if (indent.length === 0) {
      inAssign = key === 'initial_global_assignments';
      if (!inAssign) out[key] = Number(value);
    } else {
      assert.ok(inAssign, `nested line outside initial_global_assignments: ${raw}`);
      out.initial_global_assignments[key.trim()] = JSON.parse(value);
    }
  }
  return out;
}
