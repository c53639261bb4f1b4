// What the user can do to the run, and what the worker's messages ask of the page beyond showing
// them: change a setting, play, reset, start or leave a scenario, switch the model or the backend,
// lighten the run, import a checkpoint or other data. Each changes the state (www/page/store.js),
// shows it and tells the worker (www/page/training.js). www/page/app.js wires them to the controls
// at load; www/page/messages.js calls those the worker's messages lead to.

import { clearBanner, errorBanner } from './banners.js';
import { showConfig } from './controls.js';
import { readChecked } from './file-checks.js';
import { CVAE_MAX_LEVELS } from '../shared/limits.js';
import { markScenario, showScenarioCaption } from './scenario-panel.js';
import { LIGHT, cfg, displaySettings, isLight, lab, lighten, run, saveKey, useBackend, view, writeUrl } from './store.js';
import { training } from './training.js';

const $ = (id) => document.getElementById(id);

// ---- settings and transport --------------------------------------------------------------------

/** A setting that restarts the run (www/page/controls.js wireControls). */
export function changeSetting(key, value) {
  if (cfg[key] === value) return;
  cfg[key] = value;
  if (key === 'seed') run.displaySeed = cfg.seed;
  leaveScenario();
  showConfig(cfg);
  writeUrl();
  training.restart();
}

export function setLearningRate(lr) {
  cfg.lr = lr;
  writeUrl();
  if (lab.ready) training.post({ type: 'lr', lr });
}

/** The sampling noise (null: the posterior's): the samples are drawn again. */
export function setSigma(sigma) {
  cfg.sigma = sigma;
  showConfig(cfg);
  writeUrl();
  sendDisplay(true);
}

/** The Play/Pause button. */
export function togglePlay() {
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
}

export const stepOnce = () => lab.ready && training.post({ type: 'step', n: 1 });
export const exportCheckpoint = () => lab.ready && training.post({ type: 'export', reason: 'user' });
export const measure = () => lab.ready && training.post({ type: 'measure' });

/** New noise for the samples. */
export function resample() {
  run.displaySeed = (Math.random() * 2 ** 31) >>> 0;
  sendDisplay(true);
}

/** Reset: discard this run's autosave and train afresh with the same settings. */
export function startOver() {
  if (!training.running) return;
  training.discardSave(saveKey());
  training.restart({ fresh: true, discard: true });
}

/** Tell the worker what to draw and measure (www/page/store.js displaySettings); `resample`: draw again now. */
function sendDisplay(resample) {
  if (lab.ready) training.post({ type: 'display', display: displaySettings(), resample });
}

/** Train the other model (the pointer beside the sampler panels). */
export function switchModel(to) {
  cfg.model = to;
  if (to === 'cvae' && cfg.L > CVAE_MAX_LEVELS) {
    cfg.L = CVAE_MAX_LEVELS;
    cfg.a = null;
  }
  showConfig(cfg);
  writeUrl();
  training.restart();
}

// ---- a lesson (www/page/lesson.js) -------------------------------------------------------------

/**
 * Run the lesson: from its checkpoints, measure the trained models now (the verdict follows the
 * measurement); training live (a lesson without checkpoints, or after "from scratch"), play to
 * the scenario's budget, where the worker measures on its own.
 */
export function runLesson() {
  if (!lab.ready) return;
  if (lab.step >= (view.stop || 0) && lab.step > 0) {
    if (!lab.measuring && lab.verdict?.run !== lab.run) measure();
    return;
  }
  if (!training.wantPlaying) togglePlay();
}

/** Train the lesson's models from scratch (one click away from its checkpoints). */
export function lessonFromScratch() {
  run.lessonFromCheckpoint = false;
  lab.verdict = null;
  // Playing once the fresh run is ready (www/page/messages.js onReady plays when wanted).
  training.wantPlaying = true;
  training.restart({ fresh: true, discard: true });
}

// ---- scenarios ----------------------------------------------------------------------------------

export function startScenario(name) {
  view.scenario = name;
  view.show = null;
  view.stop = null;
  training.stopped();
  markScenario(name);
  writeUrl();
  training.restart({ fresh: true });
}

export function leaveScenario() {
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

/** "Free play": leave the scenario and train the settings it leaves. */
export function freePlay() {
  if (!view.scenario) return;
  leaveScenario();
  writeUrl();
  training.restart();
}

// ---- backend and lighter settings ---------------------------------------------------------------

/**
 * The banner's words and action about the size of the run: back to the full size when the page
 * started light, else a switch to LIGHT (offered when the run is larger than that).
 */
export function lightActions() {
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
  if (isLight()) return { dismissible: true };
  const label = `Use lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`;
  const onClick = () => {
    lighten();
    clearBanner('cpu-adapter');
    clearBanner('backend');
    training.restart();
  };
  return { dismissible: true, actions: [{ label, onClick }] };
}

/** Continue the run on `backend` ('cpu' or 'webgpu'), kept in the URL. */
export function switchBackend(backend) {
  useBackend(backend);
  training.switchBackend();
}

// ---- files --------------------------------------------------------------------------------------

/** Send checkpoint bytes to the worker; `adopt`: take its settings where they differ from the page's. */
export function sendImport(bytes, name, adopt = false) {
  run.pendingImport = { bytes, name }; // kept for "Switch to ..." until the import ends
  lab.importPending = true;
  training.saveLeaving();
  training.stopped();
  clearBanner('import');
  const copy = bytes.slice();
  training.post({ type: 'import', bytes: copy, name, adopt }, [copy.buffer]);
}

/** A checkpoint file chosen or dropped (www/page/files.js): checked, then imported. */
export async function importCheckpoint(file) {
  if (!lab.ready) return;
  let bytes;
  try {
    bytes = await readChecked(file, 'checkpoint');
  } catch (e) {
    errorBanner('import', `${file.name} is not a usable denoise-lab checkpoint: ${e.message}.`);
    return;
  }
  sendImport(bytes, file.name);
}

/** IDX images (and labels) to train on instead of the bundled digits. */
export function loadData(images, labels, name) {
  if (!lab.ready) return;
  // Each load by its number: two loads in quick succession end in order, and each answer names
  // its own (the page must not believe it trains on one file while the worker trains on another).
  const id = ++run.dataLoads;
  run.pendingData.set(id, { images, labels: labels || undefined, name });
  training.saveLeaving();
  training.stopped();
  clearBanner('data');
  training.post({ type: 'loadData', id, images: images.slice(), labels: labels ? labels.slice() : undefined, name });
}
