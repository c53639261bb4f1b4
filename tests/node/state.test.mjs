// The page's URL state (www/page/state.js) and formatting (www/page/format.js): pure modules, tested
// without a browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, LIMITS, SAMPLERS_BY_MODEL } from '../../www/shared/limits.js';
import { PARAMS, defaults, param, parseQuery, parseValue, toQuery, trainConfig, fromTrainConfig, defaultA, describe, withQuery, fullPageUrl } from '../../www/page/state.js';
import { fmt, fmtMs, ago, escapeHtml, sentence } from '../../www/page/format.js';

test('defaults parse from an empty query and write back to the always-written parameters', () => {
  const s = parseQuery('');
  assert.deepEqual(s.problems, []);
  assert.deepEqual({ cfg: s.cfg, view: s.view }, defaults());
  assert.equal(toQuery(s), 'model=denoiser&L=100');
});

test('every parameter round-trips through the URL', () => {
  const q = 'model=cvae&L=6&a=0.4&sigma=0.3&k=8&lr=0.001&batch=16&seed=7&channels=16&controls=0&embed=1&autoplay=1&resume=0&backend=cpu&rows=3&cols=5&mn=50&me=0&se=20';
  const s = parseQuery(q);
  assert.deepEqual(s.problems, []);
  assert.equal(s.cfg.model, 'cvae');
  assert.equal(s.cfg.L, 6);
  assert.equal(s.view.controls, false);
  assert.equal(s.view.backend, 'cpu');
  const again = parseQuery(toQuery(s));
  assert.deepEqual({ cfg: again.cfg, view: again.view }, { cfg: s.cfg, view: s.view });
  // Samplers and a stop step are written outside a scenario only.
  const shown = parseQuery('show=eq2,ddim&stop=40');
  assert.deepEqual(shown.view.show, ['deterministic', 'ddim']);
  assert.match(toQuery(shown), /show=deterministic%2Cddim&stop=40/);
  shown.view.scenario = 'collapse';
  assert.doesNotMatch(toQuery(shown), /show=|stop=/);
  assert.match(toQuery(shown), /scenario=collapse/);
});

test('bad values fall back to the default with a message naming the parameter', () => {
  const s = parseQuery('L=4&model=banana&a=1.5&batch=-3&sigma=x&bogus=1&seed=4294967296');
  assert.equal(s.cfg.model, 'denoiser');
  assert.equal(s.cfg.L, 4);
  assert.equal(s.cfg.a, null);
  assert.equal(s.cfg.batch, 64);
  assert.equal(s.cfg.seed, 1);
  const text = s.problems.join('\n');
  assert.match(text, /model=“banana” must be denoiser or cvae; using denoiser/);
  assert.match(text, /a=“1.5” must be > 0 and < 1; using the default/);
  assert.match(text, /batch=“-3” must be a whole number from 1 to 1024; using 64/);
  assert.match(text, /sigma=“x” must be ≥ 0 and ≤ 10/);
  assert.match(text, /unknown parameter “bogus” ignored/);
  assert.match(text, /seed=“4294967296” must be a whole number from 0 to 4294967295/);
});

test('the ranges are the core\'s (www/shared/limits.js, generated from src/limits.rs)', () => {
  assert.equal(parseValue('lr', '100'), 100, 'the core accepts learning rates up to 100');
  assert.throws(() => parseValue('lr', '100.5'), /must be > 0 and ≤ 100/);
  assert.throws(() => parseValue('lr', '0'), /must be > 0/);
  assert.equal(parseValue('L', String(LIMITS.levels.max)), LIMITS.levels.max);
  assert.throws(() => parseValue('L', String(LIMITS.levels.max + 1)));
  assert.throws(() => parseValue('L', '2.5'), /whole number/);
  assert.equal(parseValue('channels', String(LIMITS.base_channels.min)), LIMITS.base_channels.min);
  assert.equal(describe(LIMITS.a), '> 0 and < 1');
  // Every configuration parameter with a core field maps to a core limit or a model name.
  const fields = PARAMS.filter((p) => p.field).map((p) => p.field);
  for (const f of fields) assert.ok(f === 'model' || f in LIMITS, `${f} has a limit in the core`);
  assert.deepEqual(Object.keys(SAMPLERS_BY_MODEL).sort(), ['cvae', 'denoiser', 'universal']);
  // Φ*'s samplers are shown by spec ("universal/exact"); a bare "exact" is not a trained model's.
  assert.deepEqual(parseValue('show', 'ddim,universal/exact'), ['ddim', 'universal/exact']);
  assert.throws(() => parseValue('show', 'exact'), /must list samplers/);
  assert.equal(parseValue('ideal', '1'), true);
});

test('each setting takes its range and its default from the core, by its core field', () => {
  const settings = PARAMS.filter((p) => p.field);
  assert.deepEqual(settings.map((p) => p.field).sort(), ['a', 'base_channels', 'batch', 'latent_dim', 'levels', 'lr', 'model', 'seed']);
  for (const p of settings) {
    assert.equal(p.default, DEFAULTS[p.field], `${p.name}: the default of TrainConfig.${p.field}`);
    if (p.field !== 'model') assert.equal(p.limit, LIMITS[p.field], `${p.name}: the range of TrainConfig.${p.field}`);
  }
  assert.equal(param('sigma').limit, LIMITS.sigma);
  // The page's configuration and the core's convert both ways, by the same table.
  const { cfg } = parseQuery('model=cvae&L=6&a=0.5&k=8&lr=0.01&batch=16&seed=9&channels=16');
  const back = fromTrainConfig(trainConfig(cfg));
  for (const p of settings) assert.equal(back[p.name], cfg[p.name], p.name);
  // A core configuration has more fields than the page sets (clip_norm, held_out...): ignored.
  const fromCore = fromTrainConfig({ ...DEFAULTS, levels: 7, latent_dim: 3 });
  assert.deepEqual(Object.keys(fromCore).sort(), settings.map((p) => p.name).sort());
  assert.deepEqual([fromCore.L, fromCore.k, fromCore.a], [7, 3, null]);
});

test('an embed defaults to smaller grids unless the URL says otherwise', () => {
  assert.equal(parseQuery('embed=1').view.rows, 4);
  assert.equal(parseQuery('embed=1').view.cols, 9);
  assert.equal(parseQuery('embed=1&rows=7').view.rows, 7);
});

test('the core configuration uses the core\'s field names', () => {
  const { cfg } = parseQuery('model=cvae&L=6&k=8&channels=16');
  assert.deepEqual(trainConfig(cfg), { model: 'cvae', levels: 6, a: null, latent_dim: 8, lr: 0.002, batch: 64, seed: 1, base_channels: 16 });
  assert.ok(Math.abs(defaultA(4) - Math.pow(0.01, 0.25)) < 1e-12);
});

test('formatting', () => {
  assert.equal(fmt(0.123456), '0.123');
  assert.equal(fmt(1234567), '1.23e+6');
  assert.equal(fmt(0.00001234), '1.23e-5');
  assert.equal(fmt(NaN), '–');
  assert.equal(fmtMs(12.34), '12 ms');
  assert.equal(fmtMs(3456), '3.5 s');
  assert.equal(ago(0, 90_000), '2 min ago');
  assert.equal(escapeHtml('<a href="x">&</a>'), '&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  // A reason from the worker becomes a sentence of the banner (before: "...missing) Lighter ...").
  assert.equal(sentence('this browser does not expose WebGPU (navigator.gpu is missing)'), 'This browser does not expose WebGPU (navigator.gpu is missing).');
  assert.equal(sentence('Done.'), 'Done.');
  assert.equal(sentence(null), '');
});

test('a link whose settings are each in range but together too much work is bounded (WORK_LIMITS)', () => {
  // Each field is within its own range; together a step would need gigabytes.
  const big = parseQuery('batch=1024&channels=128');
  assert.equal(big.cfg.batch, 64);
  assert.equal(big.cfg.channels, 32);
  assert.match(big.problems.join(' '), /batch × channels² = 16777216 is more than the page allows \(1048576\); using batch 64 and 32 channels/);
  // 16 times the default step's compute is within STEP_WORK, but not its memory on 28×28 digits
  // (STEP_MEMORY, measured by bench/memory.mjs): the batch comes down to fit.
  const wide = parseQuery('batch=256&channels=64');
  assert.equal(wide.cfg.batch, 167);
  assert.equal(wide.cfg.channels, 64);
  assert.match(wide.problems.join(' '), /batch × channels × pixels = 12845056 is more than the page allows \(8388608\); using batch 167/);
  assert.deepEqual(parseQuery('batch=128&channels=64').problems, []);
  // 1000 metric samples at 32 channels would hold 1.3 GB at once (SAMPLE_MEMORY): 668.
  const many = parseQuery('mn=1000');
  assert.equal(many.view.mn, 668);
  assert.match(many.problems.join(' '), /chains × channels × pixels = 25088000 is more than the page allows \(16777216\); using 668 samples/);
  assert.deepEqual(parseQuery('mn=1000&channels=16').problems, []);
  // A grid of 16 rows at L = 1000, and 1000 metric samples at L = 1000, shrink to fit.
  const long = parseQuery('L=1000&rows=16&mn=1000');
  assert.equal(long.cfg.L, 1000);
  assert.equal(long.view.rows, 4);
  assert.equal(long.view.mn, 100);
  assert.equal(long.problems.length, 3, long.problems.join('\n')); // rows, and mn for memory then for L
  assert.match(long.problems.join(' '), /L × rows = 16000 is more than the page allows \(4000\); using 4 rows/);
  // The defaults are well inside every bound.
  assert.deepEqual(parseQuery('').problems, []);
});

test('the page builds its own URLs from location.href: on its origin whatever the path', () => {
  // A static server that answers `//evil.example/index.html` with the page: location.pathname is
  // then `//evil.example/index.html`, and `${location.pathname}?…` names another host (history
  // .replaceState threw, and the embed's "open the full page" link left the site).
  const href = 'http://127.0.0.1:8080//evil.example/index.html?embed=1&controls=0&L=5#top';
  assert.equal(new URL('//evil.example/index.html?L=5', href).origin, 'http://evil.example', 'the old way');
  const written = withQuery(href, 'model=denoiser&L=5');
  assert.equal(new URL(written).origin, 'http://127.0.0.1:8080');
  assert.equal(written, 'http://127.0.0.1:8080//evil.example/index.html?model=denoiser&L=5#top');
  const full = fullPageUrl(href);
  assert.equal(new URL(full).origin, 'http://127.0.0.1:8080');
  assert.equal(new URL(full).search, '?L=5');
  assert.equal(withQuery('http://h.example/lab/?x=1', 'L=3'), 'http://h.example/lab/?L=3');
});
