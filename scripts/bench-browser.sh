#!/usr/bin/env bash
# Browser (wasm) benchmarks of ELB Studio — figures for docs/benchmarks.md,
# never part of the test suite. Builds the release site, then runs
# tests/e2e/bench/*.mjs in headless Chromium:
#   (a) solve.mjs     Run -> results per algorithm on dsv3-summed / dsv3-series
#   (b) ingest.mjs    drop-to-summary time and memory of a ~200 MB dsv3 dump
#                     ($ELB_INGEST_RUNS runs, default 3, each in a fresh browser)
#   (c) longtasks.mjs main-thread long tasks during a dsv3 level-2 solve
#   (d) here          dist/*.wasm size, raw and gzip
# and finally the native solve table of the dsv3 cases with the wasm column.
# Results: target/bench/*.json (and the console).
#
# Usage: scripts/bench-browser.sh [--no-build] [solve|ingest|longtasks|size ...]
# Env: ELB_DIST (site folder, default dist/), CHROMIUM, ELB_FIXTURES, ELB_INGEST_RUNS.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
. "$here/scripts/tools-env.sh"

build=1
parts=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    solve|ingest|longtasks|size) parts+=("$a") ;;
    *) echo "usage: $0 [--no-build] [solve|ingest|longtasks|size ...]" >&2; exit 2 ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || parts=(size solve ingest longtasks)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

dist="${ELB_DIST:-$here/dist}"
mkdir -p target/bench
if [ "$build" = 1 ]; then
  start=$(date +%s)
  trunk build --release --offline --dist "$dist"
  echo "[bench] trunk build --release took $(( $(date +%s) - start )) s"
fi
export ELB_DIST="$dist"

if want size; then
  echo "== (d) wasm size"
  {
    echo "{"
    first=1
    for w in "$dist"/*.wasm; do
      raw=$(stat -c %s "$w")
      gz=$(gzip -9 -c "$w" | wc -c)
      printf '[bench] %-40s raw %8d bytes (%6.1f KB), gzip -9 %8d bytes (%6.1f KB)\n' \
        "$(basename "$w")" "$raw" "$(awk "BEGIN{print $raw/1024}")" "$gz" "$(awk "BEGIN{print $gz/1024}")" >&2
      [ $first = 1 ] || echo ","
      first=0
      printf '  "%s": {"raw": %d, "gzip": %d}' "$(basename "$w")" "$raw" "$gz"
    done
    echo
    echo "}"
  } > target/bench/wasm-size.json
  # Total transfer of the page: every file of dist/, raw and gzip.
  total=0; totalgz=0
  for f in "$dist"/*; do
    [ -f "$f" ] || continue
    total=$(( total + $(stat -c %s "$f") ))
    totalgz=$(( totalgz + $(gzip -9 -c "$f" | wc -c) ))
  done
  echo "[bench] whole site (dist/): raw $total bytes, gzip -9 $totalgz bytes"
fi

if want solve; then
  echo "== (a) Run -> results per algorithm (dsv3 fixtures)"
  node tests/e2e/bench/solve.mjs
fi

if want ingest; then
  echo "== (b) ~200 MB dsv3 time-series dump: drop-to-summary time and memory"
  if [ ! -f target/bench/synth-dump/model_gen_config.json ]; then
    cargo run --release --quiet -p elb-bench -- synth-dump -o target/bench/synth-dump
  fi
  echo "[bench] $(uptime)"
  node tests/e2e/bench/ingest.mjs --runs "${ELB_INGEST_RUNS:-3}" target/bench/synth-dump
  echo "[bench] $(uptime)"
fi

if want longtasks; then
  echo "== (c) main-thread long tasks during a dsv3 level-2 solve"
  node tests/e2e/bench/longtasks.mjs --profile
fi

if want solve && [ -f target/bench/wasm-times.json ]; then
  echo "== native and wasm side by side (dsv3 fixtures)"
  cargo run --release --quiet -p elb-bench -- solve --case =dsv3-summed,=dsv3-series --wasm target/bench/wasm-times.json \
    | tee target/bench/solve-dsv3-with-wasm.md
fi
