// The sample metrics in the worker: the classifier (fetched once), a wasm `Metrics` per session
// (it embeds that session's held-out digits as the Fréchet reference), when to measure, and one
// measuring pass over every sampler shown.

import { freeCore } from './core.js';
import { errorText, isFatal } from './errors.js';
import { letMessagesIn } from './let-messages-in.js';

/** The time one chunk of a measurement may take before the worker lets its messages in (see `measureInChunks`). */
const CHUNK_MS = 100;

const CLASSIFIER_URL = new URL('../data/classifier.bin', import.meta.url).href;

export class MetricsRunner {
  /** `post(msg)`: to the page. */
  constructor(post) {
    this.post = post;
    this.classifierBytes = null;
    this.obj = null; // the wasm Metrics
    this.session = null; // the session `obj` belongs to (null: not built yet)
    this.problem = null; // why there are no metrics for this session
    this.real = null; // real digits measured like samples
    this.lastAt = 0;
    this.lastMs = 0;
    this.stepsSince = 0;
  }

  /** Fetch the classifier's weights (`fetchBytes(url, what)`); a failure is reported later. */
  async loadClassifier(fetchBytes) {
    try {
      this.classifierBytes = await fetchBytes(CLASSIFIER_URL, 'the digit classifier');
    } catch (e) {
      this.classifierBytes = null;
      this.problem = errorText(e);
    }
  }

  /** The trainer changed to `next`: the old session's Metrics goes. */
  forget(next) {
    if (this.session && this.session !== next) {
      freeCore(this.obj);
      this.obj = null;
      this.session = null;
      this.problem = null;
      this.real = null;
    }
    this.stepsSince = 0;
    this.lastAt = 0;
  }

  /** Class counts of `pixels` with this session's classifier, or null when there is none yet. */
  async classify(session, pixels) {
    if (this.session !== session || !this.obj) return null;
    return Array.from(await this.obj.classes(pixels));
  }

  trained(steps) {
    this.stepsSince += steps;
  }

  /** Steps were trained since the last measurement. */
  stale() {
    return this.stepsSince > 0;
  }

  /** Time to measure while training: every `every` steps (the worker also keeps training's share of time, www/worker/time-share.js). */
  due(every, session) {
    if (!every || this.stepsSince < every) return false;
    return !(this.session === session && !this.obj); // unavailable for this session
  }

  /** Build the Metrics for `session` if needed; false (and a message to the page) if impossible. */
  async ensure(wasm, session, n) {
    if (this.session === session) return this.obj != null;
    this.session = session;
    this.obj = null;
    this.real = null;
    if (!this.classifierBytes) {
      this.problem = this.problem || 'the digit classifier is not loaded';
    } else {
      try {
        this.obj = await wasm.Metrics.create(this.classifierBytes, session, 500);
        this.problem = null;
      } catch (e) {
        if (isFatal(e)) throw e;
        this.problem = errorText(e);
      }
    }
    if (!this.obj) {
      this.post({ type: 'metrics', unavailable: `No sample metrics: ${this.problem}.` });
      return false;
    }
    this.real = await this.obj.measureReal(session, n);
    return true;
  }

  /**
   * One sampler's figures (the core's `Metrics.measure`), its chains stepped down in chunks of
   * levels that take about CHUNK_MS each, with the worker's messages let in between them: a large
   * measurement (`mn=1000` on the CPU backend: minutes per sampler) never keeps Pause, Play or an
   * export waiting for more than a chunk. Null when `stop()` said to stop between two chunks.
   */
  async measureInChunks(session, spec, n, seed, stop, progress = () => {}) {
    const job = this.obj.startMeasure(session, spec, n, seed);
    const levels0 = job.level;
    let taken = false; // finishMeasure takes the job (the core frees it)
    try {
      let levels = 1;
      for (;;) {
        const t0 = performance.now();
        if (job.advance(session, levels)) break;
        const ms = performance.now() - t0;
        // The next chunk's levels from this one's time (a level costs about the same at every level).
        levels = Math.max(1, Math.min(1000, Math.round((levels * CHUNK_MS) / Math.max(ms, 1))));
        progress(1 - job.level / levels0);
        await letMessagesIn();
        if (stop()) return null;
      }
      taken = true;
      return await this.obj.finishMeasure(job);
    } finally {
      if (!taken) job.free(); // stopped part way (or failed)
    }
  }

  /**
   * Fréchet distance, class histogram and diversity of `n` final samples per sampler in `specs`
   * ([name, spec]; the session runs each on the model it applies to). `current()` is the worker's session now: a pass whose session was
   * replaced is dropped. `giveWay()`: true when the pass should stop (Play pressed during a
   * pass started while paused, so the first step never waits for more than one sampler). True
   * when every sampler was measured.
   */
  async measure({ wasm, session, specs, n, seed, digits, current, giveWay = () => false }) {
    const t0 = performance.now();
    if (giveWay()) {
      this.post({ type: 'metricsSkipped' });
      return false;
    }
    this.post({ type: 'metricsBusy', n });
    if (!(await this.ensure(wasm, session, n))) return false;
    const samplers = {};
    for (const [index, [name, spec]] of specs.entries()) {
      await letMessagesIn();
      if (giveWay()) {
        this.post({ type: 'metricsSkipped' });
        return false;
      }
      const progress = (done) => this.post({ type: 'metricsProgress', sampler: name, index, of: specs.length, n, done });
      const measured = await this.measureInChunks(session, spec, n, seed, () => giveWay() || current() !== session, progress);
      if (measured == null || current() !== session) {
        if (current() === session) this.post({ type: 'metricsSkipped' });
        return false;
      }
      samplers[name] = measured;
    }
    this.lastMs = performance.now() - t0;
    this.lastAt = performance.now();
    this.stepsSince = 0;
    // What a lesson's verdict is judged on (www/worker/run.js judgeLesson).
    this.last = { session, step: session.currentStep, n, samplers, real: this.real };
    this.post({
      type: 'metrics',
      step: session.currentStep,
      n,
      seed,
      ms: this.lastMs,
      digits, // false: the data is not the bundled digits, so the classifier's figures do not apply
      samplers,
      real: this.real,
      reference: this.obj.reference(),
    });
    return true;
  }
}
