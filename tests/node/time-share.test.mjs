// The worker's sharing of time between training and drawing (www/worker/time-share.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeShare, TRAINING_SHARE, PLANNED_SHARE } from '../../www/worker/time-share.js';

test('a pass of unknown cost may start; a known one waits until training keeps its share', () => {
  const t = new TimeShare();
  assert.equal(TRAINING_SHARE, 0.75);
  assert.equal(PLANNED_SHARE, 0.8, 'a margin for the loop’s own overhead');
  assert.ok(t.allows('draw', 0), 'never drawn: allowed');
  t.record('train', 0, 0); // the window opens with training
  t.record('draw', 0, 3000); // a 3 s drawing
  // Training from 3 s on: the next 3 s drawing needs train >= 0.8 * (wall + 3000).
  let now = 3000;
  while (!t.allows('draw', now)) {
    t.record('train', now, now + 100);
    now += 100;
  }
  const { train, wall } = t.totals(now);
  assert.ok(train >= 0.8 * (wall + 3000), `${train} vs ${wall}`);
  // train >= 0.8 * (train + 3000 drawn + 3000 to draw): 24 s of training first, not before.
  assert.ok(train >= 24000 && train < 24100, `first redraw after ${train} ms of training`);
  // Simulate a long run: drawing whenever allowed keeps training at >= 75% of wall time.
  for (let i = 0; i < 2000; i++) {
    if (t.allows('draw', now)) {
      t.record('draw', now, now + 3000);
      now += 3000;
    }
    t.record('train', now, now + 80);
    now += 80;
  }
  const share = t.trainingShare(now);
  assert.ok(share >= TRAINING_SHARE && share < 0.9, `training share ${share}`);
});

test('a cheap pass is allowed often; paused time does not count against training', () => {
  const t = new TimeShare();
  t.cost('draw', 10); // drawn at load, not while playing
  t.record('train', 0, 100);
  assert.ok(t.allows('draw', 100));
  // A long pause, then playing again.
  t.resume();
  assert.equal(t.trainingShare(60000), null, 'nothing trained since resuming');
  t.record('train', 60000, 60100);
  assert.ok(t.allows('draw', 60100), 'the paused minute is not in the window');
  t.reset();
  assert.ok(t.allows('draw', 0), 'a new run: the cost is unknown again');
});

test('a measurement never run is expected to cost its drawing scaled by its samples', () => {
  const t = new TimeShare();
  const estimate = { basis: 'draw', factor: 100 }; // n = 100 samples per sampler, from the cost per row
  assert.equal(t.expected('measure', estimate), null, 'nothing drawn: unknown');
  assert.ok(t.allows('measure', 0, estimate), 'unknown: allowed');
  t.record('draw', 0, 1500, 6); // a 1.5 s drawing of 6 rows: a measurement is expected to take 25 s
  assert.equal(t.expected('measure', estimate), 25000);
  // A minute of training: 0.8 * (wall + 25 s) > train for any wall in the 60 s window.
  let now = 1500;
  for (; now < 120000; now += 100) t.record('train', now, now + 100);
  assert.equal(t.allows('measure', now, estimate), false, 'a 25 s pass waits for a pause');
  // Measured on pause at 2 s: from then on its own cost counts.
  t.cost('measure', 2000);
  assert.equal(t.expected('measure', estimate), 2000);
  assert.ok(t.allows('measure', now, estimate));
});

test('a drawing too costly for all its rows redraws fewer (halving down to one row), none if even one does not fit', () => {
  const t = new TimeShare();
  assert.equal(t.largestFit('draw', 0, 6), 1, 'unknown cost: one row first, which measures it');
  t.record('draw', 0, 6000, 6); // 1 s per row
  // Training after it: the rows that fit grow from none through 1, 2, 3 (6 -> 3 -> 2 -> 1) to all 6.
  const seen = [];
  for (let now = 6000; now < 60000; now += 100) {
    t.record('train', now, now + 100);
    const rows = t.largestFit('draw', now + 100, 6);
    if (rows !== seen.at(-1)) {
      seen.push(rows);
      // Exactly the rule of `allows`: training keeps its share with this many rows, not with the next size up.
      const { train, wall } = t.totals(now + 100);
      if (rows > 0) assert.ok(train >= PLANNED_SHARE * (wall + rows * 1000), `${rows} rows fit at ${now}`);
      const next = { 0: 1, 1: 2, 2: 3, 3: 6 }[rows];
      if (next) assert.ok(train < PLANNED_SHARE * (wall + next * 1000), `${next} rows do not fit at ${now}`);
    }
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 6]);
  // Costs are kept by size; between two sizes the line through them (a part per level, a part
  // per row): 6 rows in 6 s and 1 row in 1.2 s make 3 rows 240 + 3 * 960 = 3120 ms, 6 rows still 6 s.
  t.record('draw', 60000, 61200, 1);
  assert.equal(t.expected('draw', { units: 6 }), 6000);
  assert.equal(t.expected('draw', { units: 1 }), 1200);
  assert.equal(t.expected('draw', { units: 3 }), 3120);
  // From one size alone, its cost per unit (as before a second size is seen).
  const u = new TimeShare();
  u.record('train', 0, 0);
  u.record('draw', 0, 1600, 1);
  assert.equal(u.expected('draw', { units: 3 }), 4800);
});

test('a pass cut short counts against training but cannot make a pass look cheap', () => {
  // Measured on SwiftShader WebGPU at L = 20: the drawing at load gave way to Play after 0.5 s; taken
  // as the cost of all 6 rows, it let a 16 s drawing start after the first step (training 40%).
  const t = new TimeShare();
  t.record('draw', 0, 500, 6, false);
  assert.equal(t.expected('draw', { units: 6 }), null, 'still unknown');
  assert.equal(t.trainingShare(500), null, 'the window opens with the first training: the pass Play cut short delayed the first step');
  t.record('train', 500, 9000);
  assert.equal(t.totals(9000).wall, 8500);
  t.record('draw', 9000, 9000, 1, false);
  assert.equal(t.totals(9000).other, 0, 'a pass cut short after training counts');
  assert.equal(t.largestFit('draw', 9000, 6), 1, 'unknown: one row');
  t.record('draw', 9000, 11700, 1); // a complete row: 2.7 s
  assert.equal(t.totals(11700).other, 2700, 'its time counts');
  assert.equal(t.expected('draw', { units: 6 }), 16200);
  t.record('draw', 11700, 11800, 6, false); // cut short again: a lower bound below the known cost
  assert.equal(t.expected('draw', { units: 1 }), 2700, 'a lower bound does not lower it');
  t.record('draw', 11800, 15800, 1, false); // cut short after 4 s: it costs at least that
  assert.equal(t.expected('draw', { units: 1 }), 4000, 'a lower bound above it raises it');
});
