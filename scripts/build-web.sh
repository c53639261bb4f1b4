#!/usr/bin/env bash
# Build the self-contained static site in dist/ (or $DIST_DIR):
#
#   dist/index.html            the page
#   dist/www/                  app.js, worker.js, style.css, data/ (bundled MNIST, gzipped IDX)
#   dist/pkg/                  the wasm core (wasm-bindgen --target web), wasm-opt'ed (npm binaryen)
#   dist/vendor/               uPlot (from node_modules: no CDN, no request outside the origin)
#   F.br, F.gz beside F        brotli and gzip copies of the wasm and the text files, for
#                              scripts/serve.mjs and static hosts (docs/hosting.md)
#
# Usage: bash scripts/build-web.sh [--web-only] [--no-opt] [--no-compress]
#   --web-only     skip cargo/wasm-bindgen (reuse dist/pkg): for quick edits to the JS/CSS/HTML
#   --no-opt       skip wasm-opt
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
      if (!(Math.abs(m.defaultA(4) - Math.pow(0.01, 0.25)) < 1e-12)) throw new Error('defaultA(4) is wrong');
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
cp "$ROOT/node_modules/uplot/LICENSE" "$DIST/vendor/uPlot.LICENSE" 2>/dev/null || true

if [ "$NO_COMPRESS" = 0 ]; then
  say "precompressing (brotli and gzip siblings, scripts/precompress.mjs)"
  node "$ROOT/scripts/precompress.mjs" "$DIST"
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
