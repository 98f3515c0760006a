#!/usr/bin/env bash
# Issue 12 items 5 and 6 ("better tables at the same or lower cost", kimi
# wall time): today's `elb -al 3` against the `elb` of the commit the issue
# was filed against, side by side on this machine, in alternating rounds.
#
# Each round, one after the other:
#   filing   `elb -al 3` built from commit $FILING (one thread: that CLI
#            started none)
#   now-1    today's `elb -al 3 --threads 1`
#   now-2    today's `elb -al 3 --threads 2`
# on the dsv3-series fixture and on the kimi time-series preset (written by
# `elb sample --preset kimi`), and prints wall, CPU, the time-resolved step
# imbalance of each table and the ratios now-1/filing (the cost of the same
# work) and now-2/filing (issue 12 item 6 asks kimi <= 4 s / 10.4 s = 0.385x).
#
# Usage: scripts/bench-vs-filing.sh [rounds, default 3]
# Builds the old commit once, in a git worktree outside the checkout
# (cargo would take one inside for a member of this workspace):
# $ELB_FILING_DIR, default ${TMPDIR:-/tmp}/elb-filing-<commit>.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
rounds="${1:-3}"
FILING="${FILING:-a17679d}"
cargo build --quiet --locked --release --bin elb
base="${ELB_FILING_DIR:-${TMPDIR:-/tmp}/elb-filing-$FILING}"
old_src="$base/src"
old_bin="$base/target/release/elb"
if [ ! -x "$old_bin" ]; then
  rm -rf "$old_src"
  git worktree prune
  git worktree add --detach "$old_src" "$FILING" >/dev/null
  (cd "$old_src" && CARGO_TARGET_DIR="$base/target" cargo build --quiet --release --bin elb)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
./target/release/elb sample --preset kimi --format series -o "$work/kimi" >/dev/null

run() { # label bin input out cluster... -> "wall cpu tr"
  local bin=$1 in=$2 out=$3; shift 3
  rm -rf "$out"; mkdir -p "$out"
  /usr/bin/time -f "%e %U %S" -o "$out.time" "$bin" -icp "$in" -o "$out" -al 3 "$@" >/dev/null 2>&1
  # The time-resolved figure of the table written, scored by today's elb.
  tr=$(./target/release/elb score -icp "$in" --table "$out"/decode_global_deployment.json "${cluster[@]:2}" 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.4f" % d["decode"]["time_resolved_step_imbalance"])' 2>/dev/null || echo "?")
  awk -v tr="$tr" '{printf "%.2f %.2f %s", $1, $2 + $3, tr}' "$out.time"
}

printf '| round | input | load (1 min) | filing wall (CPU) | now 1 thread wall (CPU) | now 2 threads wall (CPU) | time-resolved filing / now | now-1 / filing | now-2 / filing |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for r in $(seq 1 "$rounds"); do
  for case in dsv3-series kimi; do
    if [ "$case" = kimi ]; then in="$work/kimi"; cluster=(-nre 128 -nd 16 -nn 128)
    else in="$here/tests/fixtures/dsv3-series/input"; cluster=(-nre 64 -nd 8 -nn 64); fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r w0 c0 t0 <<<"$(run "$old_bin" "$in" "$work/o0" "${cluster[@]}")"
    read -r w1 c1 t1 <<<"$(run ./target/release/elb "$in" "$work/o1" "${cluster[@]}" --threads 1)"
    read -r w2 c2 t2 <<<"$(run ./target/release/elb "$in" "$work/o2" "${cluster[@]}" --threads 2)"
    awk -v r="$r" -v c="$case" -v l="$load" -v w0="$w0" -v c0="$c0" -v w1="$w1" -v c1="$c1" -v w2="$w2" -v c2="$c2" -v t0="$t0" -v t1="$t1" \
      'BEGIN { printf "| %d | %s | %s | %.2f s (%.2f) | %.2f s (%.2f) | %.2f s (%.2f) | %s / %s | %.2fx | %.2fx |\n", r, c, l, w0, c0, w1, c1, w2, c2, t0, t1, w1 / w0, w2 / w0 }'
  done
done
