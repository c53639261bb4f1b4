#!/usr/bin/env bash
# Every test: native (CPU and wgpu over lavapipe), the wasm build of the page, and the browser
# suite (headless Chromium on SwiftShader WebGPU, and its CPU fallback) against that build.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase says how long it took (the whole run must stay within CI's budget).
phase() { echo "test.sh: $1 done after ${SECONDS}s total"; }
bash scripts/setup.sh
phase setup

# A missing wgpu adapter fails the wgpu test instead of skipping it.
export DENOISE_LAB_REQUIRE_WGPU=1
cargo test --all-targets
phase "native tests"

# The wasm32 build of the library, wasm-bindgen and the static page in dist/.
bash scripts/build-web.sh
phase "wasm build"

# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
node --test --test-concurrency=1 tests/browser/
phase "browser tests"
