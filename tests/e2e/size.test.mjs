// Issue 12 item 4, kept from now on: the release site's size. What a
// browser fetches before first paint (the app's wasm) stays within 350 KB
// gzip, and the whole site (every file of dist/, the solver worker
// included) within 650 KB gzip. Sizes are GNU gzip's `gzip -9 -n` (the
// figures of docs/benchmarks.md "Wasm size"; Node's zlib at level 9
// compresses the wasm about 1% worse).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from './helpers.mjs';

const dist = process.env.ELB_DIST || path.join(repoRoot, 'dist');
const gz = (f) => execFileSync('gzip', ['-9', '-n', '-c', path.join(dist, f)], { maxBuffer: 1 << 26 }).length;

test('the app wasm is within 350 KB gzip and the whole site within 650 KB gzip', () => {
  const files = fs.readdirSync(dist).filter((f) => fs.statSync(path.join(dist, f)).isFile());
  const sizes = Object.fromEntries(files.map((f) => [f, gz(f)]));
  const app = files.filter((f) => f.startsWith('elb-studio-') && f.endsWith('_bg.wasm'));
  assert.equal(app.length, 1, `one app wasm in ${dist}: ${files.join(', ')}`);
  assert.ok(files.includes('worker_bg.wasm'), 'the solver worker is part of the site');
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  const detail = JSON.stringify(sizes);
  assert.ok(sizes[app[0]] <= 350_000, `app wasm ${sizes[app[0]]} B gzip > 350,000 (${detail})`);
  assert.ok(total <= 650_000, `site ${total} B gzip > 650,000 (${detail})`);
});
