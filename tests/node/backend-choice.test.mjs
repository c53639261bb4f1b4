// Which backend the page trains on (www/shared/webgpu.js chooseBackend) for each URL value and each
// adapter, and that the URL keeps the choice (www/page/state.js): pure functions, no browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseBackend } from '../../www/shared/webgpu.js';
import { parseQuery, toQuery } from '../../www/page/state.js';

const gpu = { ok: true, adapter: { vendor: 'nvidia' }, cpuAdapter: false };
const swiftshader = { ok: true, adapter: { vendor: 'google', architecture: 'swiftshader' }, cpuAdapter: true };
const none = { ok: false, reason: 'no WebGPU adapter is available' };

test('a GPU trains on WebGPU unless the URL asks for the CPU backend', () => {
  assert.equal(chooseBackend(gpu, 'auto').backend, 'webgpu');
  assert.equal(chooseBackend(gpu, 'webgpu').backend, 'webgpu');
  // backend=cpu never probes (probeWebGpu(true) reports ok: false with the reason).
  assert.equal(chooseBackend({ ok: false, reason: 'the CPU backend was requested' }, 'cpu').backend, 'cpu');
});

test('a CPU adapter trains on the CPU backend, unless the URL asks for WebGPU', () => {
  const auto = chooseBackend(swiftshader, 'auto');
  assert.equal(auto.backend, 'cpu');
  assert.match(auto.reason, /runs on the CPU/);
  assert.deepEqual(chooseBackend(swiftshader, 'webgpu'), { backend: 'webgpu', reason: null });
});

test('without an adapter the CPU backend, with the probe’s reason, whatever the URL asks', () => {
  for (const requested of ['auto', 'webgpu']) assert.deepEqual(chooseBackend(none, requested), { backend: 'cpu', reason: none.reason });
});

test('backend=webgpu (or gpu) is kept in the URL; auto is the default and not written', () => {
  for (const value of ['webgpu', 'gpu']) {
    const s = parseQuery(`backend=${value}`);
    assert.deepEqual(s.problems, []);
    assert.equal(s.view.backend, 'webgpu');
    assert.match(toQuery(s), /backend=webgpu/);
  }
  assert.equal(parseQuery('').view.backend, 'auto');
  assert.doesNotMatch(toQuery(parseQuery('backend=auto')), /backend=/);
});
