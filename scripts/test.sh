#!/usr/bin/env bash
# Every test: formatting and lints, the native tests (CPU, and wgpu over lavapipe), the wasm build
# of the page, the JS unit tests and the browser suite (headless Chromium on SwiftShader WebGPU and
# on the CPU backend; Firefox ESR on its CPU backend and on its own WebGPU over lavapipe; WebKitGTK
# on its CPU backend) against that build. Each phase prints its time: the whole run must stay
# within 45 minutes cold (fresh clone) and 15 minutes warm on 2 cores (docs/testing.md).
#
# The phase times of a green run are written to target/test-times.md; with
# TEST_TIMES=docs/testing.md also into that file's table (block test-times-cold when the run
# started without target/debug, as from a fresh clone, else test-times-warm).
set -euo pipefail
cd "$(dirname "$0")/.."

run=warm
[ -d target/debug ] || run=cold
times=()
last=$SECONDS
phase() {
  echo "test.sh: phase '$1' took $((SECONDS - last)) s (total ${SECONDS} s)"
  times+=("| $1 | $((SECONDS - last)) s |")
  last=$SECONDS
}

bash scripts/setup.sh
# A table asked for must have its markers: fail now, not after the whole run.
[ -z "${TEST_TIMES:-}" ] || node scripts/md-table.mjs "$TEST_TIMES" "test-times-$run" --check
phase setup

# Formatting, the JS linter and the library's module graph (no import cycle in src/) first:
# seconds, and they fail fast.
cargo fmt --all --check
npx --no-install eslint .
node scripts/module-cycles.mjs
phase "format and lints (rustfmt, eslint, module cycles)"

# Clippy lints every build of this workspace's own crates as it compiles them: clippy-driver is
# the workspace's compiler (RUSTC_WORKSPACE_WRAPPER, the mechanism of `cargo clippy` itself) with
# -D warnings, so these are the lints of `cargo clippy --all-targets -- -D warnings` (natively, the
# wasm32 library with src/wasm.rs, and the bindgen tool) without a second, check-only build of
# all of burn for each target (about 6 minutes cold each here). Dependencies are compiled by plain
# rustc either way, so the builds below share them. Never pass `--workspace` to one cargo call:
# it would unify the tool's dependency features with the library's and rebuild all of burn.
CLIPPY_DRIVER="$(command -v clippy-driver)"
CLIPPY_D_WARNINGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER"
export CLIPPY_ARGS="$CLIPPY_D_WARNINGS"

# Native: compile now; the tests run below, beside the browser files that check behaviour (the
# wgpu test fails when no Vulkan adapter is found).
cargo test --locked --all-targets --no-run
phase "native build (with clippy)"

# The wasm32 library (the only build of src/wasm.rs) and the bindgen tool, linted (and the tool's
# test run). The lint build compiles this crate at opt-level 0 (`--config`, for this crate only:
# the dependencies keep their settings, so the page build below shares them): its code is not
# what the page ships. clippy-driver turns off rustc's MIR optimisations, so even at the release
# settings its module differs from rustc's (34.5 MB against 32.2 MB measured), and the page is
# built by plain rustc as `scripts/serve.sh` builds it.
cargo build --locked --lib --release --target wasm32-unknown-unknown \
  --config 'profile.release.package.denoise-lab.opt-level=0'
cargo test --locked -p denoise-lab-bindgen
phase "wasm build (with clippy)"
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
bash scripts/build-web.sh
phase "page build"

# The pure page modules and the wasm bridge in Node (no browser).
node --test tests/node/
phase "node tests"

# The native tests run beside the browser files whose checks do not time anything (URL state,
# checkpoints, errors, faults, autosaves, metrics, screens, the download, a failed start, Firefox and WebKit:
# the CPU backend in one browser worker thread, which leaves most of the second core idle); the
# files that bound times (the first minute, the embed, the fallback, training on SwiftShader
# WebGPU, the lessons) run after them, alone. The native tests need the
# wrapper they were compiled with, or cargo would compile them again.
BEHAVIOUR="url errors checkpoint faults never-lose metrics screens download start firefox webkit"
TIMED="first-minute embed fallback train lessons"
for f in tests/browser/*.test.mjs; do
  name="$(basename "$f" .test.mjs)"
  case " $BEHAVIOUR $TIMED " in
    *" $name "*) ;;
    *) echo "test.sh: $f is in neither list of browser files (BEHAVIOUR, TIMED)"; exit 1 ;;
  esac
done
mkdir -p target
RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER" CLIPPY_ARGS="$CLIPPY_D_WARNINGS" \
  cargo test --locked --all-targets > target/native-tests.log 2>&1 &
native=$!
# The browser suite: fails (never skips) when Chromium finds no WebGPU adapter.
# Screenshots go to target/browser-artifacts/.
browser_rc=0
# shellcheck disable=SC2046 # one path per word
node --test --test-concurrency=1 $(for n in $BEHAVIOUR; do echo "tests/browser/$n.test.mjs"; done) || browser_rc=$?
native_rc=0
wait "$native" || native_rc=$?
cat target/native-tests.log
[ "$native_rc" = 0 ] || { echo "test.sh: native tests failed (exit $native_rc)"; exit "$native_rc"; }
[ "$browser_rc" = 0 ] || { echo "test.sh: browser tests failed (exit $browser_rc)"; exit "$browser_rc"; }
phase "native tests beside the browser files that time nothing"
# shellcheck disable=SC2046
node --test --test-concurrency=1 $(for n in $TIMED; do echo "tests/browser/$n.test.mjs"; done)
phase "browser tests that bound times (first minute, embed, fallback, SwiftShader WebGPU, lessons)"

{
  echo "A $run run (target/debug $([ "$run" = cold ] && echo absent || echo present) at the start), every phase green:"
  echo
  echo "| phase | time |"
  echo "| --- | --- |"
  printf '%s\n' "${times[@]}"
  echo "| **total** | **${SECONDS} s ($((SECONDS / 60)) min $((SECONDS % 60)) s)** |"
} > target/test-times.md
echo "test.sh: every phase passed in ${SECONDS} s; the table is in target/test-times.md"
if [ -n "${TEST_TIMES:-}" ]; then
  node scripts/md-table.mjs "$TEST_TIMES" "test-times-$run" --command "bash scripts/test.sh" < target/test-times.md
  echo "test.sh: and in $TEST_TIMES (block test-times-$run)"
fi
