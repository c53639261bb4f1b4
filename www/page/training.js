// The training run as the page sees it: the worker (started, restarted after a crash or a change
// of settings, moved to the CPU backend), whether it should be playing (this is the one owner of
// that state), and the autosaves that keep the run. It reads and changes the page's state
// (www/page/store.js), talks to the worker through www/page/worker-client.js and clears the run's
// views (www/page/views.js) when the run restarts.

import { deleteAutosave, keepAside, loadAutosave, storeAutosave } from './autosave.js';
import { banner, clearBanner, errorBanner } from './banners.js';
import { showPlaying, setEnabled } from './controls.js';
import { ago, escapeHtml } from './format.js';
import { downloadFile } from './files.js';
import { trainConfig } from './state.js';
import { startFailureText } from './start-failure.js';
import { showActivity, showStuck } from './stats.js';
import { LIGHT, cfg, displaySettings, isCurrent, isLight, lab, lighten, run, saveKey, useBackend, view, writeUrl } from './store.js';
import { charts, clearRunViews } from './views.js';
import { worker } from './worker-client.js';

const $ = (id) => document.getElementById(id);
const AUTOSAVE_MS = 30000;
/** This page load, in its saves: another tab's save of the same settings is not silently overwritten. */
const TAB = Math.random().toString(36).slice(2);

/** The worker's init message (config, display, backend, scenario, data) for the current settings. */
const initMessage = () => ({ config: trainConfig(cfg), ideal: cfg.ideal, display: displaySettings(), backend: view.backend, scenario: view.scenario, lesson: view.lesson, fromCheckpoint: run.lessonFromCheckpoint, data: run.customData, probe: run.probe });
/** The worker's reset message for the current settings. */
const resetMessage = (checkpoint) => ({ type: 'reset', config: trainConfig(cfg), ideal: cfg.ideal, display: displaySettings(), checkpoint, scenario: view.scenario, lesson: view.lesson, fromCheckpoint: run.lessonFromCheckpoint });
/** Whether this run is autosaved: scenario runs are short presets (maybe two models), not autosaved. */
const autosaving = () => !view.scenario;
/** Whether a restart continues from the autosave of the new settings. */
const resuming = () => view.resume && !view.scenario;

/** The run's worker, its play state and its autosaves; one instance, `training`. */
class Training {
  constructor() {
    this.wantPlaying = false;
    this.crashTimes = [];
    this.switchingBackend = false;
    this.lastSavedStep = -1;
    this.lastSaveAt = 0;
    this.restarts = 0; // counts restarts: only the newest one continues after its await
    this.discardedRun = null; // the run Reset discarded: its autosaves in flight are dropped
    this.keeping = Promise.resolve(); // an unusable save being put aside before any new save
    this.deviceLosses = 0;
    this.overwrite = new Set(); // keys whose other tab's save the user chose to overwrite
    setInterval(() => {
      if (this.wantPlaying && Date.now() - this.lastSaveAt > AUTOSAVE_MS) {
        this.lastSaveAt = Date.now();
        this.requestAutosave();
      }
      if (this.lastSaveAt && lab.autosaves) $('autosave-status').textContent = `Autosaved at step ${this.lastSavedStep}, ${ago(this.lastSaveAt)} (in this browser).`;
    }, 1000);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.requestAutosave();
    });
  }

  get running() {
    return worker.running;
  }

  post(msg, transfer) {
    worker.post(msg, transfer);
  }

  /** Show (and remember) whether training runs; the worker is told by play()/pause(). */
  setPlaying(p) {
    lab.playing = p;
    showPlaying(p, lab.ready);
  }

  play() {
    lab.pausedStep = null;
    // At once on the click; the worker says what it does once the first frame starts.
    if (lab.step === 0 && lab.times.firstStep == null) showActivity('step', 'Starting to train…');
    this.wantPlaying = true;
    this.post({ type: 'play' });
    this.setPlaying(true);
  }

  pause() {
    this.wantPlaying = false;
    this.post({ type: 'pause' });
    this.setPlaying(false);
  }

  /**
   * The worker's loop has stopped and drawn `step`. A frame in flight when Pause arrived may have
   * trained past the step shown at the click, so the autosave is asked for here, not at the click.
   */
  paused(step) {
    lab.pausedStep = step;
    this.requestAutosave();
  }

  /** The worker stopped on its own (end of a budget, an error): reflect it. */
  stopped() {
    this.wantPlaying = false;
    this.setPlaying(false);
  }

  /** A fresh worker; `resumeBytes`: a checkpoint to continue from. */
  start({ resumeBytes = null, autoplay = false } = {}) {
    lab.ready = false;
    setEnabled(false);
    worker.start({ ...initMessage(), checkpoint: resumeBytes, autoplay });
    if (autoplay) {
      this.wantPlaying = true;
      this.setPlaying(true);
    }
  }

  /**
   * The worker died (a wasm trap, a lost device): restart from the autosave, twice a minute at
   * most; then offer ways out instead. A second lost GPU device moves the run to the CPU backend.
   */
  async crashed(reason, { deviceLost = false } = {}) {
    const now = Date.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < 60000);
    this.crashTimes.push(now);
    const wasPlaying = this.wantPlaying;
    this.stopped();
    if (deviceLost && ++this.deviceLosses >= 2 && lab.backend === 'webgpu') {
      // The worker's device is gone, so nothing can be exported from it: the CPU backend takes over
      // from the last autosave.
      this.crashTimes = [];
      useBackend('cpu');
      const saved = await loadAutosave(saveKey());
      // Kept after the restart (the crash banner goes once the run is ready): why the backend changed.
      banner('device-lost', 'warn', `<b>The GPU device was lost again</b> (${escapeHtml(reason)}), so training continues on the CPU backend ${saved ? `from the last autosave (step ${saved.step})` : 'from scratch'}. Reload with <code>backend=webgpu</code> in the address to try WebGPU again.`);
      charts.clearLoss();
      this.start({ resumeBytes: saved ? saved.bytes : null, autoplay: wasPlaying });
      return;
    }
    if (this.crashTimes.length > 2) {
      worker.stop();
      // No session ever started: the status line still says what it was loading.
      if (!lab.readyVersion) showStuck(startFailureText(reason));
      errorBanner('crash', `Training stopped: ${reason}. It failed repeatedly, so it was not restarted. Your autosave is kept.`, {
        actions: this.waysOut(),
      });
      return;
    }
    const saved = await loadAutosave(saveKey());
    errorBanner('crash', `Training stopped: ${reason}. Restarting ${saved ? `from the last autosave (step ${saved.step})` : 'from scratch'}…`);
    charts.clearLoss();
    this.start({ resumeBytes: saved ? saved.bytes : null, autoplay: wasPlaying });
  }

  /** Banner actions after repeated crashes: without the autosave, the CPU backend, lighter settings. */
  waysOut() {
    return [
      { label: 'Start without the autosave (it is kept aside)', onClick: () => this.restartWorker({ resume: false }) },
      ...(view.backend === 'cpu' ? [] : [{ label: 'Train on the CPU backend', onClick: () => ((view.backend = 'cpu'), writeUrl(), this.restartWorker()) }]),
      ...(isLight() ? [] : [{ label: `Lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`, onClick: () => (lighten(), this.restartWorker()) }]),
    ];
  }

  /**
   * A new worker after the crashes stopped (a way out chosen in the banner), for the current
   * settings: resumed from their autosave, or, with `resume: false`, fresh, the save being kept
   * aside first so the fresh run cannot overwrite it.
   */
  async restartWorker({ resume = true } = {}) {
    clearBanner('crash');
    this.crashTimes = [];
    const saved = await loadAutosave(saveKey());
    if (!resume && saved) await keepAside(saved).catch(() => {});
    charts.clearLoss();
    this.start({ resumeBytes: resume && saved ? saved.bytes : null, autoplay: false });
  }

  /**
   * New settings: save the run being left, then a session for the current settings (resumed from
   * its autosave unless `fresh`). Settings changed again before the save is read: only the newest
   * restart goes on, so a stale one never starts a session (or resumes a stale save).
   * `discard`: Reset: the run being left is dropped, and so are its autosaves still in flight.
   * `fromSave`: continue from the current settings' save even where the URL says resume=0.
   */
  async restart({ fresh = false, discard = false, fromSave = false } = {}) {
    if (!this.running) return;
    const wasPlaying = this.wantPlaying;
    const restart = ++this.restarts;
    if (discard) this.discardedRun = lab.run;
    else this.saveLeaving();
    this.post({ type: 'pause' });
    lab.ready = false;
    setEnabled(false);
    clearRunViews();
    showActivity('start', 'Restarting…');
    const saved = fromSave || (!fresh && resuming()) ? await loadAutosave(saveKey()) : null;
    if (restart !== this.restarts) return; // settings changed again meanwhile: the newer restart goes on
    lab.restarts++;
    this.post(resetMessage(saved ? saved.bytes : null));
    this.wantPlaying = wasPlaying;
  }

  /**
   * Continue the run on another backend (the caller has set it in the URL state): save it, then
   * restart the worker from those bytes.
   */
  switchBackend() {
    if (lab.ready && lab.step > 0) {
      this.switchingBackend = true;
      this.post({ type: 'pause' });
      this.post({ type: 'export', reason: 'autosave' });
    } else {
      this.start({ autoplay: this.wantPlaying });
    }
  }

  /**
   * The run about to be replaced (new settings, an import, other data) is saved first, unless it
   * was a scenario run (`lab.scenario`: what runs now, where the settings may already name the
   * next scenario) or is saved at this step already.
   */
  saveLeaving() {
    if (lab.ready && lab.step > 0 && lab.step !== this.lastSavedStep && !lab.scenario) this.post({ type: 'export', reason: 'autosave' });
  }

  /**
   * Reset: the save of these settings goes with this tab's run, unless another tab (or an earlier
   * visit) saved more steps there: that run is not this tab's to discard.
   */
  async discardSave(key) {
    const saved = await loadAutosave(key);
    if (!saved) return;
    if (saved.tab !== TAB && saved.step > lab.step) {
      banner('reset-kept', 'info', `Reset this tab's run. The save of these settings at step ${saved.step}, from another tab or an earlier visit, is kept.`);
      return;
    }
    await deleteAutosave(key);
  }

  requestAutosave() {
    if (!autosaving() || !lab.ready || lab.step === this.lastSavedStep || lab.step === 0) return;
    this.post({ type: 'export', reason: 'autosave' });
  }

  /** A resumed run: its autosave is already there. */
  resumedAt(step) {
    this.lastSavedStep = step;
  }

  /**
   * The autosave of this configuration could not be resumed (`reason`): put it aside under its
   * own key before the fresh run saves anything, and offer to download it.
   */
  resumeFailed(reason) {
    const key = saveKey();
    this.keeping = this.keeping.then(async () => {
      const saved = await loadAutosave(key);
      if (!saved) return;
      let kept = false;
      try {
        await keepAside(saved);
        kept = true;
        // Kept aside: the fresh run may now save under this key (the copy is not touched).
        await deleteAutosave(key);
      } catch {
        /* the download below still offers the bytes */
      }
      lab.keptAside = { step: saved.step, kept };
      const name = `denoise-lab-${saved.config?.model ?? 'run'}-step${saved.step}-unresumable.ckpt`;
      banner('resume-failed', 'warn', `<b>The autosaved run (step ${saved.step}) could not be resumed</b>: ${escapeHtml(reason)}. A fresh run started; the old save is ${kept ? 'kept aside in this browser' : 'still here'} and will not be overwritten.`, {
        actions: [{ label: 'Download the old save', onClick: () => downloadFile(saved.bytes, name) }],
      });
    });
  }

  /** Checkpoint bytes from the worker for an autosave (or a switch of backend). */
  async autosaved(msg) {
    if (this.switchingBackend) {
      this.switchingBackend = false;
      charts.clearLoss();
      this.start({ resumeBytes: msg.bytes.slice(), autoplay: this.wantPlaying });
    }
    if (msg.run != null && msg.run === this.discardedRun) return; // Reset: that run is gone
    await this.keeping;
    const key = saveKey(msg.config);
    try {
      if (!this.overwrite.has(key)) {
        // Two tabs on the same settings: a save with more steps from another tab is not replaced
        // without asking.
        const other = await loadAutosave(key);
        if (other && other.tab !== TAB && other.step > msg.step) {
          lab.saveConflict = { theirs: other.step, ours: msg.step };
          banner('save-conflict', 'warn', `<b>Another tab (or an earlier visit) saved these settings at step ${other.step}</b>; this tab is at step ${msg.step}, so its autosave did not replace that one.`, {
            actions: [
              { label: 'Save this tab’s run over it', onClick: () => (clearBanner('save-conflict'), this.overwrite.add(key), this.autosaved(msg)) },
              { label: 'Continue from that save', onClick: () => (clearBanner('save-conflict'), this.restart({ discard: true, fromSave: true })) },
            ],
          });
          return;
        }
      }
      requestPersistence();
      const dropped = await storeAutosave({ key, bytes: msg.bytes, step: msg.step, config: msg.config, savedAt: Date.now(), tab: TAB });
      if (dropped.length) {
        lab.savesDropped = dropped;
        const runs = dropped.length === 1 ? 'the autosave of one other run' : `the autosaves of ${dropped.length} other runs`;
        banner('autosave', 'warn', `<b>This browser's storage for the page was full</b>: ${runs} (other settings or data) had to be deleted to save this one. Use “Export checkpoint” to keep a run as a file.`);
      }
    } catch (e) {
      banner('autosave', 'warn', `Autosave failed: ${escapeHtml(e.message || e)}. Use “Export checkpoint” to keep your work.`);
      return;
    }
    lab.autosaves++;
    if (isCurrent(msg.config)) {
      this.lastSavedStep = msg.step;
      this.lastSaveAt = Date.now();
      $('autosave-status').textContent = `Autosaved at step ${msg.step} (in this browser).`;
    }
  }
}

/** The page's training run. */
export const training = new Training();

let persistenceAsked = false;
/** Ask once that this site's storage (the autosaves) be kept under storage pressure. */
function requestPersistence() {
  if (persistenceAsked) return;
  persistenceAsked = true;
  navigator.storage?.persist?.().catch(() => {});
}
