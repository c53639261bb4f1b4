// The download: what a visitor's browser fetches for the wasm core, served by scripts/serve.mjs
// from the precompressed files scripts/build-web.sh writes beside it (dist/pkg/*.wasm.br, .gz).
//
// Issue 27's goals: a visitor downloads at most 2.5 MB for the wasm, and the module is at most
// 20 MB raw. Neither is reached yet (docs/hosting.md, "Sizes": brotli takes the 24.25 MB module
// to 2.89 MB, and the cheap wasm-opt passes saved 4 % more at minutes of build time). The test
// asserts the bounds the build reaches (below, with the goals beside them), so a build that grows
// fails, and that the page trains from the brotli-encoded module Chromium receives.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { launch, openPage, waitReady, assertCpuBackend, lab, DIST, SMALL_CPU } from './helpers.mjs';

const WASM = 'pkg/denoise_lab_bg.wasm';
// The wasm as sent with brotli: the goal (issue 27) and what the build reaches, with 3 % of room.
const GOAL_BR = 2.5e6;
const WASM_BR_BOUND = 2.93e6;
// The raw module (what the browser compiles): the goal and what the build reaches.
const GOAL_RAW = 20e6;
const WASM_RAW_BOUND = 24.7e6;

let env;
before(async () => {
  env = await launch({ webgpu: false, bypassCSP: false });
});
after(async () => {
  await env?.close();
});

/** GET `url` with `headers`; resolves to { status, headers, body } with the body as sent. */
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('the wasm goes out brotli-encoded within the bound, and decodes to the module the build wrote', async () => {
  const raw = fs.readFileSync(path.join(DIST, WASM));
  assert.ok(raw.length <= WASM_RAW_BOUND, `raw module ${(raw.length / 1e6).toFixed(2)} MB <= ${WASM_RAW_BOUND / 1e6} MB (goal ${GOAL_RAW / 1e6} MB)`);
  const url = new URL(WASM, env.url).href;
  const br = await rawGet(url, { 'accept-encoding': 'br' });
  assert.equal(br.status, 200);
  assert.equal(br.headers['content-encoding'], 'br', 'the .br beside the wasm was sent');
  assert.equal(br.headers['content-type'], 'application/wasm', 'streaming compilation needs application/wasm');
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(Number(br.headers['content-length']), br.body.length);
  console.log(`# wasm: ${(raw.length / 1e6).toFixed(2)} MB raw, ${(br.body.length / 1e6).toFixed(2)} MB as sent with Accept-Encoding: br (goal ${GOAL_BR / 1e6} MB)`);
  assert.ok(br.body.length <= WASM_BR_BOUND, `brotli ${(br.body.length / 1e6).toFixed(2)} MB <= ${WASM_BR_BOUND / 1e6} MB (goal ${GOAL_BR / 1e6} MB)`);
  assert.ok(zlib.brotliDecompressSync(br.body).equals(raw), 'the .br is the module itself, not a stale build');
  // gzip for clients without brotli; the module as it is for clients that accept neither.
  const gz = await rawGet(url, { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.ok(zlib.gunzipSync(gz.body).equals(raw), 'the .gz is the module itself');
  assert.ok(br.body.length < gz.body.length, 'brotli beats gzip');
  const plain = await rawGet(url, { 'accept-encoding': 'identity' });
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.ok(plain.body.equals(raw));
});

test('Chromium negotiates br for the wasm and the page trains from it, under the CSP', async () => {
  const wasmResponses = [];
  env.context.on('response', (r) => {
    if (new URL(r.url()).pathname.endsWith(`/${WASM}`)) wasmResponses.push(r);
  });
  const { page, consoleErrors } = await openPage(env.context, env.url, SMALL_CPU);
  await waitReady(page);
  await assertCpuBackend(page);
  await page.click('#step');
  await page.waitForFunction(() => window.denoiseLab.step >= 1, null, { timeout: 120000 });
  const losses = await lab(page, 'lab.losses');
  assert.ok(losses.length >= 1 && losses.every(Number.isFinite), `a training step with a finite loss: ${losses}`);
  assert.ok(wasmResponses.length >= 1, 'the page (its worker) fetched the wasm');
  for (const r of wasmResponses) {
    const h = await r.allHeaders();
    const req = await r.request().allHeaders();
    assert.equal(r.status(), 200);
    assert.match(req['accept-encoding'] ?? '', /\bbr\b/, `Chromium offers br: ${req['accept-encoding']}`);
    assert.equal(h['content-encoding'], 'br', `the wasm the page received was br-encoded: ${JSON.stringify(h)}`);
    assert.ok(Number(h['content-length']) <= WASM_BR_BOUND, `${h['content-length']} bytes over the wire`);
    assert.match(h['content-security-policy'] ?? '', /'wasm-unsafe-eval'/);
  }
  // The CSP blocked nothing the page needs: a violation shows as a console error.
  assert.deepEqual(consoleErrors, [], 'no console errors (no CSP violation)');
});
