#!/usr/bin/env bash
# Issue 12 item 3: the page's click-to-table against the native CLI, side by
# side, in alternating rounds (this machine's speed swings by tens of percent
# within minutes, so only figures of one round are compared with each other).
#
# Each round, one after the other on the same machine:
#   page   level 2 on dsv3-series in headless Chromium with the page's worker
#          pool (tests/e2e/bench/solve.mjs): the in-page click-to-frame, from
#          the Run click event's time stamp to the first animation frame after
#          the status shows "Done in" (the table is on the page); beside it the
#          driver's click-to-done, which also counts the test driver's own
#          work around the click (~0.1-0.4 s)
#   cli-1  `elb -icp <dsv3-series> -al 3 --threads 1` (whole process: read,
#          solve, score, write), wall and CPU
#   cli-2  the same with --threads 2
# and prints page/cli-1 (the issue's ratio), cli-2/cli-1 (what two threads
# give natively on this machine) and page/cli-2.
#
# Usage: scripts/bench-click-to-table.sh [rounds, default 5]
# Needs the release site (make dist; ELB_DIST to use another folder) and
# builds target/release/elb. Env ELB_CHROMIUM_ARGS passes extra flags.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
rounds="${1:-5}"
. "$here/scripts/tools-env.sh"
export ELB_DIST="${ELB_DIST:-$here/dist}"
[ -f "$ELB_DIST/index.html" ] || { echo "no site in $ELB_DIST: run make dist first" >&2; exit 2; }
cargo build --quiet --locked --release --bin elb
input="$here/tests/fixtures/dsv3-series/input"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

cli() { # threads -> "wall cpu"
  /usr/bin/time -f "%e %U %S" -o "$out/time" ./target/release/elb -icp "$input" -o "$out" \
    -al 3 -nre 64 -nd 8 -nn 64 --threads "$1" --quiet
  awk '{printf "%.2f %.2f", $1, $2 + $3}' "$out/time"
}

printf '| round | load (1 min) | page click-to-table (in-page) | driver click-to-done | renderer CPU | cli-1 wall (CPU) | cli-2 wall (CPU) | page / cli-1 | cli-2 / cli-1 | page / cli-2 |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for r in $(seq 1 "$rounds"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$(node tests/e2e/bench/solve.mjs --case dsv3-series --algo al3 2>&1 | grep 'click-to-done' || true)
  page=$(sed -n 's/.*in-page click-to-frame \([0-9.]*\) s.*/\1/p' <<<"$line")
  app=$(sed -n 's/.*click-to-done \([0-9.]*\) s.*/\1/p' <<<"$line")
  rcpu=$(sed -n 's/.*renderer CPU \([0-9.]*\) s.*/\1/p' <<<"$line")
  [ -n "$page" ] || { echo "page run failed: $line" >&2; exit 1; }
  read -r w1 c1 <<<"$(cli 1)"
  read -r w2 c2 <<<"$(cli 2)"
  awk -v r="$r" -v l="$load" -v p="$page" -v a="$app" -v rc="$rcpu" -v w1="$w1" -v c1="$c1" -v w2="$w2" -v c2="$c2" \
    'BEGIN { printf "| %d | %s | %.2f s | %.2f s | %.2f s | %.2f s (%.2f) | %.2f s (%.2f) | %.2fx | %.2fx | %.2fx |\n", r, l, p, a, rc, w1, c1, w2, c2, p / w1, w2 / w1, p / w2 }'
done
