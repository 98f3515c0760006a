// Browser benchmark: the page's solver workers against the native CLI on the
// same work at the same moment. Each round presses Run (level 2 on the
// dsv3-series fixture, the page's two workers) and starts
// `elb -al 3 --threads 2` on the same folder together, so both meet the
// machine in the same state; then compares the CPU the page's workers used
// (the renderer's DedicatedWorker threads, from /proc) with the CLI's (user +
// system, which also counts reading the dump). A ratio near 1 means the wasm
// in the page does the native work at native cost.
//
// Usage: node tests/e2e/bench/side-by-side.mjs [rounds, default 4]
// Needs the release site (make dist, or ELB_DIST) and target/release/elb.
import path from 'node:path';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { startSite, launch, fixturesDir, setSettings, waitDone, repoRoot } from '../helpers.mjs';
import { openBench, rendererThreadCpu, machine } from './lib.mjs';

const rounds = Number(process.argv[2] || 4);
const input = path.join(fixturesDir(), 'dsv3-series', 'input');
const elb = path.join(repoRoot, 'target', 'release', 'elb');
if (!fs.existsSync(elb)) throw new Error(`${elb} is missing: cargo build --release --bin elb`);
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'elb-sbs-'));

/** Run the CLI; resolves to its wall seconds (its CPU: `childCpu`). */
function cli() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(elb, ['-icp', input, '-o', out, '-al', '3', '-nre', '64', '-nd', '8', '-nn', '64', '--threads', '2', '--quiet'], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`elb exited with ${code}`));
      resolve({ wall: (performance.now() - t0) / 1000 });
    });
  });
}

const site = await startSite();
const browser = await launch();
try {
  const { page } = await openBench(browser, site.url);
  await page.getByLabel('Choose folder').setInputFiles(input);
  await page.locator('section.summary').getByText('Dropped: input').waitFor({ timeout: 120_000 });
  await setSettings(page, { npus: 64, nodes: 8, redundant: 64, shared: 0, deviceType: 'a2', algorithm: 'spec-moe-2', msit: false });
  console.log(JSON.stringify(machine()));
  childCpu();
  for (let r = 0; r < rounds; r++) {
    const th0 = rendererThreadCpu();
    const native = cli();
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await waitDone(page, 600_000);
    const th1 = rendererThreadCpu();
    const { wall } = await native;
    const workers = (th1.DedicatedWorker ?? 0) - (th0.DedicatedWorker ?? 0);
    const cpu = childCpu();
    console.log(`round ${r + 1}: page workers' CPU ${workers.toFixed(2)} s; native 2 threads CPU ${cpu.toFixed(2)} s (wall ${wall.toFixed(2)} s); workers / native ${(workers / cpu).toFixed(2)}x`);
  }
} finally {
  await browser.close();
  await site.close();
  fs.rmSync(out, { recursive: true, force: true });
}

/** CPU seconds (user + system) of this process's finished children since the last call (/proc/self/stat cutime + cstime). */
function childCpu() {
  const f = fs.readFileSync('/proc/self/stat', 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const now = (Number(x[13]) + Number(x[14])) / 100; // cutime + cstime
  const d = now - (childCpu.last ?? 0);
  childCpu.last = now;
  return d;
}
