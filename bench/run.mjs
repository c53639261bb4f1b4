#!/usr/bin/env node
// The peer benchmark: one training step of the same denoiser and CVAE (same
// architecture, batch, Adam + global-norm clipping) in
//   pytorch       PyTorch on the CPU (bench/torch_ref.py)
//   burn-flex     our core, natively, burn's CPU backend          (denoise-lab bench --backend cpu)
//   burn-wgpu     our core, natively, wgpu on Mesa's lavapipe      (denoise-lab bench --backend wgpu)
//   ours-webgpu   the page in headless Chromium, WebGPU (SwiftShader here)   (bench/browser-bench.mjs)
//   ours-cpu      the page's CPU fallback (burn's CPU backend in wasm)
//   tfjs-webgpu   TensorFlow.js, webgpu backend, same Chromium     (bench/tfjs-bench.mjs)
//   tfjs-wasm     TensorFlow.js, wasm backend
//   jaxjs-webgpu  jax-js, webgpu, the whole step under jit, same Chromium (bench/jaxjs-bench.mjs)
// run alternately (round 1: all of them, round 2: all of them, ...: A B A B, so a slow spell of
// this shared machine hits every runner alike), then prints medians over rounds, ratios and
// GFLOP/s against the CPU's peak (every device here is the same 2 CPU cores: SwiftShader and
// lavapipe emulate their GPUs on it). The in-browser peers (tfjs-webgpu, jaxjs-webgpu) also report
// the GPU commands they issue per training step and per U-Net forward (dispatches / submits / bind
// groups / buffer writes, counted in the page; ours: bench/gpu-count.mjs), printed next to ms/step.
// Called by `bench/run`, which installs and builds first.
//
//   node bench/run.mjs [--rounds 2] [--models denoiser,cvae] [--channels 8] [--batch 16]
//                      [--only pytorch,burn-flex,...] [--json target/bench/peers.json]
//                      [--markdown docs/performance.md [--block peers]]
//
// `--markdown FILE` also writes the tables into FILE between `<!-- begin: BLOCK -->` and
// `<!-- end: BLOCK -->` (BLOCK: `--block`, default `peers`), stamped with the date, the command
// and the machine (scripts/md-table.mjs).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeBlock, readBlock, commandLine } from '../scripts/md-table.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const o = { rounds: 2, models: ['denoiser', 'cvae'], channels: 8, batch: 16, only: null, markdown: null, block: 'peers', json: path.join(ROOT, 'target', 'bench', 'peers.json'), python: process.env.BENCH_PYTHON || path.join(ROOT, 'target', 'bench-venv', 'bin', 'python') };
const a = process.argv.slice(2);
for (let i = 0; i < a.length; i++) {
  const v = () => a[++i];
  switch (a[i]) {
    case '--rounds': o.rounds = Number(v()); break;
    case '--models': o.models = v().split(','); break;
    case '--channels': o.channels = Number(v()); break;
    case '--batch': o.batch = Number(v()); break;
    case '--only': o.only = v().split(','); break;
    case '--json': o.json = v(); break;
    case '--markdown': o.markdown = v(); break;
    case '--block': o.block = v(); break;
    default: throw new Error(`unknown argument ${a[i]}`);
  }
}
if (o.markdown) readBlock(fs.readFileSync(o.markdown, 'utf8'), o.block); // fail now, not after an hour of runs
const levelsFor = (model) => (model === 'cvae' ? 4 : 100);
// The same protocol everywhere: warm-up steps, then timed blocks of 5 steps, each ending with
// one readback of the loss; ms/step = block time / 5, median over blocks. The slow runners
// (seconds per step on this machine's emulated GPUs) get fewer blocks so a run fits in an hour.
const BLOCKS = { fast: 10, slow: 1 };
const WARMUP = { fast: 3, slow: 2 };

function common(model, slow) {
  return ['--model', model, '--channels', String(o.channels), '--batch', String(o.batch), '--levels', String(levelsFor(model)), '--warmup', String(slow ? WARMUP.slow : WARMUP.fast), '--blocks', String(slow ? BLOCKS.slow : BLOCKS.fast), '--steps-per-block', '5'];
}

const RUNNERS = {
  pytorch: (m) => [o.python, [path.join(ROOT, 'bench', 'torch_ref.py'), ...common(m, false), '--json']],
  'burn-flex': (m) => [path.join(ROOT, 'target', 'release', 'denoise-lab'), ['bench', '--backend', 'cpu', '--model', m, '--channels', String(o.channels), '--batch', String(o.batch), '-L', String(levelsFor(m)), '--blocks', String(BLOCKS.fast), '--steps-per-block', '5', '--json']],
  'burn-wgpu': (m) => [path.join(ROOT, 'target', 'release', 'denoise-lab'), ['bench', '--backend', 'wgpu', '--model', m, '--channels', String(o.channels), '--batch', String(o.batch), '-L', String(levelsFor(m)), '--blocks', String(BLOCKS.slow), '--steps-per-block', '5', '--json']],
  'ours-webgpu': (m) => browserBench('webgpu', m),
  'ours-cpu': (m) => browserBench('cpu', m),
  'tfjs-webgpu': (m) => ['node', [path.join(ROOT, 'bench', 'tfjs-bench.mjs'), '--backend', 'webgpu', ...common(m, true)]],
  'tfjs-wasm': (m) => ['node', [path.join(ROOT, 'bench', 'tfjs-bench.mjs'), '--backend', 'wasm', ...common(m, false)]],
  'jaxjs-webgpu': (m) => ['node', [path.join(ROOT, 'bench', 'jaxjs-bench.mjs'), ...common(m, true)]],
};

function browserBench(backend, model) {
  const out = path.join(os.tmpdir(), `denoise-lab-bb-${process.pid}-${backend}-${model}.json`);
  const config = `channels=${o.channels}&batch=${o.batch}&L=${levelsFor(model)}&me=0&rows=2&cols=4`;
  const steps = backend === 'cpu' ? 40 : 15;
  return ['node', [path.join(ROOT, 'bench', 'browser-bench.mjs'), '--backends', backend, '--models', model, '--config', config, '--steps', String(steps), '--cpu-steps', String(steps), '--json', out], out];
}

function runOnce(name, model) {
  const [cmd, args, jsonFile] = RUNNERS[name](model);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 30 * 60 * 1000, maxBuffer: 64 << 20 });
  const wall = (Date.now() - t0) / 1000;
  if (r.status !== 0) return { error: (r.stderr || r.stdout || String(r.error)).trim().split('\n').slice(-3).join(' | '), wall };
  try {
    if (jsonFile) {
      const j = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
      fs.rmSync(jsonFile, { force: true });
      const row = j.rows[0];
      if (row.error) return { error: row.error, wall };
      return { ms: row.medianMsPerStep, device: row.adapter, wall };
    }
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
    const j = JSON.parse(line);
    const device = j.device || j.adapter || (j.threads ? `${j.threads} threads` : '') || j.backend || '';
    const gpu = Number.isFinite(j.dispatch_per_step)
      ? { dispatch: j.dispatch_per_step, submit: j.submit_per_step, bindGroup: j.bind_group_per_step, writeBuffer: j.write_buffer_per_step, newPipelines: j.new_pipelines_after_warmup, forwardDispatch: j.forward_dispatch }
      : null;
    return { ms: j.ms_per_step_median, flops: j.flops_per_step, params: j.params, gpu, device: typeof device === 'string' ? device : JSON.stringify(device), wall };
  } catch (e) {
    return { error: `unreadable output: ${e.message}: ${r.stdout.slice(-300)}`, wall };
  }
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The CPU's f32 peak: cores x clock x FLOPs per cycle (2 FMA units x 8 lanes x 2 with AVX2+FMA). */
function cpuPeak() {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const mhz = Number((info.match(/cpu MHz\s*:\s*([\d.]+)/) || [])[1]);
  const flags = (info.match(/flags\s*:(.*)/) || [])[1] || '';
  const lanes = /avx512f/.test(flags) ? 16 : /avx2/.test(flags) ? 8 : 4;
  const fma = /\bfma\b/.test(flags) ? 2 : 1;
  const cores = os.cpus().length;
  const model = (info.match(/model name\s*:\s*(.*)/) || [])[1] || 'unknown CPU';
  return { model, cores, mhz, gflops: (cores * mhz * 1e6 * 2 * lanes * fma) / 1e9 };
}

/** Measured peak: PyTorch's sgemm on a large square matrix, all cores. */
function measuredPeak() {
  const r = spawnSync(o.python, ['-c', 'import torch,time\nn=2048\na=torch.randn(n,n);b=torch.randn(n,n)\nfor _ in range(3): a@b\nts=[]\nfor _ in range(10):\n  t=time.perf_counter(); a@b; ts.append(time.perf_counter()-t)\nts.sort(); print(2*n**3/ts[len(ts)//2]/1e9)'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : NaN;
}

const names = o.only || Object.keys(RUNNERS);
const results = {}; // results[model][name] = [round results]
const peak = cpuPeak();
console.log(`bench/run: ${o.rounds} rounds x ${names.length} runners x ${o.models.length} models; ${o.channels} channels, batch ${o.batch}; ${peak.model}, ${peak.cores} cores`);
for (let round = 1; round <= o.rounds; round++) {
  for (const model of o.models) {
    for (const name of names) {
      const r = runOnce(name, model);
      ((results[model] ||= {})[name] ||= []).push(r);
      console.log(`  round ${round} ${model.padEnd(8)} ${name.padEnd(12)} ${r.error ? `FAILED: ${r.error}` : `${r.ms.toFixed(1)} ms/step`}  (${r.wall.toFixed(0)} s)`);
    }
  }
}
const sgemm = names.includes('pytorch') ? measuredPeak() : NaN;

/** Our page's GPU commands per step (bench/gpu-count.mjs, counted inside its worker; L = 10: a step's count does not depend on L). */
function oursGpu() {
  if (!names.includes('ours-webgpu')) return {};
  const out = path.join(os.tmpdir(), `denoise-lab-gpu-${process.pid}.json`);
  const config = `L=10&batch=${o.batch}&channels=${o.channels}&rows=4&cols=6`;
  const r = spawnSync('node', [path.join(ROOT, 'bench', 'gpu-count.mjs'), '--models', o.models.join(','), '--config', config, '--json', out], { cwd: ROOT, encoding: 'utf8', timeout: 30 * 60 * 1000 });
  if (r.status !== 0) {
    console.log(`  gpu-count failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' | ')}`);
    return {};
  }
  const counted = JSON.parse(fs.readFileSync(out, 'utf8')).rows;
  return Object.fromEntries(
    counted.map((c) => [c.model, { dispatch: c.perStep.dispatch, submit: c.perStep.submit, bindGroup: c.perStep.bindGroup, writeBuffer: c.perStep.writeBuffer, newPipelines: c.newPipelinesOverNext11, forwardDispatch: c.perForward }]),
  );
}
const ours = oursGpu();

const rows = [];
for (const model of o.models) {
  const flops = median((results[model].pytorch || []).map((r) => r.flops));
  for (const name of names) {
    const rs = results[model][name];
    const ms = median(rs.map((r) => r.ms));
    const gflops = Number.isFinite(flops) ? flops / (ms / 1000) / 1e9 : NaN;
    // GPU command counts do not vary between rounds (the same jitted / queued program): the last.
    const gpu = (name === 'ours-webgpu' ? ours[model] : null) || rs.filter((r) => r.gpu).at(-1)?.gpu || null;
    const params = rs.find((r) => r.params)?.params ?? null;
    rows.push({ model, name, ms, rounds: rs.map((r) => (r.error ? null : r.ms)), device: rs.find((r) => r.device)?.device || '', errors: rs.filter((r) => r.error).map((r) => r.error), gflops, flops, gpu, params });
  }
}
const get = (model, name) => rows.find((r) => r.model === model && r.name === name)?.ms;
const RATIOS = [
  ['burn-flex', 'pytorch'],
  ['burn-wgpu', 'pytorch'],
  ['ours-webgpu', 'tfjs-webgpu'],
  ['ours-cpu', 'tfjs-wasm'],
  ['ours-webgpu', 'jaxjs-webgpu'],
];

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const lines = [];
lines.push(`Measured ${new Date().toISOString().slice(0, 10)} on ${peak.model} (${peak.cores} cores, ${fmt(peak.mhz, 0)} MHz, no GPU), ${o.channels} base channels, batch ${o.batch}, denoiser L = 100, CVAE L = 4; ${o.rounds} alternating rounds, median ms/step of each run, then the median over rounds.`);
lines.push(`CPU f32 peak: ${fmt(peak.gflops, 0)} GFLOP/s in theory (cores x clock x 32 FLOP/cycle), ${fmt(sgemm, 0)} GFLOP/s measured (PyTorch sgemm 2048², all cores).`);
lines.push('');
lines.push('| model | runner | device | ms/step (median) | per round | GFLOP/s | % of measured peak | GPU cmds/step: dispatch / submit / bind group / writeBuffer | new pipelines after warm-up | dispatches per U-Net forward |');
lines.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const pct = Number.isFinite(sgemm) ? (100 * r.gflops) / sgemm : NaN;
  const g = r.gpu;
  const cmds = g ? [g.dispatch, g.submit, g.bindGroup, g.writeBuffer].map((x) => fmt(x)).join(' / ') : '–';
  lines.push(`| ${r.model} | ${r.name} | ${r.device.replace(/\|/g, '/').slice(0, 60)} | ${r.errors.length && !Number.isFinite(r.ms) ? `failed: ${r.errors[0].slice(0, 80)}` : fmt(r.ms)} | ${r.rounds.map((x) => fmt(x)).join(', ')} | ${fmt(r.gflops, 2)} | ${fmt(pct, 2)} | ${cmds} | ${g ? fmt(g.newPipelines, 0) : '–'} | ${g && g.forwardDispatch != null ? fmt(g.forwardDispatch) : '–'} |`);
}
lines.push('');
lines.push('GPU commands: the peers counted in their pages (bench/jaxjs/gpu-counter.mjs) by the difference of runs of 1 and 6 steps after the timed blocks; ours by `node bench/gpu-count.mjs` inside the page\'s worker (L = 10), after the rounds. Parameters: ' + o.models.map((m) => `${m} ${[...new Set(rows.filter((r) => r.model === m && r.params).map((r) => `${r.name} ${r.params}`))].join(', ')}`).join('; ') + '.');
lines.push('');
lines.push('| model | ratio | value (< 1: ours is faster) |');
lines.push('| --- | --- | --- |');
for (const model of o.models) {
  for (const [x, y] of RATIOS) {
    if (!names.includes(x) || !names.includes(y)) continue;
    lines.push(`| ${model} | ${x} / ${y} | ${fmt(get(model, x) / get(model, y), 2)} |`);
  }
}
const flopsLine = o.models.map((m) => `${m} ${fmt(rows.find((r) => r.model === m)?.flops / 1e9, 3)} GFLOP`).join(', ');
lines.push('');
lines.push(`FLOPs per training step (forward + backward, PyTorch's FlopCounterMode): ${flopsLine}.`);
console.log(`\n${lines.join('\n')}`);
fs.mkdirSync(path.dirname(o.json), { recursive: true });
fs.writeFileSync(o.json, JSON.stringify({ date: new Date().toISOString(), peak, sgemm, options: o, results, rows }, null, 2));
fs.writeFileSync(o.json.replace(/\.json$/, '.md'), `${lines.join('\n')}\n`);
console.log(`\n(written to ${o.json} and ${o.json.replace(/\.json$/, '.md')})`);
if (o.markdown) {
  writeBlock(o.markdown, o.block, lines.join('\n'), { command: commandLine(['node', 'bench/run.mjs', ...process.argv.slice(2)]) });
  console.log(`(and into ${o.markdown}, block ${o.block})`);
}
