// The worker's run: the wasm core, the session it trains (a run of one or more models, see
// src/session.rs), its configurations, data and display settings, and the passes over it that the
// scheduler (www/worker/scheduler.js) orders: a training frame, a drawing pass, a measuring pass,
// an export, and the commands that start a new session (init, reset, import, other data).

import { errorText, isFatal } from './errors.js';
import { freeCore, loadCore } from './core.js';
import { Drawer, canDraw } from './drawer.js';
import { FrameTimer } from './frame-timer.js';
import { LESSONS, WORK_LIMITS } from '../shared/limits.js';
import { chooseBackend, probeWebGpu } from '../shared/webgpu.js';
import { MetricsRunner } from './metrics.js';
import { SampleRunner, drawsPass, samplerSpecs } from './sampling.js';
import { Sessions } from './session.js';
import { TimeShare } from './time-share.js';
import { dataset, fetchBytes, loadBundled } from './data.js';

const LIGHT_METRICS_N = 32;
/** The fewest rows of a lighter redraw while playing, and how long the grids may wait for them (see `drawRows`). */
const LIGHT_ROWS = 3;
const LIGHT_STALE_MS = 20000;

/** The models of a free-play run: `main`, and Φ* beside a denoiser when `ideal`. */
function freePlay(main, ideal) {
  return ideal && main.model === 'denoiser' ? [main, { ...main, model: 'universal' }] : [main];
}

export class Run {
  /** `post(msg, transfer)`: to the page. */
  constructor(post) {
    this.post = post;
    this.wasm = null; // the core's JS bindings
    this.module = null; // the core's compiled WebAssembly.Module (the drawing worker instantiates it too)
    this.sessions = null; // creates sessions on this worker's backend
    this.session = null; // the run: its main model first
    this.id = 0; // counts sessions: an export names the run it comes from
    this.configs = null; // the run's TrainConfigs, main model first (a scenario may compare several)
    this.scenario = null; // the quiz scenario applied (src/scenario.rs), if any
    this.lesson = null; // the lesson shown (src/lesson.rs, www/shared/limits.js LESSONS), if any
    this.data = null; // {images, labels, name, digits, n, h, w}
    this.display = { samples: 6, columns: 11, seed: 1, sigma: null, forwardRows: 4, show: null, metricsN: 100, metricsEvery: 200, stopAt: null, sampleEvery: null };
    this.cpuAdapter = false;
    this.step = 0;
    this.trainedIn = new WeakSet(); // sessions that have trained a frame (their shaders are compiled)
    this.timer = new FrameTimer();
    this.drawing = new SampleRunner(post);
    this.metrics = new MetricsRunner(post);
    this.share = new TimeShare();
    // The drawing worker beside training on the CPU backend (www/worker/drawer.js).
    this.drawer = new Drawer(
      (drawn, transfer) => this.post(drawn, transfer),
      (message) => this.post({ type: 'warning', message }),
      (ms, rows) => this.share.cost('draw', ms, rows),
    );
  }

  // --- the commands that start a session ----------------------------------------------------------
  // Each returns true when a new session runs (the page was told `ready`: the caller runs the load
  // pass), false when the old one stays (the page was told why).

  /**
   * Load the core, choose the backend (from the page's adapter probe when `init` carries one),
   * load the data and start the first session (resumed from `msg.checkpoint` if given).
   */
  async start(msg) {
    this.configs = freePlay(msg.config, msg.ideal);
    this.display = { ...this.display, ...(msg.display || {}) };
    this.post({ type: 'status', text: 'Loading the WebAssembly core…' });
    ({ core: this.wasm, module: this.module } = await loadCore());
    this.post({ type: 'scenarios', list: this.wasm.scenarios() });
    this.setLesson(msg.lesson);
    if (msg.scenario) this.applyScenario(msg.scenario);
    const classifierLoad = this.metrics.loadClassifier(fetchBytes);
    let probe = msg.backend === 'cpu' ? await probeWebGpu(true) : msg.probe;
    if (!probe) {
      this.post({ type: 'status', text: 'Looking for a WebGPU adapter…' });
      probe = await probeWebGpu(false);
    }
    const choice = chooseBackend(probe, msg.backend);
    this.sessions = new Sessions(this.wasm, choice.backend, this.post);
    this.cpuAdapter = !!probe.cpuAdapter;
    this.post({ type: 'backend', backend: this.sessions.backend, adapter: probe.adapter || null, cpuAdapter: this.cpuAdapter, reason: choice.reason });
    this.post({ type: 'status', text: 'Loading the bundled MNIST digits…' });
    this.data = await loadBundled(this.wasm);
    if (msg.data && msg.data.images) {
      // A restarted worker keeps the user's data.
      try {
        this.data = dataset(this.wasm, msg.data);
      } catch {
        /* keep the bundled data */
      }
    }
    this.post({ type: 'status', text: this.sessions.backend === 'webgpu' ? 'Starting WebGPU (compiling shaders)…' : 'Starting the CPU backend…' });
    const resumed = msg.checkpoint ? await this.resume(msg.checkpoint) : null;
    const lessonRun = !resumed && msg.fromCheckpoint ? await this.openLesson() : null;
    this.replaceSession(resumed || lessonRun || (await this.sessions.create(this.configs, this.data)));
    await classifierLoad;
    this.announce({ resumed: resumed ? { step: this.session.currentStep, history: this.sessions.savedHistory(msg.checkpoint) } : null });
    return true;
  }

  /** New settings: a session for them, resumed from `msg.checkpoint` if it can be. */
  async reset(msg) {
    if (msg.display) this.display = { ...this.display, ...msg.display };
    const before = this.configs;
    this.configs = freePlay(msg.config, msg.ideal);
    this.setLesson(msg.lesson);
    this.scenario = null;
    if (msg.scenario) this.applyScenario(msg.scenario);
    if (msg.fromCheckpoint && !msg.checkpoint) {
      const opened = await this.openLesson();
      if (opened) {
        this.replaceSession(opened);
        this.announce({ reset: true });
        return true;
      }
    }
    if (msg.checkpoint) {
      const resumed = await this.resume(msg.checkpoint);
      if (resumed) {
        this.replaceSession(resumed);
        this.announce({ resumed: { step: this.session.currentStep, history: this.sessions.savedHistory(msg.checkpoint) } });
        return true;
      }
    }
    let next;
    try {
      next = await this.sessions.create(this.configs, this.data);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.configs = before;
      this.post({ type: 'error', kind: 'config', message: `Could not start with this configuration: ${errorText(e)}` });
      return false;
    }
    this.replaceSession(next);
    this.announce({ reset: true });
    return true;
  }

  /** A checkpoint from the user: `importMismatch` unless it fits the settings or `msg.adopt`. */
  async import(msg) {
    let meta;
    try {
      meta = this.sessions.info(msg.bytes);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'import', message: `This file is not a usable denoise-lab checkpoint: ${errorText(e)}` });
      return false;
    }
    const cur = this.session.info().config;
    const mismatch = meta.config.model !== cur.model || meta.config.levels !== cur.levels;
    if (mismatch && !msg.adopt) {
      this.post({ type: 'importMismatch', meta, current: { model: cur.model, levels: cur.levels } });
      return false;
    }
    // The imported model, with Φ* beside it if it was shown (not a scenario's other models).
    const alongside = this.configs.slice(1).filter((c) => c.model === 'universal' && meta.config.model === 'denoiser');
    let next;
    try {
      next = await this.sessions.open(msg.bytes, this.data, msg.adopt ? meta.config : cur, alongside.map((c) => ({ ...meta.config, model: c.model })));
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'import', message: `Could not import the checkpoint: ${errorText(e)}` });
      return false;
    }
    this.replaceSession(next);
    this.configs = this.session.info().models;
    this.announce({ imported: { step: this.session.currentStep, name: msg.name || null, history: meta.history || [] } });
    return true;
  }

  /** The user's IDX files: validated, then a fresh session on them. */
  async loadData(msg) {
    let candidate;
    try {
      candidate = dataset(this.wasm, { images: msg.images, labels: msg.labels, name: msg.name || 'your data' });
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'data', id: msg.id, message: `Could not read ${msg.name || 'this data'}: ${errorText(e)}. Still using ${this.data.name}.` });
      return false;
    }
    let next;
    try {
      next = await this.sessions.create(this.configs, candidate);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'data', id: msg.id, message: `Could not train on ${candidate.name}: ${errorText(e)}. Still using ${this.data.name}.` });
      return false;
    }
    this.data = candidate;
    this.replaceSession(next);
    const d = this.data;
    this.post({ type: 'dataLoaded', id: msg.id, name: d.name, n: d.n, h: d.h, w: d.w, labels: !!d.labels });
    this.announce({ reset: true });
    return true;
  }

  /**
   * A quiz scenario by name: its models (main first), the samplers its panels show and where its
   * training stops. Applied to `configs` and `display`, and told to the page; false if unknown.
   */
  applyScenario(name) {
    let sc;
    try {
      sc = this.wasm.scenario(name);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'warning', message: errorText(e) });
      return false;
    }
    this.scenario = sc;
    this.configs = sc.models;
    this.display.show = [...new Set(sc.panels.map((p) => p.spec))];
    this.display.stopAt = sc.steps;
    this.post({ type: 'scenario', scenario: sc, show: this.display.show, stopAt: sc.steps });
    return true;
  }

  /** The lesson named `name` (null: none); its scenario is applied by the caller. */
  setLesson(name) {
    this.lesson = name ? LESSONS.find((l) => l.name === name) || null : null;
  }

  /**
   * The lesson's models from its bundled checkpoints (www/data/lessons/, copied from
   * tests/fixtures by scripts/build-web.sh): the main model and any trained model beside it; a
   * computed one (Φ*) is built. Null, with an error, if they cannot be fetched or opened.
   */
  async openLesson() {
    const lesson = this.lesson;
    if (!lesson || !lesson.checkpoints[0]) return null;
    const [main, ...alongside] = this.configs;
    this.post({ type: 'status', key: 'lesson', text: `Loading the lesson's trained model${lesson.checkpoints.filter(Boolean).length > 1 ? 's' : ''}…` });
    try {
      const fetchOne = (file) => (file ? fetchBytes(new URL(`../data/lessons/${file}`, import.meta.url).href, `the lesson's checkpoint ${file}`) : null);
      const [bytes, ...others] = await Promise.all(lesson.checkpoints.map(fetchOne));
      return await this.sessions.open(bytes, this.data, { model: main.model, levels: main.levels }, alongside, others);
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'import', message: `Could not load the lesson's trained models (${errorText(e)}): training from scratch instead.` });
      return null;
    } finally {
      this.post({ type: 'status', key: 'lesson', text: null });
    }
  }

  /**
   * The lesson's verdict on the last measurement (`verdict`): its figures, the scenario's panels
   * in order with real digits, judged by the core (src/lesson.rs `judge`).
   */
  judgeLesson() {
    const last = this.metrics.last;
    if (!this.lesson || !this.scenario || !last || last.session !== this.session) return;
    const missing = this.scenario.panels.filter((p) => !last.samplers[p.spec]);
    if (missing.length) return;
    const figures = { step: last.step, real: last.real, panels: this.scenario.panels.map((p) => ({ label: p.label, ...last.samplers[p.spec] })) };
    try {
      const verdict = this.wasm.judgeLesson(this.lesson.name, figures);
      this.post({ type: 'verdict', run: this.id, lesson: this.lesson.name, step: last.step, n: last.n, choice: verdict.choice, text: verdict.text });
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'error', kind: 'metrics', message: `No verdict for this lesson: ${errorText(e)}` });
    }
  }

  /** Resume `configs` from checkpoint bytes of its main model; null, with `resumeFailed`, if impossible. */
  async resume(bytes) {
    const [main, ...alongside] = this.configs;
    try {
      const s = await this.sessions.open(bytes, this.data, { model: main.model, levels: main.levels }, alongside);
      if (main.lr) s.setLearningRate(main.lr);
      return s;
    } catch (e) {
      if (isFatal(e)) throw e;
      this.post({ type: 'resumeFailed', reason: errorText(e) });
      return null;
    }
  }

  replaceSession(next) {
    if (this.session && this.session !== next) freeCore(this.session);
    this.session = next;
    this.id++;
    this.step = next ? next.currentStep : 0;
    this.timer.reset();
    this.share.reset();
    this.drawing.reset();
    this.drawer.close();
    this.metrics.forget(next);
    this.fitWork();
  }

  /** Tell the page what runs now (the load pass follows: www/worker/scheduler.js `loadPass`). */
  announce(extra) {
    const { session, data } = this;
    const info = session.info();
    const mean = session.meanImage();
    const realDiversity = session.realDiversity(Math.min(200, info.nHeldOut || 200));
    this.post({ type: 'ready', run: this.id, info, meanImage: mean, realDiversity, data: { name: data.name, n: data.n, h: data.h, w: data.w, digits: data.digits }, ...extra }, [mean.buffer]);
    this.post({ type: 'status', key: 'draw', text: `Drawing the samples of the ${info.step ? `model at step ${info.step}` : 'untrained model'}…` });
  }

  // --- settings -----------------------------------------------------------------------------------

  setDisplay(display) {
    this.display = { ...this.display, ...(display || {}) };
    this.fitWork();
  }

  setLearningRate(lr) {
    this.session.setLearningRate(lr);
    for (const c of this.configs) c.lr = lr;
  }

  /**
   * The core's bounds on work (WORK_LIMITS, src/limits.rs) for this session's L, which an imported
   * checkpoint sets: the page bounded its rows and metric samples for the L of its URL, so a
   * checkpoint with more levels could otherwise draw L × rows past them.
   */
  fitWork() {
    if (!this.session) return;
    const display = this.display;
    const info = this.session.info();
    const levels = info.levels;
    // Memory (SAMPLE_MEMORY): a model's shown samplers draw their rows together; Φ* has no channels.
    const channels = Math.max(1, ...info.models.filter((m) => m.model !== 'universal').map((m) => m.base_channels));
    const perChain = channels * info.height * info.width;
    const together = Math.max(1, ...this.session.samplerGroups.map((g) => g.length));
    const chains = Math.floor(WORK_LIMITS.sample_memory.max / perChain);
    const rows = Math.max(1, Math.min(Math.floor(WORK_LIMITS.draw.max / levels), Math.floor(chains / together)));
    const n = Math.max(1, Math.min(Math.floor(WORK_LIMITS.metrics.max / levels), chains));
    const cut = [];
    const bounds = `${WORK_LIMITS.draw.label} ≤ ${WORK_LIMITS.draw.max}, ${WORK_LIMITS.sample_memory.label} ≤ ${WORK_LIMITS.sample_memory.max}`;
    if (display.samples > rows) cut.push(`${rows} rows instead of ${display.samples}`);
    if (display.metricsN > n) cut.push(`${n} samples for the metrics instead of ${display.metricsN}`);
    if (!cut.length) return;
    display.samples = Math.min(display.samples, rows);
    display.metricsN = Math.min(display.metricsN, n);
    this.post({ type: 'warning', message: `This run has L = ${levels}, ${channels} channels and ${info.height}×${info.width} images: drawing ${cut.join(' and ')} (${bounds}).` });
  }

  /** Samples per sampler for the metrics: fewer on the CPU (fallback or an emulated adapter) unless the URL says how many. */
  metricsN() {
    const light = this.sessions.backend === 'cpu' || this.cpuAdapter;
    return light && !this.display.metricsNExplicit ? Math.min(this.display.metricsN, LIGHT_METRICS_N) : this.display.metricsN;
  }

  // --- passes -------------------------------------------------------------------------------------

  /**
   * Train one frame (`requested` steps, or as many as fit the frame time) and report it:
   * `{trained}`, or `{failed, step}` when the flush failed (the scheduler says how).
   */
  async trainFrame(requested) {
    const s = this.session;
    if (!s) return { trained: false };
    const display = this.display;
    // A session's first frame compiles its shaders (WebGPU) or warms up: say so while it runs (the
    // page's progress message ends it), also when the run plays on load.
    if (!this.trainedIn.has(s)) this.post({ type: 'status', key: 'step', text: this.sessions.backend === 'webgpu' ? 'First training step: WebGPU compiles its shaders on first use…' : 'First training step…' });
    let k = requested ?? this.timer.nextSteps();
    if (requested == null && display.stopAt) k = Math.max(1, Math.min(k, display.stopAt - this.step));
    // With a fixed sampling interval, a frame ends exactly where the next drawing is due.
    // (Not while a drawing due waits for training's share: then frames go on at their own size.)
    if (requested == null && display.sampleEvery && this.drawing.stepsSince < display.sampleEvery) k = Math.min(k, display.sampleEvery - this.drawing.stepsSince);
    const t0 = performance.now();
    s.step(k);
    let report;
    try {
      report = await s.flush();
    } catch (e) {
      return { failed: e, step: s.currentStep };
    }
    const dt = performance.now() - t0;
    this.trainedIn.add(s);
    if (this.session !== s) return { trained: false };
    this.share.record('train', t0, t0 + dt);
    const speed = this.timer.record(k, dt, report.step, performance.now());
    this.drawing.trained(k);
    this.metrics.trained(k);
    this.step = report.step;
    const [other] = report.others;
    this.post({ type: 'progress', companion: other || null, step: report.step, steps: report.steps, levelLoss: report.levelLoss, ...speed, stepsPerFrame: k, frameMs: dt, hostMs: report.hostMs, trainingShare: this.share.trainingShare(performance.now()) });
    return { trained: true };
  }

  /**
   * Every grid: the forward process (if `withForward`), the samplers' chains, then problem 2's
   * draws view (see SampleRunner.draw for `rows`, `together` and `giveWay`). Its time counts
   * against training's share while `playing()`, else only its cost (per row drawn, so that a
   * lighter redraw can be sized).
   */
  async draw({ withForward, rows = this.display.samples, together, giveWay, playing }) {
    const t0 = performance.now();
    const done = await this.drawing.draw(this.session, this.display, withForward, giveWay, { together, rows });
    if (done && rows === this.display.samples) await this.drawsPass();
    if (playing()) this.share.record('draw', t0, performance.now(), rows, done);
    else if (done) this.share.cost('draw', performance.now() - t0, rows);
  }

  /** Problem 2's view of the current session. */
  drawsPass() {
    // Digit classes of the ends: only on the bundled digits (null: not applicable).
    const classify = (px) => (this.data.digits ? this.metrics.classify(this.session, px) : null);
    return drawsPass(this.session, this.display, classify, this.post);
  }

  /**
   * One measuring pass over every sampler shown (see MetricsRunner.measure): true when complete,
   * false when it gave way, undefined without a session. Outside playing, a complete pass tells
   * the time share its cost; while playing the loop records its time.
   */
  async measure({ giveWay, playing }) {
    const session = this.session;
    if (!session) return undefined;
    const t0 = performance.now();
    const done = await this.metrics.measure({
      wasm: this.wasm,
      session,
      specs: samplerSpecs(session, this.display),
      n: this.metricsN(),
      seed: this.display.seed,
      digits: this.data.digits,
      current: () => this.session,
      giveWay,
    });
    if (done && !playing()) this.share.cost('measure', performance.now() - t0);
    if (done) this.judgeLesson();
    return done;
  }

  /** The main model's checkpoint bytes -> `exported`, with the run they come from. */
  async export(msg) {
    if (!this.session) return;
    const bytes = await this.session.export();
    const info = this.session.info();
    this.post({ type: 'exported', run: this.id, reason: msg.reason || 'user', bytes, step: info.step, config: info.config, backend: this.sessions.backend }, [bytes.buffer]);
  }

  // --- what the training loop asks ----------------------------------------------------------------

  /**
   * The grids are drawn by a drawing worker beside training (www/worker/drawer.js): on the CPU
   * backend, which trains on one core, when the machine has another, unless the URL fixes the
   * drawing interval (`se`: the training worker draws every row every `se` steps, as asked).
   */
  drawsBeside() {
    return this.sessions?.backend === 'cpu' && !this.display.sampleEvery && canDraw() && !this.drawer.failed;
  }

  /**
   * After a frame while playing: the drawing worker (started on first use) gets the weights of
   * now if it is idle, to draw them, or to measure them when a measurement is due (every `me`
   * steps).
   */
  async feedDrawer() {
    if (!this.session || !this.drawsBeside()) return;
    this.drawer.start(this.module);
    const measure = this.measureWaiting() ? { n: this.metricsN(), digits: this.data.digits, every: this.display.metricsEvery } : null;
    await this.drawer.offer(this.id, this.session, this.data, this.display, measure);
  }

  /** The loop stopped: the drawing worker's grids no longer reach the page. */
  closeDrawer() {
    this.drawer.close();
  }

  /** Playing again after a pause: the time share's window starts again. */
  resumeShare() {
    this.share.resume();
  }

  /**
   * Rows of the drawing due while playing at `now` (0: none): when due, and only while training
   * keeps its share of the time: as many rows as fit it (all, else half, ..., one row; the pass at
   * pause draws them all). A fixed sampling interval, `se` in the URL, draws every row every `se`
   * steps, within training's share too: a due drawing that does not fit it waits (se = 1 at
   * L = 100 on the CPU backend would otherwise draw for seconds after every step).
   */
  drawRows(now) {
    const display = this.display;
    if (this.drawsBeside() && this.drawer.engaged) return 0; // the drawing worker draws
    if (!this.drawing.due(display)) return 0;
    const stale = now - this.drawing.lastAt > LIGHT_STALE_MS;
    if (display.sampleEvery) return stale || this.share.allows('draw', now, { units: display.samples }) ? display.samples : 0;
    // A measurement due goes first: the drawing waits for it (drawings fall due every 1.5 s and
    // would keep taking the time a measurement needs: in CI, on two cores shared with the native
    // tests, none started in 180 s of playing). Not once the grids are LIGHT_STALE_MS old.
    // A measurement too costly for any window of play (it waits for a pause) holds nothing back:
    // at the defaults without WebGPU, waiting for it kept the grids still for 20 s at a time.
    if (!stale && this.measureWaiting() && this.share.fitsAWindow('measure', this.measureEstimate())) return 0;
    const rows = this.share.largestFit('draw', now, display.samples);
    // A lighter redraw waits until LIGHT_ROWS rows fit: per row it costs less than one-row redraws
    // (a part of a drawing's cost is per level, whatever the rows), so the rotation covers every
    // row sooner. Not if its cost is unknown (one row measures it), nor once the grids have not
    // changed for LIGHT_STALE_MS.
    const least = Math.min(LIGHT_ROWS, display.samples);
    if (rows >= least || this.share.expected('draw') == null || stale) return rows;
    return 0;
  }

  /**
   * A measurement is due while playing at `now`, and training keeps its share with it. A
   * measuring pass never run is expected to cost the last drawing pass's cost per row times the
   * measurement's samples (the same chains, n samples per sampler instead of a few rows), so that
   * the first measurement while playing cannot take training's time unseen (measured in CI: one
   * 100-sample measurement at L = 100 on the CPU backend took training from 80% to 52% of the
   * minute).
   */
  measureDue(now) {
    if (!this.measureWaiting()) return false;
    if (this.drawsBeside() && this.drawer.engaged) return false; // the drawing worker measures
    return this.share.allows('measure', now, this.measureEstimate());
  }

  /** A measurement's cost before one has run: the drawing's per row, times its samples (`measureDue`). */
  measureEstimate() {
    return { basis: 'draw', factor: this.metricsN() };
  }

  /** A measurement is due (every `me` steps), whether or not the time share allows it yet. */
  measureWaiting() {
    return this.metrics.due(this.display.metricsEvery, this.session);
  }

  recordMeasure(start, end, complete) {
    this.share.record('measure', start, end, 1, complete);
  }

  /** The scenario's step budget is reached. */
  budgetReached() {
    return !!this.display.stopAt && this.step >= this.display.stopAt;
  }

  /** Steps were trained since the last drawing of every row. */
  undrawn() {
    return this.drawing.stepsSince > 0;
  }

  /** Steps were trained since the last measurement. */
  metricsStale() {
    return this.metrics.stale();
  }
}
