#!/usr/bin/env node
// GPU commands per training step and per sampled U-Net forward (not a test): the figure that
// transfers from this GPU-less machine to a laptop, where each dispatch costs ~25-70 µs.
//
//   bash scripts/build-web.sh
//   node bench/gpu-count.mjs [--config "L=10&batch=16&channels=8"] [--models denoiser,cvae] [--json out.json]
//                            [--markdown docs/performance.md]
//
// `--markdown FILE` also writes the table into FILE between `<!-- begin: gpu-count -->` and
// `<!-- end: gpu-count -->`, stamped with the date, the command and the machine (scripts/md-table.mjs).
//
// Inside the page's worker it wraps GPUComputePassEncoder.dispatchWorkgroups, GPUQueue.submit,
// GPUDevice.createBindGroup, GPUDevice.createComputePipeline(Async) and GPUQueue.writeBuffer and
// counts calls. One Step (1 training step, then the grids are drawn) and one Step of 11 steps
// (the same drawing) give: per training step = (count(11) - count(1)) / 10; drawing = count(1) -
// per step; per sampled level = drawing / L (every sampler shown); per forward = drawing / (forwards
// in one drawing: L per model, since a model's samplers are drawn together in one batch). New pipelines counted over the second Step show whether kernels keep compiling.
// `--trace PREFIX`: also writes PREFIX.<model>.txt, every kernel dispatch (by pipeline label),
// submit and buffer write of the counted one-step Step (the step, then its drawing), in order, and
// PREFIX.<model>.11-steps.txt, those of the Step of 11.
// `--kernels N`: also the N kernels dispatched most per training step, by pipeline label (cubecl
// labels each pipeline with its kernel's entry-point name), to see what is left unfused.

import fs from 'node:fs';
import { launch, waitReady, instrumentGpu, countGpuStep } from '../tests/browser/helpers.mjs';
import { writeBlock, readBlock, commandLine } from '../scripts/md-table.mjs';

function args() {
  const o = { config: 'L=10&batch=16&channels=8&rows=4&cols=6', models: ['denoiser', 'cvae'], json: null, kernels: 0, markdown: null, trace: null };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => a[++i];
    if (a[i] === '--config') o.config = v();
    else if (a[i] === '--models') o.models = v().split(',');
    else if (a[i] === '--json') o.json = v();
    else if (a[i] === '--kernels') o.kernels = Number(v());
    else if (a[i] === '--markdown') o.markdown = v();
    else if (a[i] === '--trace') o.trace = v();
    else throw new Error(`unknown argument ${a[i]}`);
  }
  return o;
}

async function measure(model, opts) {
  const env = await launch({ webgpu: true });
  try {
    const q = new URLSearchParams(opts.config);
    q.set('model', model);
    if (model === 'cvae') q.set('L', q.get('L') && Number(q.get('L')) <= 8 ? q.get('L') : '4');
    q.set('resume', '0');
    q.set('backend', 'webgpu'); // on SwiftShader the page would pick its CPU backend
    let worker = null;
    const page = env.context.pages()[0] || (await env.context.newPage());
    page.on('worker', (w) => {
      worker = w;
      w.evaluate(instrumentGpu).catch((e) => console.error(`could not instrument the worker: ${e.message}`));
    });
    await page.goto(`${env.url}?${q}`);
    await waitReady(page, { timeout: 600000 });
    await page.waitForFunction(() => window.denoiseLab.samplesVersion >= 1, null, { timeout: 600000 });
    // The worker measures the sample metrics (every sampler run alone on `mn` samples, and the
    // classifier) 3 s after load: let that pass end first, or it lands in a counted Step and is
    // taken for drawing (it was: 3351 "drawing" dispatches were a drawing plus a measuring pass).
    await page.waitForFunction(() => (window.denoiseLab.metricsVersion || 0) >= 1 || window.denoiseLab.metrics?.unavailable, null, { timeout: 600000 });
    if (!worker) throw new Error('no worker seen');
    if (!(await page.evaluate(() => window.denoiseLab.backend === 'webgpu'))) throw new Error('not on WebGPU');
    const stepAndCount = (n) => countGpuStep(page, worker, n);
    await stepAndCount(1); // warm-up: compile what the first steps need
    const one = await stepAndCount(1);
    const eleven = await stepAndCount(11);
    const names = new Set([...Object.keys(one.kernels), ...Object.keys(eleven.kernels)]);
    const kernels = [...names]
      .map((name) => [name, ((eleven.kernels[name] || 0) - (one.kernels[name] || 0)) / 10])
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1]);
    const perStepOf = Object.fromEntries(kernels);
    const drawingKernels = Object.entries(one.kernels)
      .map(([name, n]) => [name, n - (perStepOf[name] || 0)])
      .filter(([, n]) => n > 0)
      .sort((x, y) => y[1] - x[1]);
    // --trace: the calls of the counted 1-step Step (the step, then its drawing), in order.
    if (opts.trace) {
      fs.writeFileSync(`${opts.trace}.${model}.txt`, one.trace.join('\n') + '\n');
      fs.writeFileSync(`${opts.trace}.${model}.11-steps.txt`, eleven.trace.join('\n') + '\n');
    }
    for (const r of [one, eleven]) {
      delete r.kernels;
      delete r.trace;
    }
    const again = await stepAndCount(11); // fused kernels compile on first use: does that settle?
    const info = await page.evaluate(() => window.denoiseLab.info);
    const a = await page.evaluate(() => window.denoiseLab.adapter);
    const adapter = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') : '?';
    // The samplers of one model are drawn together (one forward per level for all of them).
    const forwards = info.samplerGroups.length * info.levels;
    const perStep = Object.fromEntries(Object.keys(one).map((k) => [k, (eleven[k] - one[k]) / 10]));
    const drawing = Object.fromEntries(Object.keys(one).map((k) => [k, one[k] - perStep[k]]));
    return { model, adapter, levels: info.levels, batch: info.config.batch, channels: info.config.base_channels, samplers: info.samplers, perStep, drawing, perForward: drawing.dispatch / forwards, perLevel: drawing.dispatch / info.levels, newPipelinesOver11Steps: eleven.pipeline, newPipelinesOverNext11: again.pipeline, kernels, drawingKernels };
  } finally {
    await env.close();
  }
}

const opts = args();
if (opts.markdown) readBlock(fs.readFileSync(opts.markdown, 'utf8'), 'gpu-count'); // fail now, not after the counting
const rows = [];
for (const model of opts.models) {
  process.stdout.write(`counting ${model}… `);
  const r = await measure(model, opts);
  rows.push(r);
  console.log('done');
}
const table = [
  `Page configuration: \`${opts.config}\` (the CVAE at L = 4 unless L <= 8), \`backend=webgpu\`; adapter: ${[...new Set(rows.map((r) => r.adapter))].join(', ')}.`,
  '',
  '| model | L | batch | ch | samplers | dispatches/step | submits/step | bind groups/step | buffer writes/step | dispatches per sampled level (all samplers) | per U-Net forward | new pipelines in 11 steps, then 11 more |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.model} | ${r.levels} | ${r.batch} | ${r.channels} | ${r.samplers.length} | ${r.perStep.dispatch} | ${r.perStep.submit} | ${r.perStep.bindGroup} | ${r.perStep.writeBuffer} | ${r.perLevel.toFixed(0)} | ${r.perForward.toFixed(0)} | ${r.newPipelinesOver11Steps}, ${r.newPipelinesOverNext11} |`),
];
console.log(`\n${table.join('\n')}`);
if (opts.markdown) {
  writeBlock(opts.markdown, 'gpu-count', table.join('\n'), { command: commandLine(['node', 'bench/gpu-count.mjs', ...process.argv.slice(2)]) });
  console.log(`(written to ${opts.markdown}, block gpu-count)`);
}
for (const r of opts.kernels ? rows : []) {
  console.log(`\n${r.model}: the ${opts.kernels} kernels dispatched most per training step (of ${r.kernels.length} kernels, ${r.perStep.dispatch} dispatches)\n`);
  console.log('| kernel (pipeline label) | dispatches / step |\n|---|---|');
  for (const [name, n] of r.kernels.slice(0, opts.kernels)) console.log(`| \`${name}\` | ${n} |`);
  console.log(`\n${r.model}: the ${opts.kernels} kernels dispatched most by one drawing pass (${r.drawing.dispatch} dispatches, ${r.levels} levels)\n`);
  console.log('| kernel (pipeline label) | dispatches / drawing |\n|---|---|');
  for (const [name, n] of r.drawingKernels.slice(0, opts.kernels)) console.log(`| \`${name}\` | ${n} |`);
}
if (opts.json) fs.writeFileSync(opts.json, JSON.stringify({ config: opts.config, rows }, null, 2));
