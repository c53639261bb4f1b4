// Shared helpers for the browser tests (node --test tests/browser/) and bench/browser-bench.mjs.
//
// The tests drive the BUILT site (dist/, from `bash scripts/build-web.sh`) in Debian's headless
// Chromium through playwright-core, served by scripts/serve.mjs on a free port. WebGPU comes from
// SwiftShader (Chromium's CPU implementation of Vulkan) with the flags below.
//
// Environment: DIST_DIR (default <repo>/dist), CHROMIUM (default /usr/bin/chromium),
// ARTIFACTS_DIR (default <repo>/target/browser-artifacts).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = path.resolve(process.env.DIST_DIR || path.join(ROOT, 'dist'));
export const ARTIFACTS = path.resolve(process.env.ARTIFACTS_DIR || path.join(ROOT, 'target', 'browser-artifacts'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Common flags; WebGPU on SwiftShader needs --enable-unsafe-webgpu (+ Vulkan) on Linux. */
export const BASE_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
  // Keep timers running at full speed in a headless tab.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan'];

/** A small, fast configuration for SwiftShader (set through the URL, like a teacher would). */
export const SMALL = 'L=10&batch=8&channels=4&rows=4&cols=6';
/**
 * The same on burn's CPU backend in wasm. Most tests check page behaviour that does not depend on
 * the backend, and the CPU backend is several times faster than SwiftShader's emulated GPU here and
 * compiles no shaders; the WebGPU path keeps its own tests (train.test.mjs, lost device).
 */
export const SMALL_CPU = `${SMALL}&backend=cpu`;

export function checkBuilt() {
  const need = ['index.html', 'www/page/app.js', 'www/worker/worker.js', 'pkg/denoise_lab.js', 'pkg/denoise_lab_bg.wasm', 'vendor/uPlot.esm.js'];
  for (const f of need) {
    assert.ok(fs.existsSync(path.join(DIST, f)), `${path.join(DIST, f)} is missing: run \`bash scripts/build-web.sh\` first`);
  }
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium mesa-vulkan-drivers (or set CHROMIUM)`);
}

const gpuContexts = new WeakMap(); // context -> launched with WebGPU

/**
 * Start the static server and a fresh Chromium profile.
 * `webgpu: false` launches without the WebGPU flags (the CPU fallback path).
 */
/**
 * `bypassCSP` (default true): the tests inject scripts (axe-core) and evaluate strings in the page,
 * which the page's Content-Security-Policy (scripts/serve.mjs) rightly forbids; download.test.mjs
 * launches with false and trains the page under the policy.
 */
export async function launch({ webgpu = true, extraArgs = [], bypassCSP = true } = {}) {
  checkBuilt();
  const { server, url } = await startServer({ dir: DIST, port: 0, quiet: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'denoise-lab-chromium-'));
  const args = [...BASE_ARGS, ...(webgpu ? WEBGPU_ARGS : []), ...extraArgs];
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args,
      viewport: { width: 1400, height: 1000 },
      acceptDownloads: true,
      bypassCSP,
    });
  } catch (e) {
    server.close();
    throw e;
  }
  // On SwiftShader the page's own choice would be the CPU backend (a CPU adapter: www/shared/webgpu.js
  // chooseBackend); a context launched for WebGPU asks for WebGPU (`withBackend`).
  gpuContexts.set(context, webgpu);
  const close = async () => {
    await context.close().catch(() => {});
    await new Promise((r) => server.close(r));
    server.closeAllConnections?.();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, url, close };
}

/**
 * `query` as the tests of `context` mean it: with `backend=webgpu` when the context was launched
 * with WebGPU and the query names no backend (the page would pick its CPU backend on SwiftShader).
 */
export function withBackend(context, query = '') {
  if (!gpuContexts.get(context) || /(^|&)backend=/.test(query)) return query;
  return query ? `${query}&backend=webgpu` : 'backend=webgpu';
}

/**
 * Open the page with `query` (in the context's first tab, or a new one if `newTab`); collects
 * console errors and page errors (uncaught exceptions).
 */
export async function openPage(context, url, query = '', { newTab = false, onWorker = null } = {}) {
  const page = (!newTab && context.pages()[0]) || (await context.newPage());
  const consoleErrors = [];
  const log = [];
  page.on('console', (m) => {
    log.push(`${m.type()}: ${m.text()}`);
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  page.on('worker', (w) => {
    onWorker?.(w);
    w.on('console', (m) => {
      log.push(`worker ${m.type()}: ${m.text()}`);
      if (m.type() === 'error') consoleErrors.push(`worker: ${m.text()}`);
    });
  });
  page.setDefaultTimeout(120000);
  const q = withBackend(context, query);
  await page.goto(`${url}${q ? `?${q}` : ''}`);
  return { page, consoleErrors, log };
}

export const lab = (page, expr) => page.evaluate(`(() => { const lab = window.denoiseLab; return (${expr}); })()`);

/** Wait until the worker has a session (or fail with what the page says). */
export async function waitReady(page, { timeout = 180000, version = 1 } = {}) {
  try {
    await page.waitForFunction((v) => window.denoiseLab && window.denoiseLab.ready && window.denoiseLab.readyVersion >= v, version, { timeout, polling: 200 });
  } catch (e) {
    const state = await page.evaluate(() => ({ loading: document.getElementById('loading')?.textContent, errors: window.denoiseLab?.errors, banners: [...document.querySelectorAll('.banner')].map((b) => b.textContent) }));
    throw new Error(`page not ready after ${timeout} ms: ${JSON.stringify(state)}`, { cause: e });
  }
}

export async function assertWebGpu(page) {
  const st = await page.evaluate(() => ({ backend: window.denoiseLab.backend, adapter: window.denoiseLab.adapter, reason: window.denoiseLab.fallbackReason }));
  assert.equal(st.backend, 'webgpu', `expected training on WebGPU, got ${st.backend} (${st.reason}); is --enable-unsafe-webgpu working and mesa-vulkan-drivers installed?`);
  assert.ok(st.adapter && (st.adapter.vendor || st.adapter.architecture || st.adapter.description), `no adapter reported: ${JSON.stringify(st.adapter)}`);
  const shown = await page.textContent('#speed-adapter');
  assert.ok(shown && shown !== '–', 'the adapter is shown on the page');
  return st.adapter;
}

/** The page trains on burn's CPU backend (in wasm), as the URL asked. */
export async function assertCpuBackend(page) {
  assert.equal(await lab(page, 'lab.backend'), 'cpu', 'training on the CPU backend');
  assert.match(await page.textContent('#stat-backend'), /CPU/);
}

/** Wait until samples drawn at (or after) the current step are on screen. */
export async function waitSamplesCurrent(page, timeout = 120000) {
  await page.waitForFunction(() => {
    const l = window.denoiseLab;
    return !l.playing && l.samplesStep === l.step;
  }, null, { timeout, polling: 200 });
}

/** Press Play, wait for `steps` more training steps, press Pause, wait for the final samples. */
export async function train(page, steps, { timeout = 240000 } = {}) {
  const start = await lab(page, 'lab.step');
  const nErrors = await lab(page, 'lab.errors.length');
  await page.click('#play');
  await page.waitForFunction(([target, n]) => window.denoiseLab.step >= target || window.denoiseLab.errors.length > n, [start + steps, nErrors], { timeout, polling: 250 });
  const errors = await lab(page, `lab.errors.slice(${nErrors})`);
  assert.deepEqual(errors, [], 'no error while training');
  await page.click('#play'); // pause
  // A frame already under way when Pause arrives still finishes: wait for the worker's loop to
  // stop, then for the samples of the step it stopped at.
  await page.waitForFunction(() => window.denoiseLab.pausedStep != null, null, { timeout, polling: 100 });
  await waitSamplesCurrent(page);
  return lab(page, 'lab.step');
}

/** Runs in the worker (`worker.evaluate(instrumentGpu)`): wraps the WebGPU entry points and counts
 * their calls (bench/gpu-count.mjs, the count of a step in train.test.mjs). */
export function instrumentGpu() {
  // bindings: the most buffers one bind group (a kernel's) binds.
  const counts = { dispatch: 0, submit: 0, bindGroup: 0, writeBuffer: 0, pipeline: 0, bindings: 0 };
  const byKernel = {}; // pipeline label -> dispatches
  const trace = []; // every call in order: kernel labels, submits, buffer writes (--trace)
  let current = '?';
  const setPipeline = GPUComputePassEncoder.prototype.setPipeline;
  GPUComputePassEncoder.prototype.setPipeline = function (p) {
    current = p.label || '?';
    return setPipeline.call(this, p);
  };
  // The buffers each kernel binds: a bind group remembers its count, a dispatch reads the last set.
  let bound = 0;
  const widest = {}; // pipeline label -> the most buffers it bound
  const setBindGroup = GPUComputePassEncoder.prototype.setBindGroup;
  GPUComputePassEncoder.prototype.setBindGroup = function (index, group, ...rest) {
    bound = group?.__entries ?? 0;
    return setBindGroup.call(this, index, group, ...rest);
  };
  const createBindGroup = GPUDevice.prototype.createBindGroup;
  GPUDevice.prototype.createBindGroup = function (descriptor) {
    const group = createBindGroup.call(this, descriptor);
    group.__entries = descriptor?.entries?.length ?? 0;
    return group;
  };
  const dispatch = GPUComputePassEncoder.prototype.dispatchWorkgroups;
  GPUComputePassEncoder.prototype.dispatchWorkgroups = function (...args) {
    byKernel[current] = (byKernel[current] || 0) + 1;
    if (bound > counts.bindings) counts.bindings = bound;
    widest[current] = Math.max(widest[current] || 0, bound);
    trace.push(current);
    return dispatch.apply(this, args);
  };
  self.__byKernel = byKernel;
  self.__widest = widest;
  self.__trace = trace;
  const wrap = (proto, name, key) => {
    const orig = proto[name];
    proto[name] = function (...args) {
      counts[key]++;
      if (key === 'submit' || key === 'writeBuffer') trace.push(key === 'submit' ? '— submit' : `— write ${args[2]?.byteLength ?? '?'} B`);
      return orig.apply(this, args);
    };
  };
  wrap(GPUComputePassEncoder.prototype, 'dispatchWorkgroups', 'dispatch');
  wrap(GPUQueue.prototype, 'submit', 'submit');
  wrap(GPUDevice.prototype, 'createBindGroup', 'bindGroup');
  wrap(GPUQueue.prototype, 'writeBuffer', 'writeBuffer');
  wrap(GPUDevice.prototype, 'createComputePipeline', 'pipeline');
  wrap(GPUDevice.prototype, 'createComputePipelineAsync', 'pipeline');
  self.__gpuCounts = counts;
}

/** One Step of `n` training steps (then its drawing) in the page, with the worker's WebGPU calls
 * counted from zero by `instrumentGpu`: the counts, the dispatches by kernel and the trace. */
export async function countGpuStep(page, worker, n) {
  const v = await page.evaluate(() => window.denoiseLab.samplesVersion);
  await worker.evaluate(() => {
    Object.keys(self.__gpuCounts).forEach((k) => (self.__gpuCounts[k] = 0));
    Object.keys(self.__byKernel).forEach((k) => delete self.__byKernel[k]);
    self.__trace.length = 0;
  });
  await page.evaluate((k) => window.denoiseLab.command({ type: 'step', n: k }), n);
  await page.waitForFunction((x) => window.denoiseLab.samplesVersion > x, v, { timeout: 600000, polling: 100 });
  return worker.evaluate(() => ({
    ...self.__gpuCounts,
    kernels: { ...self.__byKernel },
    widest: { ...self.__widest },
    trace: [...self.__trace],
  }));
}

/** The pixels of a canvas (RGBA bytes) and its size. */
export async function canvasPixels(page, selector) {
  return page.$eval(selector, (c) => {
    const ctx = c.getContext('2d');
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from(d) };
  });
}

/** Grayscale statistics of a canvas: not blank means several distinct values. */
export function pixelStats(px) {
  const vals = new Set();
  let min = 255;
  let max = 0;
  for (let i = 0; i < px.data.length; i += 4) {
    const v = px.data[i];
    vals.add(v);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { distinct: vals.size, min, max };
}

export function meanAbsDiff(a, b) {
  assert.equal(a.data.length, b.data.length, 'same canvas size');
  let s = 0;
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i] - b.data[i]);
    s += d;
    if (d > m) m = d;
  }
  return { mean: s / a.data.length, max: m };
}

export function artifact(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The WCAG 2.1 A and AA rules of axe-core (npm `axe-core`, a dev dependency). */
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const AXE_PATH = path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/**
 * axe-core's violations of `tags` on the page as it is now (inject once per document):
 * [{id, impact, help, nodes: [selector, ...]}] (empty: none). Assert `deepEqual(…, [])` to see
 * what failed and where.
 */
export async function axeCheck(page, { tags = AXE_TAGS } = {}) {
  if (!(await page.evaluate(() => !!window.axe))) await page.addScriptTag({ path: AXE_PATH });
  const result = await page.evaluate((values) => window.axe.run(document, { runOnly: { type: 'tag', values }, resultTypes: ['violations'] }), tags);
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n')[1]?.trim() ?? ''}`) }));
}
