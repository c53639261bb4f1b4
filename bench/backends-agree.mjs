#!/usr/bin/env node
// Whether WebGPU (burn's fusion on SwiftShader) and the page's CPU backend train the same steps
// from one checkpoint, for any checkpoint and settings (not a test: tests/browser/train.test.mjs
// holds the denoiser and the CVAE to this at its sizes).
//
//   bash scripts/build-web.sh
//   node bench/backends-agree.mjs [--checkpoint tests/fixtures/few-levels-1-cvae.ckpt]
//                                 [--query "model=cvae&L=4&batch=8&channels=4&rows=2&cols=4"] [--steps 12]
//
// Imports the checkpoint once per backend (the same weights, Adam moments and training position,
// so the same batches and noise, drawn by the trainer's CPU generator), trains `--steps` steps and
// prints both loss series and their largest relative difference.
import path from 'node:path';
import { launch, openPage, waitReady, lab, train, ROOT } from '../tests/browser/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const file = path.resolve(ROOT, opt('checkpoint', 'tests/fixtures/few-levels-1-cvae.ckpt'));
const query = opt('query', 'model=cvae&L=4&batch=8&channels=4&rows=2&cols=4');
const steps = Number(opt('steps', '12'));

const env = await launch({ webgpu: true });
const lossesOn = async (extra) => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${query}&seed=12&resume=0&me=0${extra}`, { newTab: true });
  try {
    await waitReady(page);
    const v = await lab(page, 'lab.readyVersion');
    await page.setInputFiles('#import-file', file);
    await waitReady(page, { version: v + 1 });
    const first = await lab(page, 'lab.step');
    const last = await train(page, steps);
    const losses = (await lab(page, 'lab.losses')).slice(-(last - first)).slice(0, steps);
    return { backend: await lab(page, 'lab.backend'), first, losses, errors: consoleErrors.length };
  } finally {
    await page.close();
  }
};
try {
  const gpu = await lossesOn('');
  const cpu = await lossesOn('&backend=cpu');
  const rel = cpu.losses.map((l, i) => Math.abs(l - gpu.losses[i]) / Math.abs(l));
  console.log(`${path.relative(ROOT, file)} (step ${gpu.first}), ${query}, ${steps} steps`);
  console.log(`${gpu.backend}: ${gpu.losses.map((x) => x.toPrecision(6)).join(' ')}`);
  console.log(`${cpu.backend}: ${cpu.losses.map((x) => x.toPrecision(6)).join(' ')}`);
  console.log(`largest relative difference ${Math.max(...rel).toExponential(2)}; console errors ${gpu.errors}, ${cpu.errors}`);
} finally {
  await env.close();
}
