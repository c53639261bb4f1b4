#!/usr/bin/env node
// Peak memory of a training step and of a sampler's chains at the corners of what the page allows
// (not a test): the figures behind the memory bounds in src/limits.rs (`STEP_MEMORY`,
// `SAMPLE_MEMORY`).
//
//   bash scripts/build-web.sh
//   node bench/memory.mjs [--backends cpu,webgpu] [--only NAME,...] [--checkpoint FILE] [--markdown docs/performance.md]
//
// `--checkpoint FILE` adds a row: FILE imported on the CPU backend (`Session.fromCheckpoint`), the
// wasm memory it added against the file's size. The largest checkpoint the page's limits allow
// (163 MiB, src/page.rs) is made by
//   denoise-lab train --model cvae -L 4 --steps 1 --batch 2 --channels 128 --cond-dim 512 --latent 256 -o big.ckpt
//
// Each corner runs in a browser of its own (headless Chromium, SwiftShader's WebGPU for `webgpu`),
// so its memory starts empty: the page's wasm core is imported into a blank document of the dev
// server's origin, a run is made on synthetic images of the corner's side, and then either one
// training step is taken or n chains are sampled. Figures:
// - wasm: the wasm linear memory after it (it only grows, so this is its peak); on the CPU backend
//   every tensor lives there.
// - GPU pool: burn's device memory pool on WebGPU, bytes reserved (buffers it holds) after it.
// - per unit: (the backend's peak − its size after making the run) ÷ units, where units =
//   images × base channels × height × width, the product the bounds limit.
// `--markdown FILE` writes the table between `<!-- begin: memory -->` and `<!-- end: memory -->`.

import fs from 'node:fs';
import http from 'node:http';
import { launch } from '../tests/browser/helpers.mjs';
import { writeBlock, readBlock, commandLine } from '../scripts/md-table.mjs';

// name, what (step: one training step of `batch` images; sample: `n` chains at once), channels, side.
// On SwiftShader's WebGPU (the CPU emulating a GPU) a step at 128 channels takes tens of minutes,
// so those corners run on the CPU backend only: the bytes per unit are the same on both at every
// corner measured on both.
const CORNERS = [
  { name: 'default', what: 'step', images: 64, channels: 32, side: 28 },
  { name: 'batch', what: 'step', images: 334, channels: 32, side: 28 },
  { name: 'small channels', what: 'step', images: 1024, channels: 8, side: 28 },
  { name: 'channels', what: 'step', images: 64, channels: 128, side: 28, backends: ['cpu'] },
  { name: 'large images', what: 'step', images: 64, channels: 32, side: 64 },
  { name: 'large images, channels', what: 'step', images: 16, channels: 128, side: 64, backends: ['cpu'] },
  { name: 'chains', what: 'sample', images: 668, channels: 32, side: 28 },
  { name: 'chains, large images', what: 'sample', images: 128, channels: 32, side: 64, backends: ['cpu'] },
  // Past the step bound, inside the older ones (batch × channels² alone): what it prevents.
  { name: 'past the bound', what: 'step', images: 1024, channels: 32, side: 28, backends: ['cpu'] },
];

function args() {
  const o = { backends: ['cpu', 'webgpu'], only: null, markdown: null, checkpoint: null };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => a[++i];
    if (a[i] === '--backends') o.backends = v().split(',');
    else if (a[i] === '--only') o.only = v().split(',');
    else if (a[i] === '--markdown') o.markdown = v();
    else if (a[i] === '--checkpoint') o.checkpoint = v();
    else throw new Error(`unknown argument ${a[i]}`);
  }
  return o;
}

/** Runs in the page: make a run and take one step or sample n chains; report memory. */
async function corner({ what, images, channels, side, backend }) {
  const core = await import('/pkg/denoise_lab.js');
  await core.default();
  const n = 400;
  const idx = new Uint8Array(16 + n * side * side);
  const head = new DataView(idx.buffer);
  [0x803, n, side, side].forEach((v, i) => head.setUint32(4 * i, v));
  for (let i = 16; i < idx.length; i++) idx[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
  const levels = what === 'step' ? 10 : 2;
  const config = { model: 'denoiser', levels, batch: what === 'step' ? images : 1, base_channels: channels, held_out: 50 };
  const session = await core.Session.create([config], idx, null, backend);
  const before = session.memory();
  const t0 = performance.now();
  if (what === 'step') {
    session.step(1);
    await session.flush();
  } else {
    await session.sample('deterministic', images, 1, 2);
  }
  const ms = performance.now() - t0;
  const after = session.memory();
  let limits = null;
  if (backend === 'webgpu') {
    const adapter = await navigator.gpu.requestAdapter();
    limits = { maxBufferSize: adapter.limits.maxBufferSize, maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
  }
  return { before, after, ms, limits };
}

/** Runs in the page: import the checkpoint at `url` on the CPU backend over 300 bundled digits. */
async function importCheckpoint(url) {
  const core = await import('/pkg/denoise_lab.js');
  const exports = await core.default();
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const gz = await (await fetch('/www/data/mnist-10k-images-idx3-ubyte.gz')).arrayBuffer();
  let all = new Uint8Array(gz);
  if (all[0] === 0x1f) all = new Uint8Array(await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  const n = 300;
  const images = all.slice(0, 16 + n * 784);
  new DataView(images.buffer).setUint32(4, n);
  const before = exports.memory.buffer.byteLength;
  const t0 = performance.now();
  const session = await core.Session.fromCheckpoint(bytes, images, null, 'cpu', null, null, null, null);
  const ms = performance.now() - t0;
  return { file: bytes.length, before, after: session.memory().wasmBytes, ms };
}

async function run(c, backend) {
  const env = await launch({ webgpu: backend === 'webgpu' });
  try {
    const page = env.context.pages()[0] || (await env.context.newPage());
    page.setDefaultTimeout(1800000);
    await page.goto(`${env.url}/pkg/denoise_lab.js`);
    return await page.evaluate(corner, { ...c, backend });
  } catch (e) {
    return { error: e.message.split('\n')[0] };
  } finally {
    await env.close();
  }
}

const MB = (b) => (b == null ? '–' : `${(b / 2 ** 20).toFixed(0)} MiB`);

const opts = args();
if (opts.markdown) {
  // Fail now, not after the runs.
  const text = fs.readFileSync(opts.markdown, 'utf8');
  readBlock(text, 'memory');
  if (opts.checkpoint) readBlock(text, 'memory-import');
}
const rows = [];
let limits = null;
for (const c of CORNERS.filter((c) => !opts.only || opts.only.includes(c.name))) {
  for (const backend of opts.backends.filter((b) => !c.backends || c.backends.includes(b))) {
    process.stdout.write(`${c.name} (${c.what}, ${c.images} × ${c.channels} ch × ${c.side}²) on ${backend}… `);
    const r = await run(c, backend);
    const units = c.images * c.channels * c.side * c.side;
    if (r.error) {
      console.log(`failed: ${r.error}`);
      rows.push({ ...c, backend, units, error: r.error });
      continue;
    }
    limits ??= r.limits;
    const peak = backend === 'cpu' ? r.after.wasmBytes : r.after.bytesReserved;
    const base = backend === 'cpu' ? r.before.wasmBytes : r.before.bytesReserved;
    const row = { ...c, backend, units, wasm: r.after.wasmBytes, pool: r.after.bytesReserved, perUnit: (peak - base) / units, ms: r.ms };
    rows.push(row);
    console.log(`wasm ${MB(row.wasm)}, GPU pool ${MB(row.pool)}, ${row.perUnit.toFixed(0)} B per unit, ${(r.ms / 1000).toFixed(1)} s`);
  }
}
let imported = null;
let server = null;
if (opts.checkpoint) {
  process.stdout.write(`import of ${opts.checkpoint} on cpu… `);
  const env = await launch({ webgpu: false });
  try {
    const page = env.context.pages()[0] || (await env.context.newPage());
    page.setDefaultTimeout(1800000);
    await page.goto(`${env.url}/pkg/denoise_lab.js`);
    // The file from a server of its own (a route's body crosses the DevTools protocol, which a
    // file of this size overflows).
    const body = fs.readFileSync(opts.checkpoint);
    server = http.createServer((_, res) => res.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream' }).end(body));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    imported = await page.evaluate(importCheckpoint, `http://127.0.0.1:${server.address().port}/`);
  } finally {
    server?.close();
    await env.close();
  }
  console.log(`${MB(imported.file)} file: wasm ${MB(imported.before)} -> ${MB(imported.after)}, ${((imported.after - imported.before) / imported.file).toFixed(2)}× the file, ${(imported.ms / 1000).toFixed(1)} s`);
}
const table = [
  `Units = images at once × base channels × height × width (a step's batch, or the chains a sampler draws together); L = 10 for a step, 2 for the chains; synthetic images.${limits ? ` SwiftShader's adapter: maxBufferSize ${MB(limits.maxBufferSize)}, maxStorageBufferBindingSize ${MB(limits.maxStorageBufferBindingSize)}.` : ''}`,
  '',
  '| corner | what | images | channels | side | units | backend | wasm memory | GPU pool | bytes per unit | time |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) =>
    r.error
      ? `| ${r.name} | ${r.what} | ${r.images} | ${r.channels} | ${r.side} | ${r.units} | ${r.backend} | failed: ${r.error.replace(/\|/g, '/')} | | | |`
      : `| ${r.name} | ${r.what} | ${r.images} | ${r.channels} | ${r.side} | ${r.units} | ${r.backend} | ${MB(r.wasm)} | ${MB(r.pool)} | ${r.perUnit.toFixed(0)} | ${(r.ms / 1000).toFixed(1)} s |`,
  ),
];
const importLine = imported && `An import of a ${MB(imported.file)} checkpoint on the CPU backend: the wasm memory grew from ${MB(imported.before)} to ${MB(imported.after)}, ${((imported.after - imported.before) / imported.file).toFixed(2)} times the file (${(imported.ms / 1000).toFixed(1)} s).`;
if (rows.length) console.log(`\n${table.join('\n')}`);
if (importLine) console.log(`\n${importLine}`);
// The corners' table and the import's line are blocks of their own (`memory`, `memory-import`), so
// either can be measured again alone.
const command = commandLine(['node', 'bench/memory.mjs', ...process.argv.slice(2)]);
if (opts.markdown && rows.length) {
  writeBlock(opts.markdown, 'memory', table.join('\n'), { command });
  console.log(`(written to ${opts.markdown}, block memory)`);
}
if (opts.markdown && importLine) {
  writeBlock(opts.markdown, 'memory-import', importLine, { command });
  console.log(`(written to ${opts.markdown}, block memory-import)`);
}
