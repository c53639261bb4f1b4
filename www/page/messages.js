// The page's handlers of the worker's messages (www/shared/protocol.js lists them): what each one changes
// in the page's state (www/page/store.js) and views, and the actions (www/page/actions.js) and
// training steps (www/page/training.js) it leads to.

import { freePlay, lightActions, sendImport, startOver, startScenario, switchBackend } from './actions.js';
import { banner, clearBanner, errorBanner } from './banners.js';
import { setEnabled, showConfig } from './controls.js';
import { downloadFile } from './files.js';
import { escapeHtml, fmtMs } from './format.js';
import { renderMetrics } from './metrics-panel.js';
import { fromTrainConfig } from './state.js';
import { buildScenarioButtons, markScenario, showScenarioCaption } from './scenario-panel.js';
import { failedStep, startFailureText } from './start-failure.js';
import { endActivity, showActivity, showBackend, showCompanionLoss, showProgress, showStuck } from './stats.js';
import { cfg, lab, run, view, writeUrl } from './store.js';
import { training } from './training.js';
import { buildPanels, charts, draws, panels, panelsKey, rebuildForModel } from './views.js';

const $ = (id) => document.getElementById(id);

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

function onReady(msg) {
  lab.ready = true;
  lab.readyVersion++;
  lab.run = msg.run;
  lab.info = msg.info;
  lab.step = msg.info.step;
  lab.losses = [];
  lab.frames = [];
  lab.times.ready ??= performance.now();
  endActivity('start');
  // The session's configuration wins (a resumed or imported checkpoint may differ).
  const { lr, ...fromCore } = fromTrainConfig(msg.info.config);
  const modelChanged = fromCore.model !== cfg.model;
  Object.assign(cfg, fromCore);
  if (msg.imported || view.scenario) cfg.lr = lr;
  // A scenario's compared trained model (Φ* beside the network is not one: it has no loss).
  lab.companionModel = msg.info.models.slice(1).find((m) => m.model !== 'universal')?.model ?? null;
  if (!view.scenario) lab.scenario = null;
  showConfig(cfg);
  writeUrl();
  if (modelChanged || !charts.loss) rebuildForModel();
  else if (panels.key !== panelsKey()) buildPanels();
  else if (charts.levelCount !== cfg.L) charts.rebuildLevels(cfg.L, view.embed);
  panels.setReference({ meanImage: msg.meanImage, realDiversity: msg.realDiversity, h: msg.info.height, w: msg.info.width, digits: msg.data?.digits !== false });
  lab.dataDigits = msg.data?.digits !== false;
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
      actions: [{ label: 'Start over', onClick: () => (clearBanner('resumed'), startOver()) }],
    });
    training.resumedAt(msg.resumed.step);
  }
  if (msg.imported) {
    releaseImport();
    banner('imported', 'info', `Imported checkpoint${msg.imported.name ? ` “${escapeHtml(msg.imported.name)}”` : ''} at step ${msg.imported.step}.`);
  }
  if (msg.data) $('data-status').textContent = `Data: ${msg.data.name} — ${msg.data.n} images of ${msg.data.h}×${msg.data.w}.`;
  clearBanner('crash');
  if (training.wantPlaying) training.post({ type: 'play' });
  run.lessonView?.update(true);
}

/** A lesson's progress line while it trains: the steps left and their time at this machine's measured speed. */
function lessonProgress(msg) {
  const lesson = run.lessonView;
  if (!lesson || !view.stop || msg.step > view.stop) return;
  const left = view.stop - msg.step;
  const eta = lab.msPerStep ? `, about ${Math.max(1, Math.round((left * lab.msPerStep) / 1000))} s left at ${lab.msPerStep.toFixed(0)} ms/step measured here` : '';
  lesson.status(`Training: step ${msg.step} of ${view.stop}${eta}. Then it measures the samples.`);
}

function onProgress(msg) {
  lab.step = msg.step;
  lab.times.firstStep ??= performance.now();
  endActivity('step');
  lab.frames.push({ k: msg.stepsPerFrame, ms: msg.frameMs, hostMs: msg.hostMs });
  for (const p of msg.steps) lab.losses.push(p.loss);
  charts.pushLoss(msg.steps);
  if (msg.levelLoss) charts.setLevelLoss(msg.levelLoss);
  lab.warmupMs = msg.warmupMs;
  lab.msPerStep = msg.msPerStep;
  lab.stepsPerSec = msg.stepsPerSec;
  lab.trainingShare = msg.trainingShare;
  showProgress(msg, { loss: msg.steps.length ? charts.smoothedLoss() : null, batch: cfg.batch });
  lessonProgress(msg);
  if (msg.companion && msg.companion.steps.length) {
    lab.companionLoss = msg.companion.steps.at(-1).loss;
    showCompanionLoss(msg.companion.model, lab.companionLoss);
  }
}

/** A grid as soon as it is drawn (`partial`), then the pass's end (its time, memory). */
function onSamples(msg) {
  panels.render(msg);
  lab.times.firstDrawn ??= performance.now();
  if (Object.keys(msg.chains).length) {
    lab.gridRows = structuredClone(panels.rowSteps);
    // The diversity chart follows every drawing of two rows or more (a lighter one too).
    if (Object.values(msg.chains).some((c) => c.n >= 2)) lab.diversityShown = charts.showDiversity(panels.chains, panels.realDiversity, panels.realName, panels.measured);
  }
  if (msg.partial) return;
  if (msg.memory) {
    // Device allocations and wasm memory at each drawing (the soak benchmark reads these).
    lab.memory ??= [];
    lab.memory.push({ step: msg.step, ...msg.memory });
    if (lab.memory.length > 10000) lab.memory.splice(0, lab.memory.length - 10000);
  }
  if (msg.incomplete) return; // stopped for an export: the next pass draws the rest
  if (msg.by === 'drawer') lab.drawerDrawings++;
  if (msg.light) {
    // Some rows redrawn while training: the figures (diversity, the samples' step) wait for a
    // pass over every row.
    lab.lightDrawings++;
    lab.lightRows = { ...msg.light, step: msg.step };
    lab.lightHistory.push(lab.lightRows);
    if (lab.lightHistory.length > 1000) lab.lightHistory.shift();
    return;
  }
  lab.samplesStep = msg.step;
  lab.finalDiversity = Object.fromEntries(Object.entries(panels.chains || {}).map(([spec, c]) => [spec, c.diversity.at(-1)]));
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

/** An import ended: its bytes (up to the checkpoint size limit) are not kept. */
function releaseImport() {
  run.pendingImport = null;
  lab.importPending = false;
}

function onError(msg) {
  if (msg.kind === 'data' && msg.id != null) run.pendingData.delete(msg.id);
  if (msg.kind === 'import') releaseImport();
  errorBanner(msg.kind === 'import' ? 'import' : msg.kind === 'data' ? 'data' : `err-${msg.kind}`, msg.message);
  if ((msg.kind === 'config' || msg.kind === 'import' || msg.kind === 'data') && lab.info) {
    // The previous session is still there.
    lab.ready = true;
    setEnabled(true);
    training.setPlaying(false);
    endActivity();
  }
  // What the worker was loading when it failed: its last status ("Loading the WebAssembly core…").
  if (msg.kind === 'init') showStuck(startFailureText(`${failedStep(lab.activities.at(-1))}${msg.message}`));
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
export const workerHandlers = {
  status: (msg) => {
    if (msg.text) lab.activities.push(msg.text);
    if (lab.activities.length > 50) lab.activities.shift();
    if (msg.text) showActivity(msg.key || 'start', msg.text);
    else endActivity(msg.key);
    if (!lab.backend) $('stat-backend').textContent = 'starting…';
  },
  backend: (msg) => {
    Object.assign(lab, { backend: msg.backend, adapter: msg.adapter, cpuAdapter: msg.cpuAdapter, fallbackReason: msg.reason });
    run.lessonView?.setBackend(msg.backend);
    showBackend(msg, { lightActions, onCpuBackend: () => switchBackend('cpu'), onWebGpu: () => switchBackend('webgpu') });
  },
  ready: onReady,
  progress: onProgress,
  samples: onSamples,
  draws: (msg) => {
    draws.render(msg);
    lab.draws = { level: msg.level, step: msg.step, classes: Object.fromEntries(msg.items.map((i) => [i.spec, i.classes])) };
  },
  scenarios: (msg) => {
    buildScenarioButtons(msg.list, { onPick: startScenario, onFree: freePlay });
    // view.scenario is the preset's name once the worker has applied it (the 'scenario' message).
    markScenario(view.scenario);
  },
  scenario: onScenario,
  metricsBusy: (msg) => {
    $('metrics-status').textContent = `Measuring ${msg.n} samples per sampler…`;
    lab.measuring = true;
    lab.measureProgress = null;
    if (run.lessonView?.revealed && lab.verdict?.run !== lab.run) run.lessonView.status(`Measuring ${msg.n} samples per sampler at step ${lab.step}…`);
    $('panel-metrics').classList.add('busy');
  },
  metricsProgress: (msg) => {
    lab.measureProgress = msg;
    const part = `sampler ${msg.index + 1} of ${msg.of}, ${Math.round(msg.done * 100)}%`;
    $('metrics-status').textContent = `Measuring ${msg.n} samples per sampler… (${part})`;
  },
  metrics: (msg) => {
    lab.measuring = false;
    lab.measureProgress = null;
    renderMetrics(msg, lab);
  },
  verdict: (msg) => {
    if (msg.run !== lab.run) return; // a session since replaced
    lab.verdict = msg;
    run.lessonView?.showVerdict(msg);
  },
  metricsSkipped: () => {
    lab.measuring = false;
    lab.measureProgress = null;
    lab.metricsSkipped++;
    $('panel-metrics').classList.remove('busy');
    $('metrics-status').textContent = `Measurement postponed for training or an export (every ${view.me || '–'} steps, on pause, or “Measure now”).`;
  },
  paused: (msg) => training.paused(msg.step),
  stopped: (msg) => {
    training.stopped();
    if (run.lessonView) run.lessonView.status(`Trained ${msg.step} steps; measuring the samples next…`);
    else banner('stopped', 'info', `Paused at step ${msg.step}: the end of this scenario's training budget. Press Play to keep training.`);
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
    run.customData = run.pendingData.get(msg.id) ?? run.customData;
    // This load and any before it are answered.
    for (const id of run.pendingData.keys()) if (id <= msg.id) run.pendingData.delete(id);
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
  deviceLost: (msg) => training.crashed(`the GPU device was lost (${msg.reason}${msg.message ? `: ${msg.message}` : ''})`, { deviceLost: true }),
  resumeFailed: (msg) => training.resumeFailed(msg.reason),
  fatal: (msg) => training.crashed(msg.message),
};
