// The worker run's choice of passes while playing (www/worker/run.js): which pass goes next when a
// drawing and a measurement are both due. No wasm: the run's session is a stand-in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Run } from '../../www/worker/run.js';

/** A run playing at `now` ms with a session, grids drawn at `drawnAt`, `trained` steps since both passes. */
function playingRun({ now, drawnAt, trained, metricsEvery }) {
  const run = new Run(() => {});
  run.session = {};
  run.sessions = { backend: 'cpu' };
  run.display = { ...run.display, samples: 6, metricsEvery, sampleEvery: null };
  run.drawing.lastAt = drawnAt;
  run.drawing.trained(trained);
  run.metrics.trained(trained);
  // A minute of training, a 6-row drawing of 1.2 s and a measurement of 3 s, both known.
  run.share.record('train', now - 60000, now - 1);
  run.share.cost('draw', 1200, 6);
  run.share.cost('measure', 3000);
  return run;
}

test('a measurement due goes first: the drawing due at the same time waits for it', () => {
  const now = performance.now(); // the drawing's interval is on this clock
  // Drawn 2 s ago (a drawing falls due every 1.5 s); a measurement every 10 steps, 12 trained.
  const run = playingRun({ now, drawnAt: now - 2000, trained: 12, metricsEvery: 10 });
  assert.equal(run.drawRows(now), 0, 'the drawing waits');
  assert.equal(run.measureDue(now), true, 'the measurement runs');
  // No measurement due: the drawing takes the time.
  const free = playingRun({ now, drawnAt: now - 2000, trained: 12, metricsEvery: 100 });
  assert.equal(free.measureDue(now), false);
  assert.equal(free.drawRows(now), 6);
});

test('grids older than 20 s are redrawn even while a measurement waits', () => {
  const now = performance.now(); // the drawing's interval is on this clock
  const run = playingRun({ now, drawnAt: now - 21000, trained: 12, metricsEvery: 10 });
  assert.ok(run.drawRows(now) > 0);
});

test('a fixed sampling interval (se) keeps training\'s share: a drawing that does not fit it waits', () => {
  const now = performance.now();
  const run = playingRun({ now, drawnAt: now - 2000, trained: 1, metricsEvery: 1000 });
  run.display.sampleEvery = 1;
  // A 6-row drawing of 1.2 s after a minute of training fits the share: every row, as asked.
  assert.equal(run.drawRows(now), 6);
  // One of 60 s (se = 1 at L = 1000 on the CPU backend, say) does not: training goes on.
  run.share.cost('draw', 60000, 6);
  assert.equal(run.drawRows(now), 0);
  // Grids older than 20 s are drawn anyway.
  run.drawing.lastAt = now - 21000;
  assert.equal(run.drawRows(now), 6);
});

test('a measurement too costly for any window of play holds no drawing back', () => {
  const now = performance.now();
  const run = playingRun({ now, drawnAt: now - 2000, trained: 12, metricsEvery: 10 });
  assert.equal(run.drawRows(now), 0, 'a 3 s measurement fits a window: the drawing waits for it');
  // 40 s (100 samples per sampler at L = 100 on the CPU backend, say): more than the 15 s a
  // minute of play leaves; it waits for a pause, and the grids stay live meanwhile.
  run.share.cost('measure', 40000);
  assert.equal(run.measureDue(now), false);
  assert.equal(run.drawRows(now), 6);
});

test('on the CPU backend with a drawing worker, the training worker draws nothing while playing; with `se`, it does', () => {
  const now = performance.now();
  globalThis.Worker ??= class {};
  globalThis.navigator ??= { hardwareConcurrency: 2 }; // Node before 21 has none
  const run = playingRun({ now, drawnAt: now - 2000, trained: 12, metricsEvery: 100 });
  assert.equal(run.drawRows(now), 6, 'no drawing worker yet');
  run.drawer.worker = { postMessage() {} }; // started
  assert.equal(run.drawsBeside(), (navigator.hardwareConcurrency ?? 1) >= 2);
  if (run.drawsBeside()) assert.equal(run.drawRows(now), 0, 'the drawing worker draws');
  run.display.sampleEvery = 1;
  assert.equal(run.drawRows(now), 6, 'a fixed interval: the training worker draws every row, as asked');
  run.display.sampleEvery = null;
  run.sessions.backend = 'webgpu';
  assert.equal(run.drawRows(now), 6, 'on WebGPU the training worker draws');
});

test('with a drawing worker, the training worker does not measure while playing: the drawing worker does', () => {
  const now = performance.now();
  globalThis.Worker ??= class {};
  globalThis.navigator ??= { hardwareConcurrency: 2 };
  const run = playingRun({ now, drawnAt: now - 2000, trained: 12, metricsEvery: 10 });
  assert.equal(run.measureDue(now), true, 'no drawing worker: this worker measures');
  run.drawer.worker = { postMessage() {} }; // started
  if (!run.drawsBeside()) return; // one core: no drawing worker
  assert.equal(run.measureDue(now), false);
  assert.equal(run.measureWaiting(), true, 'due: the next snapshot asks the drawing worker to measure');
});
