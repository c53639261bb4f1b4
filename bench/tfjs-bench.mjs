#!/usr/bin/env node
// TensorFlow.js peer of the training-speed benchmark: serves the repository (so the page
// bench/tfjs/ and bench/node_modules/ are both reachable), opens bench/tfjs/ in headless Chromium
// and prints the page's result as one JSON line.
//
//   (cd bench && npm ci)     # once: tfjs 4.22.0 and its webgpu + wasm backends
//   node bench/tfjs-bench.mjs --backend webgpu|wasm --model denoiser|cvae --channels C --batch B
//        --levels L [--warmup 3] [--blocks 10] [--steps-per-block 5] [--count-steps 5] [--timeout 1800]
//
// On webgpu the JSON line also has GPU commands per training step and per U-Net forward
// (dispatch_per_step, submit_per_step, bind_group_per_step, write_buffer_per_step,
// new_pipelines_after_warmup, forward_dispatch, ...; bench/jaxjs/gpu-counter.mjs, counted over
// 1 and 1 + count-steps extra steps after the timed blocks).
//
// Exits non-zero with a message on any error, including "no WebGPU adapter" (the page never
// falls back to another backend).

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
  const o = { backend: null, model: null, channels: null, batch: null, levels: null, warmup: 3, blocks: 10, 'steps-per-block': 5, 'count-steps': null, 'cond-dim': 64, latent: 32, timeout: 1800 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(key in o)) throw new Error(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    o[key] = ['backend', 'model'].includes(key) ? v : Number(v);
  }
  if (!['webgpu', 'wasm'].includes(o.backend)) throw new Error('--backend must be webgpu or wasm');
  if (!['denoiser', 'cvae'].includes(o.model)) throw new Error('--model must be denoiser or cvae');
  for (const k of ['channels', 'batch', 'levels']) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const tfjs = path.join(ROOT, 'bench', 'node_modules', '@tensorflow', 'tfjs', 'package.json');
  if (!fs.existsSync(tfjs)) throw new Error(`${tfjs} missing: run \`npm ci\` in bench/`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM)`);

  const { server, url } = await startServer({ dir: ROOT, port: 0, quiet: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'denoise-lab-tfjs-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [...BASE_ARGS, ...(o.backend === 'webgpu' ? WEBGPU_ARGS : [])],
    });
    const query = new URLSearchParams({
      backend: o.backend, model: o.model, channels: o.channels, batch: o.batch, levels: o.levels,
      warmup: o.warmup, blocks: o.blocks, steps: o['steps-per-block'], count_steps: o['count-steps'] ?? o['steps-per-block'], cond_dim: o['cond-dim'], latent: o.latent,
    });
    const { page, log } = await openPage(context, `${url}bench/tfjs/`, query.toString());
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
  console.error(`tfjs-bench: ${e.message}`);
  process.exit(1);
});
