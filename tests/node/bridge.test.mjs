// The wasm bridge in Node, without a browser (the built dist/pkg, CPU backend): errors cross it as
// JS Errors with a `kind` field (Rust's Error::kind()), which the worker switches on. Rewording a
// message must not change what the page does, so these tests check kinds, not texts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = path.resolve(process.env.DIST_DIR || path.join(ROOT, 'dist'));
let wasm;
let images;

before(async () => {
  const glue = path.join(DIST, 'pkg', 'denoise_lab.js');
  assert.ok(fs.existsSync(glue), `${glue} is missing: run \`bash scripts/build-web.sh\` first`);
  wasm = await import(glue);
  wasm.initSync({ module: fs.readFileSync(path.join(DIST, 'pkg', 'denoise_lab_bg.wasm')) });
  // 300 bundled digits as a raw IDX file: enough for a session, quick to copy into wasm.
  const all = zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'www', 'data', 'mnist-10k-images-idx3-ubyte.gz')));
  const n = 300;
  images = Buffer.concat([all.subarray(0, 16), all.subarray(16, 16 + n * 784)]);
  images.writeUInt32BE(n, 4);
});

const kindOf = async (promise) => {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof Error, `a JS Error crosses the bridge: ${e}`);
    assert.ok(e.message.length > 10, `with a message for people: ${e.message}`);
    return e.kind;
  }
  assert.fail('expected the call to be refused');
};

const config = (extra = {}) => JSON.stringify({ model: 'denoiser', levels: 4, batch: 4, base_channels: 4, held_out: 50, ...extra });

test('a bad configuration is kind "config"', async () => {
  assert.equal(await kindOf(wasm.Trainer.create(config({ levels: 0 }), images, null, 'cpu')), 'config');
  assert.equal(await kindOf(wasm.Trainer.create('{not json', images, null, 'cpu')), 'config');
  assert.equal(await kindOf(wasm.Trainer.create(config(), images, null, 'tpu')), 'config');
});

test('a bad IDX file is kind "data"', async () => {
  const bad = Buffer.from([0, 0, 8, 7, 0, 0, 0, 5, 1, 2, 3]);
  assert.equal(await kindOf(wasm.Trainer.create(config(), bad, null, 'cpu')), 'data');
});

test('a damaged checkpoint is kind "checkpoint", a good one loads', async () => {
  const session = await wasm.Trainer.create(config(), images, null, 'cpu');
  session.step(2);
  await session.flush();
  const bytes = await session.export();
  const again = await wasm.Trainer.fromCheckpoint(bytes, images, null, 'cpu', null, null);
  assert.ok(again, 'an intact checkpoint loads');
  const damaged = Uint8Array.from(bytes);
  for (let i = damaged.length >> 1; i < (damaged.length >> 1) + 16; i++) damaged[i] ^= 0xff;
  assert.equal(await kindOf(wasm.Trainer.fromCheckpoint(damaged, images, null, 'cpu', null, null)), 'checkpoint');
  assert.equal(await kindOf(wasm.Trainer.fromCheckpoint(bytes, images, null, 'cpu', 'cvae', 4)), 'checkpoint');
});

test('a diverging run is kind "diverged"', async () => {
  const session = await wasm.Trainer.create(config({ lr: 100, clip_norm: 0 }), images, null, 'cpu');
  let kind = null;
  for (let i = 0; i < 20 && kind === null; i++) {
    session.step(3);
    try {
      await session.flush();
    } catch (e) {
      kind = e.kind;
    }
  }
  assert.equal(kind, 'diverged');
});
