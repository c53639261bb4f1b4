// The metrics panel shows numbers for every sampler and for real digits,
// the class histograms are drawn, the figures update while training, and a quiz scenario preset
// (one click) sets up its models, samplers, caption and URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { PNG } from 'pngjs';
import { launch, openPage, waitReady, waitSamplesCurrent, assertCpuBackend, train, canvasPixels, lab, artifact, pixelStats, SMALL_CPU } from './helpers.mjs';

let env;
let page;
let consoleErrors;

before(async () => {
  env = await launch({ webgpu: false });
  // Few metric samples keep the pass short on SwiftShader; me=10: measure every 10 steps.
  ({ page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&mn=24&me=10&resume=0`));
});
after(async () => {
  await env?.close();
});

/** Rows of the metrics table: {sampler: {frechet, entropy, diversity}} as parsed numbers. */
async function metricsTable() {
  return page.$$eval('#metrics-table tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((r) => [
        r.dataset.sampler,
        {
          frechet: Number(r.querySelector('.frechet').textContent),
          entropy: Number(r.querySelector('.entropy').textContent),
          diversity: Number(r.querySelector('.diversity').textContent),
        },
      ]),
    ),
  );
}

/** Mean absolute difference between the rows of a grid's last column (the draws' ends z_0). */
function endsSpread(px, rows, cols) {
  const cw = px.width / cols;
  const ch = px.height / rows;
  const cell = (r) => {
    const out = [];
    for (let y = 0; y < ch - 2; y++) for (let x = 0; x < cw - 2; x++) out.push(px.data[4 * ((r * ch + y) * px.width + (cols - 1) * cw + x)]);
    return out;
  };
  const cells = Array.from({ length: rows }, (_, r) => cell(r));
  let s = 0;
  let pairs = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = i + 1; j < rows; j++) {
      s += cells[i].reduce((acc, v, k) => acc + Math.abs(v - cells[j][k]), 0) / cells[i].length;
      pairs++;
    }
  }
  return s / pairs;
}

/**
 * Problem 2's "one step, many draws" view, read from its screenshot and canvases: the four
 * samplers side by side, each drawn; the true conditional's draws end on different digits, the
 * Gaussian step's (at Φ*'s mean) are blurs that differ less.
 */
async function checkDrawsView() {
  await page.waitForFunction(() => window.denoiseLab.draws?.classes?.['universal/exact'] != null, null, { timeout: 120000, polling: 250 });
  const figs = await page.$$eval('#draws-grids figure', (fs) => fs.map((f) => f.dataset.sampler));
  assert.deepEqual(figs, ['universal/exact', 'universal/stochastic', 'stochastic', 'cvae']);
  const shot = PNG.sync.read(await page.locator('#panel-draws').screenshot({ path: artifact('problem2-draws.png') }));
  const st = pixelStats({ width: shot.width, height: shot.height, data: shot.data });
  assert.ok(st.distinct > 50 && st.max - st.min > 150, `the draws view is drawn: ${JSON.stringify(st)}`);
  const d = await lab(page, 'lab.draws');
  const levels = d.level === 1 ? 2 : 3;
  const spread = {};
  for (const spec of figs) {
    const px = await canvasPixels(page, `#draws-grids figure[data-sampler="${spec}"] canvas`);
    spread[spec] = endsSpread(px, 8, levels);
  }
  const text = await page.textContent('#draws-grids');
  console.log(`# one z_${d.level}, 8 draws: classes reached ${JSON.stringify(d.classes)}; spread of the ends ${JSON.stringify(Object.fromEntries(Object.entries(spread).map(([k, v]) => [k, v.toFixed(1)])))}`);
  assert.match(text, /8 draws end in \d+ class/);
  assert.ok(spread['universal/exact'] > 1.2 * spread['universal/stochastic'], `the true step is multimodal, the Gaussian step is not: ${JSON.stringify(spread)}`);
}

/** A histogram canvas is drawn: white background and bars in the row's colour (its swatch). */
async function assertHistogramDrawn(sampler) {
  const row = `#metrics-table tr[data-sampler="${sampler}"]`;
  const px = await canvasPixels(page, `${row} canvas.hist`);
  const swatch = await page.$eval(`${row} .swatch`, (e) => getComputedStyle(e).backgroundColor);
  const [cr, cg, cb] = swatch.match(/\d+/g).map(Number);
  assert.ok(px.width >= 100 && px.height >= 30, `${sampler}: histogram canvas has a size (${px.width}x${px.height})`);
  let bar = 0;
  let white = 0;
  for (let i = 0; i < px.data.length; i += 4) {
    const [r, g, b] = [px.data[i], px.data[i + 1], px.data[i + 2]];
    if (r === 255 && g === 255 && b === 255) white++;
    else if (Math.abs(r - cr) + Math.abs(g - cg) + Math.abs(b - cb) < 12) bar++;
  }
  const n = px.data.length / 4;
  // Even a collapsed sampler (one bar of full height) covers about 5% of the canvas.
  assert.ok(bar > 0.03 * n, `${sampler}: bars in ${swatch} are drawn (${bar} of ${n} pixels)`);
  assert.ok(white > 0.2 * n, `${sampler}: not a filled block (${white} white pixels)`);
}

test('the metrics panel shows numbers for every sampler and real digits, histograms drawn, updated while training', async () => {
  await waitReady(page);
  await assertCpuBackend(page);
  await page.waitForFunction(() => window.denoiseLab.metrics && window.denoiseLab.metrics.samplers, null, { timeout: 180000, polling: 250 });
  const m0 = await lab(page, 'lab.metrics');
  assert.equal(m0.step, 0, 'the untrained model is measured as soon as it is ready');
  const t0 = await metricsTable();
  assert.deepEqual(Object.keys(t0).sort(), ['ddim', 'deterministic', 'real', 'stochastic']);
  for (const [name, row] of Object.entries(t0)) {
    for (const [k, v] of Object.entries(row)) assert.ok(Number.isFinite(v) && v >= 0, `${name} ${k} is a number: ${v}`);
    await assertHistogramDrawn(name);
  }
  // Real digits: every class present, entropy near ln 10; an untrained denoiser is far from them.
  assert.equal(m0.real.histogram.reduce((a, b) => a + b, 0), 24);
  assert.ok(m0.real.entropy_nats > 1.6, `real digits' class entropy ${m0.real.entropy_nats}`);
  assert.ok(m0.samplers.ddim.frechet > m0.real.frechet, `untrained DDIM ${m0.samplers.ddim.frechet} vs real ${m0.real.frechet}`);
  assert.ok(m0.reference.classifier_accuracy >= 0.97, `shipped classifier ${m0.reference.classifier_accuracy}`);
  assert.match(await page.textContent('#metrics-status'), /Measured at step 0: 24 samples per sampler/);

  const v0 = await lab(page, 'lab.metricsVersion');
  await train(page, 25);
  await page.waitForFunction(([v]) => window.denoiseLab.metricsVersion > v && window.denoiseLab.metrics.step >= 20, [v0], { timeout: 180000, polling: 250 });
  const m1 = await lab(page, 'lab.metrics');
  console.log(`# metrics at step ${m1.step}: ${JSON.stringify(Object.fromEntries(Object.entries(m1.samplers).map(([k, v]) => [k, [v.frechet.toFixed(1), v.entropy_nats.toFixed(2), v.diversity.toFixed(1)]])))}; real FD ${m1.real.frechet.toFixed(1)}`);
  assert.notDeepEqual(m1.samplers, m0.samplers, 'the figures change with training');
  // "Measure now" measures again on demand.
  const v1 = await lab(page, 'lab.metricsVersion');
  await page.click('#measure');
  await page.waitForFunction(([v]) => window.denoiseLab.metricsVersion > v, [v1], { timeout: 120000, polling: 250 });
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('Pause stops a measuring pass that started while playing; the paused weights are measured after', async () => {
  await waitReady(page);
  // Press Pause the moment a measurement starts while playing (me=10: one falls due every 10 steps).
  await page.evaluate(() => {
    const panel = document.getElementById('panel-metrics');
    const seen = new MutationObserver(() => {
      if (!panel.classList.contains('busy') || !window.denoiseLab.playing) return;
      seen.disconnect();
      window.pausedInMeasurement = true;
      document.getElementById('play').click();
    });
    seen.observe(panel, { attributes: true, attributeFilter: ['class'] });
  });
  const skipped = (await lab(page, 'lab.metricsSkipped')) ?? 0;
  await page.click('#play');
  await page.waitForFunction(() => window.pausedInMeasurement && window.denoiseLab.pausedStep != null, null, { timeout: 180000, polling: 100 });
  // The pass stopped at its next sampler (3 samplers here): without that it would finish first.
  assert.ok(((await lab(page, 'lab.metricsSkipped')) ?? 0) > skipped, 'the measuring pass gave way to Pause');
  const paused = await lab(page, 'lab.pausedStep');
  await page.waitForFunction((s) => window.denoiseLab.metrics?.step === s, paused, { timeout: 180000, polling: 250 });
  assert.match(await page.textContent('#metrics-status'), new RegExp(`Measured at step ${paused}`));
});

test('a lighter redraw (fewer rows, while training) replaces some rows of each grid, the next ones each time, and keeps the others and the figures', async () => {
  await waitReady(page);
  await waitSamplesCurrent(page);
  const grid = '#grid-stochastic canvas';
  const before = await canvasPixels(page, grid);
  const [version, diversity, light] = [await lab(page, 'lab.samplesVersion'), await lab(page, 'lab.finalDiversity'), await lab(page, 'lab.lightDrawings')];
  await page.evaluate(() => window.denoiseLab.debugDraw(1));
  await page.waitForFunction((n) => window.denoiseLab.lightDrawings > n, light, { timeout: 60000, polling: 100 });
  const after = await canvasPixels(page, grid);
  assert.deepEqual([after.width, after.height], [before.width, before.height], 'the grid keeps its rows');
  // Rows 2-4 (SMALL: 4 rows) are the full pass's, pixel for pixel.
  const rowBytes = (before.height / 4) * before.width * 4;
  assert.deepEqual(after.data.slice(rowBytes), before.data.slice(rowBytes), 'the rows not redrawn are unchanged');
  assert.equal(await lab(page, 'lab.samplesVersion'), version, 'not counted as a drawing of every row');
  assert.deepEqual(await lab(page, 'lab.finalDiversity'), diversity, 'the figures stay the full pass’s');
  assert.deepEqual(await lab(page, 'lab.lightRows'), { rows: 1, of: 4, first: 0, step: await lab(page, 'lab.step') });
  assert.match(await page.textContent('#metrics-stochastic'), /row 1 of 4 redrawn at step \d+ while training, the others and the figures at step \d+/);
  // The next lighter redraw takes the next row (they rotate): row 2 changes (other noise: its own
  // seed), rows 1, 3 and 4 stay as they were.
  await page.evaluate(() => window.denoiseLab.debugDraw(1));
  await page.waitForFunction((n) => window.denoiseLab.lightDrawings > n + 1, light, { timeout: 60000, polling: 100 });
  const next = await canvasPixels(page, grid);
  assert.deepEqual(next.data.slice(0, rowBytes), after.data.slice(0, rowBytes), 'row 1 stays');
  assert.notDeepEqual(next.data.slice(rowBytes, 2 * rowBytes), after.data.slice(rowBytes, 2 * rowBytes), 'row 2 is redrawn');
  assert.deepEqual(next.data.slice(2 * rowBytes), after.data.slice(2 * rowBytes), 'rows 3 and 4 stay');
  assert.equal((await lab(page, 'lab.lightRows')).first, 1);
  assert.match(await page.textContent('#metrics-stochastic'), /row 2 of 4 redrawn at step \d+ while training/);
  assert.match(await page.getAttribute(grid, 'aria-label'), /4 samples from z_L to z_0, drawn at step \d+; diversity of z_0 [\d.e+-]+ measured at step \d+/, 'the canvas says what it shows');
});

test('a scenario preset sets up its models, samplers, caption and URL; Free play leaves it', async () => {
  await page.waitForSelector('#scenario-buttons button[data-scenario="few-levels"]');
  const titles = await page.$$eval('#scenario-buttons button.scenario', (bs) => bs.map((b) => b.textContent.trim()));
  assert.equal(titles.length, 7, `six scenarios and free play: ${titles}`);
  const version = await lab(page, 'lab.readyVersion');
  await page.click('#scenario-buttons button[data-scenario="few-levels"]');
  await waitReady(page, { version: version + 1 });
  assert.match(page.url(), /scenario=few-levels/);
  assert.equal(await page.inputValue('#ctl-L'), '4');
  assert.equal(await page.inputValue('#ctl-model'), 'denoiser');
  assert.match(await page.textContent('#scenario-caption'), /Quiz problem 2/);
  assert.equal(await lab(page, 'lab.companionModel'), 'cvae', 'the CVAE trains alongside');
  assert.deepEqual(await lab(page, 'lab.info.models.map((m) => m.model)'), ['denoiser', 'cvae', 'universal']);
  // Only the scenario's samplers: the Gaussian step (stochastic), the CVAE step, and with Φ* the
  // Gaussian step and the true reverse conditional.
  const panels = await page.$$eval('#sampler-panels section.sampler', (s) => s.map((e) => e.dataset.sampler));
  assert.deepEqual(panels, ['stochastic', 'cvae', 'universal/stochastic', 'universal/exact']);
  await page.waitForFunction(() => {
    const m = window.denoiseLab.metrics;
    return m && m.samplers && m.samplers.cvae && m.samplers.stochastic && m.samplers['universal/exact'];
  }, null, { timeout: 240000, polling: 250 });
  // Without any network error, the Gaussian step at L = 4 blurs (far from real digits, no training
  // image reproduced); the true reverse conditional gives training digits. (24 samples: the
  // Fréchet distances of so few are biased upwards, their ratio is what counts.)
  const ideal = await lab(page, 'lab.metrics.samplers');
  const [gauss, exact] = [ideal['universal/stochastic'], ideal['universal/exact']];
  console.log(`# L = 4: Gaussian step with Φ* Fréchet ${gauss.frechet.toFixed(1)}, copies ${gauss.memorisation.copies}; true conditional ${exact.frechet.toFixed(1)}, copies ${exact.memorisation.copies}`);
  assert.ok(gauss.frechet > 2 * exact.frechet, JSON.stringify(ideal));
  assert.ok(exact.memorisation.copies >= 0.75 && gauss.memorisation.copies <= 0.25, JSON.stringify(ideal));
  await checkDrawsView();
  await assertHistogramDrawn('cvae');
  // One step trains both models (the second model's loss shows up).
  await page.click('#step');
  await page.waitForFunction(() => window.denoiseLab.step >= 1 && window.denoiseLab.companionLoss != null, null, { timeout: 120000, polling: 250 });
  assert.equal(await page.isVisible('#stat-companion'), true);

  const v2 = await lab(page, 'lab.readyVersion');
  await page.click('#scenario-buttons button.free');
  await waitReady(page, { version: v2 + 1 });
  assert.doesNotMatch(page.url(), /scenario=/);
  assert.equal(await page.isVisible('#scenario-caption'), false);
  assert.equal(await lab(page, 'lab.companionModel'), null);
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('"What a perfect denoiser does": with Φ*, eq. (2) ends on one image; its samples are training images', async () => {
  const version = await lab(page, 'lab.readyVersion');
  await page.click('#scenario-buttons button[data-scenario="perfect"]');
  await waitReady(page, { version: version + 1 });
  const panels = await page.$$eval('#sampler-panels section.sampler', (s) => s.map((e) => e.dataset.sampler));
  assert.deepEqual(panels, ['universal/deterministic', 'deterministic']);
  await page.waitForFunction(() => window.denoiseLab.finalDiversity && 'universal/deterministic' in window.denoiseLab.finalDiversity, null, { timeout: 120000, polling: 250 });
  const d = await lab(page, 'lab.finalDiversity');
  const real = await lab(page, 'lab.metrics?.real?.diversity ?? null');
  console.log(`# final diversity: eq. (2) with Φ* ${d['universal/deterministic'].toFixed(3)}, untrained network ${d.deterministic.toFixed(3)}`);
  assert.ok(d['universal/deterministic'] < 0.5, `quiz (b): every chain ends on the same image (diversity ${d['universal/deterministic']})`);
  assert.notEqual(await canvasPixels(page, '#grid-universal-deterministic canvas'), null);
  // The memorisation columns: eq. (2) with Φ* ends on a training image; held-out real digits are far.
  await page.waitForFunction(() => window.denoiseLab.metrics?.samplers?.['universal/deterministic'], null, { timeout: 240000, polling: 250 });
  const m = await lab(page, 'lab.metrics');
  console.log(`# nearest training image: eq. (2) with Φ* ${m.samplers['universal/deterministic'].memorisation.median_nn_rms.toFixed(3)}, held-out digits ${m.real.memorisation.median_nn_rms.toFixed(3)}; real diversity ${real}`);
  assert.ok(m.samplers['universal/deterministic'].memorisation.median_nn_rms < 0.1 * m.real.memorisation.median_nn_rms);
  const copies = await page.textContent('#metrics-table tr[data-sampler="universal/deterministic"] .copies');
  assert.match(copies, /^\d+%$/);
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('on other data the digit classifier’s figures are marked n/a and the reference row says "real images"', async () => {
  // Leave the scenario, then load an IDX file the page does not know as the bundled digits.
  const v = await lab(page, 'lab.readyVersion');
  await page.click('#scenario-buttons button.free');
  await waitReady(page, { version: v + 1 });
  const mine = artifact('my-images-idx3-ubyte.gz');
  fs.copyFileSync(new URL('../../www/data/mnist-10k-images-idx3-ubyte.gz', import.meta.url), mine);
  const v2 = await lab(page, 'lab.readyVersion');
  await page.click('summary:has-text("Train on other IDX data")');
  await page.setInputFiles('#data-images', mine);
  await page.click('#data-load-files');
  await waitReady(page, { version: v2 + 1 });
  assert.equal(await lab(page, 'lab.dataDigits'), false);
  await page.click('#measure');
  await page.waitForFunction(() => window.denoiseLab.metrics?.digits === false, null, { timeout: 240000, polling: 250 });
  const real = await page.textContent('#metrics-table tr[data-sampler="real"] td');
  assert.match(real, /real images/);
  assert.equal(await page.textContent('#metrics-table tr[data-sampler="real"] .frechet'), 'n/a');
  assert.equal(await page.textContent('#metrics-table tr[data-sampler="real"] .entropy'), 'n/a');
  assert.match(await page.textContent('#metrics-table tr[data-sampler="real"] .diversity'), /^\d/, 'diversity still applies');
  // The diversity chart's reference series and bar say so too.
  await page.waitForFunction(() => /real images/.test(document.getElementById('chart-diversity').textContent), null, { timeout: 120000, polling: 250 });
  assert.doesNotMatch(await page.textContent('#chart-diversity'), /real digits/);
  assert.doesNotMatch(await page.textContent('#diversity-bars'), /real digits/);
  // (Another pass may be under way, saying "Measuring…": its result says the same.)
  await page.waitForFunction(() => /not the bundled MNIST digits/.test(document.getElementById('metrics-status').textContent), null, { timeout: 240000, polling: 250 });
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('a large measurement runs in chunks: Play during it starts training within seconds, and the figures come later', async () => {
  // 1000 samples per sampler at L = 100 on the CPU backend: a level of the 1000 chains takes about
  // a second here, a sampler about 100 s in one wasm call, which Play used to wait for (issue 26:
  // `mn=1000` started a pass nothing could interrupt). In chunks Play waits for one chunk at most.
  const { page: p, consoleErrors: errors } = await openPage(env.context, env.url, `L=100&channels=4&batch=8&rows=2&cols=4&backend=cpu&mn=1000&resume=0`, { newTab: true });
  try {
    await waitReady(p);
    // Inside the first sampler's chains: a chunk of them is done, and the status line says so.
    await p.waitForFunction(() => window.denoiseLab.measureProgress?.done > 0, null, { timeout: 120000, polling: 100 });
    assert.match(await p.textContent('#metrics-status'), /Measuring 1000 samples per sampler… \(sampler 1 of 3, \d+%\)/);
    const t0 = Date.now();
    await p.click('#play');
    await p.waitForFunction(() => window.denoiseLab.step >= 1, null, { timeout: 120000, polling: 100 });
    const waited = Date.now() - t0;
    console.log(`# Play during a 1000-sample measurement: first step ${(waited / 1000).toFixed(1)} s after it`);
    assert.ok(waited < 15000, `training started ${waited} ms after Play`);
    assert.equal(await lab(p, 'lab.metrics ?? null'), null, 'the pass gave way');
    assert.deepEqual(errors, []);
  } finally {
    await p.close();
  }
});
