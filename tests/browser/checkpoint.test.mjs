// 4. Export a checkpoint, reload, import it: the same samples for the same seed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launch, openPage, waitReady, assertCpuBackend, train, canvasPixels, meanAbsDiff, lab, waitSamplesCurrent, artifact, SMALL_CPU } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

test('export, reload, import: same samples for the same seed', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=3`);
  await waitReady(page);
  await assertCpuBackend(page);
  const step = await train(page, 20);
  const grids = ['deterministic', 'stochastic', 'ddim'];
  const before = {};
  for (const g of grids) before[g] = await canvasPixels(page, `#grid-${g} canvas`);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const file = artifact('checkpoint.ckpt');
  await download.saveAs(file);
  const size = fs.statSync(file).size;
  assert.ok(size > 1000, `checkpoint has ${size} bytes`);
  assert.match(download.suggestedFilename(), /^denoise-lab-denoiser-L10-step\d+\.ckpt$/);

  // Reload WITHOUT resuming the autosave: an untrained model, different samples.
  const url = new URL(page.url());
  url.searchParams.set('resume', '0');
  await page.goto(url.href);
  await waitReady(page);
  await page.waitForFunction(() => window.denoiseLab.samplesVersion >= 1);
  assert.equal(await lab(page, 'lab.step'), 0, 'fresh model after reload');
  const fresh = await canvasPixels(page, '#grid-ddim canvas');
  assert.ok(meanAbsDiff(before.ddim, fresh).mean > 1, 'an untrained model draws other samples');

  await page.setInputFiles('#import-file', file);
  await waitReady(page, { version: 2 });
  await waitSamplesCurrent(page);
  assert.equal(await lab(page, 'lab.step'), step, 'imported at the exported step');
  assert.match(await page.textContent('#banners'), /Imported checkpoint/);
  for (const g of grids) {
    const after = await canvasPixels(page, `#grid-${g} canvas`);
    const d = meanAbsDiff(before[g], after);
    assert.ok(d.max <= 2, `${g}: same samples after import (max |diff| ${d.max}, mean ${d.mean.toFixed(3)})`);
  }
  // Training continues from the checkpoint.
  const more = await train(page, 3);
  assert.ok(more >= step + 3);
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('a reload resumes from the autosave', async () => {
  const { page } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=5`);
  await waitReady(page);
  const step = await train(page, 5);
  // Pausing autosaves; wait for it to land in IndexedDB.
  await page.waitForFunction((s) => window.denoiseLab.autosaves > 0 && document.getElementById('autosave-status').textContent.includes(`step ${s}`), step);
  await page.reload();
  await waitReady(page);
  assert.equal(await lab(page, 'lab.step'), step, 'resumed at the autosaved step');
  assert.match(await page.textContent('#banners'), new RegExp(`Resumed from step ${step}`));
});

test('entering a scenario saves the free-play run first', async () => {
  const { page } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=13`);
  await waitReady(page);
  const step = await train(page, 3);
  await page.waitForFunction((s) => document.getElementById('autosave-status').textContent.includes(`step ${s}`), step);
  // One step more (not autosaved yet), then open a scenario: the run being left is saved.
  await page.click('#step');
  await page.waitForFunction((s) => window.denoiseLab.step > s, step);
  const left = await lab(page, 'lab.step');
  const saves = await lab(page, 'lab.autosaves');
  const v = await lab(page, 'lab.readyVersion');
  await page.click('button.scenario[data-scenario="collapse"]');
  await waitReady(page, { version: v + 1 });
  await page.waitForFunction((n) => window.denoiseLab.autosaves > n, saves);
  // The same settings again resume at the step the run was left at.
  await page.goto(`${env.url}?${SMALL_CPU}&seed=13`);
  await waitReady(page);
  assert.equal(await lab(page, 'lab.step'), left, 'the run left for the scenario was saved at its step');
});
