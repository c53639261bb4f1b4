// 3. The URL configuration round-trips: L, a, model (and the rest) set by URL show in the
//    controls; bad values give a clear message and defaults; changing a control updates the URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, waitReady, assertCpuBackend, lab } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

test('URL settings show in the controls and survive a change', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, 'model=cvae&L=6&a=0.4&k=8&lr=0.001&batch=16&seed=7&channels=16&rows=3&cols=5&backend=cpu');
  assert.equal(await page.inputValue('#ctl-model'), 'cvae');
  assert.equal(await page.inputValue('#ctl-L'), '6');
  assert.equal(Number(await page.inputValue('#ctl-a')), 0.4);
  assert.equal(await page.inputValue('#ctl-k'), '8');
  assert.equal(Number(await page.inputValue('#ctl-lr')), 0.001);
  assert.equal(await page.inputValue('#ctl-batch'), '16');
  assert.equal(await page.inputValue('#ctl-seed'), '7');
  assert.equal(await page.inputValue('#ctl-channels'), '16');
  await waitReady(page);
  await assertCpuBackend(page);
  // The session really uses them.
  const info = await lab(page, 'lab.info');
  assert.equal(info.config.model, 'cvae');
  assert.equal(info.levels, 6);
  assert.ok(Math.abs(info.a - 0.4) < 1e-9, `a = ${info.a}`);
  assert.equal(info.config.latent_dim, 8);
  // CVAE: one grid (the progressive CVAE sampler), 6 levels + z_0 fit in 5 columns -> subsampled.
  await page.waitForFunction(() => window.denoiseLab.samplesVersion >= 1);
  assert.ok(await page.$('#grid-cvae canvas'), 'CVAE grid shown');
  assert.equal(await page.$('#grid-deterministic'), null, 'no denoiser grids for the CVAE');
  const headers = await page.$$eval('#grid-cvae .grid-header span', (s) => s.map((e) => e.textContent));
  assert.equal(headers.length, 5);
  assert.equal(headers[0], 'z6');
  assert.equal(headers.at(-1), 'z0');

  // Changing a control rewrites the URL (history.replaceState) and restarts with it.
  await page.fill('#ctl-L', '5');
  await page.press('#ctl-L', 'Enter');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('L') === '5');
  await waitReady(page, { version: 2 });
  assert.equal((await lab(page, 'lab.info')).levels, 5);
  const q = new URL(page.url()).searchParams;
  assert.equal(q.get('model'), 'cvae');
  assert.equal(q.get('a'), '0.4');
  assert.equal(q.get('k'), '8');
  assert.equal(q.get('backend'), 'cpu');

  // The same URL in a new tab gives the same controls.
  const again = await env.context.newPage();
  await again.goto(page.url());
  assert.equal(await again.inputValue('#ctl-L'), '5');
  assert.equal(await again.inputValue('#ctl-model'), 'cvae');
  assert.equal(Number(await again.inputValue('#ctl-a')), 0.4);
  await again.close();
  assert.deepEqual(consoleErrors, [], 'no console errors');
});

test('the default a follows L, and bad URL values give a message and the defaults', async () => {
  const page = await env.context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  // light=0: at full size on this CPU-only browser, so the fallen-back batch is the default 64.
  await page.goto(`${env.url}?L=4&model=banana&a=1.5&batch=-3&sigma=x&controls=0&bogus=1&light=0`);
  const text = await page.textContent('#banners');
  assert.match(text, /not understood/);
  assert.match(text, /model=“banana”/);
  assert.match(text, /a=“1.5”/);
  assert.match(text, /batch=“-3”/);
  assert.match(text, /unknown parameter “bogus”/);
  assert.equal(await page.inputValue('#ctl-model'), 'denoiser');
  assert.equal(await page.inputValue('#ctl-L'), '4');
  // Default a for L = 4: a^4 = 0.01 -> 0.316228.
  assert.ok(Math.abs(Number(await page.inputValue('#ctl-a')) - Math.pow(0.01, 1 / 4)) < 1e-5);
  assert.equal(await page.inputValue('#ctl-batch'), '64');
  // controls=0 hides the settings but keeps play/pause.
  assert.equal(await page.isVisible('#controls'), false);
  assert.equal(await page.isVisible('#play'), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Φ* checkbox puts the universal denoiser beside the network, in the URL too, and takes it away', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, 'backend=cpu&L=10&channels=4&batch=8&rows=4&cols=6&resume=0');
  await waitReady(page);
  const shown = () => page.$$eval('#sampler-panels section.sampler', (s) => s.map((e) => e.dataset.sampler));
  assert.deepEqual(await shown(), ['deterministic', 'stochastic', 'ddim']);
  const v = await lab(page, 'lab.readyVersion');
  await page.check('#ctl-ideal');
  await waitReady(page, { version: v + 1 });
  assert.match(page.url(), /ideal=1/);
  assert.deepEqual(await lab(page, 'lab.info.models.map((m) => m.model)'), ['denoiser', 'universal']);
  assert.deepEqual(await shown(), ['deterministic', 'stochastic', 'ddim', 'universal/deterministic', 'universal/stochastic', 'universal/ddim', 'universal/exact']);
  await page.uncheck('#ctl-ideal');
  await waitReady(page, { version: v + 2 });
  assert.doesNotMatch(page.url(), /ideal=/);
  assert.deepEqual(await shown(), ['deterministic', 'stochastic', 'ddim']);
  // The CVAE has no Φ*: the box is disabled there.
  await page.selectOption('#ctl-model', 'cvae');
  await waitReady(page, { version: v + 3 });
  assert.equal(await page.isDisabled('#ctl-ideal'), true);
  assert.deepEqual(consoleErrors, [], 'no console errors');
});
