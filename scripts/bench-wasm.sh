#!/usr/bin/env bash
# The level-2 (or any) solve as wasm under Node, without the UI — the figures
# of docs/benchmarks.md "wasm vs native". Builds bench/src/wasm_bench.rs for
# wasm32 with the page's worker's profile (release-worker: the solver at
# opt-level 3, the rest at "z", see Cargo.toml), runs wasm-bindgen --target
# nodejs, optionally wasm-opt (as Trunk does for the page's worker), then
# calls it from Node.
#
# Usage: scripts/bench-wasm.sh [--no-build] [--profile P] [--opt LEVEL|none] [--node-flag F]... [preset] [algo] [robust] [repeats]
#   defaults: --profile release-worker, --opt 3 (the worker's data-cargo-profile
#   and data-wasm-opt in index.html), dsv3 al3 false 1. Another profile's
#   build goes to target/wasm-bench-<profile>, so two builds can be run in turn.
# The native figure of the same call: cargo run --release -p elb-bench --bin wasm-bench -- dsv3 al3 false 1
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
for t in "$here/.tools/node_modules" ${ELB_TOOLS:+"$ELB_TOOLS"}; do
  if [ -d "$t" ]; then export PATH="$t/.bin:$PATH"; break; fi
done
export PATH="$HOME/.cargo/bin:$PATH"
build=1
profile=release-worker
opt=3
node_flags=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --profile) profile="$2"; shift ;;
    --opt) opt="$2"; shift ;;
    --node-flag) node_flags+=("$2"); shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
out="target/wasm-bench"
[ "$profile" = release-worker ] || out="target/wasm-bench-$profile"
mkdir -p "$out"
if [ "$build" = 1 ]; then
  cargo build --profile "$profile" --target wasm32-unknown-unknown -p elb-bench --bin wasm-bench
  wasm-bindgen --target nodejs --out-dir "$out" --keep-debug "target/wasm32-unknown-unknown/$profile/wasm-bench.wasm"
  cp "$out/wasm-bench_bg.wasm" "$out/raw_bg.wasm"
fi
if [ "$opt" != none ]; then
  wasm-opt "-O$opt" --debuginfo "$out/raw_bg.wasm" -o "$out/wasm-bench_bg.wasm"
else
  cp "$out/raw_bg.wasm" "$out/wasm-bench_bg.wasm"
fi
node ${node_flags[@]+"${node_flags[@]}"} scripts/bench-wasm.mjs "$out/wasm-bench.js" ${args[@]+"${args[@]}"}
