#!/usr/bin/env bash
# Every test: formatting and lints, the native tests (CPU, and wgpu over lavapipe), the wasm build
# of the page, the JS unit tests and the browser suite (headless Chromium on SwiftShader WebGPU and
# on the CPU backend) against that build. Each phase prints its time: the whole run must stay
# within 40 minutes cold (fresh clone) and 12 minutes warm on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

last=$SECONDS
phase() {
  echo "test.sh: phase '$1' took $((SECONDS - last)) s (total ${SECONDS} s)"
  last=$SECONDS
}

bash scripts/setup.sh
phase setup

# Formatting and lints first: they take seconds (clippy a few minutes cold) and fail fast.
cargo fmt --all --check
for f in www/*.js scripts/*.mjs tests/browser/*.mjs bench/*.mjs; do node --check "$f"; done
phase "format (rustfmt, node --check)"
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo clippy --locked --lib --target wasm32-unknown-unknown -- -D warnings   # src/wasm.rs
phase "clippy"

# Native: compile once, then run (the wgpu test fails when no Vulkan adapter is found).
cargo test --locked --all-targets --no-run
phase "native build"
cargo test --locked --all-targets
phase "native tests"

# The wasm32 build of the library, wasm-bindgen and the static page in dist/.
bash scripts/build-web.sh
phase "wasm build"

# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
node --test --test-concurrency=1 tests/browser/
phase "browser tests"
