// 4. Export a checkpoint, reload, import it: the same samples for the same seed. An export does
// not wait for a measuring pass under way.
// A checkpoint trained by the CLI (a fixture of tests/metrics.rs) loads in the page, which shows
// on it what the quiz predicts; its screenshot is the README's picture (DOCS_UPDATE=1 writes it to
// docs/images/page.png).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { launch, openPage, waitReady, assertCpuBackend, train, canvasPixels, meanAbsDiff, pixelStats, lab, waitSamplesCurrent, artifact, SMALL_CPU, ROOT } from './helpers.mjs';

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

test('an export during the measuring pass at load does not wait for it; the pass runs again after', async () => {
  // mn=200: the pass at load measures three samplers for several seconds on the CPU backend.
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&mn=200&resume=0`);
  await waitReady(page);
  await page.waitForSelector('#panel-metrics.busy', { timeout: 60000 });
  const t0 = Date.now();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const ms = Date.now() - t0;
  // The pass gives way at its next sampler: no figures yet when the file arrives.
  assert.equal(await lab(page, 'lab.metrics ?? null'), null, 'the export did not wait for the whole measuring pass');
  assert.ok(fs.statSync(await download.path()).size > 1000);
  await page.waitForFunction(() => window.denoiseLab.metrics != null, null, { timeout: 120000, polling: 200 });
  console.log(`# export during the measuring pass: ${(ms / 1000).toFixed(1)} s; the pass took ${((Date.now() - t0) / 1000).toFixed(1)} s after it`);
  assert.deepEqual(consoleErrors, []);
  await page.close();
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

test('a checkpoint with more levels than the page was bounded for draws within the work limits (L × rows)', async () => {
  // L = 300 with 13 rows is 3900 (the bound is 4000): export it at step 0.
  const { page, consoleErrors } = await openPage(env.context, env.url, 'L=300&rows=13&cols=4&batch=8&channels=4&backend=cpu&mn=10&me=0&seed=5&resume=0');
  await waitReady(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const file = artifact('checkpoint-L300.ckpt');
  await download.saveAs(file);
  // A page at L = 10 with 16 rows (160: within bounds), then the L = 300 checkpoint adopted: 4800.
  await page.goto(`${env.url}?L=10&rows=16&cols=4&batch=8&channels=4&backend=cpu&mn=10&me=0&seed=5&resume=0`);
  await waitReady(page);
  const v = await lab(page, 'lab.readyVersion');
  await page.setInputFiles('#import-file', file);
  await page.click('.banner[data-id="import"] button:has-text("Switch to denoiser, L = 300")');
  await waitReady(page, { version: v + 1 });
  assert.equal(await lab(page, 'lab.info.levels'), 300);
  await page.waitForFunction(() => window.denoiseLab.warnings.some((w) => /L = 300, 4 channels and 28×28 images: drawing 13 rows instead of 16/.test(w)), null, { timeout: 60000, polling: 250 });
  // The imported run's grids (300 levels) come with 13 rows of 30 px.
  const drawn = await page.waitForFunction(() => document.querySelector('#grid-ddim canvas').height === 13 * 30, null, { timeout: 120000, polling: 250 }).then(
    () => true,
    () => false,
  );
  assert.ok(drawn, `13 rows drawn (${await page.$eval('#grid-ddim canvas', (c) => c.height)} px)`);
  assert.deepEqual(consoleErrors, []);
});

test('a checkpoint trained by the CLI loads in the page, which shows on it what the quiz predicts', async () => {
  // Scenario 1's denoiser (L = 40, 600 steps), trained natively by `denoise-lab scenario collapse --save`.
  const fixture = path.join(ROOT, 'tests', 'fixtures', 'collapse-0-denoiser.ckpt');
  const { page, consoleErrors } = await openPage(env.context, env.url, 'L=10&rows=4&cols=6&backend=cpu&mn=32&me=0&seed=3&resume=0');
  await waitReady(page);
  const v = await lab(page, 'lab.readyVersion');
  await page.setInputFiles('#import-file', fixture);
  await page.click('.banner[data-id="import"] button:has-text("Switch to denoiser, L = 40")');
  await waitReady(page, { version: v + 1 });
  assert.equal(await lab(page, 'lab.info.levels'), 40);
  assert.equal(await lab(page, 'lab.step'), 600, 'at the step the CLI saved');
  // Training goes on from the CLI's weights; the pause draws every row and measures the samples.
  const step = await train(page, 10);
  await page.waitForFunction((s) => window.denoiseLab.metrics?.samplers && window.denoiseLab.metrics.step === s, step, { timeout: 180000, polling: 250 });
  const m = await lab(page, 'lab.metrics.samplers');
  console.log(`# CLI checkpoint at step ${step}: ${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, x]) => [k, [x.frechet.toFixed(0), x.entropy_nats.toFixed(2), x.diversity.toFixed(1)]])))}`);
  // Quiz problem 1: eq. (2) collapses, DDIM and the stochastic sampler give digits of many classes.
  assert.ok(m.deterministic.entropy_nats < 0.5 && m.deterministic.diversity < 0.25 * m.ddim.diversity, `eq. (2) collapses: ${JSON.stringify(m.deterministic)}`);
  for (const name of ['stochastic', 'ddim']) {
    assert.ok(m[name].entropy_nats > 1.2, `${name} gives several classes: ${JSON.stringify(m[name])}`);
    assert.ok(m[name].frechet < 0.5 * m.deterministic.frechet, `${name} is nearer real digits than eq. (2)`);
  }
  // The picture: the page at the top, without the banners of the load and the import.
  await page.$$eval('.banner .close', (buttons) => buttons.forEach((b) => b.click()));
  await page.evaluate(() => window.scrollTo(0, 0));
  const viewport = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 990 });
  const file = artifact('cli-checkpoint.png');
  await page.screenshot({ path: file });
  // What the picture shows, read back from it: the forward process and the chains are drawn.
  for (const selector of ['#grid-forward canvas', '#grid-ddim canvas', '#grid-deterministic canvas']) {
    const shot = PNG.sync.read(await page.locator(selector).screenshot());
    const st = pixelStats({ width: shot.width, height: shot.height, data: shot.data });
    assert.ok(st.distinct > 20 && st.max - st.min > 100, `${selector} is drawn in the screenshot: ${JSON.stringify(st)}`);
  }
  await page.setViewportSize(viewport);
  if (process.env.DOCS_UPDATE === '1') {
    const png = path.join(ROOT, 'docs', 'images', 'page.png');
    fs.mkdirSync(path.dirname(png), { recursive: true });
    fs.copyFileSync(file, png);
    console.log(`# DOCS_UPDATE: wrote ${path.relative(ROOT, png)}`);
  }
  assert.deepEqual(consoleErrors, []);
});
