// Shared pieces of the browser benchmarks (NOT tests: nothing here asserts a
// time). Run by scripts/bench-browser.sh; each script prints its figures and
// writes them as JSON under target/bench/.
//
// Measuring tools:
// - long tasks: a PerformanceObserver('longtask') installed before the app
//   starts (addInitScript), entries kept in window.__elbLongTasks;
// - wasm memory: WebAssembly.instantiate* wrapped so the page's wasm
//   memories are kept in window.__elbWasmMemories (linear memory never
//   shrinks, so its size after an operation is its peak);
// - process memory: VmRSS / VmHWM of Chromium's renderer processes from
//   /proc (node is not blocked by the page's main thread), peak reset with
//   /proc/<pid>/clear_refs before the operation measured;
// - JS heap: CDP Performance.getMetrics (JSHeapUsedSize).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../helpers.mjs';

export { repoRoot };
export const outDir = path.join(repoRoot, 'target', 'bench');

/** The machine's state: the figures depend on it (2 cores shared by others). */
export function machine() {
  return {
    measured_at: new Date().toISOString(),
    cores: os.cpus().length,
    load_average_1_5_15: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Write { ...machine(), results: value } to target/bench/<name>. */
export function writeJson(name, value) {
  fs.mkdirSync(outDir, { recursive: true });
  const p = path.join(outDir, name);
  fs.writeFileSync(p, JSON.stringify({ ...machine(), results: value }, null, 2) + '\n');
  return p;
}

/** The results of a previous writeJson, or `empty`. */
export function readJson(name, empty) {
  try {
    return JSON.parse(fs.readFileSync(path.join(outDir, name), 'utf8')).results ?? empty;
  } catch {
    return empty;
  }
}

/** Runs in the page before any of its scripts. */
function pageProbe() {
  window.__elbLongTasks = [];
  try {
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        window.__elbLongTasks.push({ start: e.startTime, duration: e.duration, name: e.name });
      }
    });
    obs.observe({ type: 'longtask', buffered: true });
  } catch (e) {
    window.__elbLongTaskError = String(e);
  }
  window.__elbWasmMemories = [];
  const keep = (result) => {
    try {
      const inst = result && (result.instance || result);
      const exp = inst && inst.exports;
      if (exp) {
        for (const v of Object.values(exp)) {
          if (v instanceof WebAssembly.Memory) window.__elbWasmMemories.push(v);
        }
      }
    } catch (_) {
      /* measurement only */
    }
    return result;
  };
  const wrap = (name) => {
    const orig = WebAssembly[name];
    if (typeof orig !== 'function') return;
    WebAssembly[name] = function (...args) {
      return orig.apply(this, args).then(keep);
    };
  };
  wrap('instantiateStreaming');
  wrap('instantiate');
}

export async function installProbe(context) {
  await context.addInitScript(pageProbe);
}

/**
 * Like helpers.openApp, with the probe installed before the page loads.
 * Waits for the Run button, then for the run the page starts by itself
 * (the built-in sample) to end, so it does not share the cores.
 */
export async function openBench(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await installProbe(context);
  const errors = [];
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  await page.getByRole('button', { name: 'Run', exact: true }).waitFor();
  // The built-in sample is generated and parsed in a worker: wait for its
  // summary, then for its run.
  await page.locator('section.summary dd').first().waitFor({ timeout: 120_000 });
  await settle(page);
  return { context, page, errors };
}

/** Long tasks recorded so far: [{start, duration}] (page clock, ms). */
export function longTasks(page) {
  return page.evaluate(() => window.__elbLongTasks || []);
}

/** Byte sizes of the page's wasm memories (the main app; workers are not seen). */
/** The page's own User Timing measures (`ui::timed`: `elb:<step>`): name, start, duration (ms). */
export function appMeasures(page) {
  return page.evaluate(() =>
    performance
      .getEntriesByType('measure')
      .filter((m) => m.name.startsWith('elb:'))
      .map((m) => ({ name: m.name.slice(4), start: m.startTime, duration: m.duration })),
  );
}

/** The measures of `measures` that overlap task `t` ({start, duration}), longest first: what the page did in it. */
export function insideTask(t, measures) {
  return measures
    .filter((m) => m.start < t.start + t.duration && m.start + m.duration > t.start)
    .sort((a, b) => b.duration - a.duration)
    .map((m) => `${m.name} ${Math.round(m.duration)} ms`);
}

export function wasmMemoryBytes(page) {
  return page.evaluate(() => (window.__elbWasmMemories || []).map((m) => m.buffer.byteLength));
}

/**
 * Arm an in-page stopwatch for the next press of the button named `name`:
 * from the click event's own time stamp (so the test driver's work before
 * dispatching the click is not counted) to the status showing "Done in"
 * (a MutationObserver, at the end of the task that set it) and to the next
 * animation frame after that (the frame that paints the table). Read it
 * with {@link clickToFrame}.
 */
export function armClickToFrame(page, name = 'Run') {
  return page.evaluate((name) => {
    const w = window;
    w.__elbStopwatch?.stop?.();
    const t = {};
    const onClick = (e) => {
      const b = e.target.closest && e.target.closest('button');
      if (b && b.textContent.trim() === name && t.click == null) t.click = e.timeStamp;
    };
    document.addEventListener('click', onClick, { capture: true });
    const obs = new MutationObserver(() => {
      if (t.click == null || t.done != null) return;
      if (t.first == null && [...document.querySelectorAll('progress')].some((p) => p.value > 0)) t.first = performance.now();
      const s = document.querySelector('p.status');
      if (s && s.textContent.includes('Done in')) {
        t.done = performance.now();
        requestAnimationFrame(() => {
          t.frame = performance.now();
        });
      }
    });
    obs.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    t.stop = () => {
      obs.disconnect();
      document.removeEventListener('click', onClick, { capture: true });
    };
    w.__elbStopwatch = t;
  }, name);
}

/**
 * The armed stopwatch's {click_to_first_layer_ms (a progress bar first above
 * 0), click_to_done_ms, click_to_frame_ms} (null until seen).
 */
export async function clickToFrame(page) {
  await page.waitForFunction(() => window.__elbStopwatch?.frame != null, null, { timeout: 10_000 }).catch(() => {});
  return page.evaluate(() => {
    const t = window.__elbStopwatch || {};
    t.stop?.();
    const d = (x) => (t.click != null && x != null ? x - t.click : null);
    return { click_to_first_layer_ms: d(t.first), click_to_done_ms: d(t.done), click_to_frame_ms: d(t.frame) };
  });
}

export function pageNow(page) {
  return page.evaluate(() => performance.now());
}

export async function jsHeap(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const get = (n) => metrics.find((m) => m.name === n)?.value ?? null;
  return { used: get('JSHeapUsedSize'), total: get('JSHeapTotalSize') };
}

// ------------------------------------------------------------ /proc memory

function readProc(pid, file) {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** Descendants of this node process that are Chromium renderers. */
export function rendererPids() {
  const parent = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readProc(d, 'stat');
    if (!stat) continue;
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    parent.set(Number(d), Number(rest[1]));
  }
  const isOurs = (pid) => {
    for (let p = pid, n = 0; p > 1 && n < 64; p = parent.get(p) ?? 0, n++) {
      if (p === process.pid) return true;
    }
    return false;
  };
  const out = [];
  for (const pid of parent.keys()) {
    if (pid === process.pid || !isOurs(pid)) continue;
    const cmd = readProc(pid, 'cmdline') || '';
    if (cmd.includes('--type=renderer')) out.push(pid);
  }
  return out;
}

/** { rss, hwm } in bytes of one process. */
export function procMem(pid) {
  const s = readProc(pid, 'status') || '';
  const kb = (k) => {
    const m = s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : null;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** CPU seconds (user + system, all threads) used so far by our renderers. */
export function rendererCpuSeconds() {
  let ticks = 0;
  for (const pid of rendererPids()) {
    const stat = readProc(pid, 'stat');
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100; // USER_HZ
}

/** CPU seconds per thread name (comm) of our renderers: {name: s}. */
export function rendererThreadCpu() {
  const out = {};
  for (const pid of rendererPids()) {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const stat = readProc(`${pid}/task/${tid}`, 'stat');
      if (!stat) continue;
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
    }
  }
  return out;
}

/** Difference of two rendererThreadCpu() readings, largest first, >= 0.05 s. */
export function cpuDelta(a, b) {
  return Object.entries(b)
    .map(([k, v]) => [k, v - (a[k] ?? 0)])
    .filter(([, v]) => v >= 0.05)
    .sort((x, y) => y[1] - x[1])
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`);
}

/** Reset the peak-RSS counter of a process (Linux clear_refs "5"). */
export function resetPeak(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Sample renderer RSS every `ms` until stop(); returns per-pid peaks. */
export function sampleRss(ms = 50) {
  const peaks = new Map();
  const tick = () => {
    for (const pid of rendererPids()) {
      const { rss } = procMem(pid);
      if (rss != null) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, rss));
    }
  };
  tick();
  const timer = setInterval(tick, ms);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return peaks;
    },
  };
}

/**
 * The renderers' memory over a span of work: their RSS now is the baseline,
 * their peak counters (VmHWM) are reset and their RSS is sampled every `ms`
 * until stop(), which gives the peak above the baseline — sampled, by VmHWM
 * (when the reset worked) and the larger of both — and the per-process
 * readings. A renderer started meanwhile counts from 0.
 */
export function rendererMemory(ms = 50) {
  const pids = rendererPids();
  const before = new Map(pids.map((p) => [p, procMem(p).rss]));
  const resetOk = pids.map(resetPeak).every(Boolean);
  const rss = sampleRss(ms);
  return {
    stop() {
      const peaks = rss.stop();
      let sampledAbove = 0;
      let hwmAbove = 0;
      const perPid = [];
      for (const pid of new Set([...before.keys(), ...peaks.keys()])) {
        const base = before.get(pid) ?? 0;
        const { hwm } = procMem(pid);
        perPid.push({ pid, baseline: before.get(pid) ?? null, sampled_peak: peaks.get(pid) ?? null, hwm });
        sampledAbove = Math.max(sampledAbove, (peaks.get(pid) ?? 0) - base);
        if (resetOk && hwm != null && before.has(pid)) hwmAbove = Math.max(hwmAbove, hwm - base);
      }
      return {
        peakAbove: Math.max(sampledAbove, hwmAbove),
        sampledAbove,
        hwmAbove: resetOk ? hwmAbove : null,
        baseline: [...before.values()],
        perPid,
      };
    },
  };
}

/** The JSON fields of a rendererMemory().stop() reading, as the benches write them. */
export function rendererMemoryFields(mem) {
  return {
    renderer_peak_rss_above_baseline_bytes: mem.peakAbove,
    renderer_sampled_peak_rss_above_baseline_bytes: mem.sampledAbove,
    renderer_vmhwm_above_baseline_bytes: mem.hwmAbove,
    renderer_baseline_rss_bytes: mem.baseline,
    renderers: mem.perPid,
  };
}

export const MB = 1e6;
export const fmtMB = (b) => (b == null ? '–' : `${(b / MB).toFixed(1)} MB`);
export const fmtMs = (ms) => (ms == null ? '–' : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

/** Wait for the run the page starts by itself (the sample) to finish. */
export async function settle(page, timeout = 180_000) {
  const status = page.locator('p.status');
  const start = Date.now();
  while (Date.now() - start < timeout) {
    const t = (await status.count()) ? await status.first().innerText() : '';
    if (!/Solving|Running|Scoring/i.test(t)) return t;
    await page.waitForTimeout(200);
  }
  return null;
}

/** The app's own figure: "Done in N ms." -> N. */
export async function appDoneMs(page) {
  const t = await page.locator('p.status', { hasText: 'Done in' }).first().innerText();
  const m = t.match(/Done in ([\d.,]+) ms/);
  return m ? Number(m[1].replace(/,/g, '')) : null;
}
