// The page's state, one instance per page load: the settings `cfg` and the view options `view`
// (both from the URL, www/page/state.js), what the page keeps between the worker's messages
// (`run`), and the test handle `lab` (www/page/lab.js). The URL mirrors cfg and view (writeUrl).
// Modules that read or change the state import it from here.

import { autosaveKey } from './autosave.js';
import { clearBanner } from './banners.js';
import { showConfig } from './controls.js';
import { createLab } from './lab.js';
import { parseQuery, toQuery, trainConfig, withQuery } from './state.js';
import { worker } from './worker-client.js';

const parsed = parseQuery(location.search);

/** The settings of the run (model, L, a, batch, ...), as the URL gives them. */
export const cfg = parsed.cfg;
/** How the page shows the run (rows, embed, scenario, backend, ...), as the URL gives them. */
export const view = parsed.view;
/** What the URL said that was not understood (defaults were used instead). */
export const urlProblems = parsed.problems;

/** What the page keeps between the worker's messages. */
export const run = {
  displaySeed: cfg.seed,
  customData: null, // {images, labels, name} when the user loaded their own IDX
  pendingData: new Map(), // load number -> {images, labels, name}: the user's IDX files sent to the worker, not yet in use
  dataLoads: 0, // counts loads of the user's data
  pendingImport: null,
  lightened: null, // {channels, batch} of the full size when the page started light on a CPU
  probe: null, // the WebGPU adapter probe of this load (www/shared/webgpu.js), sent in every `init`
  lessonFromCheckpoint: false, // a lesson's models start from its bundled checkpoints (else from scratch)
  lessonView: null, // the lesson shown (www/page/lesson.js LessonView), if any
};

/** The test handle (also `window.denoiseLab`); its test hooks post to the worker. */
export const lab = createLab({ cfg, view, post: (msg) => worker.post(msg) });

export function writeUrl() {
  history.replaceState(null, '', withQuery(location.href, toQuery({ cfg, view })));
}

const dataName = () => (run.customData ? run.customData.name : 'bundled');
/** The autosave key of a configuration (default: the current one) on the current data. */
export const saveKey = (config = trainConfig(cfg)) => autosaveKey(config, dataName());
/** Whether an exported configuration is the page's current one. */
export const isCurrent = (config) => config.model === cfg.model && config.levels === cfg.L;

/** What the worker draws and measures, and how often. */
export function displaySettings() {
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

// ---- lighter settings and the backend ------------------------------------------------------------

/** Settings that train at a few steps per second on a CPU (the full-size defaults need a GPU). */
export const LIGHT = { channels: 8, batch: 16 };
/** Whether the run is no larger than LIGHT. */
export const isLight = () => cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch;

/** The settings at most LIGHT (shown and in the URL; the caller restarts). */
export function lighten() {
  cfg.channels = Math.min(cfg.channels, LIGHT.channels);
  cfg.batch = Math.min(cfg.batch, LIGHT.batch);
  showConfig(cfg);
  writeUrl();
}

/** Continue the run on `backend` ('cpu': burn's CPU backend; 'webgpu': WebGPU even on a CPU adapter), kept in the URL (the caller restarts). */
export function useBackend(backend) {
  view.backend = backend;
  writeUrl();
  clearBanner('cpu-adapter');
  clearBanner('backend');
}
