#!/usr/bin/env bash
# Every test: native (CPU and wgpu over lavapipe), the wasm build of the page, and the browser
# suite (headless Chromium on SwiftShader WebGPU, and its CPU fallback) against that build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# A missing wgpu adapter fails the wgpu test instead of skipping it.
export DENOISE_LAB_REQUIRE_WGPU=1
cargo test --all-targets

# The wasm32 build of the library, wasm-bindgen and the static page in dist/.
bash scripts/build-web.sh

# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
node --test --test-concurrency=1 tests/browser/
