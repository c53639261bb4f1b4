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

const config = (extra = {}) => [{ model: 'denoiser', levels: 4, batch: 4, base_channels: 4, held_out: 50, ...extra }];

test('a bad configuration is kind "config"', async () => {
  assert.equal(await kindOf(wasm.Session.create(config({ levels: 0 }), images, null, 'cpu')), 'config');
  assert.equal(await kindOf(wasm.Session.create([{ levels: 'many' }], images, null, 'cpu')), 'config');
  assert.equal(await kindOf(wasm.Session.create(config(), images, null, 'tpu')), 'config');
});

test('the memory bounds (STEP_MEMORY, SAMPLE_MEMORY) refuse a run or a draw too large for wasm memory, kind "config"', async () => {
  // batch × channels² is within STEP_WORK; batch × channels × 28 × 28 is past STEP_MEMORY (~1.8 GB).
  const tooBig = config({ batch: 400, base_channels: 32 });
  assert.equal(await kindOf(wasm.Session.create(tooBig, images, null, 'cpu')), 'config');
  const session = await wasm.Session.create(config({ base_channels: 32 }), images, null, 'cpu');
  const fit = Math.floor(16777216 / (32 * 784)); // 668 chains at once
  for (const draw of [
    () => session.sample('ddim', fit + 1, 1, 2),
    () => session.sampleMany(['deterministic', 'ddim'], Math.floor(fit / 2) + 1, 1, 2),
    () => session.draws('stochastic', 1, 1, fit + 1),
  ]) {
    assert.equal(await kindOf(draw()), 'config');
  }
  const classifier = new Uint8Array(fs.readFileSync(path.join(ROOT, 'www', 'data', 'classifier.bin')));
  const metrics = await wasm.Metrics.create(classifier, session, 8);
  assert.throws(() => metrics.startMeasure(session, 'ddim', fit + 1, 1), (e) => e.kind === 'config');
  // At the bound they are allowed (not drawn here: 668 chains take minutes on the CPU backend).
  metrics.startMeasure(session, 'ddim', fit, 1).free();
});

test('a bad IDX file is kind "data"', async () => {
  const bad = Buffer.from([0, 0, 8, 7, 0, 0, 0, 5, 1, 2, 3]);
  assert.equal(await kindOf(wasm.Session.create(config(), bad, null, 'cpu')), 'data');
});

test('a damaged checkpoint is kind "checkpoint", a good one loads', async () => {
  const session = await wasm.Session.create(config(), images, null, 'cpu');
  session.step(2);
  await session.flush();
  const bytes = await session.export();
  const again = await wasm.Session.fromCheckpoint(bytes, images, null, 'cpu', null, null);
  assert.ok(again, 'an intact checkpoint loads');
  const damaged = Uint8Array.from(bytes);
  for (let i = damaged.length >> 1; i < (damaged.length >> 1) + 16; i++) damaged[i] ^= 0xff;
  assert.equal(await kindOf(wasm.Session.fromCheckpoint(damaged, images, null, 'cpu', null, null)), 'checkpoint');
  assert.equal(await kindOf(wasm.Session.fromCheckpoint(bytes, images, null, 'cpu', 'cvae', 4)), 'checkpoint');
});

test('a diverging run is kind "diverged"', async () => {
  const session = await wasm.Session.create(config({ lr: 100, clip_norm: 0 }), images, null, 'cpu');
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

test('a session of two models routes each sampler to its model and reports both, as plain objects', async () => {
  const cvae = { model: 'cvae', levels: 4, batch: 4, base_channels: 4, held_out: 50 };
  const session = await wasm.Session.create([...config(), cvae], images, null, 'cpu');
  assert.deepEqual(session.samplers, ['deterministic', 'stochastic', 'ddim', 'cvae']);
  const info = session.info();
  assert.deepEqual(info.models.map((m) => m.model), ['denoiser', 'cvae']);
  assert.equal(info.config.model, 'denoiser');
  session.step(2);
  const report = await session.flush();
  assert.equal(report.step, 2);
  assert.equal(report.steps.length, 2);
  assert.equal(report.others.length, 1);
  assert.equal(report.others[0].model, 'cvae');
  assert.equal(report.others[0].steps.length, 2);
  assert.ok(report.others[0].steps[0].kl >= 0, 'the CVAE reports its KL term');
  assert.equal(report.levelLoss.length, 4);
  const chain = await session.sample('cvae', 3, 1, 5);
  assert.ok(chain.pixels instanceof Float32Array);
  assert.equal(chain.pixels.length, chain.levels.length * 3 * 28 * 28);
  assert.equal(typeof chain.rmsToMean, 'number');
  // A one-model run has no CVAE sampler: refused as a configuration error.
  const single = await wasm.Session.create(config(), images, null, 'cpu');
  assert.equal(await kindOf(single.sample('cvae', 1, 1, 2)), 'config');
  // Only the main model is exported; it reopens as a one-model run.
  const reopened = await wasm.Session.fromCheckpoint(await session.export(), images, null, 'cpu', null, null);
  assert.deepEqual(reopened.samplers, ['deterministic', 'stochastic', 'ddim']);
  assert.equal(reopened.currentStep, 2);
  assert.equal(wasm.checkpointInfo(await session.export()).step, 2);
  assert.equal(wasm.scenario('4').models.length, 3, 'the denoiser, the CVAE and Φ*');
});

test('Φ* beside a trained denoiser: its samplers by spec, kept on resume, and the memorisation figure', async () => {
  const [main] = config();
  const universal = { ...main, model: 'universal' };
  const session = await wasm.Session.create([main, universal], images, null, 'cpu');
  assert.deepEqual(session.samplers, ['deterministic', 'stochastic', 'ddim', 'universal/deterministic', 'universal/stochastic', 'universal/ddim', 'universal/exact']);
  assert.deepEqual(session.info().samplers, session.samplers);
  session.step(1);
  const report = await session.flush();
  assert.equal(report.others.length, 0, 'Φ* is not trained');
  const exact = await session.sample('universal/exact', 4, 2, 3);
  assert.equal(exact.pixels.length, exact.levels.length * 4 * 784);
  assert.equal(await kindOf(wasm.Session.create([universal], images, null, 'cpu')), 'config', 'Φ* cannot be the main model');
  // A resumed run keeps Φ* beside it.
  const resumed = await wasm.Session.fromCheckpoint(await session.export(), images, null, 'cpu', 'denoiser', 4, [universal]);
  assert.ok(resumed.samplers.includes('universal/exact'));
  // Φ*'s noisy samples are training images; held-out digits are not.
  const classifier = new Uint8Array(fs.readFileSync(path.join(ROOT, 'www', 'data', 'classifier.bin')));
  const metrics = await wasm.Metrics.create(classifier, resumed, 40);
  const copies = await metrics.measure(resumed, 'universal/exact', 8, 1);
  const real = await metrics.measureReal(resumed, 8);
  assert.ok(copies.memorisation.copies >= 0.75, `the exact reverse step copies training images: ${JSON.stringify(copies.memorisation)}`);
  assert.ok(real.memorisation.median_nn_rms > 5 * copies.memorisation.median_nn_rms, `held-out digits are not copies: ${JSON.stringify(real.memorisation)}`);
  // The worker measures in chunks of levels (www/worker/metrics.js): the same figures as one call.
  for (const spec of ['stochastic', 'universal/exact']) {
    const job = metrics.startMeasure(resumed, spec, 8, 1);
    assert.equal(job.level, 4);
    const chunks = [];
    while (!job.advance(resumed, 1)) chunks.push(job.level);
    assert.deepEqual(chunks, [3, 2, 1], 'one level per call');
    assert.deepEqual(await metrics.finishMeasure(job), await metrics.measure(resumed, spec, 8, 1), spec);
  }
  // A job whose chains are not finished is refused (kind config), not measured.
  assert.equal(await kindOf(metrics.finishMeasure(metrics.startMeasure(resumed, 'ddim', 4, 1))), 'config');
});

test('sampleMany draws the samplers of each model together and gives the chains sample() gives', async () => {
  const session = await wasm.Session.create([...config(), { ...config()[0], model: 'universal' }], images, null, 'cpu');
  assert.deepEqual(session.samplerGroups, [
    ['deterministic', 'stochastic', 'ddim'],
    ['universal/deterministic', 'universal/stochastic', 'universal/ddim', 'universal/exact'],
  ]);
  assert.deepEqual(session.samplerGroups.flat(), session.samplers);
  const specs = ['stochastic:0.5', 'ddim', 'deterministic', 'universal/exact', 'universal/stochastic'];
  const many = await session.sampleMany(specs, 3, 7, 3);
  assert.deepEqual(Object.keys(many), specs);
  for (const spec of specs) {
    const alone = await session.sample(spec, 3, 7, 3);
    const m = many[spec];
    assert.deepEqual(m.levels, alone.levels, spec);
    assert.ok(m.pixels instanceof Float32Array && m.pixels.length === alone.pixels.length, spec);
    let worst = 0;
    for (let i = 0; i < m.pixels.length; i++) worst = Math.max(worst, Math.abs(m.pixels[i] - alone.pixels[i]));
    assert.ok(worst < 1e-4, `${spec}: together and alone differ by ${worst}`);
    assert.ok(Math.abs(m.diversity.at(-1) - alone.diversity.at(-1)) < 1e-3, spec);
  }
  assert.equal(await kindOf(session.sampleMany(['cvae'], 2, 1, 2)), 'config', 'a sampler no model of the run has');
});

test('exportMembers: a run rebuilt from every model\'s checkpoint (the drawing worker\'s) draws what the run draws', async () => {
  const [main] = config();
  const cvae = { ...main, model: 'cvae' };
  const universal = { ...main, model: 'universal' };
  const session = await wasm.Session.create([main, cvae, universal], images, null, 'cpu');
  session.step(3);
  await session.flush();
  const checkpoints = await session.exportMembers();
  assert.equal(checkpoints.length, 3);
  assert.ok(checkpoints[0] instanceof Uint8Array && checkpoints[1] instanceof Uint8Array, 'the trained models');
  assert.equal(checkpoints[2], null, 'Φ* is computed, not trained');
  assert.equal(wasm.checkpointInfo(checkpoints[1]).config.model, 'cvae');
  const models = session.info().models;
  const [first, ...others] = checkpoints;
  const copy = await wasm.Session.fromCheckpoint(first, images, null, 'cpu', null, null, models.slice(1), others);
  assert.deepEqual(copy.samplers, session.samplers);
  assert.equal(copy.currentStep, 3);
  const specs = ['deterministic', 'stochastic', 'cvae', 'universal/exact'];
  const [a, b] = [await session.sampleMany(specs, 2, 5, 3), await copy.sampleMany(specs, 2, 5, 3)];
  for (const spec of specs) assert.deepEqual(b[spec].pixels, a[spec].pixels, `${spec}: the same pixels`);
});
