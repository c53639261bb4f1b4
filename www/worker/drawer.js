// The training worker's side of the drawing worker (www/worker/draw-worker.js): when to start
// it, the snapshots of the weights it draws, and which of its grids reach the page. Used by the
// run (www/worker/run.js) while playing on the CPU backend; on WebGPU the one device stays with
// training, and the training worker draws as before (lighter redraws within training's share of
// the time, www/worker/time-share.js).
//
// Pull, not push: the drawing worker says `idle` when it can draw, and the next training frame
// after that sends it the weights of that moment (`offer`), so it never queues snapshots it
// cannot draw and training pays for one export per pass (a few milliseconds at the defaults).

/** Whether this worker can start a drawing worker beside training: two cores or more, and nested workers. */
export function canDraw() {
  return typeof Worker === 'function' && (globalThis.navigator?.hardwareConcurrency ?? 1) >= 2;
}

export class Drawer {
  /**
   * `relay(msg, transfer)`: a message of the drawing worker for the page (a `samples` message,
   * www/worker/sampling.js).
   * `warn(text)`: the drawing worker failed; the training worker draws again. `drawn(ms, rows)`:
   * a pass of `rows` rows took `ms` there (the time share's cost of a drawing, which sizes the
   * training worker's own redraws and estimates its measurements if the drawing worker fails).
   */
  constructor(relay, warn, drawn = () => {}) {
    this.relay = relay;
    this.warn = warn;
    this.drawn = drawn;
    this.worker = null;
    this.failed = false;
    this.idle = false; // it said `idle`: the next offer sends it a snapshot
    this.open = false; // its grids reach the page (while playing, for the run `run`)
    this.run = null; // the run id its grids are for
    this.sent = { run: null, step: -1, data: null, rows: 0 }; // the last snapshot sent
    this.measured = { run: null, step: 0 }; // the last snapshot sent to measure
    this.measureFree = 0; // measuring may start again from this time (performance.now())
    this.measuring = false; // the page was told a measurement of its started, not yet how it ended
    this.toDrawer = (msg, transfer = []) => this.worker.postMessage(msg, transfer);
    // The drawing worker's messages (www/shared/protocol.js FROM_DRAWER).
    this.handlers = {
      idle: (msg) => {
        this.idle = true;
        // Measuring takes at most half of its time: after a measurement, as long again of drawing.
        if (msg.kind === 'measure') this.measureFree = performance.now() + msg.ms;
      },
      page: (msg) => {
        if (!this.open || msg.run !== this.run) return; // paused, or a run that is gone
        const drawn = msg.msg;
        if (drawn.type === 'metricsBusy') this.measuring = true;
        if (drawn.type === 'metrics' || drawn.type === 'metricsSkipped') this.measuring = false;
        // The memory figures of a drawing are the training worker's (the page's status line, the
        // soak benchmark): not the drawing worker's.
        delete drawn.memory;
        drawn.by = 'drawer';
        if (drawn.type === 'samples' && !drawn.partial && !drawn.incomplete && drawn.ms != null) this.drawn(drawn.ms, this.sent.rows);
        this.relay(drawn, Object.values(drawn.chains || {}).map((c) => c.pixels.buffer));
      },
      failed: (msg) => this.fail(msg.message),
    };
  }

  /** Drawing is the drawing worker's for now (started, not failed). */
  get engaged() {
    return this.worker !== null && !this.failed;
  }

  /** Start the drawing worker (once), giving it the core's compiled `module`. */
  start(module) {
    if (this.worker || this.failed) return;
    try {
      this.worker = new Worker(new URL('./draw-worker.js', import.meta.url), { type: 'module' });
    } catch (e) {
      this.fail(`could not start: ${e.message || e}`);
      return;
    }
    this.worker.onmessage = (ev) => {
      const msg = ev.data || {};
      this.handlers[msg.type]?.(msg);
    };
    this.worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.fail(ev.message || 'script error');
    };
    this.toDrawer({ type: 'init', module });
  }

  fail(reason) {
    if (this.failed) return;
    this.failed = true;
    this.open = false;
    this.worker?.terminate();
    this.worker = null;
    this.warn(`The drawing worker stopped (${reason}): the training worker draws the grids again, within its share of the time.`);
  }

  /**
   * While playing, after a frame: if the drawing worker is idle and `session` (run `run`, on
   * `data`, shown with `display`) has trained since the last snapshot, send it one. Its grids
   * reach the page from now on, until `close`. `measure` ({n, digits, every}, or null): a
   * measurement is due (every `every` steps, as the training worker counts them); the snapshot
   * is measured instead of drawn when the drawing worker's last measurement is `every` steps old
   * and measuring keeps to half of its time.
   */
  async offer(run, session, data, display, measure = null) {
    if (!this.engaged) return;
    this.open = true;
    this.run = run;
    const step = session.currentStep;
    if (!this.idle || (this.sent.run === run && this.sent.step === step)) return;
    this.idle = false;
    const last = this.measured.run === run ? this.measured.step : -Infinity;
    const measuring = !!measure && step - last >= measure.every && performance.now() >= this.measureFree;
    if (measuring) this.measured = { run, step };
    const checkpoints = await session.exportMembers();
    const models = session.info().models;
    // The data's bytes only when they changed (the drawing worker keeps them).
    const newData = this.sent.data !== data;
    const transfer = checkpoints.filter(Boolean).map((b) => b.buffer);
    this.toDrawer(
      {
        type: 'snapshot',
        run,
        step,
        checkpoints,
        models,
        display,
        data: newData ? { images: data.images, labels: data.labels } : null,
        measure: measuring ? { n: measure.n, digits: measure.digits } : null,
      },
      transfer,
    );
    this.sent = { run, step, data, rows: display.samples };
  }

  /**
   * Pause, or a new session: its grids and figures no longer reach the page, and its pass stops
   * (a measurement the page was told of is said to give way, as the training worker's would).
   */
  close() {
    if (this.open && this.measuring) this.relay({ type: 'metricsSkipped' }, []);
    this.measuring = false;
    this.open = false;
    if (this.engaged) this.toDrawer({ type: 'stop' });
  }
}
