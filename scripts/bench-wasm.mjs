// Runs the wasm build of bench/src/wasm_bench.rs under Node (see
// scripts/bench-wasm.sh): node bench-wasm.mjs <pkg.js> [preset] [algo] [robust] [repeats]
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const [pkg, preset = 'dsv3', algo = 'al3', robust = 'false', repeats = '1'] = process.argv.slice(2);
const { bench } = require(path.resolve(pkg));
// CPU time of the main thread (the one running the wasm), in ms.
const cpu = () => {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return Date.now();
  }
};
const out = bench(preset, algo, robust === 'robust' || robust === 'true', Number(repeats), cpu);
console.log(out);
