#!/usr/bin/env bash
# Every test: native (CPU and wgpu over lavapipe) and the wasm build of the page.
# (The browser suite in tests/browser/ joins this script once it passes reliably: issue 3.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# A missing wgpu adapter fails the wgpu test instead of skipping it.
export DENOISE_LAB_REQUIRE_WGPU=1
cargo test --all-targets

# The wasm32 build of the library, wasm-bindgen and the static page in dist/.
bash scripts/build-web.sh
