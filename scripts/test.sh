#!/usr/bin/env bash
# Every test: native (CPU and wgpu over lavapipe), the wasm build, and the browser suite in
# headless Chromium on SwiftShader WebGPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# A missing wgpu adapter fails the wgpu test instead of skipping it.
export DENOISE_LAB_REQUIRE_WGPU=1
cargo test --all-targets

bash scripts/build-web.sh
node --test --test-concurrency=1 tests/browser/
