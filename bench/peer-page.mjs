// The runner both in-browser peers share (bench/tfjs-bench.mjs, bench/jaxjs-bench.mjs): parse the
// benchmark's arguments, serve the repository (so the peer's page under bench/ and
// bench/node_modules/ are both reachable), open the page in headless Chromium (with WebGPU's flags
// when it runs on WebGPU) and print its result as one JSON line. A page that finds no WebGPU
// adapter reports an error: it never falls back to another backend.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../scripts/serve.mjs';
import { ROOT, CHROMIUM, BASE_ARGS, WEBGPU_ARGS, openPage } from '../tests/browser/helpers.mjs';

/**
 * `name`: the runner's name in messages; `page`: its page's folder under bench/; `installed`: a
 * file under bench/node_modules its page needs; `backends`: the backends it accepts (the first is
 * the default); `extra`: further arguments with their defaults, passed to the page as they are.
 */
export async function runPeer({ name, page: dir, installed, backends, extra = {} }) {
  try {
    const o = parseArgs(process.argv.slice(2), backends, extra);
    const need = path.join(ROOT, 'bench', 'node_modules', installed);
    if (!fs.existsSync(need)) throw new Error(`${need} missing: run \`npm ci\` in bench/`);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM)`);
    console.log(JSON.stringify(await run(o, dir, name, extra)));
  } catch (e) {
    console.error(`${name}: ${e.message}`);
    process.exit(1);
  }
}

function parseArgs(argv, backends, extra) {
  const o = { backend: backends[0], model: null, channels: null, batch: null, levels: null, warmup: 3, blocks: 10, 'steps-per-block': 5, 'count-steps': null, 'cond-dim': 64, latent: 32, timeout: 1800, ...extra };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(key in o)) throw new Error(`unknown argument ${argv[i]}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    o[key] = ['backend', 'model'].includes(key) ? v : Number(v);
  }
  if (!backends.includes(o.backend)) throw new Error(`--backend must be ${backends.join(' or ')}`);
  if (!['denoiser', 'cvae'].includes(o.model)) throw new Error('--model must be denoiser or cvae');
  for (const k of ['channels', 'batch', 'levels']) if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive integer`);
  return o;
}

async function run(o, dir, name, extra) {
  const { server, url } = await startServer({ dir: ROOT, port: 0, quiet: true, csp: false });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), `denoise-lab-${name}-`));
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
    for (const key of Object.keys(extra)) if (o[key]) query.set(key, o[key]);
    const { page, log } = await openPage(context, `${url}bench/${dir}/`, query.toString());
    try {
      await page.waitForFunction(() => window.benchResult || window.benchError, null, { timeout: o.timeout * 1000, polling: 500 });
    } catch (e) {
      throw new Error(`no result after ${o.timeout} s\n${log.slice(-20).join('\n')}`, { cause: e });
    }
    const { result, error } = await page.evaluate(() => ({ result: window.benchResult, error: window.benchError }));
    if (error) throw new Error(`${error}\n${log.slice(-20).join('\n')}`);
    return result;
  } finally {
    await context?.close().catch(() => {});
    await new Promise((r) => server.close(r));
    server.closeAllConnections?.();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
