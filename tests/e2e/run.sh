#!/usr/bin/env bash
# Build the release site and run the browser end-to-end tests against it.
# Needs the tools of scripts/setup.sh (trunk, wasm-bindgen, wasm-opt 132 on
# PATH via <repo>/.tools, playwright-core, /usr/bin/chromium).
# Env: ELB_SKIP_BUILD=1 reuses dist/; CHROMIUM, ELB_FIXTURES, ELB_DIST override paths.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here"
. "$here/scripts/tools-env.sh"
if [ "${ELB_SKIP_BUILD:-0}" != 1 ]; then
  start=$(date +%s)
  trunk build --release --offline --dist dist
  echo "[e2e] trunk build took $(( $(date +%s) - start )) s"
fi
# The tests compare the page with the CLI: build it now so target/release/elb
# is never older than the sources.
cargo build --release --locked --bin elb
cargo build --release --locked -p elb-bench
exec node --test --test-concurrency=1 tests/e2e/
