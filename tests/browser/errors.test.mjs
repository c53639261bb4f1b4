// 5. A malformed IDX file and a corrupt checkpoint produce a clear error message, and the page
//    still trains. Also: a checkpoint for another model/L. (A lost GPU device: train.test.mjs.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { launch, openPage, waitReady, assertCpuBackend, train, lab, artifact, SMALL_CPU } from './helpers.mjs';

let env;
let page;
let consoleErrors;
before(async () => {
  env = await launch({ webgpu: false });
  ({ page, consoleErrors } = await openPage(env.context, env.url, SMALL_CPU));
  await waitReady(page);
  await assertCpuBackend(page);
});
after(async () => {
  await env?.close();
});

const bannerText = (id) => page.$eval(`.banner[data-id="${id}"]`, (b) => b.textContent).catch(() => null);

test('a malformed IDX file gives a clear message and the page keeps training', async () => {
  const step0 = await train(page, 3);
  const bad = artifact('malformed-images-idx3-ubyte');
  // A wrong magic number, then garbage.
  fs.writeFileSync(bad, Buffer.from([0x00, 0x00, 0x08, 0x07, 0, 0, 0, 5, 1, 2, 3]));
  await page.click('summary:has-text("Train on other IDX data")');
  await page.setInputFiles('#data-images', bad);
  await page.click('#data-load-files');
  await page.waitForSelector('.banner.error[data-id="data"]');
  const msg = await bannerText('data');
  console.log(`# message: ${msg}`);
  // Caught by the page's check of the first bytes, before the file is read into the wasm.
  assert.match(msg, /Could not read malformed-images-idx3-ubyte: it is not an IDX image file \(gzipped or not\)/);
  assert.match(msg, /Still using bundled MNIST/);
  assert.match(await page.textContent('#data-status'), /bundled MNIST/);
  // Truncated gzip too.
  const gz = fs.readFileSync(new URL('../../www/data/mnist-10k-images-idx3-ubyte.gz', import.meta.url));
  fs.writeFileSync(bad, gz.subarray(0, 5000));
  await page.setInputFiles('#data-images', bad);
  await page.click('#data-load-files');
  await page.waitForFunction(() => window.denoiseLab.errors.length >= 2);
  // (A file larger than the core accepts is refused by its size; tests/node/file-checks.test.mjs.)
  const gzMsg = await bannerText('data');
  console.log(`# message: ${gzMsg}`);
  assert.match(gzMsg, /Could not read malformed-images-idx3-ubyte: bad data file: the file looks gzipped but is corrupt or incomplete \(incomplete deflate stream\)/);
  assert.match(gzMsg, /Still using bundled MNIST/);
  const step1 = await train(page, 3);
  assert.ok(step1 >= step0 + 3, 'still trains after the bad data');
});

test('a corrupt checkpoint gives a clear message and the page keeps training', async () => {
  const step0 = await lab(page, 'lab.step');
  const bad = artifact('corrupt.ckpt');
  fs.writeFileSync(bad, Buffer.from('this is not a checkpoint at all, just some text that is long enough'));
  await page.setInputFiles('#import-file', bad);
  await page.waitForSelector('.banner.error[data-id="import"]');
  const msg = await bannerText('import');
  console.log(`# message: ${msg}`);
  assert.match(msg, /corrupt.ckpt is not a usable denoise-lab checkpoint: it does not start with the checkpoint header/);

  // A real checkpoint with flipped bytes in the middle (the CRC catches it).
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const good = artifact('errors-good.ckpt');
  await download.saveAs(good);
  const bytes = fs.readFileSync(good);
  for (let i = Math.floor(bytes.length / 2); i < Math.floor(bytes.length / 2) + 64; i++) bytes[i] ^= 0xff;
  fs.writeFileSync(bad, bytes);
  await page.click('.banner[data-id="import"] .close');
  await page.setInputFiles('#import-file', bad);
  await page.waitForSelector('.banner.error[data-id="import"]');
  const crcMsg = await bannerText('import');
  console.log(`# message: ${crcMsg}`);
  assert.match(crcMsg, /not a usable denoise-lab checkpoint: bad checkpoint: the file is truncated or corrupt \(checksum mismatch\)/);
  assert.equal(await lab(page, 'lab.step'), step0, 'the session was kept');
  const step1 = await train(page, 3);
  assert.ok(step1 >= step0 + 3, 'still trains after the corrupt checkpoint');
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('a checkpoint for another model or L is refused with a choice', async () => {
  const good = artifact('errors-good.ckpt');
  // The count of sessions before the change: read after it, a quick restart could already have
  // counted the new one, and the wait would be for a session that never comes (it happened).
  const before = await lab(page, 'lab.readyVersion');
  await page.fill('#ctl-L', '8');
  await page.press('#ctl-L', 'Enter');
  await waitReady(page, { version: before + 1 });
  // A run at L = 8, playing (so not saved by a pause) when the import replaces it.
  await page.click('#play');
  await page.waitForFunction(() => window.denoiseLab.step >= 2, null, { timeout: 60000, polling: 50 });
  await page.setInputFiles('#import-file', good);
  // The previous test may have left an 'import' error banner: wait for the new message.
  await page.waitForFunction(() => /checkpoint is for/.test(document.querySelector('.banner[data-id="import"]')?.textContent || ''));
  const msg = await bannerText('import');
  assert.match(msg, /checkpoint is for the denoiser with L = 10/);
  assert.equal((await lab(page, 'lab.info')).levels, 8, 'session unchanged');
  const v = await lab(page, 'lab.readyVersion');
  await page.click('.banner[data-id="import"] button:has-text("Switch to")');
  await waitReady(page, { version: v + 1 });
  assert.equal((await lab(page, 'lab.info')).levels, 10);
  assert.equal(await page.inputValue('#ctl-L'), '10');
  // The run the import replaced was autosaved first (issue 26), and the file's bytes let go.
  const saved = await page.evaluate(async (L) => {
    const { autosaveKey, loadAutosave } = await import('/www/page/autosave.js');
    const { trainConfig } = await import('/www/page/state.js');
    const s = await loadAutosave(autosaveKey(trainConfig({ ...window.denoiseLab.config, L, a: null }), 'bundled'));
    return s ? s.step : null;
  }, 8);
  assert.ok(saved >= 2, `the L = 8 run was saved before the import replaced it (step ${saved})`);
  assert.equal(await lab(page, 'lab.importPending'), false, 'the imported bytes are not kept');
});

test('two loads of data in quick succession: the page believes what the worker trains on', async () => {
  await waitReady(page);
  const v = await lab(page, 'lab.readyVersion');
  // Two files sent before the first is answered (a double click on "Load", a slow first URL).
  await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await fetch('www/data/mnist-10k-images-idx3-ubyte.gz')).arrayBuffer());
    const actions = await import('/www/page/actions.js');
    actions.loadData(bytes, undefined, 'first-images-idx3-ubyte.gz');
    actions.loadData(bytes, undefined, 'second-images-idx3-ubyte.gz');
  });
  await waitReady(page, { version: v + 2 });
  await page.waitForFunction(() => /second-images/.test(document.getElementById('data-status').textContent), null, { timeout: 60000 });
  const state = await page.evaluate(async () => {
    const { run } = await import('/www/page/store.js');
    return { custom: run.customData?.name ?? null, pending: run.pendingData.size };
  });
  // The data the page restarts a crashed worker with, and names its autosaves by.
  assert.equal(state.custom, 'second-images-idx3-ubyte.gz', 'the page keeps the file the worker trains on');
  assert.equal(state.pending, 0, 'no load left waiting');
});

test('data from a URL: the button waits for the download, which shows its progress, a failed one says so, and Cancel stops one', async () => {
  await waitReady(page);
  const bytes = fs.readFileSync(new URL('../../dist/www/data/mnist-10k-images-idx3-ubyte.gz', import.meta.url));
  // A slow server: the answer comes after 1.5 s.
  await page.route('**/slow-images-idx3-ubyte.gz', async (route) => {
    await new Promise((r) => setTimeout(r, 1500));
    await route.fulfill({ body: bytes, headers: { 'content-type': 'application/gzip' } });
  });
  await page.route('**/missing-images-idx3-ubyte.gz', (route) => route.fulfill({ status: 404, body: '' }));
  if (!(await page.isVisible('#data-images-url'))) await page.click('summary:has-text("Train on other IDX data")');
  const v = await lab(page, 'lab.readyVersion');
  await page.fill('#data-images-url', `${env.url}/slow-images-idx3-ubyte.gz`);
  await page.click('#data-load-url');
  assert.equal(await page.isDisabled('#data-load-url'), true, 'one download at a time');
  assert.match(await page.textContent('#data-status'), /^Downloading /);
  await waitReady(page, { version: v + 1 });
  await page.waitForFunction(() => /slow-images/.test(document.getElementById('data-status').textContent), null, { timeout: 60000 });
  assert.equal(await page.isDisabled('#data-load-url'), false, 'free again once it ended');
  await page.fill('#data-images-url', `${env.url}/missing-images-idx3-ubyte.gz`);
  await page.click('#data-load-url');
  await page.waitForFunction(() => /HTTP 404/.test(document.querySelector('.banner[data-id="data"]')?.textContent || ''), null, { timeout: 30000 });
  assert.match(await page.textContent('#data-status'), /slow-images/, 'still the data before');
  assert.equal(await page.isDisabled('#data-load-url'), false);
  // A download that never ends can be cancelled: the data stays, the button is free again.
  await page.route('**/hanging-images-idx3-ubyte.gz', () => {});
  const ready = await lab(page, 'lab.readyVersion');
  assert.equal(await page.isVisible('#data-cancel-url'), false, 'Cancel only during a download');
  await page.fill('#data-images-url', `${env.url}/hanging-images-idx3-ubyte.gz`);
  await page.click('#data-load-url');
  await page.click('#data-cancel-url');
  await page.waitForFunction(() => !document.getElementById('data-load-url').disabled, null, { timeout: 10000 });
  assert.match(await page.textContent('#data-status'), /^Download cancelled\. .*slow-images/);
  assert.equal(await page.isVisible('#data-cancel-url'), false);
  assert.equal(await lab(page, 'lab.readyVersion'), ready, 'no new run');
});
