// 6. Without the WebGPU flags there is no adapter: the page falls back to the CPU, says so, and
//    still trains.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, waitReady, train, lab, mean, artifact } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

test('no WebGPU adapter: CPU fallback, a visible banner, and training works', async () => {
  // The full-size defaults (32 channels, batch 64), kept by light=0 (without it the page starts
  // light by itself on a CPU: first-minute.test.mjs): the banner offers lighter settings.
  const { page, consoleErrors } = await openPage(env.context, env.url, 'L=10&rows=3&cols=4&light=0');
  const adapter = await page.evaluate(async () => (navigator.gpu ? !!(await navigator.gpu.requestAdapter()) : false));
  assert.equal(adapter, false, 'this browser has no WebGPU adapter (launched without the WebGPU flags)');
  await waitReady(page);
  assert.equal(await lab(page, 'lab.backend'), 'cpu');
  const banner = await page.textContent('.banner[data-id="backend"]');
  assert.match(banner, /WebGPU unavailable: training on the CPU \(slower\)/);
  assert.match(banner, /\(slower\)\. [A-Z][^]*\.\s*Use lighter settings/, 'the reason is a sentence of its own, with its full stop');
  assert.match(await page.textContent('#stat-backend'), /CPU/);
  const v = await lab(page, 'lab.readyVersion');
  await page.click('.banner[data-id="backend"] button:has-text("lighter settings")');
  await waitReady(page, { version: v + 1 });
  assert.equal(await page.inputValue('#ctl-channels'), '8');
  assert.equal(await page.inputValue('#ctl-batch'), '16');
  assert.match(page.url(), /channels=8/, 'the lighter settings are in the URL');
  assert.equal((await lab(page, 'lab.info')).config.base_channels, 8, 'the worker trains the lighter network');
  const step = await train(page, 12, { timeout: 300000 });
  assert.ok(step >= 12);
  const losses = await lab(page, 'lab.losses');
  assert.ok(losses.every(Number.isFinite));
  console.log(`# CPU: ${losses.length} steps, loss ${mean(losses.slice(0, 3)).toFixed(3)} -> ${mean(losses.slice(-3)).toFixed(3)}, ${(await lab(page, 'lab.msPerStep'))?.toFixed(0)} ms/step`);
  await page.screenshot({ path: artifact('cpu-fallback.png') });
  assert.deepEqual(consoleErrors, [], 'no console errors');
});
