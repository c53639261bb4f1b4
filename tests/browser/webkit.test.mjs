// WebKit (WebKitGTK's MiniBrowser under Xvfb, over classic WebDriver: tests/browser/engines.mjs).
// It has no navigator.gpu, so the page says so and trains on burn's CPU backend; the loss falls and
// nothing reports an error. Started with LANG=C.UTF-8 (a Debian container's default), WebKitGTK
// reports navigator.language "C", which Intl rejects (uPlot builds a formatter with it when its
// module loads, which stopped the page at "Loading…"): the page still starts and trains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { artifact, SMALL } from './helpers.mjs';
import { describeRun, launchWebKit, trainAndLearn } from './engines.mjs';

for (const lang of ['en_US.UTF-8', 'C.UTF-8']) {
  const named = `LANG=${lang}`;
  test(`WebKit (${named}): the CPU backend with its banner, the loss falls, no errors`, async () => {
    const engine = await launchWebKit({ lang });
    try {
      const page = await engine.open(SMALL);
      // The CPU backend: the drawing worker beside training draws the grids (www/worker/drawer.js).
      const run = await trainAndLearn(page, { steps: 30, drawnBeside: true });
      console.log(describeRun(`${engine.name} (${named})`, run));
      const st = await page.evaluate(`({
        gpu: 'gpu' in navigator,
        language: Object.getOwnPropertyDescriptor(Navigator.prototype, 'language').get.call(navigator),
        used: navigator.language,
        backend: window.denoiseLab.backend,
        banner: document.querySelector('.banner[data-id="backend"]')?.textContent,
        shown: document.getElementById('stat-backend').textContent,
        loading: document.getElementById('loading').textContent,
      })`);
      if (lang === 'C.UTF-8') {
        assert.equal(st.language, 'C', 'the browser reports the locale Intl rejects');
        assert.equal(st.used, 'en-US', 'the page formats with a locale Intl accepts instead');
      } else {
        assert.equal(st.language, 'en-US');
        assert.equal(st.used, 'en-US', 'a usable locale is kept');
      }
      assert.equal(st.gpu, false, 'this WebKit has no navigator.gpu');
      assert.equal(st.backend, 'cpu');
      assert.match(st.banner, /WebGPU unavailable: training on the CPU/);
      assert.match(st.shown, /CPU/);
      assert.doesNotMatch(st.loading, /could not start/);
      await page.screenshot(artifact(`webkit-${lang === 'C.UTF-8' ? 'C' : 'en'}.png`));
      assert.deepEqual(await page.errors(), [], 'no console.error() call and no uncaught error');
    } finally {
      await engine.close();
    }
  });
}
