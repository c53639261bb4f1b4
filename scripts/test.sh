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

# Clippy lints every build of this workspace's own crates as it compiles them: clippy-driver is
# the workspace's compiler (RUSTC_WORKSPACE_WRAPPER, the mechanism of `cargo clippy` itself) with
# -D warnings, so these are the lints of `cargo clippy --all-targets -- -D warnings` (natively, the
# wasm32 library with src/wasm.rs, and the bindgen tool) without a second, check-only build of
# all of burn for each target (about 6 minutes cold each here). Dependencies are compiled by plain
# rustc either way, so the builds below share them. Never pass `--workspace` to one cargo call:
# it would unify the tool's dependency features with the library's and rebuild all of burn.
export RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# The two builds run at the same time, each streaming its output with a [native] or [wasm] prefix:
# each alone leaves a core idle for long stretches (one large crate at a time: burn-flex,
# cubecl's IR, burn-dispatch), so together they finish sooner than one after the other. They do
# not share a cargo lock (target/debug vs target/release + target/wasm32-unknown-unknown). The
# native chain then runs the native tests while the wasm build is still compiling.
mkdir -p target
native_chain() {
  local t=$SECONDS
  # Native: compile once, then run (the wgpu test fails when no Vulkan adapter is found).
  cargo test --locked --all-targets --no-run || return
  # The bindgen tool (host, dev profile: shares target/debug with the native tests).
  cargo build --locked -p denoise-lab-bindgen || return
  echo "test.sh: native build (with clippy) took $((SECONDS - t)) s"
  t=$SECONDS
  cargo test --locked --all-targets || return
  echo "test.sh: native tests took $((SECONDS - t)) s"
}
wasm_chain() {
  local t=$SECONDS
  # The wasm32 library, linted; the page below is built by plain rustc from the same
  # dependencies (only this crate is compiled again).
  cargo build --locked --lib --release --target wasm32-unknown-unknown || return
  echo "test.sh: wasm build (with clippy) took $((SECONDS - t)) s"
}
# Runs chain $1 with its output prefixed; its exit status lands in target/.chain-$1.rc.
prefixed() {
  {
    local rc=0
    "$1_chain" || rc=$?
    echo "$rc" >"target/.chain-$1.rc"
  } 2>&1 | sed -u "s/^/[$1] /"
}
prefixed native &
native_pid=$!
prefixed wasm &
wasm_pid=$!
wait "$native_pid" "$wasm_pid"
for chain in native wasm; do
  rc=$(cat "target/.chain-$chain.rc" 2>/dev/null || echo 1)
  [ "$rc" = 0 ] || { echo "test.sh: the $chain chain failed (exit $rc)" >&2; exit 1; }
done
phase "native build and tests, wasm build (concurrent)"
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
bash scripts/build-web.sh
phase "page build"

# The pure page modules and the wasm bridge in Node (no browser).
node --test tests/node/
phase "node tests"

# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
node --test --test-concurrency=1 tests/browser/
phase "browser tests"
