#!/usr/bin/env bash
# Installs every tool ELB Studio needs to build, serve and test, at pinned
# versions. Idempotent: a tool whose version already matches is skipped.
# Everything comes from package registries (crates.io, npm, Debian).
set -euo pipefail

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen = "=..."` pin in Cargo.toml
BINARYEN_VERSION=132
PLAYWRIGHT_VERSION=1.65.0

here="$(cd "$(dirname "$0")/.." && pwd)"
tools="$here/.tools"
mkdir -p "$tools"
export PATH="$HOME/.cargo/bin:$tools/node_modules/.bin:$PATH"

log() { printf '[setup] %s\n' "$*"; }

# --- Rust target ---------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# --- trunk ----------------------------------------------------------------
if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
  log "installing trunk $TRUNK_VERSION (takes ~10 min on 2 cores)"
  cargo install --locked "trunk@$TRUNK_VERSION"
fi

# --- wasm-bindgen-cli (no --locked: its lockfile pins a crate the mirror lacks)
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes ~6 min)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- node tools: wasm-opt (binaryen) and playwright-core -------------------
if [ ! -f "$tools/package.json" ]; then
  printf '{ "name": "elb-studio-tools", "private": true }\n' > "$tools/package.json"
fi
if ! "$tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version $BINARYEN_VERSION"; then
  log "installing binaryen $BINARYEN_VERSION from npm"
  (cd "$tools" && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION")
fi
if ! (cd "$tools" && node -e "process.exit(require('playwright-core/package.json').version==='$PLAYWRIGHT_VERSION'?0:1)") 2>/dev/null; then
  log "installing playwright-core $PLAYWRIGHT_VERSION from npm"
  (cd "$tools" && npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_VERSION")
fi

# --- Chromium (only needed for the browser tests) --------------------------
if [ "${ELB_SETUP_BROWSER:-1}" = 1 ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  log "installing Debian chromium + chromium-driver"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

log "tools ready: $(trunk --version), $(wasm-bindgen --version), wasm-opt $("$tools/node_modules/.bin/wasm-opt" --version | awk '{print $3}')"
