// The worker's pass scheduler: which pass (a training frame, a drawing, a measurement, an export,
// a command that replaces the session) runs when, and which one gives way to which. Every pass
// is a call into the wasm and they never overlap (`serial`): the core keeps the session in a
// RefCell. What the passes do is the run's (www/worker/run.js); this file only orders them, so it
// is tested in Node with a fake run (tests/node/scheduler.test.mjs).
//
// States (`state`):
//   idle     not training; passes run when asked (the load pass, the pass at pause, Measure now, Step)
//   playing  the training loop runs frames, and draws and measures when due and the time share allows
//            (on the CPU backend the drawing worker draws instead, from the weights each frame
//            offers it: www/worker/drawer.js)
//   pausing  the loop is ending: the frame or pass in flight finishes (a pass started while playing
//            stops at its next sampler), then the loop draws the final weights, says `paused`, -> idle
//   dead     a wasm trap or a lost device: nothing runs any more; the page restarts the worker
//
// Transitions:
//   idle    --play (a session exists)-------------------> playing   the time share starts a new window
//   pausing --play-------------------------------------> playing   the loop goes on
//   playing --pause, a replacing command, the step budget
//             reached (`stopped`), a training error------> pausing
//   pausing --the loop ends----------------------------> idle      then the pass at pause
//   any     --a fatal error, a lost device-------------> dead
//
// Besides the state, two things are waiting or owed, never flags the passes set for each other:
//   urgent       commands waiting their turn that a drawing or measuring pass gives way to at its
//                next sampler: an export (an autosave when the page is hidden must not wait for a
//                whole pass) and the commands that replace the session (new settings, an import,
//                other data: a pass for a session about to go is wasted). Urgent while waiting only:
//                once started, the new session's own passes do not give way to it.
//   owedMeasure  the session whose measuring pass gave way to an urgent command: it runs again,
//                interruptible, once no urgent command waits and the loop is not playing.
//
// When a drawing or measuring pass stops at its next sampler (`giveWay`): an urgent command waits;
// Pause arrived, for a pass started while playing; Play arrived, for a pass outside playing (at
// load, at pause: the first steps never wait for a whole pass). A load pass of a run that plays on
// load (autoplay) shows its first sampler, then gives way. A measuring pass outside playing (at
// load, at pause, after an export) gives way whenever the loop plays.

import { errorKind, errorText, isFatal } from './errors.js';

export const IDLE = 'idle';
export const PLAYING = 'playing';
export const PAUSING = 'pausing';
export const DEAD = 'dead';

/** A new run's metrics wait until the page has been idle this long (see `loadPass`). */
export const METRICS_AT_LOAD_MS = 3000;

export class Scheduler {
  /**
   * `work`: the run (www/worker/run.js): `session` (null before the first), `step`, and the
   * passes `trainFrame`, `draw`, `measure`, `drawsPass`, `feedDrawer`, with what the loop asks of
   * them (`resumeShare`, `drawRows`, `measureDue`, `recordMeasure`, `budgetReached`, `undrawn`,
   * `metricsStale`, `closeDrawer`). `post(msg)`: to the page. `metricsAtLoadMs`: see `loadPass` (null: no
   * measurement at load).
   */
  constructor(work, post, { metricsAtLoadMs = METRICS_AT_LOAD_MS } = {}) {
    this.work = work;
    this.post = post;
    this.metricsAtLoadMs = metricsAtLoadMs;
    this.state = IDLE;
    this.urgent = 0;
    this.owedMeasure = null;
    this.queue = Promise.resolve();
  }

  get playing() {
    return this.state === PLAYING;
  }

  get dead() {
    return this.state === DEAD;
  }

  // --- the queue ----------------------------------------------------------------------------------

  /** `fn` after every call queued before it (none once dead). */
  serial(fn) {
    const p = this.queue.then(() => (this.dead ? undefined : fn()));
    this.queue = p.catch(() => {});
    return p;
  }

  /** `serial(fn)`, with an error reported: as `error` of kind `kind`, or fatal. */
  guard(kind, fn) {
    return this.serial(fn).catch((e) => this.failed(kind, e));
  }

  /** An urgent command (see the top of this file): `guard(kind, fn)`, given way to while it waits. */
  urgently(kind, fn) {
    let waiting = true;
    const started = () => {
      if (waiting) this.urgent--;
      waiting = false;
    };
    this.urgent++;
    return this.guard(kind, () => (started(), fn())).finally(() => {
      started();
      const s = this.owedMeasure;
      if (this.urgent === 0 && s && s === this.work.session && !this.playing && !this.dead) {
        this.owedMeasure = null;
        this.guard('metrics', () => this.measure({ outside: true }));
      }
    });
  }

  failed(kind, e) {
    if (isFatal(e)) this.die(kind, e);
    else this.post({ type: 'error', kind, message: `${kind}: ${errorText(e)}` });
  }

  // --- transitions --------------------------------------------------------------------------------

  /**
   * -> dead, on a wasm trap (`where`: what was running). Once dead (a lost device), a call in
   * flight that traps afterwards is not a second crash for the page to count.
   */
  die(where, e) {
    if (this.dead) return;
    this.state = DEAD;
    this.post({ type: 'fatal', message: `${where}: ${errorText(e)}` });
  }

  /** -> dead, on a lost GPU device (`info`: its GPUDeviceLostInfo). */
  lost(info) {
    if (this.dead) return;
    this.state = DEAD;
    this.post({ type: 'deviceLost', reason: info.reason || 'unknown', message: info.message || '' });
  }

  play() {
    if (!this.work.session || this.dead || this.playing) return;
    const wasIdle = this.state === IDLE;
    this.state = PLAYING;
    if (wasIdle) {
      this.work.resumeShare();
      this.loop();
    }
  }

  /** playing -> pausing (Pause, a replacing command, the budget, a training error). */
  pause() {
    if (this.playing) this.state = PAUSING;
  }

  // --- passes -------------------------------------------------------------------------------------

  /**
   * One training frame (`requested` steps, else as many as fit the frame time); false when it
   * did not train. A failed frame stops the loop: `diverged`, `trainError` or fatal.
   */
  async frame(requested) {
    const r = await this.work.trainFrame(requested);
    if (!r.failed) return r.trained;
    this.pause();
    if (isFatal(r.failed)) this.die('training', r.failed);
    else if (errorKind(r.failed) === 'diverged') this.post({ type: 'diverged', message: errorText(r.failed), step: r.step });
    else this.post({ type: 'trainError', message: errorText(r.failed), step: r.step });
    return false;
  }

  /**
   * A drawing pass (the run's `draw`): `withForward` the forward process too, `rows` fewer rows
   * than the display's, `outside` a pass outside playing (one sampler at a time, Play stops it),
   * `autoplay` the load pass of a run that plays on load.
   */
  draw({ withForward = false, rows, outside = false, autoplay = false } = {}) {
    const wasPlaying = this.playing;
    let asked = 0;
    const forPlay = () => (this.playing && !wasPlaying) || (autoplay && asked++ > 0);
    const forPause = () => wasPlaying && !this.playing;
    const giveWay = () => this.urgent > 0 || forPause() || (outside && forPlay());
    return this.work.draw({ withForward, rows, together: !outside, giveWay, playing: () => this.playing });
  }

  /** A measuring pass (the run's `measure`); `outside`: outside playing, Play stops it. */
  async measure({ outside = false } = {}) {
    const wasPlaying = this.playing;
    const giveWay = () => this.urgent > 0 || (outside && this.playing) || (wasPlaying && !this.playing);
    const done = await this.work.measure({ giveWay, playing: () => this.playing });
    if (done) this.owedMeasure = null;
    else if (done === false && this.urgent > 0) this.owedMeasure = this.work.session;
    return done;
  }

  /**
   * The pass of a new session (the page was just told `ready`): every grid, one sampler at a
   * time so Play waits for one at most. Its metrics wait until the page has been idle a moment:
   * one sampler's measurement cannot be interrupted, so Play pressed right after load would wait
   * for it (measured: 37 s on the CPU backend at L = 100). Play pressed meanwhile: training first
   * (the metrics come on pause, or every `me` steps).
   */
  async loadPass({ autoplay = false } = {}) {
    await this.draw({ withForward: true, outside: true, autoplay });
    this.post({ type: 'status', key: 'draw', text: null });
    if (this.metricsAtLoadMs == null) return;
    const s = this.work.session;
    const current = () => !this.playing && !this.dead && this.work.session === s;
    setTimeout(() => {
      if (!current()) return;
      this.guard('metrics', async () => {
        if (!current()) return;
        await this.measure({ outside: true });
        // The classifier is ready now: the draws view can count classes.
        if (current()) await this.work.drawsPass();
      });
    }, this.metricsAtLoadMs);
  }

  /**
   * The training loop (states playing and pausing): frames, and while playing a drawing and a
   * measuring pass when due and the time share allows them; messages (Pause, Export, ...) come
   * in between frames. Then, idle: the pass at pause draws the final weights, `paused` tells the
   * page the step, and a measurement follows if training made the last one stale.
   */
  async loop() {
    const work = this.work;
    try {
      while (this.playing) {
        if (!(await this.serial(() => this.frame()))) break;
        if (work.budgetReached()) {
          this.pause();
          this.post({ type: 'stopped', step: work.step });
          break;
        }
        // The drawing worker (CPU backend) gets the weights of this moment when it is idle.
        if (this.playing) await this.serial(() => work.feedDrawer());
        const rows = this.playing ? work.drawRows(performance.now()) : 0;
        if (rows > 0) await this.serial(() => this.draw({ rows }));
        if (this.playing && work.measureDue(performance.now())) {
          const t0 = performance.now();
          const done = await this.serial(() => this.measure());
          work.recordMeasure(t0, performance.now(), done !== false);
        }
        await new Promise((r) => setTimeout(r, 0));
      }
    } catch (e) {
      this.pause();
      if (isFatal(e)) this.die('training', e);
      else this.post({ type: 'trainError', message: errorText(e) });
    }
    // The drawing worker's grids stop reaching the page: the pass at pause draws the final weights.
    work.closeDrawer();
    if (this.dead) return;
    this.state = IDLE;
    const alive = () => !this.dead && work.session;
    if (alive() && work.undrawn()) await this.guard('sample', () => this.draw({ outside: true }));
    // The loop has stopped and the final weights are drawn (a frame in flight when Pause arrived
    // has finished): the page may now read the step, export or compare samples.
    if (alive()) this.post({ type: 'paused', step: work.step });
    if (alive() && work.metricsStale()) await this.guard('metrics', () => this.measure({ outside: true }));
  }
}
