// Embedding: README's iframe snippet, as written there, in a host page of another origin (a
// second server on another port, as a course site would be). The page inside must load and train.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { launch, lab, artifact, ROOT } from './helpers.mjs';

let env;
let host;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  host?.close();
  await env?.close();
});

/** The snippet between README's embed-snippet markers, pointed at the test server. */
function snippet(pageUrl) {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = readme.match(/<!-- embed-snippet -->\s*```html\n([^]*?)```\s*<!-- \/embed-snippet -->/);
  assert.ok(m, 'README.md has the embed snippet between its markers');
  assert.match(m[1], /https:\/\/YOUR-HOST\/denoise-lab\//);
  return m[1].replace('https://YOUR-HOST/denoise-lab/', new URL('./', pageUrl).href);
}

test('README’s iframe snippet embeds the page in another origin’s page, and it trains there', async () => {
  const html = `<!doctype html><meta charset="utf-8"><title>A course page</title><h1>Lecture 7: diffusion</h1>\n${snippet(env.url)}`;
  host = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise((r) => host.listen(0, '127.0.0.1', r));
  const hostUrl = `http://localhost:${host.address().port}/`;
  assert.notEqual(new URL(hostUrl).origin, new URL(env.url).origin, 'another origin');
  const page = await env.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(hostUrl);
  const frame = await (await page.waitForSelector('iframe')).contentFrame();
  assert.ok(frame, 'the iframe has a document');
  // autoplay=1 in the snippet: it trains without a click.
  await frame.waitForFunction(() => window.denoiseLab && window.denoiseLab.step >= 3, null, { timeout: 180000, polling: 250 });
  assert.deepEqual(await lab(frame, 'lab.errors'), []);
  assert.equal(await frame.evaluate(() => document.body.classList.contains('embed')), true, 'the compact layout');
  const full = await frame.getAttribute('#open-full', 'href');
  assert.match(full, /L=10/, 'a link to the full page with the same settings');
  assert.doesNotMatch(full, /embed=/);
  await frame.waitForFunction(() => window.denoiseLab.samplesVersion >= 1, null, { timeout: 120000 });
  // Playing on load, the first step comes after the first grid, not after the whole load pass
  // (which the training loop finishes): measured at the page's defaults without a GPU, the
  // first step moved from 5.6 s to 2.6 s after load.
  const t = await lab(frame, 'lab.times');
  assert.ok(t.firstDrawn < t.firstStep && t.firstStep < t.firstSamples, `grid, then a step, then every grid: ${JSON.stringify(t)}`);
  // The first minute, measured from the iframe's own navigation (no click needed here; CPU
  // backend, the snippet's settings). The aim is a grid within 2 s and a step within 5 s; the
  // bounds leave room for a loaded 2-core machine (docs/performance.md, "The first minute").
  console.log(`# embedded, from its navigation: first grid ${t.firstDrawn.toFixed(0)} ms, first step ${t.firstStep.toFixed(0)} ms, every grid ${t.firstSamples.toFixed(0)} ms`);
  assert.ok(t.firstDrawn < 4000, `a grid within 4 s of load (${t.firstDrawn.toFixed(0)} ms)`);
  assert.ok(t.firstStep < 7000, `the first step within 7 s of load (${t.firstStep.toFixed(0)} ms)`);
  // Without a click, the progress line still said what the wait before the first step was.
  const said = await lab(frame, 'lab.activities');
  assert.ok(said.some((text) => /^First training step/.test(text)), `the first step was announced: ${JSON.stringify(said)}`);
  await page.screenshot({ path: artifact('embedded.png') });
  assert.deepEqual(errors, []);
  await page.close();
});
