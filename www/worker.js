// The training worker (a module worker): owns the wasm core and its Session, runs the training
// loop and the samplers, and posts results to the page. The page never waits on it.
//
// Every call into the wasm goes through `serial()`: the Rust side keeps the trainer in a
// RefCell, so calls must never overlap (an export arriving mid-flush waits for the flush).
//
// Messages in (from www/app.js):
//   init {config, display, forceCpu, checkpoint?}   start (optionally resume from checkpoint bytes)
//   play / pause / step {n}                          the training loop
//   reset {config}                                   a fresh session with a new configuration
//   display {display, resample}                      samples/columns/seed/sigma of the sample grids
//   lr {lr}                                          change the learning rate in place
//   export {reason}                                  checkpoint bytes -> `exported`
//   import {bytes, adopt}                            replace the session from a checkpoint
//   loadData {images, labels, name}                  validate IDX bytes and restart on them
//   measure                                          sample metrics now -> `metrics`
//   debugLoseDevice                                  destroy the GPUDevice (tests the lost-device path)
//
// `init`/`reset` may carry `companion`: a second TrainConfig (the other model kind) trained
// alongside, step for step, for side-by-side comparisons (scenario 4). Only the main session is
// exported and autosaved.
// Messages out: see `post(...)` calls; every one has a `type`.

import { errorKind, errorText, isFatal } from './errors.js';
import { FrameTimer } from './frame-timer.js';
import { gpuDevice, probeWebGpu, watchDevices } from './worker-gpu.js';
import { MetricsRunner } from './worker-metrics.js';
import { SAMPLERS_BY_MODEL } from './limits.js';

// Panics are reported with the JS stack (console_error_panic_hook): keep all of its frames.
Error.stackTraceLimit = 200;

const PKG = new URL('../pkg/denoise_lab.js', import.meta.url).href;
const BUNDLED = {
  name: 'bundled MNIST (10k digits)',
  images: new URL('./data/mnist-10k-images-idx3-ubyte.gz', import.meta.url).href,
  labels: new URL('./data/mnist-10k-labels-idx1-ubyte.gz', import.meta.url).href,
};

let wasm = null; // the imported module
let session = null;
let backend = null; // 'webgpu' | 'cpu', decided once per worker
let data = null; // {images: Uint8Array, labels: Uint8Array|undefined, name, n, h, w}
let config = null; // the TrainConfig the page asked for (plus display settings below)
let display = { samples: 6, columns: 11, seed: 1, sigma: null, forwardRows: 4, show: null, metricsN: 100, metricsEvery: 200, stopAt: null, sampleEvery: null };
let companion = null; // a second Trainer trained alongside (scenario 4), or null
let companionConfig = null;
let currentStep = 0;

const LIGHT_METRICS_N = 32;
let cpuAdapter = false;

/** Samples per sampler for the metrics: fewer on the CPU (fallback or an emulated adapter) unless the URL says how many. */
function metricsN() {
  const light = backend === 'cpu' || cpuAdapter;
  return light && !display.metricsNExplicit ? Math.min(display.metricsN, LIGHT_METRICS_N) : display.metricsN;
}
let playing = false;
let looping = false;
let dead = false; // a wasm trap or a lost device: the page restarts this worker

// Timing.
const timer = new FrameTimer();
let lastSampleAt = 0;
let lastSampleMs = 0;
let stepsSinceSample = 0;


const post = (msg, transfer = []) => self.postMessage(msg, transfer);
const metrics = new MetricsRunner(post);

let queue = Promise.resolve();
function serial(fn) {
  const p = queue.then(() => (dead ? undefined : fn()));
  queue = p.catch(() => {});
  return p;
}

function fatal(where, e) {
  dead = true;
  playing = false;
  post({ type: 'fatal', message: `${where}: ${errorText(e)}` });
}

// --- WebGPU: a lost device is reported (the page restarts this worker) ---------------------------

watchDevices({
  onLost: (info) => {
    if (dead) return;
    dead = true;
    playing = false;
    post({ type: 'deviceLost', reason: info.reason || 'unknown', message: info.message || '' });
  },
  onError: (message) => post({ type: 'gpuError', message }),
});

// --- data ---------------------------------------------------------------------------------------

async function fetchBytes(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not download ${what} (${url}): ${errorText(e)}`, { cause: e });
  }
  if (!res.ok) throw new Error(`could not download ${what} (${url}): HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function loadBundled() {
  const [images, labels] = await Promise.all([
    fetchBytes(BUNDLED.images, 'the bundled MNIST images'),
    fetchBytes(BUNDLED.labels, 'the bundled MNIST labels').catch(() => undefined),
  ]);
  const shape = wasm.parseDataset(images, labels);
  return { images, labels, name: BUNDLED.name, n: shape.n, h: shape.h, w: shape.w };
}

// --- sessions -----------------------------------------------------------------------------------

function configJson(cfg) {
  const out = {};
  for (const k of ['model', 'levels', 'a', 'batch', 'lr', 'seed', 'clip_norm', 'base_channels', 'cond_dim', 'latent_dim', 'held_out']) {
    if (cfg[k] !== undefined) out[k] = cfg[k];
  }
  return JSON.stringify(out);
}

function resetTiming() {
  timer.reset();
  lastSampleAt = 0;
  lastSampleMs = 0;
  stepsSinceSample = 0;
}

function free(obj) {
  try {
    obj?.free();
  } catch {
    /* already freed */
  }
}

function replaceSession(next, nextCompanion = null) {
  const old = session;
  const oldCompanion = companion;
  session = next;
  companion = nextCompanion;
  currentStep = next ? next.currentStep : 0;
  resetTiming();
  if (old && old !== next) free(old);
  if (oldCompanion && oldCompanion !== nextCompanion) free(oldCompanion);
  metrics.forget(next);
}

/** The second model of a comparison run, or null. */
async function createCompanion(d) {
  if (!companionConfig) return null;
  return await createSession(companionConfig, d);
}

/** Create a session on the chosen backend; on the first WebGPU failure switch to the CPU. */
async function createSession(cfg, d) {
  const json = configJson(cfg);
  if (backend === 'webgpu') {
    try {
      return await wasm.Trainer.create(json, d.images, d.labels, 'webgpu');
    } catch (e) {
      if (isFatal(e)) throw e;
      if (errorKind(e) === 'config' || errorKind(e) === 'data') throw e; // not WebGPU's fault
      backend = 'cpu';
      post({ type: 'backend', backend: 'cpu', reason: `WebGPU failed to start: ${errorText(e)}`, adapter: null, cpuAdapter: false });
    }
  }
  return await wasm.Trainer.create(json, d.images, d.labels, 'cpu');
}

/** The loss history saved in a checkpoint (to redraw the curve of a resumed run). */
function savedHistory(bytes) {
  try {
    const h = JSON.parse(wasm.checkpointInfo(bytes)).history;
    return Array.isArray(h) ? h : [];
  } catch {
    return [];
  }
}

/** The session's configuration, schedule and sizes (one JSON parse; `step`/`model` are getters). */
const sessionInfo = () => JSON.parse(session.info());

async function postReady(extra = {}) {
  const info = sessionInfo();
  const mean = session.meanImage();
  const realDiversity = session.realDiversity(Math.min(200, info.nHeldOut || 200));
  const companionInfo = companion ? JSON.parse(companion.info()) : null;
  post({ type: 'ready', info, companion: companionInfo, meanImage: mean, realDiversity, data: { name: data.name, n: data.n, h: data.h, w: data.w }, ...extra }, [mean.buffer]);
  await sampleAll(true);
  await measureAll({ interruptible: true });
}

// --- sampling -----------------------------------------------------------------------------------

/** [name, spec] of the samplers of a model (the core's rule, www/limits.js), with the display's sigma. */
function samplerSpecs(model) {
  return SAMPLERS_BY_MODEL[model].map((name) => [name, name === 'stochastic' && display.sigma != null ? `stochastic:${display.sigma}` : name]);
}

/** [trainer, name, spec] for every sampler shown: the main model's, then the companion's. */
function activeSpecs() {
  const out = [];
  for (const s of [session, companion]) {
    if (!s) continue;
    for (const [name, spec] of samplerSpecs(s.model)) {
      if (display.show && display.show.length && !display.show.includes(name)) continue;
      out.push([s, name, spec]);
    }
  }
  return out;
}

function packChain(r) {
  return {
    levels: Array.from(r.levels),
    n: r.n,
    h: r.h,
    w: r.w,
    pixels: r.pixels,
    diversity: Array.from(r.diversity),
    rmsToMean: r.rmsToMean ?? null,
  };
}

async function sampleAll(withForward) {
  if (!session) return;
  const t0 = performance.now();
  const chains = {};
  const transfer = [];
  for (const [s, name, spec] of activeSpecs()) {
    const r = await s.sample(spec, display.samples, display.seed, display.columns);
    chains[name] = packChain(r);
    transfer.push(chains[name].pixels.buffer);
  }
  let forward = null;
  if (withForward) {
    const f = await session.forwardProcess(display.forwardRows, display.seed, display.columns);
    forward = packChain(f);
    transfer.push(forward.pixels.buffer);
  }
  lastSampleMs = performance.now() - t0;
  lastSampleAt = performance.now();
  stepsSinceSample = 0;
  let memory = null;
  try {
    memory = JSON.parse(session.memory());
  } catch {
    // An older build or a backend without a memory pool: the drawing does not depend on it.
  }
  post({ type: 'samples', step: session.currentStep, seed: display.seed, chains, forward, ms: lastSampleMs, memory }, transfer);
}

// --- sample metrics (www/worker-metrics.js) -------------------------------------------------------

/** One measuring pass over every sampler shown (see MetricsRunner.measure). */
function measureAll({ interruptible = false } = {}) {
  if (!session) return;
  return metrics.measure({
    wasm,
    session,
    specs: activeSpecs(),
    n: metricsN(),
    seed: display.seed,
    current: () => session,
    giveWay: () => interruptible && playing,
  });
}

// --- training -----------------------------------------------------------------------------------

async function trainFrame(requested) {
  if (!session) return false;
  const s = session;
  let k = requested ?? timer.nextSteps();
  if (requested == null && display.stopAt) k = Math.max(1, Math.min(k, display.stopAt - currentStep));
  // With a fixed sampling interval, a frame ends exactly where the next drawing is due.
  if (requested == null && display.sampleEvery) k = Math.max(1, Math.min(k, display.sampleEvery - stepsSinceSample));
  const t0 = performance.now();
  const c = companion;
  s.step(k);
  if (c) c.step(k);
  let report;
  let companionReport = null;
  try {
    report = JSON.parse(await s.flush());
    if (c) companionReport = JSON.parse(await c.flush());
  } catch (e) {
    playing = false;
    if (isFatal(e)) {
      fatal('training', e);
      return false;
    }
    const message = errorText(e);
    const diverged = errorKind(e) === 'diverged';
    post({ type: diverged ? 'diverged' : 'trainError', message, step: s.currentStep });
    return false;
  }
  const dt = performance.now() - t0;
  if (session !== s) return false;
  const speed = timer.record(k, dt, report.step, performance.now());
  stepsSinceSample += k;
  metrics.trained(k);
  currentStep = report.step;
  post({
    type: 'progress',
    companion: companionReport ? { model: c.model, steps: companionReport.steps } : null,
    step: report.step,
    steps: report.steps,
    levelLoss: report.levelLoss,
    ...speed,
    stepsPerFrame: k,
    frameMs: dt,
  });
  return true;
}

function sampleDue() {
  if (stepsSinceSample === 0) return false;
  if (display.sampleEvery) return stepsSinceSample >= display.sampleEvery;
  const since = performance.now() - lastSampleAt;
  // Every ~1.5 s, but never let sampling take more than about half of the time.
  return since > Math.max(1500, lastSampleMs);
}

async function loop() {
  if (looping) return;
  looping = true;
  try {
    while (playing && !dead) {
      const ok = await serial(() => trainFrame());
      if (!ok) break;
      if (display.stopAt && currentStep >= display.stopAt) {
        playing = false;
        post({ type: 'stopped', step: currentStep });
        break;
      }
      if (playing && sampleDue()) await serial(() => sampleAll(false));
      if (playing && metrics.due(display.metricsEvery, session)) await serial(() => measureAll());
      // Let messages (pause, export, ...) in between frames.
      await new Promise((r) => setTimeout(r, 0));
    }
  } catch (e) {
    playing = false;
    if (isFatal(e)) fatal('training', e);
    else post({ type: 'trainError', message: errorText(e) });
  } finally {
    looping = false;
  }
  // Paused: show samples (and metrics) of the final weights.
  if (!dead && session && stepsSinceSample > 0) await guard('sample', () => sampleAll(false));
  // The loop has stopped and the final weights are drawn (a frame in flight when Pause arrived
  // has finished): the page may now read the step, export or compare samples.
  if (!dead && session) post({ type: 'paused', step: currentStep });
  if (!dead && session && metrics.stale()) await guard('metrics', () => measureAll({ interruptible: true }));
}

// --- message handlers ---------------------------------------------------------------------------

/**
 * A quiz scenario by name: its models are full TrainConfigs (the first is the main session, a
 * second one the companion), its panels say which samplers to show, `steps` where to stop.
 * Applies them to `config`, `companionConfig` and `display`, and tells the page.
 */
function applyScenario(name) {
  let sc;
  try {
    sc = JSON.parse(wasm.scenario(name));
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'warning', message: errorText(e) });
    return false;
  }
  config = { ...sc.models[0] };
  companionConfig = sc.models.length > 1 ? { ...sc.models[1] } : null;
  display.show = [...new Set(sc.panels.map((p) => p.sampler.kind))];
  display.stopAt = sc.steps;
  post({ type: 'scenario', scenario: sc, show: display.show, stopAt: sc.steps });
  return true;
}

async function init(msg) {
  config = msg.config;
  companionConfig = msg.companion || null;
  display = { ...display, ...(msg.display || {}) };
  post({ type: 'status', text: 'Loading the WebAssembly core…' });
  wasm = await import(PKG);
  await wasm.default();
  post({ type: 'scenarios', list: JSON.parse(wasm.scenarios()) });
  if (msg.scenario) applyScenario(msg.scenario);
  const classifierLoad = metrics.loadClassifier(fetchBytes);
  post({ type: 'status', text: 'Looking for a WebGPU adapter…' });
  const probe = await probeWebGpu(msg.forceCpu);
  backend = probe.ok ? 'webgpu' : 'cpu';
  post({ type: 'backend', backend, adapter: probe.adapter || null, cpuAdapter: !!probe.cpuAdapter, reason: probe.reason || null });
  cpuAdapter = !!probe.cpuAdapter;
  post({ type: 'status', text: 'Loading the bundled MNIST digits…' });
  data = await loadBundled();
  if (msg.data && msg.data.images) {
    // A restarted worker keeps the user's data.
    try {
      const shape = wasm.parseDataset(msg.data.images, msg.data.labels);
      data = { ...msg.data, ...shape };
    } catch {
      /* keep the bundled data */
    }
  }
  post({ type: 'status', text: backend === 'webgpu' ? 'Starting WebGPU (compiling shaders)…' : 'Starting the CPU backend…' });
  let resumed = null;
  if (msg.checkpoint) {
    try {
      const s = await wasm.Trainer.fromCheckpoint(msg.checkpoint, data.images, data.labels, backend, config.model, config.levels);
      replaceSession(s);
      resumed = { step: session.currentStep, history: savedHistory(msg.checkpoint) };
    } catch (e) {
      if (isFatal(e)) throw e;
      post({ type: 'warning', message: `Could not resume the autosaved run (${errorText(e)}); starting over.` });
    }
  }
  if (!session) replaceSession(await createSession(config, data));
  if (companionConfig) replaceSession(session, await createCompanion(data));
  if (resumed && config.lr) session.setLearningRate(config.lr);
  await classifierLoad;
  await postReady({ resumed });
}

async function reset(msg) {
  companionConfig = msg.companion || null;
  if (msg.display) display = { ...display, ...msg.display };
  if (msg.scenario && applyScenario(msg.scenario)) msg.config = config;
  const cfg = msg.config;
  let next;
  if (msg.checkpoint) {
    try {
      next = await wasm.Trainer.fromCheckpoint(msg.checkpoint, data.images, data.labels, backend, cfg.model, cfg.levels);
      config = cfg;
      replaceSession(next);
      if (cfg.lr) session.setLearningRate(cfg.lr);
      await postReady({ resumed: { step: session.currentStep, history: savedHistory(msg.checkpoint) } });
      return;
    } catch (e) {
      if (isFatal(e)) throw e;
      post({ type: 'warning', message: `Could not resume the autosaved run (${errorText(e)}); starting over.` });
    }
  }
  let nextCompanion;
  try {
    next = await createSession(cfg, data);
    nextCompanion = await createCompanion(data);
  } catch (e) {
    if (isFatal(e)) throw e;
    free(next);
    post({ type: 'error', kind: 'config', message: `Could not start with this configuration: ${errorText(e)}` });
    return;
  }
  config = cfg;
  replaceSession(next, nextCompanion);
  await postReady({ reset: true });
}

async function doImport(msg) {
  const bytes = msg.bytes;
  let meta;
  try {
    meta = JSON.parse(wasm.checkpointInfo(bytes));
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'import', message: `This file is not a usable denoise-lab checkpoint: ${errorText(e)}` });
    return;
  }
  const cur = sessionInfo().config;
  const mismatch = meta.config.model !== cur.model || meta.config.levels !== cur.levels;
  if (mismatch && !msg.adopt) {
    post({ type: 'importMismatch', meta, current: { model: cur.model, levels: cur.levels } });
    return;
  }
  const expectModel = msg.adopt ? meta.config.model : cur.model;
  const expectLevels = msg.adopt ? meta.config.levels : cur.levels;
  let next;
  try {
    next = await wasm.Trainer.fromCheckpoint(bytes, data.images, data.labels, backend, expectModel, expectLevels);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'import', message: `Could not import the checkpoint: ${errorText(e)}` });
    return;
  }
  // An imported run has no comparison model.
  companionConfig = null;
  replaceSession(next, null);
  config = { ...config, ...sessionInfo().config };
  await postReady({ imported: { step: session.currentStep, name: msg.name || null, history: meta.history || [] } });
}

async function loadData(msg) {
  let shape;
  try {
    shape = wasm.parseDataset(msg.images, msg.labels || undefined);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'data', message: `Could not read ${msg.name || 'this data'}: ${errorText(e)}. Still using ${data.name}.` });
    return;
  }
  const candidate = { images: msg.images, labels: msg.labels || undefined, name: msg.name || 'your data', ...shape };
  let next;
  try {
    next = await createSession(config, candidate);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'data', message: `Could not train on ${candidate.name}: ${errorText(e)}. Still using ${data.name}.` });
    return;
  }
  data = candidate;
  let nextCompanion = null;
  try {
    nextCompanion = await createCompanion(data);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'warning', message: `The comparison model could not start on ${candidate.name}: ${errorText(e)}` });
  }
  replaceSession(next, nextCompanion);
  post({ type: 'dataLoaded', name: data.name, n: data.n, h: data.h, w: data.w, labels: !!data.labels });
  await postReady({ reset: true });
}

async function doExport(msg) {
  if (!session) return;
  const bytes = await session.export();
  const info = sessionInfo();
  post({ type: 'exported', reason: msg.reason || 'user', bytes, step: info.step, config: info.config, backend }, [bytes.buffer]);
}

function guard(name, fn) {
  return serial(fn).catch((e) => {
    if (isFatal(e)) fatal(name, e);
    else post({ type: 'error', kind: name, message: `${name}: ${errorText(e)}` });
  });
}

/** One handler per message from the page (listed at the top of this file). */
const handlers = {
  init: (msg) =>
    guard('init', () => init(msg)).then(() => {
      if (msg.autoplay && session && !dead) {
        playing = true;
        loop();
      }
    }),
  play: () => {
    if (!session || dead) return;
    playing = true;
    loop();
  },
  pause: () => {
    playing = false;
  },
  step: (msg) =>
    guard('step', async () => {
      if (!session) return;
      if (await trainFrame(msg.n || 1)) await sampleAll(false);
    }),
  reset: (msg) => {
    playing = false;
    guard('reset', () => reset(msg));
  },
  display: (msg) => {
    display = { ...display, ...(msg.display || {}) };
    if (msg.resample) guard('sample', () => sampleAll(true));
  },
  lr: (msg) =>
    guard('learning rate', async () => {
      session.setLearningRate(msg.lr);
      if (config) config.lr = msg.lr;
    }),
  export: (msg) => guard('export', () => doExport(msg)),
  import: (msg) => {
    playing = false;
    guard('import', () => doImport(msg));
  },
  loadData: (msg) => {
    playing = false;
    guard('data', () => loadData(msg));
  },
  measure: () => guard('metrics', () => measureAll()),
  debugLoseDevice: () => {
    if (gpuDevice()) gpuDevice().destroy();
    else post({ type: 'warning', message: 'No GPU device to lose (CPU backend).' });
  },
};

self.onmessage = (ev) => {
  const msg = ev.data || {};
  const handle = handlers[msg.type];
  if (handle) handle(msg);
  else post({ type: 'warning', message: `worker: unknown message ${msg.type}` });
};

self.addEventListener('unhandledrejection', (ev) => {
  const e = ev.reason;
  if (isFatal(e)) fatal('worker', e);
  else post({ type: 'error', kind: 'worker', message: errorText(e) });
});

post({ type: 'hello' });
