// The page's controller: the state (from the URL, www/page/state.js), the worker that trains
// (www/worker/worker.js, through www/page/worker-client.js) and the views (one module each). It never blocks
// on the wasm, which lives in the worker.

import { autosaveKey, deleteAutosave, loadAutosave } from './autosave.js';
import { banner, clearBanner, errorBanner, logErrorsTo } from './banners.js';
import { Charts } from './charts.js';
import { showConfig, wireControls } from './controls.js';
import { wireFiles } from './files.js';
import { CVAE_LAST_STEP_SHARE, CVAE_MAX_LEVELS } from '../shared/limits.js';
import { readChecked } from './file-checks.js';
import { escapeHtml } from './format.js';
import { clearMetrics } from './metrics-panel.js';
import { SamplePanels } from './sample-panels.js';
import { DrawsPanel } from './draws-panel.js';
import { activeSamplers } from './samplers.js';
import { markScenario, showScenarioCaption } from './scenario-panel.js';
import { parseQuery, toQuery, trainConfig } from './state.js';
import { Training } from './training.js';
import { createLab } from './lab.js';
import { workerHandlers } from './messages.js';
import { probeWebGpu } from '../shared/webgpu.js';

const $ = (id) => document.getElementById(id);
/** Settings that train at a few steps per second on a CPU (the full-size defaults need a GPU). */
const LIGHT = { channels: 8, batch: 16 };

// ---- state ------------------------------------------------------------------------------------

const parsed = parseQuery(location.search);
const { cfg, view } = parsed;

const lab = createLab({ cfg, view, post: (msg) => training.post(msg) });
window.denoiseLab = lab;
logErrorsTo(lab.errors);

/** What the controller keeps between messages. */
const run = {
  displaySeed: cfg.seed,
  customData: null, // {images, labels, name} when the user loaded their own IDX
  pendingData: null,
  pendingImport: null,
  lightened: null, // {channels, batch} of the full size when the page started light on a CPU
};

const panels = new SamplePanels();
const draws = new DrawsPanel();
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
  charts.rebuild({ model: cfg.model, levels: cfg.L, samplers: shownSamplers(), compact: view.embed });
  $('loss-caption').innerHTML =
    cfg.model === 'cvae'
      ? `KL(q(ε | z<sub>ℓ−1</sub>, z<sub>ℓ</sub>) ‖ N(0, I)) − ln p(z<sub>ℓ−1</sub> | ε, z<sub>ℓ</sub>) per image: total, KL and NLL (smoothed; thin: every step), ℓ = 1 (the step to z<sub>0</sub>) for ${Math.round(CVAE_LAST_STEP_SHARE * 100)}% of the pairs, uniform in 2…L for the rest. The NLL of a continuous density can go below 0.`
      : 'E ‖y − ŷ(z<sub>ℓ</sub>, ℓ)‖² per image, ℓ uniform in 1…L (thin: every step; thick: smoothed).';
}

const shownSamplers = () => activeSamplers(cfg.model, lab.info?.samplers, view.show);
const showOtherModel = () => view.controls && !lab.companionModel;

const panelsKey = () => shownSamplers().join(',') + (showOtherModel() ? '+' : '');

function buildPanels() {
  panels.build(shownSamplers(), {
    model: cfg.model,
    levels: cfg.L,
    other: showOtherModel(),
    onSwitch: (to) => {
      cfg.model = to;
      if (to === 'cvae' && cfg.L > CVAE_MAX_LEVELS) {
        cfg.L = CVAE_MAX_LEVELS;
        cfg.a = null;
      }
      showConfig(cfg);
      writeUrl();
      training.restart();
    },
  });
  if (charts.loss) charts.rebuildDiversity(shownSamplers(), view.embed);
}

/** Reset: discard this run's autosave and train afresh with the same settings. */
function startOver() {
  if (!training.running) return;
  deleteAutosave(saveKey());
  training.restart({ fresh: true, discard: true });
}

// ---- controls and transport -------------------------------------------------------------------

wireControls({
  setting: (key, value) => {
    if (cfg[key] === value) return;
    cfg[key] = value;
    if (key === 'seed') run.displaySeed = cfg.seed;
    leaveScenario();
    showConfig(cfg);
    writeUrl();
    training.restart();
  },
  learningRate: (lr) => {
    cfg.lr = lr;
    writeUrl();
    if (lab.ready) training.post({ type: 'lr', lr });
  },
  sigma: (sigma) => {
    cfg.sigma = sigma;
    showConfig(cfg);
    writeUrl();
    sendDisplay(true);
  },
  play: () => {
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
  },
  step: () => lab.ready && training.post({ type: 'step', n: 1 }),
  reset: startOver,
  resample: () => {
    run.displaySeed = (Math.random() * 2 ** 31) >>> 0;
    sendDisplay(true);
  },
  export: () => lab.ready && training.post({ type: 'export', reason: 'user' }),
  measure: () => lab.ready && training.post({ type: 'measure' }),
});

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

// ---- backend and lighter settings ---------------------------------------------------------------

/**
 * On a CPU (no WebGPU, an adapter that runs on the CPU, or backend=cpu) a free-play run whose URL
 * sets no size starts with LIGHT: the full size trains at one step in several seconds there.
 */
async function startsLight() {
  const q = new URLSearchParams(location.search);
  if (view.scenario || !view.light || q.has('channels') || q.has('batch')) return false;
  if (cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch) return false;
  if (view.backend === 'cpu') return true;
  const probe = await probeWebGpu(false);
  return !probe.ok || !!probe.cpuAdapter;
}

/**
 * The banner's words and action about the size of the run: back to the full size when the page
 * started light, else a switch to LIGHT (offered when the run is larger than that).
 */
function lightActions() {
  if (run.lightened) {
    const full = run.lightened;
    const onClick = () => {
      run.lightened = null;
      view.light = false; // kept in the URL (light=0): a reload stays at the full size
      cfg.channels = full.channels;
      cfg.batch = full.batch;
      showConfig(cfg);
      writeUrl();
      clearBanner('cpu-adapter');
      clearBanner('backend');
      training.restart();
    };
    return {
      dismissible: true,
      note: `Started with lighter settings (${cfg.channels} channels, batch ${cfg.batch}) so that it trains at a few steps per second.`,
      actions: [{ label: `Full size (${full.channels} channels, batch ${full.batch})`, onClick }],
    };
  }
  if (cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch) return { dismissible: true };
  const label = `Use lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`;
  const onClick = () => {
    lighten();
    clearBanner('cpu-adapter');
    clearBanner('backend');
    training.restart();
  };
  return { dismissible: true, actions: [{ label, onClick }] };
}

/** The settings at most LIGHT (shown and in the URL; the caller restarts). */
function lighten() {
  cfg.channels = Math.min(cfg.channels, LIGHT.channels);
  cfg.batch = Math.min(cfg.batch, LIGHT.batch);
  showConfig(cfg);
  writeUrl();
}

/** Continue the run on `backend` ('cpu': burn's CPU backend; 'webgpu': WebGPU even on a CPU adapter), kept in the URL. */
function useBackend(backend) {
  view.backend = backend;
  writeUrl();
  clearBanner('cpu-adapter');
  clearBanner('backend');
}
function switchBackend(backend) {
  useBackend(backend);
  training.switchBackend();
}

// ---- messages from the worker (www/page/messages.js) --------------------------------------------------

const app = { cfg, view, lab, run, panels, charts, draws, writeUrl, rebuildForModel, buildPanels, panelsKey, leaveScenario, startScenario, sendImport, lightActions, switchBackend, startOver, training: null };
const handlers = workerHandlers(app);

const training = new Training(lab, handlers, {
  init: () => ({ config: trainConfig(cfg), ideal: cfg.ideal, display: displaySettings(), backend: view.backend, scenario: view.scenario, data: run.customData }),
  reset: (checkpoint) => ({ type: 'reset', config: trainConfig(cfg), ideal: cfg.ideal, display: displaySettings(), checkpoint, scenario: view.scenario }),
  saveKey,
  autosaving: () => !view.scenario, // scenario runs are short presets (maybe two models): not autosaved
  resuming: () => view.resume && !view.scenario,
  beforeRestart: () => {
    rebuildForModel();
    charts.clearLoss();
    panels.clear();
    draws.hide();
    clearMetrics(lab);
  },
  clearLoss: () => charts.clearLoss(),
  isCurrent: (config) => config.model === cfg.model && config.levels === cfg.L,
  waysOut: () => [
    { label: 'Start without the autosave (it is kept aside)', onClick: () => training.restartWorker({ resume: false }) },
    ...(view.backend === 'cpu'
      ? []
      : [{ label: 'Train on the CPU backend', onClick: () => ((view.backend = 'cpu'), writeUrl(), training.restartWorker()) }]),
    ...(cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch
      ? []
      : [{ label: `Lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`, onClick: () => (lighten(), training.restartWorker()) }]),
  ],
  toCpu: () => useBackend('cpu'),
  resumeOther: () => training.restart({ discard: true, fromSave: true }),
});
app.training = training;

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
      bytes = await readChecked(file, 'checkpoint');
    } catch (e) {
      errorBanner('import', `${file.name} is not a usable denoise-lab checkpoint: ${e.message}.`);
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
  currentDataName: () => (run.customData ? run.customData.name : 'bundled MNIST (10k digits)'),
});

// ---- go ---------------------------------------------------------------------------------------

showConfig(cfg);
writeUrl();
rebuildForModel();
(async () => {
  if (await startsLight()) {
    run.lightened = { channels: cfg.channels, batch: cfg.batch };
    cfg.channels = LIGHT.channels;
    cfg.batch = LIGHT.batch;
    lab.lightened = true;
    showConfig(cfg);
    writeUrl();
  }
  const saved = view.resume ? await loadAutosave(saveKey()) : null;
  training.start({ resumeBytes: saved ? saved.bytes : null, autoplay: view.autoplay });
})();
