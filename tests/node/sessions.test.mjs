// The worker's sessions (www/worker/session.js) without wasm: what it does to a run's settings
// before the core sees them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sessions } from '../../www/worker/session.js';
import { WORK_LIMITS } from '../../www/shared/limits.js';

test('on images larger than the digits the batch comes down to the memory bound, and the page is told', () => {
  const posted = [];
  const sessions = new Sessions(null, 'cpu', (m) => posted.push(m));
  const configs = [
    { model: 'denoiser', batch: 256, base_channels: 32 },
    { model: 'universal', batch: 256, base_channels: 32 }, // Φ* takes no steps
  ];
  sessions.fitBatch(configs, { h: 28, w: 28, n: 100 });
  assert.equal(posted.length, 0, '256 × 32 × 28 × 28 fits');
  sessions.fitBatch(configs, { h: 64, w: 64, n: 100 });
  assert.equal(configs[0].batch, 64);
  assert.ok(64 * 32 * 64 * 64 <= WORK_LIMITS.step_memory.max);
  assert.equal(configs[1].batch, 256);
  assert.equal(posted.length, 1);
  assert.equal(posted[0].type, 'warning');
  assert.match(posted[0].message, /Batch 256 of 64×64 images at 32 channels needs more memory than the page allows \(batch × channels × pixels ≤ 8388608\): using batch 64\./);
});
