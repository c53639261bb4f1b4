#!/usr/bin/env bash
# Build the self-contained static site in dist/ (or $DIST_DIR):
#
#   dist/index.html            the page
#   dist/www/                  app.js, worker.js, style.css, data/ (bundled MNIST, gzipped IDX)
#   dist/pkg/                  the wasm core (wasm-bindgen --target web), wasm-opt'ed if binaryen is there
#   dist/vendor/               uPlot (from node_modules: no CDN, no request outside the origin)
#   dist/www/data/lessons/     the lessons' checkpoints (copied from tests/fixtures)
#   F.br, F.gz beside F        brotli and gzip copies of the wasm and the text files, for
#                              scripts/serve.mjs and static hosts (docs/hosting.md)
#
# Usage: bash scripts/build-web.sh [--web-only] [--no-opt] [--no-compress]
#   --web-only     skip cargo/wasm-bindgen (reuse dist/pkg): for quick edits to the JS/CSS/HTML
#   --no-opt       skip wasm-opt even if it is installed
#   --no-compress  write no .br/.gz (and remove those of earlier builds)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${DIST_DIR:-$ROOT/dist}"
WEB_ONLY=0
NO_OPT=0
NO_COMPRESS=0
for arg in "$@"; do
  case "$arg" in
    --web-only) WEB_ONLY=1 ;;
    --no-opt) NO_OPT=1 ;;
    --no-compress) NO_COMPRESS=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-web.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { echo "build-web: $*"; }
die() { echo "build-web: error: $*" >&2; exit 1; }

cd "$ROOT"
[ -f index.html ] || die "index.html missing at the repo root"
[ -f node_modules/uplot/dist/uPlot.esm.js ] || die "node_modules/uplot missing: run \`npm ci\` (or npm install)"
[ -f www/data/mnist-10k-images-idx3-ubyte.gz ] || die "www/data/mnist-10k-images-idx3-ubyte.gz missing (bundled MNIST asset)"

mkdir -p "$DIST"

# wasm-opt, if one is installed (on PATH, or the binary $WASM_OPT names; npm's `binaryen`
# package has one that runs under Node): its passes are $WASM_OPT_FLAGS (default -O2). The
# features: what rustc's wasm32 target emits, and simd128 (.cargo/config.toml). docs/hosting.md
# ("Sizes") has what -O1 saved and cost here.
WASM_OPT_BIN="${WASM_OPT:-$(command -v wasm-opt || true)}"
read -r -a WASM_OPT_PASSES <<<"${WASM_OPT_FLAGS:--O2}"
WASM_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-simd)
# Results by content: an optimised module by the hash of its input, the binaryen version and the
# passes; a module's .br/.gz by the hash of the module and of scripts/precompress.mjs. A build
# whose Rust did not change (a warm run of the test command) reuses them instead of spending
# minutes on the same work again.
CACHE="$ROOT/target/web-build-cache"
cache_prune() {
  # The 12 most recent files are kept.
  # shellcheck disable=SC2012 # the names are hex digests
  ls -1t "$CACHE" | tail -n +13 | while read -r old; do rm -f "${CACHE:?}/$old"; done
}
cache_put() { mkdir -p "$CACHE" && cp "$1" "$CACHE/$2.tmp" && mv "$CACHE/$2.tmp" "$CACHE/$2" && cache_prune; }

# Replaces the module $1 by its wasm-opt'ed version, if that still instantiates (smoke, below).
optimise() {
  local wasm="$1" version key log="$DIST/pkg/wasm-opt.log" t0
  if [ -z "$WASM_OPT_BIN" ]; then
    say "wasm-opt not found: skipping the optional size optimisation (docs/hosting.md, \"Sizes\")"
    return 0
  fi
  version="$("$WASM_OPT_BIN" --version 2>/dev/null | head -1 || true)"
  key="opt-$({ sha256sum <"$wasm"; echo "$version ${WASM_OPT_PASSES[*]} ${WASM_FEATURES[*]}"; } | sha256sum | cut -c1-24).wasm"
  if [ -f "$CACHE/$key" ]; then
    say "wasm-opt ${WASM_OPT_PASSES[*]}: this module was optimised before, reusing $CACHE/$key"
    cp "$CACHE/$key" "$wasm.opt"
  else
    say "wasm-opt ${WASM_OPT_PASSES[*]} ($version)"
    t0=$SECONDS
    if ! "$WASM_OPT_BIN" "${WASM_OPT_PASSES[@]}" "${WASM_FEATURES[@]}" "$wasm" -o "$wasm.opt" 2>"$log"; then
      rm -f "$wasm.opt"
      say "warning: wasm-opt failed (see $log); keeping the unoptimised wasm"
      return 0
    fi
    say "wasm-opt: $(stat -c %s "$wasm") -> $(stat -c %s "$wasm.opt") bytes in $((SECONDS - t0)) s"
  fi
  if smoke "$wasm.opt" 2>>"$log"; then
    [ -f "$CACHE/$key" ] || cache_put "$wasm.opt" "$key"
    mv "$wasm.opt" "$wasm"
    rm -f "$log"
  else
    # An old binaryen (Debian 12 ships 108) rewrites wasm-bindgen's externref table into one the
    # browser rejects ("Table.set(): function-typed object must be null…").
    rm -f "$wasm.opt" "$CACHE/$key"
    say "warning: wasm-opt produced a module that does not instantiate (see $log); keeping the unoptimised wasm"
  fi
}

if [ "$WEB_ONLY" = 0 ]; then
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  say "cargo build --lib --release --target wasm32-unknown-unknown"
  cargo build --locked --lib --release --target wasm32-unknown-unknown

  # wasm-bindgen's generator, built from this repo's Cargo.lock (scripts/bindgen): same version as
  # the wasm-bindgen crate in the module by construction ([workspace.dependencies]).
  say "wasm-bindgen --target web (scripts/bindgen)"
  rm -rf "$DIST/pkg"
  cargo run --quiet --locked -p denoise-lab-bindgen -- \
    "${CARGO_TARGET_DIR:-$ROOT/target}/wasm32-unknown-unknown/release/denoise_lab.wasm" "$DIST/pkg"

  WASM="$DIST/pkg/denoise_lab_bg.wasm"
  # The glue must locate the .wasm beside itself (its init() with no argument; the workers pass
  # the module they compile from pkg/denoise_lab_bg.wasm, www/worker/core.js).
  grep -q "new URL('denoise_lab_bg.wasm', import.meta.url)" "$DIST/pkg/denoise_lab.js" ||
    die "the JS glue has no default path to denoise_lab_bg.wasm (scripts/bindgen options?)"
  # Instantiate a wasm file with the generated JS glue in Node (runs the start function and the
  # externref table set-up, no GPU needed): catches a module the browser would refuse.
  smoke() {
    node --input-type=module -e "
      import fs from 'node:fs';
      const m = await import('$DIST/pkg/denoise_lab.js');
      m.initSync({ module: fs.readFileSync(process.argv[1]) });
      const idx = Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 64, 128, 192, 255, 32);
      const shape = m.parseDataset(idx, null);
      if (shape.n !== 1 || shape.h !== 2 || shape.w !== 3) throw new Error('parseDataset read a 1x2x3 IDX file as ' + JSON.stringify(shape));
    " "$1"
  }
  smoke "$WASM" || die "the wasm module does not instantiate (see above)"
  if [ "$NO_OPT" = 0 ]; then
    optimise "$WASM"
  fi
else
  [ -f "$DIST/pkg/denoise_lab.js" ] || die "--web-only needs an earlier full build ($DIST/pkg missing)"
fi

say "copying the page, www/ and vendor/"
cp "$ROOT/index.html" "$DIST/index.html"
rm -rf "$DIST/www" "$DIST/vendor"
mkdir -p "$DIST/www" "$DIST/vendor"
cp -R "$ROOT/www/." "$DIST/www/"
cp "$ROOT/node_modules/uplot/dist/uPlot.esm.js" "$ROOT/node_modules/uplot/dist/uPlot.min.css" "$DIST/vendor/"
# The lessons' bundled checkpoints (src/lesson.rs names them): the scenario fixtures that
# scripts/make-fixtures.sh trains and tests/metrics.rs and tests/cli.rs check, fetched by the
# worker only when a lesson opens.
mkdir -p "$DIST/www/data/lessons"
lesson_files=$(node --input-type=module -e "
  const { LESSONS } = await import('$ROOT/www/shared/limits.js');
  console.log([...new Set(LESSONS.flatMap((l) => l.checkpoints).filter(Boolean))].join(' '));")
for f in $lesson_files; do
  cp "$ROOT/tests/fixtures/$f" "$DIST/www/data/lessons/$f"
done
cp "$ROOT/node_modules/uplot/LICENSE" "$DIST/vendor/uPlot.LICENSE" 2>/dev/null || true

if [ "$NO_COMPRESS" = 0 ]; then
  say "precompressing (brotli and gzip siblings, scripts/precompress.mjs)"
  # The module's siblings from the cache when this very module was compressed before; copied
  # after the module, so not older than it: scripts/precompress.mjs keeps them.
  wasm="$DIST/pkg/denoise_lab_bg.wasm"
  key="sib-$({ sha256sum <"$wasm"; sha256sum <"$ROOT/scripts/precompress.mjs"; } | sha256sum | cut -c1-24)"
  for ext in br gz; do
    if [ -f "$CACHE/$key.$ext" ] && { [ ! -f "$wasm.$ext" ] || [ "$wasm.$ext" -ot "$wasm" ]; }; then
      cp "$CACHE/$key.$ext" "$wasm.$ext"
    fi
  done
  node "$ROOT/scripts/precompress.mjs" "$DIST"
  for ext in br gz; do
    if [ -f "$wasm.$ext" ] && [ ! -f "$CACHE/$key.$ext" ]; then cache_put "$wasm.$ext" "$key.$ext"; fi
  done
else
  node "$ROOT/scripts/precompress.mjs" "$DIST" --remove
fi

WASM="$DIST/pkg/denoise_lab_bg.wasm"
mb() { awk -v n="$1" 'BEGIN { printf "%.2f MB", n / 1e6 }'; }
sizes="$(mb "$(stat -c %s "$WASM")") raw"
[ -f "$WASM.gz" ] && sizes="$sizes, $(mb "$(stat -c %s "$WASM.gz")") gzip"
[ -f "$WASM.br" ] && sizes="$sizes, $(mb "$(stat -c %s "$WASM.br")") brotli"
say "done: $DIST (wasm: $sizes)"
say "serve it with:  node scripts/serve.mjs   (then open http://127.0.0.1:8080/)"
