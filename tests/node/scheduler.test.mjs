// The worker's pass scheduler (www/worker/scheduler.js): its states and transitions, and which
// pass gives way to which, with a fake run whose passes take a turn of the event loop per
// sampler (no wasm, no browser). Messages from the page are calls made between samplers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEAD, IDLE, PAUSING, PLAYING, Scheduler } from '../../www/worker/scheduler.js';

const turn = () => new Promise((r) => setImmediate(r));

/** Wait until `cond()` holds (or fail after many turns). */
async function until(cond, what) {
  for (let i = 0; i < 5000; i++) {
    if (cond()) return;
    await turn();
  }
  assert.fail(`never: ${what}`);
}

/**
 * A run of `samplers` samplers, logging what runs. `on[event]` (e.g. 'frame 2', 'draw 0',
 * 'measure 1') is called the first time that happens: a message arriving then.
 */
class FakeRun {
  constructor() {
    this.session = { id: 1 };
    this.step = 0;
    this.samplers = 3;
    this.log = [];
    this.on = {};
    this.fail = null; // an error the next flush throws
    this.rows = 0; // rows of a drawing due while playing (0: none)
    this.due = false; // a measurement is due while playing
    this.budget = null;
    this.stepsSinceDraw = 0;
    this.stepsSinceMeasure = 0;
    this.shareResumes = 0;
  }

  event(e) {
    this.log.push(e);
    const message = this.on[e];
    delete this.on[e];
    message?.();
  }

  async trainFrame(requested) {
    await turn();
    if (this.fail) {
      const failed = this.fail;
      this.fail = null;
      return { failed, step: this.step };
    }
    const k = requested ?? 1;
    this.step += k;
    this.stepsSinceDraw += k;
    this.stepsSinceMeasure += k;
    this.event(`frame ${this.step}`);
    return { trained: true };
  }

  /** One turn per sampler, asking `giveWay()` before each, as SampleRunner.draw does. */
  async pass(kind, giveWay) {
    for (let i = 0; i < this.samplers; i++) {
      await turn();
      if (giveWay()) {
        this.event(`${kind} gave way`);
        return false;
      }
      this.event(`${kind} ${i}`);
    }
    return true;
  }

  async draw({ withForward, rows, together, giveWay, playing }) {
    this.event(`draw${withForward ? ' +forward' : ''}${rows ? ` rows=${rows}` : ''}${together ? '' : ' one by one'}`);
    // A lighter redraw (fewer rows) leaves the pass at pause to draw every row.
    if ((await this.pass('draw', giveWay)) && !rows) this.stepsSinceDraw = 0;
    this.lastDrawPlaying = playing();
  }

  async measure({ giveWay }) {
    if (!this.session) return undefined;
    this.event('measure');
    const done = await this.pass('measure', giveWay);
    if (done) this.stepsSinceMeasure = 0;
    return done;
  }

  async drawsPass() {
    this.event('draws view');
  }

  resumeShare() {
    this.shareResumes++;
  }
  async feedDrawer() {
    if (this.logDrawer) this.event('feed drawer');
  }
  closeDrawer() {
    if (this.logDrawer) this.event('close drawer');
  }
  drawRows() {
    return this.rows;
  }
  measureDue() {
    return this.due;
  }
  recordMeasure() {
    this.event('measure recorded');
  }
  budgetReached() {
    return this.budget != null && this.step >= this.budget;
  }
  undrawn() {
    return this.stepsSinceDraw > 0;
  }
  metricsStale() {
    return this.stepsSinceMeasure > 0;
  }
}

function setup(opts) {
  const run = new FakeRun();
  const posted = [];
  const scheduler = new Scheduler(run, (msg) => posted.push(msg), { metricsAtLoadMs: null, ...opts });
  const types = () => posted.map((m) => m.type);
  return { run, scheduler, posted, types };
}

test('idle -> playing -> pausing -> idle: frames, then the pass at pause, `paused`, a measurement', async () => {
  const { run, scheduler, posted, types } = setup();
  assert.equal(scheduler.state, IDLE);
  run.session = null;
  scheduler.play();
  assert.equal(scheduler.state, IDLE, 'Play without a session does nothing');
  run.session = { id: 1 };
  run.on['frame 3'] = () => {
    assert.equal(scheduler.state, PLAYING);
    scheduler.pause();
    assert.equal(scheduler.state, PAUSING, 'the frame in flight finishes');
  };
  scheduler.play();
  assert.equal(run.shareResumes, 1, 'the time share starts a new window');
  await until(() => types().includes('paused') && run.log.includes('measure 2'), 'paused and measured');
  assert.equal(scheduler.state, IDLE);
  assert.deepEqual(run.log, ['frame 1', 'frame 2', 'frame 3', 'draw one by one', 'draw 0', 'draw 1', 'draw 2', 'measure', 'measure 0', 'measure 1', 'measure 2']);
  assert.deepEqual(posted.find((m) => m.type === 'paused'), { type: 'paused', step: 3 });
});

test('the drawing worker is offered the weights after each frame while playing, and closed before the pass at pause', async () => {
  const { run, scheduler, types } = setup();
  run.logDrawer = true;
  run.on['frame 2'] = () => scheduler.pause();
  scheduler.play();
  await until(() => types().includes('paused'), 'paused');
  // Frame 2 ends while pausing: no offer after it, and the drawing worker's grids stop reaching
  // the page before the final weights are drawn.
  assert.deepEqual(run.log.slice(0, 5), ['frame 1', 'feed drawer', 'frame 2', 'close drawer', 'draw one by one']);
});

test('Play while pausing goes on with the same loop; Play while playing does nothing', async () => {
  const { run, scheduler } = setup();
  run.on['frame 2'] = () => {
    scheduler.pause();
    scheduler.play();
    assert.equal(scheduler.state, PLAYING);
  };
  run.on['frame 4'] = () => scheduler.pause();
  scheduler.play();
  scheduler.play();
  await until(() => scheduler.state === IDLE, 'the loop ended');
  assert.equal(run.shareResumes, 1, 'one loop, one window');
  assert.deepEqual(run.log.filter((e) => e.startsWith('frame')), ['frame 1', 'frame 2', 'frame 3', 'frame 4'], 'no frame trained twice');
});

test('while playing: a drawing of the rows the time share allows, and a measurement when due', async () => {
  const { run, scheduler, types } = setup();
  run.on['frame 1'] = () => {
    run.rows = 2;
    run.due = true;
  };
  run.on['measure 2'] = () => {
    run.rows = 0;
    run.due = false;
    scheduler.pause();
  };
  scheduler.play();
  await until(() => types().includes('paused'), 'paused');
  assert.deepEqual(run.log.slice(0, 11), ['frame 1', 'draw rows=2', 'draw 0', 'draw 1', 'draw 2', 'measure', 'measure 0', 'measure 1', 'measure 2', 'measure recorded', 'draw one by one'], 'the pass at pause draws every row again');
  assert.equal(run.lastDrawPlaying, false, 'the pass at pause is not counted as time taken from training');
});

test('Pause stops a pass started while playing at its next sampler', async () => {
  const { run, scheduler } = setup();
  run.on['frame 1'] = () => (run.rows = 3);
  run.on['draw 0'] = () => {
    run.rows = 0;
    scheduler.pause();
  };
  scheduler.play();
  await until(() => scheduler.state === IDLE && run.log.includes('draw 2'), 'the pass at pause');
  assert.deepEqual(run.log.slice(0, 4), ['frame 1', 'draw rows=3', 'draw 0', 'draw gave way']);
});

test('Play stops a pass outside playing (at load, at pause); a pass asked for while paused finishes', async () => {
  const { run, scheduler } = setup();
  run.on['draw 0'] = () => scheduler.play();
  run.on['frame 1'] = () => scheduler.pause();
  await scheduler.serial(() => scheduler.loadPass());
  assert.deepEqual(run.log.slice(0, 3), ['draw +forward one by one', 'draw 0', 'draw gave way'], 'Play waits for one sampler at most');
  await until(() => scheduler.state === IDLE && run.log.includes('draw 2'), 'the pass at pause');

  const measured = setup();
  measured.run.on['measure 0'] = () => measured.scheduler.play();
  measured.run.on['frame 1'] = () => measured.scheduler.pause();
  await measured.scheduler.serial(() => measured.scheduler.measure({ outside: true }));
  assert.deepEqual(measured.run.log.slice(0, 3), ['measure', 'measure 0', 'measure gave way'], 'the measurement at load or at pause too');
  await until(() => measured.types().includes('paused'), 'paused');

  const asked = setup();
  asked.run.on['draw 0'] = () => asked.scheduler.play();
  await asked.scheduler.serial(() => asked.scheduler.draw({ withForward: true }));
  assert.deepEqual(asked.run.log.slice(0, 4), ['draw +forward', 'draw 0', 'draw 1', 'draw 2'], 'Resample or Step: every sampler');
  asked.scheduler.pause();
});

test("a run that plays on load: its load pass shows the first sampler, then gives way", async () => {
  const { run, scheduler } = setup();
  await scheduler.serial(() => scheduler.loadPass({ autoplay: true }));
  assert.deepEqual(run.log, ['draw +forward one by one', 'draw 0', 'draw gave way']);
});

test('an export: a pass under way gives way at its next sampler; a measurement runs again after it', async () => {
  const { run, scheduler, types } = setup();
  const exported = () => scheduler.urgently('export', async () => run.event('export'));
  run.on['draw 0'] = exported;
  await scheduler.guard('sample', () => scheduler.draw());
  await until(() => run.log.includes('export'), 'the export');
  assert.deepEqual(run.log, ['draw', 'draw 0', 'draw gave way', 'export']);

  run.log.length = 0;
  run.on['measure 0'] = exported;
  await scheduler.guard('metrics', () => scheduler.measure());
  await until(() => run.log.includes('measure 2'), 'the measurement again');
  assert.deepEqual(run.log, ['measure', 'measure 0', 'measure gave way', 'export', 'measure', 'measure 0', 'measure 1', 'measure 2']);
  assert.equal(scheduler.owedMeasure, null);
  assert.equal(scheduler.urgent, 0);
  assert.ok(!types().includes('error'));
});

test('a measurement that gave way is not run again for a session replaced meanwhile, nor while playing', async () => {
  const { run, scheduler, types } = setup();
  run.on['measure 0'] = () => scheduler.urgently('reset', async () => (run.session = { id: 2 }));
  await scheduler.guard('metrics', () => scheduler.measure());
  await until(() => run.session.id === 2, 'the new session');
  await turn();
  assert.deepEqual(run.log, ['measure', 'measure 0', 'measure gave way']);

  run.log.length = 0;
  run.on['measure 0'] = () => {
    scheduler.urgently('export', async () => run.event('export'));
    scheduler.play();
  };
  run.on['frame 1'] = () => scheduler.pause();
  await scheduler.guard('metrics', () => scheduler.measure({ outside: true }));
  await until(() => types().includes('paused'), 'paused');
  assert.deepEqual(run.log.slice(0, 5), ['measure', 'measure 0', 'measure gave way', 'export', 'frame 1'], 'the export, then training: not the measurement');
});

test("a replacing command is urgent while it waits only: the new session's passes do not give way to it", async () => {
  const { run, scheduler } = setup();
  run.on['draw 0'] = () =>
    scheduler.urgently('reset', async () => {
      run.event('reset');
      assert.equal(scheduler.urgent, 0);
      await scheduler.loadPass();
    });
  await scheduler.guard('sample', () => scheduler.draw());
  await until(() => run.log.filter((e) => e === 'draw 2').length === 1, 'the load pass');
  assert.deepEqual(run.log, ['draw', 'draw 0', 'draw gave way', 'reset', 'draw +forward one by one', 'draw 0', 'draw 1', 'draw 2']);
});

test('the step budget: `stopped`, then the pass at pause and `paused`', async () => {
  const { run, scheduler, posted, types } = setup();
  run.budget = 2;
  scheduler.play();
  await until(() => types().includes('paused'), 'paused');
  assert.equal(scheduler.state, IDLE);
  assert.deepEqual(posted.find((m) => m.type === 'stopped'), { type: 'stopped', step: 2 });
  assert.ok(types().indexOf('stopped') < types().indexOf('paused'));
});

test('a training error stops the loop: `diverged` (kind diverged) or `trainError`, and the worker goes on', async () => {
  for (const [error, type] of [[Object.assign(new Error('the loss is NaN'), { kind: 'diverged' }), 'diverged'], [new Error('out of memory'), 'trainError']]) {
    const { run, scheduler, posted, types } = setup();
    run.on['frame 2'] = () => (run.fail = error);
    scheduler.play();
    await until(() => types().includes('paused'), 'paused');
    assert.equal(scheduler.state, IDLE);
    assert.deepEqual(posted.find((m) => m.type === type), { type, message: error.message, step: 2 });
  }
});

test('dead after a fatal error or a lost device: nothing runs any more', async () => {
  const trap = Object.assign(new Error('unreachable'), { name: 'RuntimeError' });
  const { run, scheduler, posted, types } = setup();
  run.on['frame 2'] = () => (run.fail = trap);
  scheduler.play();
  await until(() => scheduler.state === DEAD, 'dead');
  assert.deepEqual(posted.at(-1), { type: 'fatal', message: 'training: unreachable' });
  await turn();
  const before = run.log.length;
  scheduler.play();
  await scheduler.guard('metrics', () => scheduler.measure());
  await scheduler.urgently('export', async () => run.event('export'));
  assert.equal(run.log.length, before, 'no pass after death');
  assert.equal(scheduler.state, DEAD);
  assert.ok(!types().includes('paused'), 'no pass at pause either');

  const lost = setup();
  lost.run.on['frame 1'] = () => {
    lost.scheduler.lost({ reason: 'destroyed', message: '' });
    lost.scheduler.lost({ reason: 'destroyed', message: 'again' });
  };
  lost.scheduler.play();
  await until(() => lost.scheduler.state === DEAD, 'dead');
  await turn();
  assert.deepEqual(lost.types(), ['deviceLost'], 'reported once');
  assert.equal(lost.run.log.at(-1), 'frame 1');

  // A wasm call in flight when the device was lost traps afterwards: still one crash for the page
  // (issue 26: one device loss counted as two, and the second moved the run to the CPU backend).
  const both = setup();
  both.run.fail = trap;
  const inFlight = both.scheduler.frame(1); // the frame's flush awaits the device...
  both.scheduler.lost({ reason: 'destroyed', message: '' }); // ...which is lost meanwhile
  await inFlight;
  assert.equal(both.scheduler.state, DEAD);
  assert.deepEqual(both.types(), ['deviceLost'], 'the trap after the loss is not a second crash');
});

test("a new run's metrics wait until the page has been idle a moment, and not for Play", async () => {
  const idle = setup({ metricsAtLoadMs: 5 });
  await idle.scheduler.serial(() => idle.scheduler.loadPass());
  await until(() => idle.run.log.includes('draws view'), 'the metrics at load');
  assert.deepEqual(idle.run.log.slice(-5), ['measure', 'measure 0', 'measure 1', 'measure 2', 'draws view']);
  assert.deepEqual(idle.posted.find((m) => m.type === 'status'), { type: 'status', key: 'draw', text: null });

  const played = setup({ metricsAtLoadMs: 5 });
  await played.scheduler.serial(() => played.scheduler.loadPass());
  played.run.stepsSinceMeasure = -1e9; // no measurement at pause, to see the load's
  played.scheduler.play();
  await new Promise((r) => setTimeout(r, 30));
  played.scheduler.pause();
  await until(() => played.scheduler.state === IDLE, 'paused');
  assert.ok(!played.run.log.includes('measure'), 'training first: no measurement at load');
});
