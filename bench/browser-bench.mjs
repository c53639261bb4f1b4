#!/usr/bin/env node
// Browser benchmark (not a test): opens the BUILT page (dist/) in headless Chromium, trains N
// steps and prints median ms/step (and of it the wasm's own time: queuing the steps, running the
// queued operations, recording and submitting their dispatches; `Session::host_time`) and images/s for the denoiser and the CVAE, on the WebGPU
// adapter (SwiftShader here, unless the machine has a GPU Chromium can use) and on the CPU
// fallback, and as a visitor gets it (`auto`: WebGPU available, the page picks the backend, here
// its CPU backend because SwiftShader's adapter is a CPU); plus the wasm size (raw and gzipped), the times from page load to the first drawn grid
// and to the first training step, and training's share of the worker's time while playing.
//
//   bash scripts/build-web.sh
//   node bench/browser-bench.mjs [--steps 40] [--cpu-steps 10] [--config "L=100&batch=64"]
//                                [--backends webgpu,cpu,auto] [--models denoiser,cvae] [--json out.json]
//                                [--markdown docs/performance.md [--block browser]]
//
// `--markdown FILE` also writes the wasm size and the table into FILE between
// `<!-- begin: BLOCK -->` and `<!-- end: BLOCK -->` (default block `browser`), stamped with the
// date, the command and the machine (scripts/md-table.mjs).
// `--config` is the page's query string (model is set per run); the default is the page's
// default configuration.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { launch, openPage, waitReady, DIST } from '../tests/browser/helpers.mjs';
import { writeBlock, readBlock, commandLine } from '../scripts/md-table.mjs';

function args() {
  const o = { steps: 40, cpuSteps: 10, config: '', backends: ['webgpu', 'cpu', 'auto'], models: ['denoiser', 'cvae'], json: null, markdown: null, block: 'browser', timeout: 900 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => a[++i];
    switch (a[i]) {
      case '--steps': o.steps = Number(v()); break;
      case '--cpu-steps': o.cpuSteps = Number(v()); break;
      case '--config': o.config = v(); break;
      case '--backends': o.backends = v().split(','); break;
      case '--models': o.models = v().split(','); break;
      case '--json': o.json = v(); break;
      case '--markdown': o.markdown = v(); break;
      case '--block': o.block = v(); break;
      case '--timeout': o.timeout = Number(v()); break;
      case '-h': case '--help':
        console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 18).join('\n'));
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a[i]}`);
    }
  }
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

async function run(backend, model, opts) {
  // auto: what a visitor gets without a backend in the URL: a browser with WebGPU (here
  // SwiftShader's CPU adapter), the page choosing (its CPU backend on a CPU adapter).
  const steps = backend === 'webgpu' ? opts.steps : opts.cpuSteps;
  const env = await launch({ webgpu: backend !== 'cpu' });
  try {
    const q = new URLSearchParams(opts.config);
    q.set('model', model);
    if (model === 'cvae' && !q.has('L')) q.set('L', '4');
    q.set('autoplay', '1');
    q.set('resume', '0');
    q.set('backend', backend); // webgpu: even on a CPU adapter, where the page would pick its CPU backend
    const t0 = Date.now();
    const { page } = await openPage(env.context, env.url, q.toString());
    await waitReady(page, { timeout: opts.timeout * 1000 });
    await page.waitForFunction((n) => window.denoiseLab.step >= n || window.denoiseLab.errors.length, steps, { timeout: opts.timeout * 1000, polling: 250 });
    const r = await page.evaluate(() => {
      const l = window.denoiseLab;
      return { step: l.step, frames: l.frames, warmupMs: l.warmupMs, times: l.times, trainingShare: l.trainingShare, backend: l.backend, adapter: l.adapter, info: l.info, errors: l.errors };
    });
    await page.click('#play');
    if (r.errors.length) throw new Error(r.errors.join('; '));
    const steady = r.frames.slice(1); // frame 0: the first step, with shader compilation
    const perStep = steady.map((f) => f.ms / f.k);
    const hostPerStep = steady.map((f) => f.hostMs / f.k);
    const steadySteps = steady.reduce((s, f) => s + f.k, 0);
    const steadyMs = steady.reduce((s, f) => s + f.ms, 0);
    const batch = r.info.config.batch;
    return {
      backend: backend === 'auto' ? `auto → ${r.backend}` : r.backend,
      adapter: r.adapter ? [r.adapter.vendor, r.adapter.architecture, r.adapter.description].filter(Boolean).join(' ') : 'none',
      model,
      levels: r.info.levels,
      batch,
      channels: r.info.config.base_channels,
      steps: r.step,
      medianMsPerStep: median(perStep),
      medianHostMsPerStep: median(hostPerStep),
      imagesPerSec: steadyMs > 0 ? (steadySteps * batch * 1000) / steadyMs : NaN,
      warmupMs: r.warmupMs,
      pageToFirstStepMs: r.times.firstStep,
      pageToFirstGridMs: r.times.firstDrawn,
      trainingShare: r.trainingShare,
      wallMs: Date.now() - t0,
    };
  } finally {
    await env.close();
  }
}

const opts = args();
if (opts.markdown) readBlock(fs.readFileSync(opts.markdown, 'utf8'), opts.block); // fail now, not after the runs
const wasmPath = path.join(DIST, 'pkg', 'denoise_lab_bg.wasm');
const wasm = fs.readFileSync(wasmPath);
const gz = zlib.gzipSync(wasm, { level: 9 }).length;
const wasmLine = `wasm: ${(wasm.length / 1024 / 1024).toFixed(2)} MiB raw, ${(gz / 1024 / 1024).toFixed(2)} MiB gzipped`;
console.log(`${wasmLine} (${wasmPath})`);
console.log(`config: ${opts.config || '(page defaults)'}; ${opts.steps} steps on WebGPU, ${opts.cpuSteps} on the CPU\n`);

const rows = [];
for (const backend of opts.backends) {
  for (const model of opts.models) {
    process.stdout.write(`running ${model} on ${backend}… `);
    try {
      const r = await run(backend, model, opts);
      rows.push(r);
      console.log(`${r.medianMsPerStep.toFixed(1)} ms/step (${r.medianHostMsPerStep.toFixed(1)} of them the wasm's own)`);
    } catch (e) {
      console.log(`failed: ${e.message.split('\n')[0]}`);
      rows.push({ backend, model, error: e.message.split('\n')[0] });
    }
  }
}

const table = [
  `${wasmLine}; page configuration: ${opts.config ? `\`${opts.config}\`` : 'the page defaults'}; ${opts.steps} steps on WebGPU, ${opts.cpuSteps} on the CPU.`,
  '',
  "| backend | adapter | model | L | batch | ch | median ms/step | of it the wasm's own (host) | images/s | first step (warm-up) | page load → first grid | page load → first step | training share |",
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];
for (const r of rows) {
  if (r.error) {
    table.push(`| ${r.backend} | | ${r.model} | | | | failed: ${r.error.replace(/\|/g, '/')} | | | | | | |`);
    continue;
  }
  table.push(
    `| ${r.backend} | ${r.adapter} | ${r.model} | ${r.levels} | ${r.batch} | ${r.channels} | ${r.medianMsPerStep.toFixed(1)} | ${r.medianHostMsPerStep.toFixed(1)} | ${r.imagesPerSec.toFixed(0)} | ${(r.warmupMs / 1000).toFixed(2)} s | ${(r.pageToFirstGridMs / 1000).toFixed(2)} s | ${(r.pageToFirstStepMs / 1000).toFixed(2)} s | ${r.trainingShare != null ? `${(100 * r.trainingShare).toFixed(0)}%` : '–'} |`,
  );
}
console.log(`\n${table.slice(2).join('\n')}`);
if (opts.markdown) {
  writeBlock(opts.markdown, opts.block, table.join('\n'), { command: commandLine(['node', 'bench/browser-bench.mjs', ...process.argv.slice(2)]) });
  console.log(`(written to ${opts.markdown}, block ${opts.block})`);
}
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ wasmBytes: wasm.length, wasmGzipBytes: gz, config: opts.config, rows }, null, 2));
