// The worker's frame pacing (www/worker/frame-timer.js): pure, tested without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameTimer, median } from '../../www/worker/frame-timer.js';

test('the first frame is one step, the warm-up; later frames aim at about 150 ms', () => {
  const t = new FrameTimer();
  assert.equal(t.nextSteps(), 1);
  let r = t.record(1, 5000, 1, 5000);
  assert.equal(r.warmupMs, 5000, 'the first frame (shader compilation) is the warm-up');
  assert.equal(r.msPerStep, null, 'no steady frame yet');
  assert.equal(t.nextSteps(), 1, 'after the warm-up the pace is still unknown');
  r = t.record(1, 10, 2, 5010);
  assert.equal(r.msPerStep, 10);
  assert.equal(t.nextSteps(), 15, '150 ms of 10 ms steps');
  t.record(15, 150, 17, 5160);
  assert.equal(t.nextSteps(), 15);
  // Slow steps: one per frame; fast steps: at most 64.
  for (let i = 0; i < 10; i++) t.record(1, 1000, 18 + i, 6200 + 1000 * i);
  assert.equal(t.nextSteps(), 1);
  for (let i = 0; i < 10; i++) t.record(64, 6.4, 100 + 64 * i, 20000 + i);
  assert.equal(t.nextSteps(), 64);
  t.reset();
  assert.equal(t.nextSteps(), 1);
  assert.equal(t.warmupMs, null);
});

test('steps per second over the last seconds', () => {
  const t = new FrameTimer();
  t.record(1, 100, 1, 0);
  const r = t.record(10, 1000, 11, 1000);
  assert.equal(r.stepsPerSec, 10);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([]), null);
});
