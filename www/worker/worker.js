// The training worker (a module worker): owns the wasm core and its Session (a run of one or more
// models, see src/session.rs), runs the training loop and the samplers, and posts results to the
// page. The page never waits on it.
//
// Every call into the wasm goes through `serial()`: the Rust side keeps the session in a
// RefCell, so calls must never overlap (an export arriving mid-flush waits for the flush).
//
// Messages in (from www/page/training.js and www/page/app.js):
//   init {config, ideal, display, backend ('auto' | 'webgpu' | 'cpu'), scenario?, data?, checkpoint?, autoplay?}   start
//   play / pause / step {n}                          the training loop
//   reset {config, ideal, display, scenario?, checkpoint?}   a new run (resumed from `checkpoint` if given)
// `ideal`: Φ*, the universal denoiser of the same training images, beside a trained denoiser.
//   display {display, resample}                      samples/columns/seed/sigma of the sample grids
//   lr {lr}                                          change the learning rate in place
//   export {reason}                                  the main model's checkpoint bytes -> `exported` (with the `run` they come from)
//   import {bytes, adopt, name}                      replace the run from a checkpoint
//   loadData {images, labels, name}                  validate IDX bytes and restart on them
//   measure                                          sample metrics now -> `metrics`
//   debugLoseDevice                                  destroy the GPUDevice (tests the lost-device path)
//   debugDraw {rows}                                 a drawing pass of that many rows (tests a lighter redraw)
//   debugCrash                                       report a fatal error, as a wasm trap does (tests the crash path)
// Messages out: see `post(...)` calls; every one has a `type`.

import { errorKind, errorText, isFatal } from './errors.js';
import { FrameTimer } from './frame-timer.js';
import { WORK_LIMITS } from '../shared/limits.js';
import { chooseBackend, probeWebGpu } from '../shared/webgpu.js';
import { gpuDevice, watchDevices } from './gpu.js';
import { MetricsRunner } from './metrics.js';
import { SampleRunner, drawsPass, samplerSpecs } from './sampling.js';
import { Sessions } from './session.js';
import { TimeShare } from './time-share.js';
import { dataset, fetchBytes, loadBundled } from './data.js';

// Panics are reported with the JS stack (console_error_panic_hook): keep all of its frames.
Error.stackTraceLimit = 200;

const PKG = new URL('../../pkg/denoise_lab.js', import.meta.url).href;
const LIGHT_METRICS_N = 32;
const METRICS_AT_LOAD_MS = 3000;

let wasm = null; // the imported module
let sessions = null; // creates sessions on this worker's backend
let session = null; // the run: its main model first
const trainedIn = new WeakSet(); // sessions that have trained a frame (their shaders are compiled)
let data = null; // {images, labels, name, n, h, w}
let configs = null; // the run's TrainConfigs, main model first (a scenario may compare several)
let display = { samples: 6, columns: 11, seed: 1, sigma: null, forwardRows: 4, show: null, metricsN: 100, metricsEvery: 200, stopAt: null, sampleEvery: null };
let cpuAdapter = false;
let currentStep = 0;
let playing = false;
let looping = false;
let dead = false; // a wasm trap or a lost device: the page restarts this worker
let run = 0; // counts sessions: an export names the run it comes from
let urgent = 0; // messages (export) waiting for the wasm: a drawing or measuring pass gives way to them
let measureAfterExport = false; // a measuring pass gave way to an export: run it again after
let autoplayNext = false; // the run starting now plays once loaded: its load pass draws one sampler, then yields

const post = (msg, transfer = []) => self.postMessage(msg, transfer);
const timer = new FrameTimer();
const drawing = new SampleRunner(post);
const metrics = new MetricsRunner(post);
const share = new TimeShare();

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

/** A call into the wasm, in turn; a recoverable error is reported as `error` of kind `name`. */
function guard(name, fn) {
  return serial(fn).catch((e) => {
    if (isFatal(e)) fatal(name, e);
    else post({ type: 'error', kind: name, message: `${name}: ${errorText(e)}` });
  });
}

// A lost device is reported (the page restarts this worker).
watchDevices({
  onLost: (info) => {
    if (dead) return;
    dead = true;
    playing = false;
    post({ type: 'deviceLost', reason: info.reason || 'unknown', message: info.message || '' });
  },
  onError: (message) => post({ type: 'gpuError', message }),
});

/** The models of a free-play run: `main`, and Φ* beside a denoiser when `ideal`. */
function freePlay(main, ideal) {
  return ideal && main.model === 'denoiser' ? [main, { ...main, model: 'universal' }] : [main];
}

/** Samples per sampler for the metrics: fewer on the CPU (fallback or an emulated adapter) unless the URL says how many. */
function metricsN() {
  const light = sessions.backend === 'cpu' || cpuAdapter;
  return light && !display.metricsNExplicit ? Math.min(display.metricsN, LIGHT_METRICS_N) : display.metricsN;
}

function free(obj) {
  try {
    obj?.free();
  } catch {
    /* already freed */
  }
}

function replaceSession(next) {
  if (session && session !== next) free(session);
  session = next;
  run++;
  currentStep = next ? next.currentStep : 0;
  timer.reset();
  share.reset();
  drawing.reset();
  metrics.forget(next);
  measureAfterExport = false; // that pass was the old session's
  fitWork();
}

/**
 * The core's bounds on work (WORK_LIMITS, src/limits.rs) for this session's L, which an imported
 * checkpoint sets: the page bounded its rows and metric samples for the L of its URL, so a
 * checkpoint with more levels could otherwise draw L × rows past them.
 */
function fitWork() {
  if (!session) return;
  const levels = session.info().levels;
  const rows = Math.max(1, Math.floor(WORK_LIMITS.draw.max / levels));
  const n = Math.max(1, Math.floor(WORK_LIMITS.metrics.max / levels));
  const cut = [];
  if (display.samples > rows) cut.push(`${rows} rows instead of ${display.samples} (${WORK_LIMITS.draw.label} ≤ ${WORK_LIMITS.draw.max})`);
  if (display.metricsN > n) cut.push(`${n} samples for the metrics instead of ${display.metricsN} (${WORK_LIMITS.metrics.label} ≤ ${WORK_LIMITS.metrics.max})`);
  if (!cut.length) return;
  display.samples = Math.min(display.samples, rows);
  display.metricsN = Math.min(display.metricsN, n);
  post({ type: 'warning', message: `This run has L = ${levels}: drawing ${cut.join(' and ')}.` });
}

/**
 * Every grid: the forward process (if `withForward`), the samplers' chains, then problem 2's
 * draws view. Its time counts against training's share while playing, else only its cost. It
 * stops between samplers for an export, and when `yieldToPlay` (a pass outside playing: at load,
 * on pause) for Play, so the first steps never wait for a whole pass; the loop draws the rest.
 */
async function drawAll(withForward, { yieldToPlay = false, rows = display.samples } = {}) {
  const t0 = performance.now();
  const wasPlaying = playing;
  // A run that plays on load (autoplay, a restart while playing) shows the forward process and
  // its first sampler's grid, then trains; the loop draws the other samplers.
  let asked = 0;
  const forPlay = () => (playing && !wasPlaying) || (autoplayNext && asked++ > 0);
  // A pass started while playing stops for Pause: the pass at pause draws the final weights.
  const forPause = () => wasPlaying && !playing;
  const done = await drawing.draw(session, display, withForward, () => urgent > 0 || forPause() || (yieldToPlay && forPlay()), { together: !yieldToPlay, rows });
  if (done && rows === display.samples) await drawsPass(session, display, classifyEnds, post);
  // Costs are kept per row drawn, so a lighter redraw can be sized (see the loop).
  if (playing) share.record('draw', t0, performance.now(), rows);
  else if (done) share.cost('draw', performance.now() - t0, rows);
}

/** Digit classes of the draws view's ends: only on the bundled digits (null: not applicable). */
const classifyEnds = (px) => (data.digits ? metrics.classify(session, px) : null);

/** Tell the page what runs now, then draw and measure it. */
async function postReady(extra = {}) {
  const info = session.info();
  const mean = session.meanImage();
  const realDiversity = session.realDiversity(Math.min(200, info.nHeldOut || 200));
  post({ type: 'ready', run, info, meanImage: mean, realDiversity, data: { name: data.name, n: data.n, h: data.h, w: data.w, digits: data.digits }, ...extra }, [mean.buffer]);
  post({ type: 'status', key: 'draw', text: `Drawing the samples of the ${info.step ? `model at step ${info.step}` : 'untrained model'}…` });
  await drawAll(true, { yieldToPlay: true });
  post({ type: 'status', key: 'draw', text: null });
  // The metrics of a new run wait until the page has been idle a moment: one sampler's
  // measurement cannot be interrupted, so Play pressed right after load would wait for it
  // (measured: 37 s on the CPU backend at L = 100). Play pressed meanwhile: training first (the
  // metrics come on pause, or every `me` steps).
  const s = session;
  setTimeout(() => {
    if (playing || dead || session !== s) return;
    guard('metrics', async () => {
      if (playing || session !== s) return;
      await measureAll({ interruptible: true });
      // The classifier is ready now: the draws view can count classes.
      if (!playing && session === s) await drawsPass(session, display, classifyEnds, post);
    });
  }, METRICS_AT_LOAD_MS);
}

/**
 * One measuring pass over every sampler shown (see MetricsRunner.measure). Outside playing, a
 * complete pass tells the time share its cost; while playing the loop records its time.
 */
async function measureAll({ interruptible = false } = {}) {
  if (!session) return;
  const t0 = performance.now();
  // A pass started while playing stops for Pause (it runs again, interruptible, once paused).
  const wasPlaying = playing;
  const done = await metrics.measure({
    wasm,
    session,
    specs: samplerSpecs(session, display),
    n: metricsN(),
    seed: display.seed,
    digits: data.digits,
    current: () => session,
    giveWay: () => urgent > 0 || (interruptible && playing) || (wasPlaying && !playing),
  });
  if (done && !playing) share.cost('measure', performance.now() - t0);
  if (done) measureAfterExport = false;
  else if (urgent > 0) measureAfterExport = true;
}

/**
 * What a measuring pass never run is expected to cost: the last drawing pass's cost per row times
 * the measurement's samples (the same chains, n samples per sampler instead of a few rows),
 * so that the first measurement while playing cannot take training's time unseen (measured in
 * CI: one 100-sample measurement at L = 100 on the CPU backend took training from 80% to 52% of
 * the minute).
 */
const measureEstimate = () => ({ basis: 'draw', factor: metricsN() });

// --- training -----------------------------------------------------------------------------------

/** Train one frame (`requested` steps, or as many as fit the frame time) and report it. */
async function trainFrame(requested) {
  if (!session) return false;
  const s = session;
  // A session's first frame compiles its shaders (WebGPU) or warms up: say so while it runs (the
  // page's progress message ends it), also when the run plays on load.
  const first = !trainedIn.has(s);
  if (first) post({ type: 'status', key: 'step', text: sessions.backend === 'webgpu' ? 'First training step: WebGPU compiles its shaders on first use…' : 'First training step…' });
  let k = requested ?? timer.nextSteps();
  if (requested == null && display.stopAt) k = Math.max(1, Math.min(k, display.stopAt - currentStep));
  // With a fixed sampling interval, a frame ends exactly where the next drawing is due.
  if (requested == null && display.sampleEvery) k = Math.max(1, Math.min(k, display.sampleEvery - drawing.stepsSince));
  const t0 = performance.now();
  s.step(k);
  let report;
  try {
    report = await s.flush();
  } catch (e) {
    playing = false;
    if (isFatal(e)) {
      fatal('training', e);
      return false;
    }
    post({ type: errorKind(e) === 'diverged' ? 'diverged' : 'trainError', message: errorText(e), step: s.currentStep });
    return false;
  }
  const dt = performance.now() - t0;
  trainedIn.add(s);
  if (session !== s) return false;
  share.record('train', t0, t0 + dt);
  const speed = timer.record(k, dt, report.step, performance.now());
  drawing.trained(k);
  metrics.trained(k);
  currentStep = report.step;
  const [other] = report.others;
  post({ type: 'progress', companion: other || null, step: report.step, steps: report.steps, levelLoss: report.levelLoss, ...speed, stepsPerFrame: k, frameMs: dt, trainingShare: share.trainingShare(performance.now()) });
  return true;
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
      // Drawing and measuring while playing: when due, and only while training keeps its share
      // of the time: as many rows as fit it (all, else half, ..., one row; the pass at pause draws
      // them all). A fixed sampling interval, `se` in the URL, is kept as asked, with every row.
      const now = performance.now();
      if (playing && drawing.due(display)) {
        const rows = display.sampleEvery ? display.samples : share.largestFit('draw', now, display.samples);
        if (rows > 0) await serial(() => drawAll(false, { rows }));
      }
      if (playing && metrics.due(display.metricsEvery, session) && share.allows('measure', performance.now(), measureEstimate())) {
        const t0 = performance.now();
        await serial(() => measureAll());
        share.record('measure', t0, performance.now());
      }
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
  if (!dead && session && drawing.stepsSince > 0) await guard('sample', () => drawAll(false, { yieldToPlay: true }));
  // The loop has stopped and the final weights are drawn (a frame in flight when Pause arrived
  // has finished): the page may now read the step, export or compare samples.
  if (!dead && session) post({ type: 'paused', step: currentStep });
  if (!dead && session && metrics.stale()) await guard('metrics', () => measureAll({ interruptible: true }));
}

// --- runs ---------------------------------------------------------------------------------------

/**
 * A quiz scenario by name: its models (main first), the samplers its panels show and where its
 * training stops. Applied to `configs` and `display`, and told to the page; false if unknown.
 */
function applyScenario(name) {
  let sc;
  try {
    sc = wasm.scenario(name);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'warning', message: errorText(e) });
    return false;
  }
  configs = sc.models;
  display.show = [...new Set(sc.panels.map((p) => p.spec))];
  display.stopAt = sc.steps;
  post({ type: 'scenario', scenario: sc, show: display.show, stopAt: sc.steps });
  return true;
}

/** Resume `configs` from checkpoint bytes of its main model; null, with a warning, if impossible. */
async function resume(bytes) {
  const [main, ...alongside] = configs;
  try {
    const s = await sessions.open(bytes, data, { model: main.model, levels: main.levels }, alongside);
    if (main.lr) s.setLearningRate(main.lr);
    return s;
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'resumeFailed', reason: errorText(e) });
    return null;
  }
}

async function init(msg) {
  configs = freePlay(msg.config, msg.ideal);
  display = { ...display, ...(msg.display || {}) };
  post({ type: 'status', text: 'Loading the WebAssembly core…' });
  wasm = await import(PKG);
  await wasm.default();
  post({ type: 'scenarios', list: wasm.scenarios() });
  if (msg.scenario) applyScenario(msg.scenario);
  const classifierLoad = metrics.loadClassifier(fetchBytes);
  post({ type: 'status', text: 'Looking for a WebGPU adapter…' });
  const probe = await probeWebGpu(msg.backend === 'cpu');
  const choice = chooseBackend(probe, msg.backend);
  sessions = new Sessions(wasm, choice.backend, post);
  cpuAdapter = !!probe.cpuAdapter;
  post({ type: 'backend', backend: sessions.backend, adapter: probe.adapter || null, cpuAdapter, reason: choice.reason });
  post({ type: 'status', text: 'Loading the bundled MNIST digits…' });
  data = await loadBundled(wasm);
  if (msg.data && msg.data.images) {
    // A restarted worker keeps the user's data.
    try {
      data = dataset(wasm, msg.data);
    } catch {
      /* keep the bundled data */
    }
  }
  post({ type: 'status', text: sessions.backend === 'webgpu' ? 'Starting WebGPU (compiling shaders)…' : 'Starting the CPU backend…' });
  const resumed = msg.checkpoint ? await resume(msg.checkpoint) : null;
  replaceSession(resumed || (await sessions.create(configs, data)));
  await classifierLoad;
  await postReady({ resumed: resumed ? { step: session.currentStep, history: sessions.savedHistory(msg.checkpoint) } : null });
}

async function reset(msg) {
  if (msg.display) display = { ...display, ...msg.display };
  const before = configs;
  configs = freePlay(msg.config, msg.ideal);
  if (msg.scenario) applyScenario(msg.scenario);
  if (msg.checkpoint) {
    const resumed = await resume(msg.checkpoint);
    if (resumed) {
      replaceSession(resumed);
      await postReady({ resumed: { step: session.currentStep, history: sessions.savedHistory(msg.checkpoint) } });
      return;
    }
  }
  let next;
  try {
    next = await sessions.create(configs, data);
  } catch (e) {
    if (isFatal(e)) throw e;
    configs = before;
    post({ type: 'error', kind: 'config', message: `Could not start with this configuration: ${errorText(e)}` });
    return;
  }
  replaceSession(next);
  await postReady({ reset: true });
}

async function doImport(msg) {
  let meta;
  try {
    meta = sessions.info(msg.bytes);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'import', message: `This file is not a usable denoise-lab checkpoint: ${errorText(e)}` });
    return;
  }
  const cur = session.info().config;
  const mismatch = meta.config.model !== cur.model || meta.config.levels !== cur.levels;
  if (mismatch && !msg.adopt) {
    post({ type: 'importMismatch', meta, current: { model: cur.model, levels: cur.levels } });
    return;
  }
  // The imported model, with Φ* beside it if it was shown (not a scenario's other models).
  const alongside = configs.slice(1).filter((c) => c.model === 'universal' && meta.config.model === 'denoiser');
  let next;
  try {
    next = await sessions.open(msg.bytes, data, msg.adopt ? meta.config : cur, alongside.map((c) => ({ ...meta.config, model: c.model })));
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'import', message: `Could not import the checkpoint: ${errorText(e)}` });
    return;
  }
  replaceSession(next);
  configs = session.info().models;
  await postReady({ imported: { step: session.currentStep, name: msg.name || null, history: meta.history || [] } });
}

async function loadData(msg) {
  let candidate;
  try {
    candidate = dataset(wasm, { images: msg.images, labels: msg.labels, name: msg.name || 'your data' });
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'data', message: `Could not read ${msg.name || 'this data'}: ${errorText(e)}. Still using ${data.name}.` });
    return;
  }
  let next;
  try {
    next = await sessions.create(configs, candidate);
  } catch (e) {
    if (isFatal(e)) throw e;
    post({ type: 'error', kind: 'data', message: `Could not train on ${candidate.name}: ${errorText(e)}. Still using ${data.name}.` });
    return;
  }
  data = candidate;
  replaceSession(next);
  post({ type: 'dataLoaded', name: data.name, n: data.n, h: data.h, w: data.w, labels: !!data.labels });
  await postReady({ reset: true });
}

async function doExport(msg) {
  if (!session) return;
  const bytes = await session.export();
  const info = session.info();
  post({ type: 'exported', run, reason: msg.reason || 'user', bytes, step: info.step, config: info.config, backend: sessions.backend }, [bytes.buffer]);
}

// --- messages from the page ---------------------------------------------------------------------

/** One handler per message from the page (listed at the top of this file). */
/**
 * A command that replaces the session (new settings, an import, other data): a drawing or
 * measuring pass under way stops at its next sampler instead of finishing for a session about to
 * go (measured: "Full size" waited about 40 s for the pause's measuring pass on the CPU backend).
 */
function giveWayTo(kind, fn) {
  // Urgent while it waits its turn only: the new session's own passes must not give way to it.
  let waiting = true;
  const started = () => {
    if (waiting) urgent--;
    waiting = false;
  };
  urgent++;
  return guard(kind, () => (started(), fn())).finally(started);
}

const handlers = {
  init: (msg) => {
    autoplayNext = !!msg.autoplay;
    return guard('init', () => init(msg)).then(() => {
      autoplayNext = false;
      if (msg.autoplay && session && !dead) handlers.play();
    });
  },
  play: () => {
    if (!session || dead) return;
    if (!looping) share.resume();
    playing = true;
    loop();
  },
  pause: () => {
    playing = false;
  },
  step: (msg) =>
    guard('step', async () => {
      if (session && (await trainFrame(msg.n || 1))) await drawAll(false);
    }),
  reset: (msg) => {
    playing = false;
    giveWayTo('reset', () => reset(msg));
  },
  display: (msg) => {
    display = { ...display, ...(msg.display || {}) };
    fitWork();
    if (msg.resample && session) guard('sample', () => drawAll(true));
  },
  lr: (msg) =>
    guard('learning rate', async () => {
      session.setLearningRate(msg.lr);
      for (const c of configs) c.lr = msg.lr;
    }),
  export: (msg) => {
    // A drawing pass under way stops at its next sampler so the export (an autosave when the
    // page is hidden) does not wait for the whole pass.
    // A measuring pass stops between samplers too, and starts again once the export is done
    // (measured before: an export at load on SwiftShader waited ~57 s for the load-time pass).
    urgent++;
    guard('export', () => doExport(msg)).finally(() => {
      urgent--;
      if (urgent === 0 && measureAfterExport && !playing && !dead && session) {
        measureAfterExport = false;
        guard('metrics', () => measureAll({ interruptible: true }));
      }
    });
  },
  import: (msg) => {
    playing = false;
    giveWayTo('import', () => doImport(msg));
  },
  loadData: (msg) => {
    playing = false;
    giveWayTo('data', () => loadData(msg));
  },
  measure: () => guard('metrics', () => measureAll()),
  debugCrash: () => fatal('test', new Error('a simulated crash (debugCrash)')),
  // Test hook: one drawing pass of `rows` rows, as a lighter redraw while training would draw.
  debugDraw: (msg) => guard('sample', () => drawAll(false, { rows: msg.rows })),
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
