#!/usr/bin/env node
// Soak benchmark (staying up): trains the BUILT page (dist/) for many steps in its Web
// Worker, drawing samples every 50 steps, and records memory at every drawing: the device
// allocator's live allocations and reserved bytes (burn's memory-pool usage = GPU buffers on
// WebGPU), the wasm linear memory, and the page's JS heap. After warm-up these must stay flat;
// the script prints the figures and exits non-zero when they grow.
//
//   bash scripts/build-web.sh
//   node bench/soak.mjs [--steps 5000] [--every 50] [--config "L=10&batch=8&channels=4"]
//                       [--backend webgpu|cpu] [--warmup 500] [--json out.json]

import fs from 'node:fs';
import { launch, openPage, waitReady } from '../tests/browser/helpers.mjs';

const o = { steps: 5000, every: 50, config: 'L=10&batch=8&channels=4&rows=4&cols=6', backend: 'webgpu', warmup: 500, json: null, timeoutMin: 240 };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
  const v = () => a[++i];
  switch (a[i]) {
    case '--steps': o.steps = Number(v()); break;
    case '--every': o.every = Number(v()); break;
    case '--config': o.config = v(); break;
    case '--backend': o.backend = v(); break;
    case '--warmup': o.warmup = Number(v()); break;
    case '--json': o.json = v(); break;
    case '--timeout-min': o.timeoutMin = Number(v()); break;
    default: throw new Error(`unknown argument ${a[i]}`);
  }
}

const env = await launch({ webgpu: o.backend === 'webgpu' });
const t0 = Date.now();
let exitCode = 0;
try {
  const q = new URLSearchParams(o.config);
  for (const [k, val] of Object.entries({ se: o.every, me: 0, resume: 0, autoplay: 1, stop: o.steps })) q.set(k, String(val));
  q.set('backend', o.backend); // webgpu: even on a CPU adapter, where the page would pick its CPU backend
  const { page, consoleErrors } = await openPage(env.context, env.url, q.toString());
  await waitReady(page);
  const cdp = await env.context.newCDPSession(page);
  const heap = async () => (await cdp.send('Runtime.getHeapUsage')).usedSize;
  const info = await page.evaluate(() => ({ backend: window.denoiseLab.backend, adapter: window.denoiseLab.adapter }));
  console.log(`soak: ${o.steps} steps on ${info.backend} (${JSON.stringify(info.adapter)}), samples every ${o.every} steps, config ${o.config}`);
  const pageHeap = [];
  let last = -1;
  while (true) {
    const st = await page.evaluate(() => ({ step: window.denoiseLab.step, playing: window.denoiseLab.playing, errors: window.denoiseLab.errors, n: (window.denoiseLab.memory || []).length }));
    if (st.errors.length) throw new Error(`page errors: ${st.errors.join('; ')}`);
    if (st.step !== last) {
      pageHeap.push({ step: st.step, bytes: await heap() });
      const m = await page.evaluate(() => (window.denoiseLab.memory || []).at(-1));
      console.log(`  step ${st.step}  ${((Date.now() - t0) / 60000).toFixed(1)} min  drawings ${st.n}  ${m ? `allocations ${m.allocations}  reserved ${(m.bytesReserved / 2 ** 20).toFixed(1)} MiB  wasm ${(m.wasmBytes / 2 ** 20).toFixed(1)} MiB` : ''}`);
      last = st.step;
    }
    if (st.step >= o.steps && !st.playing) break;
    if (Date.now() - t0 > o.timeoutMin * 60000) throw new Error(`timed out at step ${st.step}`);
    await new Promise((r) => setTimeout(r, 15000));
  }
  const memory = await page.evaluate(() => window.denoiseLab.memory || []);
  const after = memory.filter((m) => m.step >= o.warmup);
  const range = (xs) => (xs.length ? [Math.min(...xs), Math.max(...xs)] : [NaN, NaN]);
  const field = (k) => range(after.map((m) => m[k]).filter((x) => x != null));
  const heapAfter = range(pageHeap.filter((h) => h.step >= o.warmup).map((h) => h.bytes));
  const summary = {
    date: new Date().toISOString(),
    backend: info.backend,
    adapter: info.adapter,
    config: o.config,
    steps: last,
    sampleEvery: o.every,
    drawings: memory.length,
    minutes: (Date.now() - t0) / 60000,
    afterWarmup: {
      fromStep: o.warmup,
      drawings: after.length,
      allocations: field('allocations'),
      bytesInUse: field('bytesInUse'),
      bytesReserved: field('bytesReserved'),
      wasmBytes: field('wasmBytes'),
      pageHeapBytes: heapAfter,
    },
    consoleErrors,
  };
  // Flat: the last reading is within 5% (and 1 MiB) of the first after warm-up, for every figure.
  const grew = [];
  for (const k of ['allocations', 'bytesReserved', 'wasmBytes']) {
    const xs = after.map((m) => m[k]).filter((x) => x != null);
    if (xs.length < 2) continue;
    const first = xs[0];
    const peak = Math.max(...xs);
    if (peak > first * 1.05 && peak - first > (k === 'allocations' ? 20 : 2 ** 20)) grew.push(`${k} ${first} -> ${peak}`);
  }
  summary.flat = grew.length === 0;
  summary.grew = grew;
  console.log(JSON.stringify(summary, null, 2));
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ summary, memory, pageHeap }, null, 2));
  if (!summary.flat || consoleErrors.length) exitCode = 1;
} catch (e) {
  console.error(`soak failed: ${e.message}`);
  exitCode = 1;
} finally {
  await env.close();
}
process.exit(exitCode);
