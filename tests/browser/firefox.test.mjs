// Firefox (Debian's Firefox ESR, headless, over WebDriver BiDi: tests/browser/engines.mjs). Without
// WebGPU the page finds no navigator.gpu, says so in its banner and trains on burn's CPU backend
// (a nested worker draws the grids beside training);
// with WebGPU enabled it trains on Firefox's own WebGPU (here on Mesa's lavapipe, a CPU Vulkan
// driver). In both the loss falls and nothing is logged as an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, SMALL } from './helpers.mjs';
import { describeRun, launchFirefox, trainAndLearn } from './engines.mjs';

test('Firefox without WebGPU: the CPU backend with its banner, the loss falls, no console errors', async () => {
  const engine = await launchFirefox({ webgpu: false });
  try {
    const page = await engine.open(SMALL);
    // The CPU backend: the drawing worker beside training draws the grids (www/worker/drawer.js).
    const run = await trainAndLearn(page, { steps: 30, drawnBeside: true });
    console.log(describeRun(engine.name, run));
    const st = await page.evaluate(`({ gpu: 'gpu' in navigator, backend: window.denoiseLab.backend, reason: window.denoiseLab.fallbackReason, banner: document.querySelector('.banner[data-id="backend"]')?.textContent, shown: document.getElementById('stat-backend').textContent })`);
    assert.equal(st.gpu, false, 'this Firefox has no navigator.gpu');
    assert.equal(st.backend, 'cpu');
    assert.match(st.reason, /navigator\.gpu is missing/);
    assert.match(st.banner, /WebGPU unavailable: training on the CPU/);
    assert.match(st.shown, /CPU/);
    await page.screenshot(artifact('firefox-cpu.png'));
    assert.deepEqual(page.consoleErrors, [], 'no console errors');
  } finally {
    await engine.close();
  }
});

test("Firefox with WebGPU: trains on Firefox's WebGPU, the loss falls, no console errors", async () => {
  const engine = await launchFirefox({ webgpu: true });
  try {
    // An adapter that runs on the CPU: the page would choose its CPU backend by itself
    // (www/shared/webgpu.js chooseBackend), so the URL asks for WebGPU.
    const page = await engine.open(`${SMALL}&backend=webgpu`);
    const run = await trainAndLearn(page, { steps: 20 });
    console.log(describeRun(`${engine.name} WebGPU`, run));
    const st = await page.evaluate(`({ backend: window.denoiseLab.backend, cpuAdapter: window.denoiseLab.cpuAdapter, warnings: window.denoiseLab.warnings, shown: document.getElementById('stat-backend').textContent })`);
    assert.equal(st.backend, 'webgpu', `training on WebGPU (${JSON.stringify(st)})`);
    assert.match(st.shown, /WebGPU/);
    assert.deepEqual(st.warnings, [], 'no WebGPU error or worker warning');
    await page.screenshot(artifact('firefox-webgpu.png'));
    assert.deepEqual(page.consoleErrors, [], 'no console errors');
  } finally {
    await engine.close();
  }
});
