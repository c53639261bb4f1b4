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

# Formatting and the JS linter first: seconds, and they fail fast.
cargo fmt --all --check
npx --no-install eslint .
phase "format and JS lint (rustfmt, eslint)"

# Clippy with -D warnings on the wasm32 build of the library (the only build with src/wasm.rs)
# and on the wasm-bindgen tool (scripts/bindgen). Never `--workspace` in one cargo call: it would
# unify the tool's dependency features with the library's and rebuild all of burn.
cargo clippy --locked --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy --locked -p denoise-lab-bindgen -- -D warnings
phase "clippy (wasm32, bindgen tool)"

# Native: compile once, then run (the wgpu test fails when no Vulkan adapter is found).
# Clippy lints the native build of every target of this workspace's crates as it compiles them:
# clippy-driver as the workspace's compiler (RUSTC_WORKSPACE_WRAPPER, the mechanism of `cargo
# clippy` itself) with -D warnings, the same lints as `cargo clippy --all-targets -- -D warnings`
# without a second, check-only build of all of burn (about 5 minutes cold here).
# Dependencies are built by plain rustc either way.
export RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --locked --all-targets --no-run
phase "native build (with clippy)"
cargo test --locked --all-targets
phase "native tests"
# The page is built by plain rustc, exactly as `scripts/serve.sh` builds it.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

# The wasm32 build of the library, wasm-bindgen and the static page in dist/.
bash scripts/build-web.sh
phase "wasm build"

# The pure page modules and the wasm bridge in Node (no browser).
node --test tests/node/
phase "node tests"

# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
node --test --test-concurrency=1 tests/browser/
phase "browser tests"
