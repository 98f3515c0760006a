#!/usr/bin/env bash
# The whole `elb` CLI run (read, solve, score, write) on 1 thread and on 2
# threads, one after the other, ROUNDS times, with the load before each run:
# the figures of docs/benchmarks.md "All cores natively". With OLD_ELB set to
# an `elb` built from an earlier commit (which has no --threads flag), that
# binary runs first in each round, for before/after CPU ratios from one run.
#
# Usage: scripts/bench-cli-threads.sh [case] [rounds]
#   case: dsv3-series (the fixture, -al 3; default) | kimi (the kimi preset's
#   time series, written by `elb sample` into target/bench/kimi-series, -al 3)
# Needs GNU time (/usr/bin/time).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
case_name="${1:-dsv3-series}"
rounds="${2:-3}"
cargo build --release --bin elb >/dev/null 2>&1 || cargo build --release --bin elb
elb=target/release/elb
out=target/bench/cli-threads
mkdir -p "$out"
case "$case_name" in
  dsv3-series) input=tests/fixtures/dsv3-series/input; flags=(-al 3) ;;
  kimi)
    input=target/bench/kimi-series
    [ -f "$input/model_gen_config.json" ] || "$elb" sample --preset kimi --format series -o "$input"
    flags=(-nn 128 -nd 16 -nre 128 -al 3) ;;
  *) echo "unknown case $case_name (dsv3-series | kimi)" >&2; exit 2 ;;
esac
run() { # label, binary, extra flags...
  local label="$1" bin="$2"; shift 2
  local load; load="$(cut -d' ' -f1 /proc/loadavg)"
  /usr/bin/time -f "$label: %e s wall, %U s user + %S s sys (load $load)" \
    "$bin" -icp "$input" -o "$out/$label" "${flags[@]}" "$@" >/dev/null 2>"$out/$label.err" || { cat "$out/$label.err" >&2; exit 1; }
  tail -n 1 "$out/$label.err"
}
echo "$(date -u +%H:%M) UTC, $(nproc) cores, $case_name, $rounds rounds; $(uptime)"
for r in $(seq 1 "$rounds"); do
  if [ -n "${OLD_ELB:-}" ]; then run "old-$r" "$OLD_ELB"; fi
  run "t1-$r" "$elb" --threads 1
  run "t2-$r" "$elb" --threads 2
done
for f in "$out"/t2-*/decode_global_deployment.json ${OLD_ELB:+"$out"/old-*/decode_global_deployment.json}; do
  cmp -s "$f" "$out/t1-1/decode_global_deployment.json" || { echo "DIFFERENT TABLE: $f" >&2; exit 1; }
done
echo "every table equals the 1-thread one"
