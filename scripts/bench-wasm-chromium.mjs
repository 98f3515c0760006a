// The wasm-bench solve (bench/src/wasm_bench.rs) in headless Chromium, on the
// page's main thread of a blank page (no UI): the same call and table hash as
// natively and under Node. Build first:
//   cargo build --profile release-worker --target wasm32-unknown-unknown -p elb-bench --bin wasm-bench
//   wasm-bindgen --target web --out-dir target/wasm-bench-web target/wasm32-unknown-unknown/release-worker/wasm-bench.wasm
//   wasm-opt -O3 target/wasm-bench-web/wasm-bench_bg.wasm -o target/wasm-bench-web/wasm-bench_bg.wasm
// Run: NODE_PATH=.tools/node_modules node scripts/bench-wasm-chromium.mjs [preset] [algo] [robust] [repeats]
// Prints the JSON line(s) (solve_ms = wall in the page, cpu_ms = performance.now too)
// and the renderer process's CPU seconds during the call (from /proc).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { launch, repoRoot } from '../tests/e2e/helpers.mjs';
import { rendererCpuSeconds } from '../tests/e2e/bench/lib.mjs';

const [preset = 'dsv3', algo = 'al3', robust = 'false', repeats = '1'] = process.argv.slice(2);
const dir = path.join(repoRoot, 'target', 'wasm-bench-web');
const page0 = `<!doctype html><meta charset="utf-8"><script type="module">
import init, { bench } from './wasm-bench.js';
await init();
window.runBench = (a) => bench(a.preset, a.algo, a.robust, a.repeats, () => performance.now());
window.ready = true;
</script>`;
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const server = http.createServer((req, res) => {
  const p = req.url === '/' ? null : path.join(dir, path.normalize(req.url).replace(/^\/+/, ''));
  if (!p) {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(page0);
  }
  fs.readFile(p, (err, data) => {
    if (err) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': types[path.extname(p)] || 'application/octet-stream' });
    res.end(data);
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(url);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
  const c0 = rendererCpuSeconds();
  const out = await page.evaluate(
    (a) => window.runBench(a),
    { preset, algo, robust: robust === 'robust' || robust === 'true', repeats: Number(repeats) },
  );
  const cpu = rendererCpuSeconds() - c0;
  console.log(out);
  console.log(JSON.stringify({ renderer_cpu_s: Number(cpu.toFixed(2)) }));
} finally {
  await browser.close();
  server.close();
}
