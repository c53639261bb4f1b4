// Starting the page in Chromium: a browser whose locale Intl rejects still starts, the page has run
// (the handle, the controls) by the document's load event, and a page that cannot start says in
// its status line ("Loading…") what failed and what to try, whether a module of the page throws or
// is missing, the wasm core is broken, or the training worker's script is missing. The failures
// are made on purpose by serving broken files (playwright's route).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitReady, lab, SMALL_CPU } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

/** A fresh tab whose requests for URLs matching `pattern` get `respond(route)`. */
async function openBroken(pattern, respond) {
  const page = await env.context.newPage();
  await page.route(pattern, respond);
  await page.goto(`${env.url}?${SMALL_CPU}`);
  return page;
}

/** The status line once it says the page could not start. */
async function failedStart(page) {
  await page.waitForFunction(() => /could not start/.test(document.getElementById('loading').textContent), null, { timeout: 60000, polling: 100 });
  const st = await page.evaluate(() => {
    const el = document.getElementById('loading');
    return { text: el.textContent, hidden: el.hidden, visible: el.offsetParent !== null };
  });
  assert.equal(st.hidden, false);
  assert.ok(st.visible, 'the message is on screen');
  assert.match(st.text, /^The page could not start: /);
  assert.match(st.text, /Reload the page to try again/, 'it says what to try');
  return st.text;
}

test('a browser locale that Intl rejects ("C") falls back to en-US: the page starts and trains', async () => {
  const page = await env.context.newPage();
  // What WebKitGTK reports when started with LANG=C.
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'language', { get: () => 'C', configurable: true });
    Object.defineProperty(Navigator.prototype, 'languages', { get: () => ['C'], configurable: true });
  });
  const consoleErrors = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  await page.goto(`${env.url}?${SMALL_CPU}`);
  assert.equal(await page.evaluate(() => Object.getOwnPropertyDescriptor(Navigator.prototype, 'language').get.call(navigator)), 'C');
  assert.throws(() => new Intl.NumberFormat('C'), RangeError, 'Intl rejects "C" here too');
  await waitReady(page, { timeout: 60000 });
  assert.equal(await page.evaluate(() => navigator.language), 'en-US');
  await page.click('#play');
  await page.waitForFunction(() => window.denoiseLab.step >= 3, null, { timeout: 60000, polling: 100 });
  await page.click('#play');
  // uPlot (whose module formats with navigator.language) drew the loss chart.
  assert.ok(await page.evaluate(() => !!document.querySelector('#chart-loss canvas')), 'the loss chart is there');
  assert.deepEqual(await lab(page, 'lab.errors'), []);
  assert.deepEqual(consoleErrors, [], 'no console errors');
  await page.close();
});

test('the page has run by the load event: the handle is there and the controls show the URL', async () => {
  const page = await env.context.newPage();
  // What the page looks like to a listener of the load event (a test, an embedding page).
  await page.addInitScript(() => {
    addEventListener('load', () => {
      window.atLoad = { handle: !!window.denoiseLab, L: document.getElementById('ctl-L').value, seed: document.getElementById('ctl-seed').value };
    });
  });
  await page.goto(`${env.url}?${SMALL_CPU}&seed=7`);
  assert.deepEqual(await page.evaluate(() => window.atLoad), { handle: true, L: '10', seed: '7' });
  await page.close();
});

test('a module of the page that throws while loading: the status line names the error and the file', async () => {
  const page = await openBroken('**/www/page/charts.js', async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, body: `throw new Error('charts.js broken on purpose');\n${await res.text()}` });
  });
  const text = await failedStart(page);
  assert.match(text, /loading the page’s scripts failed with Error: charts\.js broken on purpose \(in www\/page\/charts\.js:1\)/);
  assert.equal(await page.evaluate(() => window.denoiseLab), undefined, 'the page did not start');
  await page.close();
});

test('a module of the page that is missing: the status line says the scripts failed to load', async () => {
  const page = await openBroken('**/www/page/charts.js', (route) => route.fulfill({ status: 404, body: 'not found' }));
  const text = await failedStart(page);
  assert.match(text, /loading the page’s scripts failed: www\/page\/app\.js or a module it imports could not be loaded/);
  assert.equal(await page.evaluate(() => window.denoiseLab), undefined, 'the page did not start');
  await page.close();
});

test('a broken wasm core: the status line says loading the WebAssembly core failed', async () => {
  const page = await openBroken('**/pkg/denoise_lab_bg.wasm', (route) => route.fulfill({ status: 200, contentType: 'application/wasm', body: 'not a wasm module' }));
  const text = await failedStart(page);
  assert.match(text, /loading the WebAssembly core failed: init: .*CompileError|loading the WebAssembly core failed: init: .*magic/i);
  await page.close();
});

test("the training worker's script is missing: after its restarts the status line says so", async () => {
  const page = await openBroken('**/www/worker/worker.js', (route) => route.fulfill({ status: 404, body: 'not found' }));
  const text = await failedStart(page);
  assert.match(text, /the training worker failed/);
  assert.ok((await lab(page, 'lab.errors')).some((e) => /failed repeatedly/.test(e)), 'and the crash banner says it was not restarted');
  await page.close();
});
