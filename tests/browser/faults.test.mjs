// Staying up: faults a long session meets. Each ends with a clear message (or none
// needed) and a page that still trains, with nothing lost that was saved.
// The other faults of the list live beside the features they exercise:
//   lost GPU device (device.destroy())     errors.test.mjs  'a lost GPU device is reported…'
//   reload in the middle of training       checkpoint.test.mjs 'a reload resumes from the autosave'
//   checkpoint of another model or L       errors.test.mjs  'a checkpoint for another model or L…'
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, waitReady, assertCpuBackend, train, lab, SMALL_CPU } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

const bannerText = (page, id) => page.$eval(`.banner[data-id="${id}"]`, (b) => b.textContent).catch(() => null);

test('a run that diverges (learning rate 10) stops with a message, keeps finite weights, and trains again at a sane rate', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&lr=10&resume=0&me=0`);
  await waitReady(page);
  await assertCpuBackend(page);
  await page.click('#play');
  await page.waitForSelector('.banner.error[data-id="diverged"]', { timeout: 240000 });
  const text = await bannerText(page, 'diverged');
  assert.match(text, /diverged at step \d+/);
  assert.match(text, /lower the learning rate/);
  assert.equal(await lab(page, 'lab.playing'), false, 'paused after the divergence');
  const kept = await lab(page, 'lab.step');
  const losses = await lab(page, 'lab.losses');
  assert.ok(losses.every(Number.isFinite), 'only finite losses were plotted');

  // The user follows the advice: a smaller rate, then Play.
  await page.fill('#ctl-lr', '0.001');
  await page.dispatchEvent('#ctl-lr', 'change');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('lr') === '0.001');
  const after = await train(page, 5);
  assert.ok(after >= kept + 5, `trains again from step ${kept} (now ${after})`);
  const recent = await lab(page, 'lab.losses.slice(-5)');
  assert.ok(recent.every(Number.isFinite), `finite losses after the restart: ${recent}`);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('tab hidden and shown again: saved when hidden, training and drawing carry on when shown', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&resume=0&me=0`);
  await waitReady(page);
  await page.click('#play');
  await page.waitForFunction(() => window.denoiseLab.step >= 5, null, { polling: 250 });

  // Headless Chromium keeps every tab 'visible' (bringToFront and minimising change nothing), so
  // the visibility change is simulated: document.visibilityState is overridden and the event
  // fired, as the browser does when the tab goes to the background. While hidden the page is
  // also frozen for real through the DevTools protocol (what Chromium does to background tabs).
  const setVisibility = (state) => page.evaluate((st) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => st });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => st === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, state);
  const cdp = await env.context.newCDPSession(page);
  await setVisibility('hidden');
  // Hidden: the autosave is written (what a closed laptop lid or a killed tab would otherwise lose).
  await page.waitForFunction(() => /Autosaved at step [1-9]/.test(document.getElementById('autosave-status').textContent), null, { timeout: 60000 });
  const hiddenAt = await lab(page, 'lab.step');
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  await new Promise((r) => setTimeout(r, 3000));
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  await setVisibility('visible');
  await page.waitForFunction((s) => window.denoiseLab.step >= s + 5, hiddenAt, { timeout: 120000, polling: 250 });
  assert.equal(await lab(page, 'lab.playing'), true, 'still playing');
  await page.click('#play');
  await page.waitForFunction(() => { const l = window.denoiseLab; return !l.playing && l.samplesStep === l.step; }, null, { timeout: 120000 });
  // One loss per step since step 0: none lost or repeated while hidden.
  assert.equal(await lab(page, 'lab.losses.length'), await lab(page, 'lab.step'));
  assert.deepEqual(await lab(page, 'lab.errors'), []);
  assert.deepEqual(consoleErrors, []);
  await page.close();
});

test('after repeated crashes the banner offers ways out; starting without the autosave keeps it aside; lighter settings restart lighter', async () => {
  // 12 channels: above the lighter settings (8), so that way out is offered too.
  const { page, consoleErrors } = await openPage(env.context, env.url, 'L=10&batch=8&channels=12&rows=4&cols=6&backend=cpu&seed=51&me=0');
  await waitReady(page);
  const step = await train(page, 3);
  await page.waitForFunction((s) => document.getElementById('autosave-status').textContent.includes(`step ${s}`), step);
  // Two crashes restart from the autosave; the third within a minute stops and asks.
  for (let i = 0; i < 2; i++) {
    const v = await lab(page, 'lab.readyVersion');
    await page.evaluate(() => window.denoiseLab.command({ type: 'debugCrash' }));
    await waitReady(page, { version: v + 1 });
    assert.equal(await lab(page, 'lab.step'), step, `restarted from the autosave after crash ${i + 1}`);
  }
  await page.evaluate(() => window.denoiseLab.command({ type: 'debugCrash' }));
  await page.waitForFunction(() => /failed repeatedly/.test(document.querySelector('.banner[data-id="crash"]')?.textContent || ''));
  const buttons = await page.$$eval('.banner[data-id="crash"] .banner-actions button:not(.close)', (bs) => bs.map((b) => b.textContent));
  assert.ok(buttons.some((b) => /Start without the autosave/.test(b)), `ways out: ${buttons}`);
  assert.ok(buttons.some((b) => /Lighter settings \(8 channels, batch 16\)/.test(b)), `ways out: ${buttons}`);
  assert.ok(!buttons.some((b) => /CPU backend/.test(b)), 'already on the CPU backend: not offered');
  const v = await lab(page, 'lab.readyVersion');
  await page.click('.banner[data-id="crash"] button:has-text("Start without the autosave")');
  await waitReady(page, { version: v + 1 });
  assert.equal(await lab(page, 'lab.step'), 0, 'a fresh run');
  const kept = await page.evaluate(async () => (await import('/www/page/autosave.js')).listAutosaves());
  assert.ok(kept.some((k) => k.startsWith('kept:')), `the old save is kept aside: ${JSON.stringify(kept)}`);
  assert.ok((await train(page, 2)) >= 2, 'and it trains');
  // Three more crashes: the other way out, lighter settings, restarts at 8 channels.
  for (let i = 0; i < 2; i++) {
    const w = await lab(page, 'lab.readyVersion');
    await page.evaluate(() => window.denoiseLab.command({ type: 'debugCrash' }));
    await waitReady(page, { version: w + 1 });
  }
  await page.evaluate(() => window.denoiseLab.command({ type: 'debugCrash' }));
  await page.waitForFunction(() => /failed repeatedly/.test(document.querySelector('.banner[data-id="crash"]')?.textContent || ''));
  const w = await lab(page, 'lab.readyVersion');
  await page.click('.banner[data-id="crash"] button:has-text("Lighter settings")');
  await waitReady(page, { version: w + 1 });
  assert.equal(await lab(page, 'lab.info.config.base_channels'), 8, 'restarted with 8 channels');
  assert.equal(new URL(page.url()).searchParams.get('channels'), '8', 'and the URL says so');
  assert.ok((await train(page, 1)) >= 1, 'and it trains');
  const errors = await lab(page, 'lab.errors');
  assert.equal(errors.length, 6, 'one error banner per crash');
  assert.deepEqual(consoleErrors, []);
  await page.close();
});
