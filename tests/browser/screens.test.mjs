// Any screen, every student (issue 25): the page on a 390 px phone (no horizontal scroll, banners
// stacked and readable, touch targets 44 px tall), images smaller than 28 pixels drawn enlarged
// with column labels that do not overlap, axe-core's WCAG 2.1 A/AA rules on the page and on the
// embed, Space to play and pause, and every control reachable with Tab. One browser without
// WebGPU (so the CPU banner shows), the CPU backend and small settings.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { launch, openPage, waitReady, lab, artifact, axeCheck, SMALL, SMALL_CPU } from './helpers.mjs';

let env;
let page;
let consoleErrors;

before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

/** Navigate the shared tab to `query` and wait for a session and its first grids. */
async function load(query) {
  if (!page) ({ page, consoleErrors } = await openPage(env.context, env.url, query));
  else await page.goto(`${env.url}?${query}`);
  await waitReady(page);
  await page.waitForFunction(() => window.denoiseLab.samplesVersion >= 1, null, { timeout: 120000, polling: 100 });
}

/** The smallest height of the visible touch targets (buttons, fields, selects, links acting as buttons). */
const touchTargets = () =>
  page.$$eval('button, .button, select, input:not([type="checkbox"]):not([type="radio"]):not(.visually-hidden), label.check, summary, a.open-full', (els) =>
    els
      .map((e) => ({ e, r: e.getBoundingClientRect() }))
      .filter(({ e, r }) => r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden')
      .map(({ e, r }) => ({ what: `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''} “${(e.textContent || e.getAttribute('aria-label') || '').trim().slice(0, 30)}”`, height: r.height })),
  );

test('at 390 px: no horizontal scroll, the CPU banner stacked above its buttons, touch targets 44 px tall; at 1400 px the sidebar layout', async () => {
  // Without WebGPU and with no backend in the URL: the CPU backend, and the banner that says so.
  await load(`${SMALL}&resume=0`);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForSelector('.banner[data-id="backend"]');
  await page.click('summary:has-text("Train on other IDX data")'); // its fields count too
  await page.waitForTimeout(300); // charts follow the width through a ResizeObserver
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.chain, table.metrics')).slice(0, 5).map((e) => `${e.tagName}.${e.className}#${e.id}`));
  assert.ok(scrollWidth <= 390, `no horizontal scroll at 390 px (page ${scrollWidth} px wide; widest: ${wide})`);
  const banner = await page.$eval('.banner[data-id="backend"]', (b) => {
    const [text, acts] = [b.querySelector('.banner-text').getBoundingClientRect(), b.querySelector('.banner-actions').getBoundingClientRect()];
    return { banner: b.getBoundingClientRect().width, text: text.width, textBottom: text.bottom, actsTop: acts.top };
  });
  assert.ok(banner.text >= 0.9 * banner.banner - 30, `the banner's text takes its width (${banner.text} of ${banner.banner} px)`);
  assert.ok(banner.actsTop >= banner.textBottom - 1, 'its buttons are below the text');
  const targets = await touchTargets();
  const smallest = targets.reduce((a, b) => (b.height < a.height ? b : a));
  console.log(`# at 390 px: page ${scrollWidth} px wide, ${targets.length} touch targets, the smallest ${smallest.height.toFixed(1)} px tall (${smallest.what})`);
  assert.ok(smallest.height >= 44, `every touch target is at least 44 px tall at 390 px: ${smallest.what} is ${smallest.height} px`);
  assert.deepEqual(await axeCheck(page), [], 'no WCAG 2.1 A/AA violations at 390 px, with the CPU banner');

  // The embed, in a course page's narrow column: no horizontal scroll either.
  await load(`${SMALL}&resume=0&embed=1`);
  await page.waitForTimeout(300);
  const embedWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(embedWidth <= 390, `no horizontal scroll in the embed at 390 px (${embedWidth} px wide)`);

  // At 1400 px: the settings beside the panels, as before.
  await load(`${SMALL}&resume=0`);
  await page.setViewportSize({ width: 1400, height: 1000 });
  const [controls, main] = await Promise.all([page.$eval('#controls', (e) => e.getBoundingClientRect().right), page.$eval('#main', (e) => e.getBoundingClientRect().left)]);
  assert.ok(controls <= main, 'the settings panel is a sidebar at 1400 px');
  assert.deepEqual(consoleErrors, []);
});

test('axe-core (WCAG 2.1 A and AA) finds nothing on the page and on the embed; canvases say what they show; the status line is live', async () => {
  await load(`${SMALL_CPU}&resume=0`);
  assert.deepEqual(await axeCheck(page), [], 'no violations on the page');
  assert.equal(await page.getAttribute('#loading', 'aria-live'), 'polite');
  assert.equal(await page.getAttribute('#banners', 'aria-live'), 'polite');
  // Every canvas drawn so far is an image with a text alternative naming what it shows.
  const canvases = await page.$$eval('main canvas', (cs) => cs.filter((c) => c.getBoundingClientRect().width > 0).map((c) => ({ role: c.getAttribute('role'), label: c.getAttribute('aria-label'), in: c.closest('[id]')?.id })));
  assert.ok(canvases.length >= 6, `the grids and charts (${canvases.length})`);
  for (const c of canvases) assert.ok(c.role === 'img' && c.label && c.label.length > 10, `canvas in #${c.in}: ${JSON.stringify(c)}`);
  const eq2 = await page.getAttribute('#grid-deterministic canvas', 'aria-label');
  assert.match(eq2, /^Eq\. \(2\).*: 4 samples from z_L to z_0, drawn at step 0; diversity of z_0 [\d.e+-]+ measured at step 0$/);

  await load(`${SMALL_CPU}&resume=0&embed=1`);
  assert.deepEqual(await axeCheck(page), [], 'no violations on the embed');
  assert.deepEqual(consoleErrors, []);
});

test('Space plays and pauses, but not in a field or on a button; Tab reaches every control', async () => {
  await load(`${SMALL_CPU}&resume=0`);
  await page.evaluate(() => document.activeElement?.blur());
  const v = await page.evaluate(() => window.scrollY);
  await page.keyboard.press('Space');
  await page.waitForFunction(() => window.denoiseLab.playing, null, { timeout: 10000 });
  assert.equal(await page.evaluate(() => window.scrollY), v, 'the page does not scroll');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => !window.denoiseLab.playing, null, { timeout: 10000 });
  // In a number field Space is typed, on a checkbox it ticks it: neither plays.
  await page.focus('#ctl-seed');
  await page.keyboard.press('Space');
  await page.waitForTimeout(300);
  assert.equal(await lab(page, 'lab.playing'), false, 'Space in a text field does not play');
  await page.focus('#ctl-model');
  await page.keyboard.press('Space');
  await page.keyboard.press('Escape');
  assert.equal(await lab(page, 'lab.playing'), false, 'Space on a select does not play');
  // On a focused button Space presses that button (Resample), not Play.
  const drawn = await lab(page, 'lab.samplesVersion');
  await page.focus('#resample');
  await page.keyboard.press('Space');
  await page.waitForFunction((n) => window.denoiseLab.samplesVersion > n, drawn, { timeout: 60000, polling: 100 });
  assert.equal(await lab(page, 'lab.playing'), false, 'Space on another button presses that button');

  // Tab from the top reaches every enabled, visible control.
  await page.click('summary:has-text("Train on other IDX data")');
  await page.evaluate(() => document.activeElement?.blur());
  const want = await page.$$eval('button, input, select, summary, a[href]', (els) =>
    els
      .filter((e) => !e.disabled && (e.getBoundingClientRect().width > 0 || e.classList.contains('visually-hidden')) && !e.closest('[hidden], .u-legend'))
      .map((e) => e.id || `${e.tagName}:${e.textContent.trim().slice(0, 20)}`),
  );
  const reached = new Set();
  for (let i = 0; i < want.length + 20; i++) {
    await page.keyboard.press('Tab');
    reached.add(await page.evaluate(() => document.activeElement.id || `${document.activeElement.tagName}:${document.activeElement.textContent.trim().slice(0, 20)}`));
  }
  const missed = want.filter((w) => !reached.has(w));
  assert.deepEqual(missed, [], `every control is reachable with Tab (${want.length} controls)`);
  assert.ok(reached.has('import-file'), 'the checkpoint file input behind its button-styled label');
  assert.deepEqual(consoleErrors, []);
});

/** An IDX file (gzipped) of the first `n` bundled digits shrunk to `size`×`size` (box average). */
function smallDigits(n, size) {
  const src = zlib.gunzipSync(fs.readFileSync(new URL('../../www/data/mnist-10k-images-idx3-ubyte.gz', import.meta.url)));
  const out = Buffer.alloc(16 + n * size * size);
  out.writeUInt32BE(0x803, 0);
  out.writeUInt32BE(n, 4);
  out.writeUInt32BE(size, 8);
  out.writeUInt32BE(size, 12);
  const k = 28 / size;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let s = 0;
        let c = 0;
        for (let yy = Math.floor(y * k); yy < Math.floor((y + 1) * k); yy++) {
          for (let xx = Math.floor(x * k); xx < Math.floor((x + 1) * k); xx++, c++) s += src[16 + i * 784 + yy * 28 + xx];
        }
        out[16 + i * size * size + y * size + x] = Math.round(s / c);
      }
    }
  }
  return zlib.gzipSync(out);
}

test('8×8 images are drawn at >= 28 screen pixels each, and the column labels do not overlap', async () => {
  await load('L=20&cols=11&rows=3&batch=8&channels=4&backend=cpu&resume=0');
  const file = artifact('digits-8x8-idx3-ubyte.gz');
  fs.writeFileSync(file, smallDigits(200, 8));
  const v = await lab(page, 'lab.readyVersion');
  const drawn = await lab(page, 'lab.samplesVersion');
  await page.click('summary:has-text("Train on other IDX data")');
  await page.setInputFiles('#data-images', file);
  await page.click('#data-load-files');
  await waitReady(page, { version: v + 1 });
  assert.equal(await lab(page, 'lab.info.width'), 8);
  await page.waitForFunction((n) => window.denoiseLab.samplesVersion > n, drawn, { timeout: 120000, polling: 100 });
  for (const grid of ['#grid-forward', '#grid-deterministic', '#grid-stochastic']) {
    const shown = await page.$eval(`${grid} canvas`, (c) => ({ css: c.getBoundingClientRect().width, px: c.width }));
    const perImage = (shown.css * 8) / shown.px; // an image is 8 of the canvas's pixels wide (+ the gap)
    assert.ok(perImage >= 28, `${grid}: each 8×8 image is ${perImage.toFixed(1)} screen pixels wide`);
    // The labels' text (not their boxes) side by side, without overlap, each over its column.
    const { boxes, left, colWidth } = await page.$eval(grid, (g) => {
      const spans = [...g.querySelectorAll('.grid-header span')];
      const c = g.querySelector('canvas').getBoundingClientRect();
      const shownBoxes = spans
        .map((s, i) => ({ s, i }))
        .filter(({ s }) => getComputedStyle(s).visibility !== 'hidden')
        .map(({ s, i }) => {
          const r = document.createRange();
          r.selectNodeContents(s);
          const b = r.getBoundingClientRect();
          return { text: s.textContent, column: i, left: b.left, right: b.right };
        });
      return { boxes: shownBoxes, left: c.left, colWidth: c.width / spans.length };
    });
    assert.ok(boxes.length >= 6, `${grid}: labels shown (${boxes.length})`);
    for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i].left >= boxes[i - 1].right, `${grid}: “${boxes[i - 1].text}” and “${boxes[i].text}” do not overlap (${JSON.stringify(boxes.slice(i - 1, i + 1))})`);
    for (const b of boxes) {
      const mid = (b.left + b.right) / 2;
      assert.ok(mid >= left + b.column * colWidth && mid <= left + (b.column + 1) * colWidth, `${grid}: “${b.text}” is over its column ${b.column + 1}`);
    }
  }
  assert.deepEqual(consoleErrors, []);
});
