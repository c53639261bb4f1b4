#!/usr/bin/env node
// Wall time of a drawing pass on the WebGPU adapter (SwiftShader here), not a test: opens the
// BUILT page (dist/, or $DIST_DIR) at a configuration, lets the load-time measurement pass, then
// times Steps of 1 and of 11 training steps, each ending when its drawing is shown. A step's time
// is (T11 - T1) / 10 and a drawing's T1 - that, per pair; prints the medians as JSON.
//
//   DIST_DIR=dist node bench/draw-time.mjs [--pairs 4] [--model denoiser] [--config "L=10&batch=16&channels=8&rows=4&cols=6"]
//
// Run it alternately on two builds for an A/B comparison (these machines are shared and noisy).
import { launch, waitReady } from '../tests/browser/helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const pairs = Number(opt('--pairs', '4'));
const model = opt('--model', 'denoiser');
const q = new URLSearchParams(opt('--config', 'L=10&batch=16&channels=8&rows=4&cols=6'));
q.set('model', model);
q.set('resume', '0');
q.set('backend', 'webgpu');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const env = await launch({ webgpu: true });
try {
  const page = env.context.pages()[0] || (await env.context.newPage());
  await page.goto(`${env.url}?${q}`);
  await waitReady(page, { timeout: 600000 });
  await page.waitForFunction(() => (window.denoiseLab.metricsVersion || 0) >= 1 || window.denoiseLab.metrics?.unavailable, null, { timeout: 600000 });
  if (!(await page.evaluate(() => window.denoiseLab.backend === 'webgpu'))) throw new Error('not on WebGPU');
  const timed = async (n) => {
    const v = await page.evaluate(() => window.denoiseLab.samplesVersion);
    const t0 = Date.now();
    await page.evaluate((k) => window.denoiseLab.command({ type: 'step', n: k }), n);
    await page.waitForFunction((x) => window.denoiseLab.samplesVersion > x, v, { timeout: 600000, polling: 20 });
    return Date.now() - t0;
  };
  await timed(1); // warm-up: compiles the step's and the drawing's kernels
  const steps = [];
  const draws = [];
  for (let i = 0; i < pairs; i++) {
    const t1 = await timed(1);
    const t11 = await timed(11);
    const step = (t11 - t1) / 10;
    steps.push(step);
    draws.push(t1 - step);
  }
  console.log(JSON.stringify({ dist: process.env.DIST_DIR || 'dist', model, config: q.toString(), msPerStep: median(steps), msPerDrawing: median(draws), steps, draws }));
} finally {
  await env.close();
}
