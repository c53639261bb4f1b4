#!/usr/bin/env bash
# Build the self-contained static site in dist/ (or $DIST_DIR):
#
#   dist/index.html            the page
#   dist/www/                  app.js, worker.js, style.css, data/ (bundled MNIST, gzipped IDX)
#   dist/pkg/                  the wasm core (wasm-bindgen --target web), wasm-opt'ed if binaryen is there
#   dist/vendor/               uPlot (from node_modules: no CDN, no request outside the origin)
#   dist/www/data/lessons/     the lessons' checkpoints (copied from tests/fixtures)
#
# Usage: bash scripts/build-web.sh [--web-only] [--no-opt]
#   --web-only   skip cargo/wasm-bindgen (reuse dist/pkg): for quick edits to the JS/CSS/HTML
#   --no-opt     skip wasm-opt even if it is installed
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${DIST_DIR:-$ROOT/dist}"
WEB_ONLY=0
NO_OPT=0
for arg in "$@"; do
  case "$arg" in
    --web-only) WEB_ONLY=1 ;;
    --no-opt) NO_OPT=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
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
    "$ROOT/target/wasm32-unknown-unknown/release/denoise_lab.wasm" "$DIST/pkg"

  WASM="$DIST/pkg/denoise_lab_bg.wasm"
  # The worker calls init() with no argument: the glue must locate the .wasm beside itself.
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
  if [ "$NO_OPT" = 0 ] && command -v wasm-opt >/dev/null 2>&1; then
    say "wasm-opt -O2 ($(wasm-opt --version 2>/dev/null | head -1))"
    # The features rustc's wasm32 target emits by default; older binaryen needs them spelled out.
    if wasm-opt -O2 \
        --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$WASM" -o "$WASM.opt" 2>"$DIST/pkg/wasm-opt.log" && smoke "$WASM.opt" 2>>"$DIST/pkg/wasm-opt.log"; then
      mv "$WASM.opt" "$WASM"
      rm -f "$DIST/pkg/wasm-opt.log"
    else
      # Old binaryen (Debian 12 ships 108) rewrites wasm-bindgen's externref table into one the
      # browser rejects ("Table.set(): function-typed object must be null…").
      rm -f "$WASM.opt"
      say "warning: wasm-opt failed or produced a module that does not instantiate (see $DIST/pkg/wasm-opt.log); keeping the unoptimised wasm"
    fi
  elif [ "$NO_OPT" = 0 ]; then
    say "wasm-opt not found (Debian package binaryen): skipping the optional size optimisation"
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

raw=$(stat -c %s "$DIST/pkg/denoise_lab_bg.wasm")
gz=$(gzip -9 -c "$DIST/pkg/denoise_lab_bg.wasm" | wc -c)
say "done: $DIST (wasm $((raw / 1024)) KiB, $((gz / 1024)) KiB gzipped)"
say "serve it with:  node scripts/serve.mjs   (then open http://127.0.0.1:8080/)"
