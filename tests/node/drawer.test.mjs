// The training worker's side of the drawing worker (www/worker/drawer.js), with a stand-in for
// the Worker: when a snapshot is sent (pull: only once it is idle, and once per step), which of its
// messages reach the page (while open, for the current run), and the fallback when it fails.
// The drawing itself is checked in the browser (tests/browser/first-minute.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Drawer } from '../../www/worker/drawer.js';

class FakeWorker {
  static last = null;
  constructor(url, options) {
    this.url = String(url);
    this.options = options;
    this.sent = [];
    this.terminated = false;
    FakeWorker.last = this;
  }
  postMessage(msg, transfer) {
    this.sent.push({ msg, transfer });
  }
  terminate() {
    this.terminated = true;
  }
  /** A message from the drawing worker. */
  says(msg) {
    this.onmessage({ data: msg });
  }
}

function session(step) {
  return {
    currentStep: step,
    exportMembers: async () => [new Uint8Array([1, 2, 3]), null],
    info: () => ({ models: [{ model: 'denoiser' }, { model: 'universal' }] }),
  };
}

function setup() {
  globalThis.Worker = FakeWorker;
  const relayed = [];
  const warnings = [];
  const costs = [];
  const drawer = new Drawer((msg, transfer) => relayed.push({ msg, transfer }), (w) => warnings.push(w), (ms, rows) => costs.push({ ms, rows }));
  drawer.start('the module');
  return { drawer, worker: FakeWorker.last, relayed, warnings, costs };
}

const data = { images: new Uint8Array([9]), labels: null };
const display = { samples: 6 };
const chain = () => ({ pixels: new Float32Array(4) });

test('a snapshot goes only to an idle drawing worker, once per step, with the data once', async () => {
  const { drawer, worker } = setup();
  assert.equal(worker.options.type, 'module');
  assert.deepEqual(worker.sent[0].msg, { type: 'init', module: 'the module' }, 'the compiled module is passed on');
  await drawer.offer(1, session(10), data, display);
  assert.equal(worker.sent.length, 1, 'not idle yet (loading the core): nothing sent');
  worker.says({ type: 'idle' });
  await drawer.offer(1, session(10), data, display);
  const snap = worker.sent[1];
  assert.equal(snap.msg.type, 'snapshot');
  assert.equal(snap.msg.step, 10);
  assert.deepEqual(snap.msg.models.map((m) => m.model), ['denoiser', 'universal']);
  assert.equal(snap.msg.data.images, data.images, 'the data with the first snapshot');
  assert.equal(snap.transfer.length, 1, 'the checkpoint bytes are transferred');
  await drawer.offer(1, session(12), data, display);
  assert.equal(worker.sent.length, 2, 'busy drawing: no second snapshot');
  worker.says({ type: 'idle', run: 1, ms: 5000 });
  await drawer.offer(1, session(12), data, display);
  assert.equal(worker.sent[2].msg.step, 12);
  assert.equal(worker.sent[2].msg.data, null, 'the same data is not sent again');
  worker.says({ type: 'idle', run: 1, ms: 5000 });
  await drawer.offer(1, session(12), data, display);
  assert.equal(worker.sent.length, 3, 'no new step: nothing to draw');
});

test('its grids reach the page while open and for the current run, without its memory figures; its time is a drawing\'s cost', async () => {
  const { drawer, worker, relayed, costs } = setup();
  worker.says({ type: 'idle' });
  await drawer.offer(2, session(5), data, display);
  worker.says({ type: 'page', run: 2, msg: { type: 'samples', partial: true, step: 5, chains: { deterministic: chain() } } });
  worker.says({ type: 'page', run: 2, msg: { type: 'samples', partial: false, step: 5, chains: {}, ms: 6800, memory: { wasmBytes: 1 } } });
  assert.deepEqual(costs, [{ ms: 6800, rows: 6 }], 'the time share learns what a drawing of every row costs');
  worker.says({ type: 'page', run: 1, msg: { type: 'samples', partial: true, step: 4, chains: {} } });
  assert.equal(relayed.length, 2, 'the old run is dropped');
  assert.equal(relayed[0].transfer.length, 1, 'the pixels are transferred');
  assert.equal(relayed[1].msg.memory, undefined);
  assert.equal(relayed[1].msg.by, 'drawer', 'the page can tell');
  drawer.close();
  assert.deepEqual(worker.sent.at(-1).msg, { type: 'stop' });
  worker.says({ type: 'page', run: 2, msg: { type: 'samples', partial: true, step: 5, chains: {} } });
  assert.equal(relayed.length, 2, 'closed (paused): dropped, the pass at pause draws');
});

test('a failed drawing worker is terminated, said, and not used again', async () => {
  const { drawer, worker, warnings } = setup();
  assert.equal(drawer.engaged, true);
  worker.says({ type: 'failed', message: 'out of memory', fatal: true });
  assert.equal(drawer.engaged, false);
  assert.equal(worker.terminated, true);
  assert.match(warnings[0], /out of memory.*the training worker draws the grids again/);
  drawer.start({});
  assert.equal(FakeWorker.last, worker, 'not started again');
});

test('a measurement due goes to the drawing worker, every `every` steps and at most half of its time; Pause says it gave way', async () => {
  const { drawer, worker, relayed } = setup();
  const measure = { n: 32, digits: true, every: 10 };
  worker.says({ type: 'idle' });
  await drawer.offer(1, session(12), data, display, measure);
  assert.deepEqual(worker.sent.at(-1).msg.measure, { n: 32, digits: true }, 'due: measured instead of drawn');
  // It measured for 5 s: the next 5 s are drawing, whatever is due.
  worker.says({ type: 'idle', run: 1, kind: 'measure', ms: 5000 });
  await drawer.offer(1, session(30), data, display, measure);
  assert.equal(worker.sent.at(-1).msg.measure, null, 'as long again of drawing first');
  drawer.measureFree = 0; // 5 s later
  worker.says({ type: 'idle', run: 1, kind: 'draw', ms: 1000 });
  await drawer.offer(1, session(15), data, display, measure);
  assert.equal(worker.sent.at(-1).msg.measure, null, 'only 3 steps since the last measurement');
  worker.says({ type: 'idle', run: 1, kind: 'draw', ms: 1000 });
  await drawer.offer(1, session(22), data, display, measure);
  assert.notEqual(worker.sent.at(-1).msg.measure, null, '10 steps since it');
  // The page was told a measurement started; Pause stops it, and the page is told it gave way.
  worker.says({ type: 'page', run: 1, msg: { type: 'metricsBusy', n: 32 } });
  drawer.close();
  assert.deepEqual(relayed.map((r) => r.msg.type), ['metricsBusy', 'metricsSkipped']);
  assert.deepEqual(worker.sent.at(-1).msg, { type: 'stop' });
});
