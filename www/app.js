// The page's controller: the state (from the URL, www/state.js), the worker that trains
// (www/worker.js, through www/worker-client.js) and the views (one module each). It never blocks
// on the wasm, which lives in the worker.

import { autosaveKey, deleteAutosave, loadAutosave } from './autosave.js';
import { banner, clearBanner, errorBanner, logErrorsTo } from './banners.js';
import { Charts } from './charts.js';
import { btn, ctl, readControl, setEnabled, showConfig } from './controls.js';
import { downloadFile, wireFiles } from './files.js';
import { escapeHtml, fmtMs } from './format.js';
import { SAMPLERS_BY_MODEL } from './limits.js';
import { clearMetrics, renderMetrics } from './metrics-panel.js';
import { SamplePanels } from './sample-panels.js';
import { activeSamplers } from './samplers.js';
import { buildScenarioButtons, markScenario, showScenarioCaption } from './scenario-panel.js';
import { defaultA, parseQuery, toQuery, trainConfig } from './state.js';
import { showBackend, showCompanionLoss, showProgress } from './stats.js';
import { Training } from './training.js';

const $ = (id) => document.getElementById(id);
/** Settings that train at a few steps per second on a CPU (the full-size defaults need a GPU). */
const LIGHT = { channels: 8, batch: 16 };

// ---- state ------------------------------------------------------------------------------------

const parsed = parseQuery(location.search);
const { cfg, view } = parsed;

/** The test and automation handle (window.denoiseLab): what the page shows, as data. */
const lab = {
  ready: false,
  playing: false,
  backend: null,
  adapter: null,
  cpuAdapter: false,
  fallbackReason: null,
  step: 0,
  losses: [], // every flushed step's loss, in order (this session)
  info: null,
  samplesStep: -1, // the training step the shown samples were drawn at
  samplesVersion: 0,
  readyVersion: 0,
  warmupMs: null,
  msPerStep: null,
  stepsPerSec: null,
  errors: [],
  warnings: [],
  lastExport: null,
  autosaves: 0,
  resumed: null,
  frames: [], // [{k, ms}] per training frame of this session (k steps in ms)
  times: {}, // performance.now() of milestones: ready, firstStep, firstSamples
  companionModel: null, // the side-by-side model of a scenario
  pausedStep: null, // the step the worker's loop stopped at (null while it runs)
  config: cfg,
  view,
  debugLoseDevice: () => training.post({ type: 'debugLoseDevice' }), // test hook (WebGPU only)
};
window.denoiseLab = lab;
logErrorsTo(lab.errors);

/** What the controller keeps between messages. */
const run = {
  displaySeed: cfg.seed,
  customData: null, // {images, labels, name} when the user loaded their own IDX
  pendingData: null,
  pendingImport: null,
};

const panels = new SamplePanels();
const charts = new Charts();
const dataName = () => (run.customData ? run.customData.name : 'bundled');
const saveKey = (config = trainConfig(cfg)) => autosaveKey(config, dataName());

// ---- layout -----------------------------------------------------------------------------------

if (view.embed) document.body.classList.add('embed');
if (!view.controls) document.body.classList.add('no-controls');
if (view.embed) {
  const full = new URLSearchParams(location.search);
  full.delete('embed');
  full.delete('controls');
  $('open-full').href = `${location.pathname}?${full}`;
  $('open-full').hidden = false;
}
if (parsed.problems.length) {
  lab.warnings.push(...parsed.problems);
  banner('url', 'warn', `<b>Some settings in the URL were not understood</b> — defaults used instead:<ul>${parsed.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`);
}

function writeUrl() {
  history.replaceState(null, '', `${location.pathname}?${toQuery({ cfg, view })}${location.hash}`);
}

/** Panels and charts for the current model (and a scenario's side-by-side model). */
function rebuildForModel() {
  buildPanels();
  charts.rebuild({ model: cfg.model, levels: cfg.L, samplers: SAMPLERS_BY_MODEL[cfg.model], compact: view.embed });
  $('loss-caption').innerHTML =
    cfg.model === 'cvae'
      ? 'KL(q(ε | z<sub>ℓ−1</sub>, z<sub>ℓ</sub>) ‖ N(0, I)) − ln p(z<sub>ℓ−1</sub> | ε, z<sub>ℓ</sub>) per image: total, KL and NLL (smoothed; thin: every step). The NLL of a continuous density can go below 0.'
      : 'E ‖y − ŷ(z<sub>ℓ</sub>, ℓ)‖² per image, ℓ uniform in 1…L (thin: every step; thick: smoothed).';
}

const shownSamplers = () => activeSamplers(cfg.model, lab.companionModel, view.show);
const showOtherModel = () => view.controls && !lab.companionModel;

const panelsKey = () => shownSamplers().join(',') + (showOtherModel() ? '+' : '');

function buildPanels() {
  panels.build(shownSamplers(), {
    model: cfg.model,
    levels: cfg.L,
    other: showOtherModel(),
    onSwitch: (to) => {
      cfg.model = to;
      if (to === 'cvae' && cfg.L > 4) {
        cfg.L = 4;
        cfg.a = null;
      }
      showConfig(cfg);
      writeUrl();
      training.restart();
    },
  });
}

// ---- controls ---------------------------------------------------------------------------------

/** Settings whose change restarts training. */
const STRUCTURAL = ['model', 'L', 'a', 'k', 'channels', 'batch', 'seed'];
for (const key of STRUCTURAL) {
  ctl[key].addEventListener('change', () => {
    const r = readControl(key);
    if (!r.ok) return;
    if (key === 'a') {
      // Typing the default value back counts as "default".
      cfg.a = Math.abs(r.value - defaultA(cfg.L)) < 5e-7 ? null : r.value;
    } else {
      cfg[key] = r.value;
    }
    if (key === 'seed') run.displaySeed = cfg.seed;
    leaveScenario();
    showConfig(cfg);
    writeUrl();
    training.restart();
  });
}
$('a-default').addEventListener('click', () => {
  if (cfg.a === null) return;
  cfg.a = null;
  leaveScenario();
  showConfig(cfg);
  writeUrl();
  training.restart();
});
ctl.lr.addEventListener('change', () => {
  const r = readControl('lr');
  if (!r.ok) return;
  cfg.lr = r.value;
  writeUrl();
  if (lab.ready) training.post({ type: 'lr', lr: cfg.lr });
});
function onSigmaChange() {
  if (ctl.sigmaMode.value === 'posterior') {
    cfg.sigma = null;
    ctl.sigma.classList.remove('invalid');
  } else {
    if (ctl.sigma.value === '') ctl.sigma.value = '0.5';
    const r = readControl('sigma');
    if (!r.ok) return;
    cfg.sigma = r.value;
  }
  showConfig(cfg);
  writeUrl();
  sendDisplay(true);
}
ctl.sigmaMode.addEventListener('change', onSigmaChange);
ctl.sigma.addEventListener('change', onSigmaChange);

$('copy-link').addEventListener('click', async () => {
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    banner('link', 'info', `Link copied: <code>${escapeHtml(url)}</code>`);
  } catch {
    banner('link', 'info', `Link to this setup: <code>${escapeHtml(url)}</code>`);
  }
});

// ---- transport --------------------------------------------------------------------------------

btn.play.addEventListener('click', () => {
  if (!training.running || !lab.ready) return;
  if (training.wantPlaying) {
    training.pause();
    return;
  }
  clearBanner('diverged');
  clearBanner('stopped');
  if (view.stop && lab.step >= view.stop) {
    // Past the scenario's budget: keep training without a stop.
    view.stop = null;
    sendDisplay(false);
  }
  training.play();
});
btn.step.addEventListener('click', () => lab.ready && training.post({ type: 'step', n: 1 }));
btn.reset.addEventListener('click', () => {
  if (!training.running) return;
  deleteAutosave(saveKey());
  training.restart({ fresh: true });
});
btn.resample.addEventListener('click', () => {
  run.displaySeed = (Math.random() * 2 ** 31) >>> 0;
  sendDisplay(true);
});
btn.export.addEventListener('click', () => lab.ready && training.post({ type: 'export', reason: 'user' }));
$('measure').addEventListener('click', () => lab.ready && training.post({ type: 'measure' }));

/** What the worker draws and measures, and how often. */
function displaySettings() {
  return {
    samples: view.rows,
    columns: view.cols,
    seed: run.displaySeed,
    sigma: cfg.sigma,
    forwardRows: Math.min(4, view.rows),
    show: view.show,
    stopAt: view.stop,
    metricsN: view.mn,
    metricsNExplicit: new URLSearchParams(location.search).has('mn'),
    metricsEvery: view.me,
    sampleEvery: view.se,
  };
}
function sendDisplay(resample) {
  if (lab.ready) training.post({ type: 'display', display: displaySettings(), resample });
}

// ---- scenarios --------------------------------------------------------------------------------

function startScenario(name) {
  view.scenario = name;
  view.show = null;
  view.stop = null;
  training.stopped();
  markScenario(name);
  writeUrl();
  training.restart({ fresh: true });
}

function leaveScenario() {
  if (!view.scenario) return; // `show`/`stop` set by the URL outside a scenario stay
  view.scenario = null;
  view.show = null;
  view.stop = null;
  lab.companionModel = null;
  showScenarioCaption(null);
  $('stat-companion').hidden = true;
  clearBanner('stopped');
  markScenario(null);
}

function onScenario(msg) {
  const sc = msg.scenario;
  view.scenario = sc.name;
  view.show = msg.show;
  view.stop = msg.stopAt;
  lab.scenario = sc.name;
  showScenarioCaption(sc);
  markScenario(sc.name);
  writeUrl();
}

// ---- backend and lighter settings ---------------------------------------------------------------

/** A banner action that switches to LIGHT (only offered when the run is larger than that). */
function lightActions() {
  if (cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch) return { dismissible: true };
  const label = `Use lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`;
  const onClick = () => {
    cfg.channels = Math.min(cfg.channels, LIGHT.channels);
    cfg.batch = Math.min(cfg.batch, LIGHT.batch);
    showConfig(cfg);
    writeUrl();
    clearBanner('cpu-adapter');
    clearBanner('backend');
    training.restart();
  };
  return { dismissible: true, actions: [{ label, onClick }] };
}

/** Continue on burn's CPU backend (`backend=cpu` in the URL). */
function switchToCpu() {
  view.backend = 'cpu';
  writeUrl();
  clearBanner('cpu-adapter');
  training.switchToCpu();
}

// ---- messages from the worker -------------------------------------------------------------------

function onReady(msg) {
  lab.ready = true;
  lab.readyVersion++;
  lab.info = msg.info;
  lab.step = msg.info.step;
  lab.losses = [];
  lab.frames = [];
  lab.times.ready ??= performance.now();
  $('loading').hidden = true;
  // The session's configuration wins (a resumed or imported checkpoint may differ).
  const c = msg.info.config;
  const modelChanged = c.model !== cfg.model;
  Object.assign(cfg, { model: c.model, L: c.levels, a: c.a ?? null, batch: c.batch, seed: c.seed, channels: c.base_channels, k: c.latent_dim });
  if (msg.imported || view.scenario) cfg.lr = c.lr;
  lab.companionModel = msg.companion ? msg.companion.config.model : null;
  if (!view.scenario) lab.scenario = null;
  showConfig(cfg);
  writeUrl();
  if (modelChanged || !charts.loss) rebuildForModel();
  else if (panels.key !== panelsKey()) buildPanels();
  else if (charts.levelCount !== cfg.L) charts.rebuildLevels(cfg.L, view.embed);
  panels.setReference({ meanImage: msg.meanImage, realDiversity: msg.realDiversity, h: msg.info.height, w: msg.info.width });
  $('stat-step').textContent = String(lab.step);
  setEnabled(true);
  training.setPlaying(training.wantPlaying);
  // A new session: its own loss curve (a resumed or imported run brings its saved history).
  charts.clearLoss();
  const restored = msg.resumed || msg.imported;
  if (restored && restored.history && restored.history.length) charts.pushLoss(restored.history);
  if (msg.resumed) {
    lab.resumed = msg.resumed;
    banner('resumed', 'info', `Resumed from step ${msg.resumed.step} (autosaved in this browser).`, {
      actions: [{ label: 'Start over', onClick: () => (clearBanner('resumed'), btn.reset.click()) }],
    });
    training.resumedAt(msg.resumed.step);
  }
  if (msg.imported) {
    banner('imported', 'info', `Imported checkpoint${msg.imported.name ? ` “${escapeHtml(msg.imported.name)}”` : ''} at step ${msg.imported.step}.`);
  }
  if (msg.data) $('data-status').textContent = `Data: ${msg.data.name} — ${msg.data.n} images of ${msg.data.h}×${msg.data.w}.`;
  clearBanner('crash');
  if (training.wantPlaying) training.post({ type: 'play' });
}

function onProgress(msg) {
  lab.step = msg.step;
  lab.times.firstStep ??= performance.now();
  lab.frames.push({ k: msg.stepsPerFrame, ms: msg.frameMs });
  for (const p of msg.steps) lab.losses.push(p.loss);
  charts.pushLoss(msg.steps);
  if (msg.levelLoss) charts.setLevelLoss(msg.levelLoss);
  lab.warmupMs = msg.warmupMs;
  lab.msPerStep = msg.msPerStep;
  lab.stepsPerSec = msg.stepsPerSec;
  showProgress(msg, { loss: msg.steps.length ? charts.smoothedLoss() : null, batch: cfg.batch });
  if (msg.companion && msg.companion.steps.length) {
    lab.companionLoss = msg.companion.steps.at(-1).loss;
    showCompanionLoss(msg.companion.model, lab.companionLoss);
  }
}

function onSamples(msg) {
  if (msg.memory) {
    // Device allocations and wasm memory at each drawing (the soak benchmark reads these).
    lab.memory = lab.memory || [];
    lab.memory.push({ step: msg.step, ...msg.memory });
    if (lab.memory.length > 10000) lab.memory.splice(0, lab.memory.length - 10000);
  }
  panels.render(msg);
  charts.showDiversity(panels.chains, panels.realDiversity);
  lab.samplesStep = msg.step;
  lab.samplesVersion++;
  lab.times.firstSamples ??= performance.now();
  $('speed-sample').textContent = fmtMs(msg.ms);
}

function onExported(msg) {
  if (msg.reason === 'autosave') {
    training.autosaved(msg);
    return;
  }
  const name = `denoise-lab-${msg.config.model}-L${msg.config.levels}-step${msg.step}.ckpt`;
  lab.lastExport = { name, size: msg.bytes.byteLength, step: msg.step };
  downloadFile(msg.bytes, name);
  banner('exported', 'info', `Exported ${escapeHtml(name)} (${(msg.bytes.byteLength / 1024).toFixed(0)} KiB).`);
}

function onError(msg) {
  if (msg.kind === 'data') run.pendingData = null;
  errorBanner(msg.kind === 'import' ? 'import' : msg.kind === 'data' ? 'data' : `err-${msg.kind}`, msg.message);
  if ((msg.kind === 'config' || msg.kind === 'import' || msg.kind === 'data') && lab.info) {
    // The previous session is still there.
    lab.ready = true;
    setEnabled(true);
    training.setPlaying(false);
    $('loading').hidden = true;
  }
  if (msg.kind === 'init') $('loading').textContent = `Could not start: ${msg.message}`;
}

function onImportMismatch(msg) {
  const m = msg.meta.config;
  const adopt = () => {
    clearBanner('import');
    if (run.pendingImport) sendImport(run.pendingImport.bytes, run.pendingImport.name, true);
  };
  banner('import', 'warn', `This checkpoint is for the <b>${escapeHtml(m.model)}</b> with <b>L = ${m.levels}</b> (step ${msg.meta.step}); the page is set to the ${escapeHtml(msg.current.model)} with L = ${msg.current.levels}.`, {
    actions: [{ label: `Switch to ${m.model}, L = ${m.levels}`, onClick: adopt }],
  });
}

/** One handler per message type from the worker. */
const handlers = {
  hello: () => {},
  status: (msg) => {
    $('loading').textContent = msg.text;
    if (!lab.backend) $('stat-backend').textContent = 'starting…';
  },
  backend: (msg) => {
    Object.assign(lab, { backend: msg.backend, adapter: msg.adapter, cpuAdapter: msg.cpuAdapter, fallbackReason: msg.reason });
    showBackend(msg, { lightActions, onCpuBackend: switchToCpu });
  },
  ready: onReady,
  progress: onProgress,
  samples: onSamples,
  scenarios: (msg) => {
    const onFree = () => {
      if (!view.scenario) return;
      leaveScenario();
      writeUrl();
      training.restart();
    };
    buildScenarioButtons(msg.list, { onPick: startScenario, onFree });
    // view.scenario is the preset's name once the worker has applied it (the 'scenario' message).
    markScenario(view.scenario);
  },
  scenario: onScenario,
  metricsBusy: (msg) => {
    $('metrics-status').textContent = `Measuring ${msg.n} samples per sampler…`;
    $('panel-metrics').classList.add('busy');
  },
  metrics: (msg) => renderMetrics(msg, lab),
  metricsSkipped: () => {
    $('panel-metrics').classList.remove('busy');
    $('metrics-status').textContent = `Measurement postponed while training (every ${view.me || '–'} steps, on pause, or “Measure now”).`;
  },
  paused: (msg) => training.paused(msg.step),
  stopped: (msg) => {
    training.stopped();
    banner('stopped', 'info', `Paused at step ${msg.step}: the end of this scenario's training budget. Press Play to keep training.`);
  },
  exported: onExported,
  diverged: (msg) => {
    training.stopped();
    errorBanner('diverged', `${msg.message.charAt(0).toUpperCase()}${msg.message.slice(1)} (step ${msg.step}). Training is paused: lower the learning rate, then press Play.`);
  },
  trainError: (msg) => {
    training.stopped();
    errorBanner('train', `Training stopped: ${msg.message}`);
  },
  importMismatch: onImportMismatch,
  dataLoaded: (msg) => {
    run.customData = run.pendingData;
    run.pendingData = null;
    clearBanner('data');
    banner('data', 'info', `Now training on ${escapeHtml(msg.name)}: ${msg.n} images of ${msg.h}×${msg.w}${msg.labels ? ' with labels' : ''}.`);
    charts.clearLoss();
  },
  error: onError,
  warning: (msg) => {
    lab.warnings.push(msg.message);
    banner(`w-${lab.warnings.length}`, 'warn', escapeHtml(msg.message));
  },
  gpuError: (msg) => {
    lab.warnings.push(msg.message);
    console.warn('WebGPU error:', msg.message);
  },
  deviceLost: (msg) => training.crashed(`the GPU device was lost (${msg.reason}${msg.message ? `: ${msg.message}` : ''})`),
  fatal: (msg) => training.crashed(msg.message),
};

const training = new Training(lab, handlers, {
  init: () => ({ config: trainConfig(cfg), display: displaySettings(), forceCpu: view.backend === 'cpu', scenario: view.scenario, data: run.customData }),
  reset: (checkpoint) => ({ type: 'reset', config: trainConfig(cfg), display: displaySettings(), checkpoint, scenario: view.scenario }),
  saveKey,
  autosaving: () => !view.scenario, // scenario runs are short presets (maybe two models): not autosaved
  resuming: () => view.resume && !view.scenario,
  beforeRestart: () => {
    rebuildForModel();
    charts.clearLoss();
    panels.clear();
    clearMetrics(lab);
  },
  clearLoss: () => charts.clearLoss(),
  isCurrent: (config) => config.model === cfg.model && config.levels === cfg.L,
});

// ---- files ------------------------------------------------------------------------------------

function sendImport(bytes, name, adopt = false) {
  run.pendingImport = { bytes, name };
  training.stopped();
  clearBanner('import');
  const copy = bytes.slice();
  training.post({ type: 'import', bytes: copy, name, adopt }, [copy.buffer]);
}

wireFiles({
  onCheckpoint: async (file) => {
    if (!lab.ready) return;
    let bytes;
    try {
      bytes = new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      errorBanner('import', `Could not read ${file.name}: ${e.message}`);
      return;
    }
    sendImport(bytes, file.name);
  },
  onData: (images, labels, name) => {
    if (!lab.ready) return;
    run.pendingData = { images, labels: labels || undefined, name };
    training.stopped();
    clearBanner('data');
    training.post({ type: 'loadData', images: images.slice(), labels: labels ? labels.slice() : undefined, name });
  },
  onError: (id, message) => errorBanner(id, message),
  currentDataName: () => (run.customData ? run.customData.name : 'the bundled MNIST'),
});

// ---- go ---------------------------------------------------------------------------------------

showConfig(cfg);
writeUrl();
rebuildForModel();
(async () => {
  const saved = view.resume ? await loadAutosave(saveKey()) : null;
  training.start({ resumeBytes: saved ? saved.bytes : null, autoplay: view.autoplay });
})();
