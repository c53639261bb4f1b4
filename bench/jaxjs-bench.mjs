#!/usr/bin/env node
// jax-js peer of the training-speed benchmark: serves the repository (so the page bench/jaxjs/
// and bench/node_modules/ are both reachable), opens bench/jaxjs/ in headless Chromium with
// WebGPU and prints the page's result as one JSON line (the shape tfjs-bench.mjs prints, plus
// GPU commands per training step and per U-Net forward; see bench/jaxjs/index.html).
//
//   (cd bench && npm ci)     # once: @jax-js/jax
//   node bench/jaxjs-bench.mjs --model denoiser|cvae --channels C --batch B --levels L
//        [--warmup 3] [--blocks 10] [--steps-per-block 5] [--count-steps 5] [--timeout 1800]
//        [--check STEPS]      (train STEPS steps, print the mean loss per 10 steps, no timing)
//        [--backend webgpu]   (accepted for symmetry with tfjs-bench.mjs; WebGPU only)
//
// Exits non-zero with a message on any error, including "no WebGPU adapter" (the page never
// falls back to jax-js's wasm device).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';
import { ROOT, CHROMIUM, WEBGPU_ARGS, openPage } from '../tests/browser/helpers.mjs';

// The same flags as tests/browser/helpers.mjs (its BASE_ARGS is not exported). Its `launch()`
// serves dist/, hence this small launcher.
const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

function parseArgs(argv) {
  const o = { backend: 'webgpu', model: null, channels: null, batch: null, levels: null, warmup: 3, blocks: 10, 'steps-per-block': 5, 'count-steps': null, check: 0, 'cond-dim': 64, latent: 32, timeout: 1800 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(key in o)) throw new Error(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    o[key] = ['backend', 'model'].includes(key) ? v : Number(v);
  }
  if (o.backend !== 'webgpu') throw new Error('--backend: jax-js runs here on webgpu only');
  if (!['denoiser', 'cvae'].includes(o.model)) throw new Error('--model must be denoiser or cvae');
  for (const k of ['channels', 'batch', 'levels']) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const jaxjs = path.join(ROOT, 'bench', 'node_modules', '@jax-js', 'jax', 'package.json');
  if (!fs.existsSync(jaxjs)) throw new Error(`${jaxjs} missing: run \`npm ci\` in bench/`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM)`);

  const { server, url } = await startServer({ dir: ROOT, port: 0, quiet: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'denoise-lab-jaxjs-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...BASE_ARGS, ...WEBGPU_ARGS],
    });
    const query = new URLSearchParams({
      model: o.model, channels: o.channels, batch: o.batch, levels: o.levels,
      warmup: o.warmup, blocks: o.blocks, steps: o['steps-per-block'], count_steps: o['count-steps'] ?? o['steps-per-block'], cond_dim: o['cond-dim'], latent: o.latent,
    });
    if (o.check) query.set('check', o.check);
    const { page, log } = await openPage(context, `${url}bench/jaxjs/`, query.toString());
    try {
      await page.waitForFunction(() => window.benchResult || window.benchError, null, { timeout: o.timeout * 1000, polling: 500 });
    } catch (e) {
      throw new Error(`no result after ${o.timeout} s\n${log.slice(-20).join('\n')}`, { cause: e });
    }
    const { result, error } = await page.evaluate(() => ({ result: window.benchResult, error: window.benchError }));
    if (error) throw new Error(`${error}\n${log.slice(-20).join('\n')}`);
    console.log(JSON.stringify(result));
  } finally {
    await context?.close().catch(() => {});
    await new Promise((r) => server.close(r));
    server.closeAllConnections?.();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`jaxjs-bench: ${e.message}`);
  process.exit(1);
});
