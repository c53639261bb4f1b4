// The page: configuration (URL <-> controls), the worker that trains, and everything drawn.
// The worker (www/worker.js) owns the wasm; this file never blocks on it.

import uPlot from '../vendor/uPlot.esm.js';

// ------------------------------------------------------------------------------------------------
// Configuration: defaults, URL parsing (with clear messages for bad values), URL writing
// ------------------------------------------------------------------------------------------------

const DEFAULTS = {
  model: 'denoiser',
  L: 100,
  a: null, // null: a^L = 0.01
  sigma: null, // null: the posterior standard deviation sqrt(v)
  k: 32,
  lr: 0.002,
  batch: 64,
  seed: 1,
  channels: 32,
};
const VIEW_DEFAULTS = {
  controls: true,
  embed: false,
  autoplay: false,
  resume: true,
  backend: 'auto',
  rows: 6,
  cols: 11,
  scenario: null, // a quiz preset (its models, samplers and budget come from the Rust core)
  show: null, // samplers to show (null: all of the model's)
  stop: null, // pause at this step
  mn: 100, // samples per sampler for the metrics
  me: 200, // metrics every this many steps while training (0: only on pause / Measure)
  se: null, // draw samples every this many steps (null: about every 1.5 s of wall time)
};
const SAMPLER_NAMES = ['deterministic', 'stochastic', 'ddim', 'cvae'];

const defaultA = (L) => Math.pow(0.01, 1 / Math.max(1, L));

function intIn(lo, hi) {
  return (s) => {
    if (!/^\s*-?\d+\s*$/.test(s)) throw new Error(`must be a whole number from ${lo} to ${hi}`);
    const v = Number(s);
    if (v < lo || v > hi) throw new Error(`must be from ${lo} to ${hi}`);
    return v;
  };
}
function numIn(lo, hi, { openLo = false, openHi = false } = {}) {
  return (s) => {
    const v = Number(s);
    if (s.trim() === '' || !Number.isFinite(v)) throw new Error('must be a number');
    if ((openLo ? v <= lo : v < lo) || (openHi ? v >= hi : v > hi)) {
      throw new Error(`must be ${openLo ? '>' : '≥'} ${lo} and ${openHi ? '<' : '≤'} ${hi}`);
    }
    return v;
  };
}
const flag = (s) => {
  if (/^(1|true|yes|on)$/i.test(s)) return true;
  if (/^(0|false|no|off)$/i.test(s)) return false;
  throw new Error('must be 0 or 1');
};

const PARAMS = {
  model: (s) => {
    const v = s.toLowerCase();
    if (v === 'denoiser' || v === 'diffusion') return 'denoiser';
    if (v === 'cvae' || v === 'vae') return 'cvae';
    throw new Error('must be denoiser or cvae');
  },
  L: intIn(1, 1000),
  a: (s) => (s === 'default' || s === '' ? null : numIn(0, 1, { openLo: true, openHi: true })(s)),
  sigma: (s) => (/^(posterior|default|auto)$/i.test(s) || s === '' ? null : numIn(0, 10)(s)),
  k: intIn(1, 256),
  lr: numIn(0, 10, { openLo: true }), // up to 10: high enough to show a run diverging
  batch: intIn(1, 1024),
  seed: intIn(0, 2 ** 32 - 1),
  channels: intIn(4, 128),
};
const VIEW_PARAMS = {
  controls: flag,
  embed: flag,
  autoplay: flag,
  resume: flag,
  backend: (s) => {
    if (/^(auto|webgpu|gpu)$/i.test(s)) return 'auto';
    if (/^cpu$/i.test(s)) return 'cpu';
    throw new Error('must be auto or cpu');
  },
  rows: intIn(2, 16),
  cols: intIn(2, 21),
  scenario: (s) => {
    const v = s.trim().toLowerCase();
    if (v === '' || v === 'none') return null;
    if (!/^([1-9]|[a-z][a-z0-9-]*)$/.test(v)) throw new Error('must be a scenario name (collapse, imperfect, noise, few-levels) or 1…4');
    return v;
  },
  show: (s) => {
    const names = s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean).map((x) => (x === 'eq2' ? 'deterministic' : x));
    const bad = names.filter((x) => !SAMPLER_NAMES.includes(x));
    if (bad.length || !names.length) throw new Error(`must list samplers from ${SAMPLER_NAMES.join(', ')}`);
    return names;
  },
  stop: intIn(1, 10_000_000),
  mn: intIn(10, 1000),
  me: intIn(0, 10_000_000),
  se: intIn(1, 10_000_000),
};

function parseUrl(search) {
  const q = new URLSearchParams(search);
  const cfg = { ...DEFAULTS };
  const view = { ...VIEW_DEFAULTS };
  const problems = [];
  for (const [key, raw] of q.entries()) {
    const spec = PARAMS[key] || VIEW_PARAMS[key];
    if (!spec) {
      problems.push(`unknown parameter “${key}” ignored`);
      continue;
    }
    try {
      const v = spec(raw);
      if (PARAMS[key]) cfg[key] = v;
      else view[key] = v;
    } catch (e) {
      const def = PARAMS[key] ? DEFAULTS[key] : VIEW_DEFAULTS[key];
      problems.push(`${key}=“${raw}” ${e.message}; using ${def === null ? 'the default' : def}`);
    }
  }
  return { cfg, view, problems };
}

function configToQuery(cfg, view) {
  const q = new URLSearchParams();
  q.set('model', cfg.model);
  q.set('L', String(cfg.L));
  if (cfg.a !== null) q.set('a', String(cfg.a));
  if (cfg.sigma !== null) q.set('sigma', String(cfg.sigma));
  for (const key of ['k', 'lr', 'batch', 'seed', 'channels']) {
    if (cfg[key] !== DEFAULTS[key]) q.set(key, String(cfg[key]));
  }
  if (!view.controls) q.set('controls', '0');
  if (view.embed) q.set('embed', '1');
  if (view.autoplay) q.set('autoplay', '1');
  if (!view.resume) q.set('resume', '0');
  if (view.backend !== 'auto') q.set('backend', view.backend);
  if (view.rows !== VIEW_DEFAULTS.rows) q.set('rows', String(view.rows));
  if (view.cols !== VIEW_DEFAULTS.cols) q.set('cols', String(view.cols));
  if (view.scenario) q.set('scenario', view.scenario);
  if (view.show && !view.scenario) q.set('show', view.show.join(','));
  if (view.stop && !view.scenario) q.set('stop', String(view.stop));
  if (view.mn !== VIEW_DEFAULTS.mn) q.set('mn', String(view.mn));
  if (view.me !== VIEW_DEFAULTS.me) q.set('me', String(view.me));
  if (view.se) q.set('se', String(view.se));
  return q.toString();
}

function trainConfig(cfg) {
  return {
    model: cfg.model,
    levels: cfg.L,
    a: cfg.a,
    batch: cfg.batch,
    lr: cfg.lr,
    seed: cfg.seed,
    base_channels: cfg.channels,
    latent_dim: cfg.k,
  };
}

// ------------------------------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function fmt(v, digits = 3) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}
function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 1)} s`;
  return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}
function ago(t) {
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}
const levelLabel = (l, forward) => (forward && l === 0 ? 'y = z<sub>0</sub>' : `z<sub>${l}</sub>`);

// ------------------------------------------------------------------------------------------------
// Banners (clear messages; the page keeps working)
// ------------------------------------------------------------------------------------------------

const banners = new Map();
function banner(id, kind, html, { actions = [], dismissible = true } = {}) {
  clearBanner(id);
  const el = document.createElement('div');
  el.className = `banner ${kind}`;
  el.dataset.id = id;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const text = document.createElement('div');
  text.className = 'banner-text';
  text.innerHTML = html;
  el.append(text);
  const acts = document.createElement('div');
  acts.className = 'banner-actions';
  for (const { label, onClick } of actions) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', () => onClick(el));
    acts.append(b);
  }
  if (dismissible) {
    const x = document.createElement('button');
    x.type = 'button';
    x.className = 'close';
    x.setAttribute('aria-label', 'Dismiss');
    x.textContent = '×';
    x.addEventListener('click', () => clearBanner(id));
    acts.append(x);
  }
  el.append(acts);
  $('banners').append(el);
  banners.set(id, el);
  return el;
}
function clearBanner(id) {
  const el = banners.get(id);
  if (el) el.remove();
  banners.delete(id);
}
function errorBanner(id, message, opts) {
  lab.errors.push(message);
  return banner(id, 'error', escapeHtml(message), opts);
}

// ------------------------------------------------------------------------------------------------
// State and the test/automation handle (window.denoiseLab)
// ------------------------------------------------------------------------------------------------

const parsed = parseUrl(location.search);
if (parsed.view.embed) {
  // A compact iframe: fewer rows and columns unless the URL says otherwise.
  const q = new URLSearchParams(location.search);
  if (!q.has('rows')) parsed.view.rows = 4;
  if (!q.has('cols')) parsed.view.cols = 9;
}
const cfg = parsed.cfg;
const view = parsed.view;

const lab = {
  ready: false,
  playing: false,
  backend: null,
  adapter: null,
  cpuAdapter: false,
  fallbackReason: null,
  step: 0,
  losses: [], // every flushed step's loss, in order (this session)
  info: null,
  samplesStep: -1, // the training step the shown samples were drawn at
  samplesVersion: 0,
  readyVersion: 0,
  warmupMs: null,
  msPerStep: null,
  stepsPerSec: null,
  errors: [],
  warnings: [],
  lastExport: null,
  autosaves: 0,
  resumed: null,
  frames: [], // [{k, ms}] per training frame of this session (k steps in ms)
  times: {}, // performance.now() of milestones: ready, firstStep, firstSamples
  config: cfg,
  view,
};
window.denoiseLab = lab;

let worker = null;
let workerStarts = 0;
let wantPlaying = false;
let displaySeed = cfg.seed;
let customData = null; // {images, labels, name} when the user loaded their own IDX
let lastChains = null;
let lastForward = null;
let meanImage = null;
let realDiversity = null;
let lastSavedStep = -1;
let lastSaveAt = 0;
let pendingResumeKey = null;

// ------------------------------------------------------------------------------------------------
// Layout flags
// ------------------------------------------------------------------------------------------------

if (view.embed) document.body.classList.add('embed');
if (!view.controls) document.body.classList.add('no-controls');
if (view.embed) {
  const full = new URLSearchParams(location.search);
  full.delete('embed');
  full.delete('controls');
  $('open-full').href = `${location.pathname}?${full}`;
  $('open-full').hidden = false;
}
if (parsed.problems.length) {
  lab.warnings.push(...parsed.problems);
  banner('url', 'warn', `<b>Some settings in the URL were not understood</b> — defaults used instead:<ul>${parsed.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`);
}

// ------------------------------------------------------------------------------------------------
// Controls <-> config
// ------------------------------------------------------------------------------------------------

const ctl = {
  model: $('ctl-model'),
  L: $('ctl-L'),
  a: $('ctl-a'),
  k: $('ctl-k'),
  channels: $('ctl-channels'),
  lr: $('ctl-lr'),
  batch: $('ctl-batch'),
  seed: $('ctl-seed'),
  sigmaMode: $('ctl-sigma-mode'),
  sigma: $('ctl-sigma'),
};

function showConfig() {
  ctl.model.value = cfg.model;
  ctl.L.value = cfg.L;
  ctl.a.value = Number((cfg.a ?? defaultA(cfg.L)).toFixed(6));
  ctl.a.classList.toggle('is-default', cfg.a === null);
  $('a-hint').innerHTML = cfg.a === null ? 'default: a<sup>L</sup> = 0.01' : `a<sup>L</sup> = ${fmt(Math.pow(cfg.a, cfg.L), 2)}`;
  ctl.k.value = cfg.k;
  ctl.k.disabled = cfg.model !== 'cvae';
  $('k-field').classList.toggle('muted', cfg.model !== 'cvae');
  ctl.channels.value = cfg.channels;
  ctl.lr.value = cfg.lr;
  ctl.batch.value = cfg.batch;
  ctl.seed.value = cfg.seed;
  ctl.sigmaMode.value = cfg.sigma === null ? 'posterior' : 'custom';
  ctl.sigma.disabled = cfg.sigma === null || cfg.model !== 'denoiser';
  ctl.sigmaMode.disabled = cfg.model !== 'denoiser';
  ctl.sigma.value = cfg.sigma === null ? '' : cfg.sigma;
}

function writeUrl() {
  const q = configToQuery(cfg, view);
  const url = `${location.pathname}?${q}${location.hash}`;
  history.replaceState(null, '', url);
}

function readControl(key) {
  const el = ctl[key];
  const raw = String(el.value).trim();
  try {
    const v = PARAMS[key](raw);
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
    clearBanner(`ctl-${key}`);
    return { ok: true, value: v };
  } catch (e) {
    el.classList.add('invalid');
    el.setAttribute('aria-invalid', 'true');
    banner(`ctl-${key}`, 'warn', `${escapeHtml(el.closest('label')?.firstChild?.textContent?.trim() || key)}: “${escapeHtml(raw)}” ${escapeHtml(e.message)}.`);
    return { ok: false };
  }
}

const STRUCTURAL = ['model', 'L', 'a', 'k', 'channels', 'batch', 'seed'];
for (const key of STRUCTURAL) {
  ctl[key].addEventListener('change', () => {
    const r = readControl(key);
    if (!r.ok) return;
    if (key === 'a') {
      // Typing the default value back counts as "default".
      cfg.a = Math.abs(r.value - defaultA(cfg.L)) < 5e-7 ? null : r.value;
    } else {
      cfg[key] = r.value;
    }
    if (key === 'seed') displaySeed = cfg.seed;
    leaveScenario();
    showConfig();
    writeUrl();
    restartTraining();
  });
}
$('a-default').addEventListener('click', () => {
  if (cfg.a === null) return;
  cfg.a = null;
  leaveScenario();
  showConfig();
  writeUrl();
  restartTraining();
});
ctl.lr.addEventListener('change', () => {
  const r = readControl('lr');
  if (!r.ok) return;
  cfg.lr = r.value;
  writeUrl();
  if (worker && lab.ready) worker.postMessage({ type: 'lr', lr: cfg.lr });
});
function onSigmaChange() {
  if (ctl.sigmaMode.value === 'posterior') {
    cfg.sigma = null;
    ctl.sigma.classList.remove('invalid');
  } else {
    if (ctl.sigma.value === '') ctl.sigma.value = '0.5';
    const r = readControl('sigma');
    if (!r.ok) return;
    cfg.sigma = r.value;
  }
  showConfig();
  writeUrl();
  sendDisplay(true);
}
ctl.sigmaMode.addEventListener('change', onSigmaChange);
ctl.sigma.addEventListener('change', onSigmaChange);

$('copy-link').addEventListener('click', async () => {
  const url = location.href;
  try {
    await navigator.clipboard.writeText(url);
    banner('link', 'info', `Link copied: <code>${escapeHtml(url)}</code>`);
  } catch {
    banner('link', 'info', `Link to this setup: <code>${escapeHtml(url)}</code>`);
  }
});

// ------------------------------------------------------------------------------------------------
// Transport
// ------------------------------------------------------------------------------------------------

const btn = { play: $('play'), step: $('step'), reset: $('reset'), resample: $('resample'), export: $('export') };

function setEnabled(on) {
  for (const b of Object.values(btn)) b.disabled = !on;
  $('import-file').disabled = !on;
  $('import-label').setAttribute('aria-disabled', String(!on));
  $('data-load-files').disabled = !on;
  $('data-load-url').disabled = !on;
}

function showPlaying(p) {
  lab.playing = p;
  btn.play.textContent = p ? '❚❚ Pause' : '▶ Play';
  btn.play.classList.toggle('playing', p);
  btn.step.disabled = p || !lab.ready;
}

btn.play.addEventListener('click', () => {
  if (!worker || !lab.ready) return;
  if (wantPlaying) pause();
  else play();
});
function play() {
  wantPlaying = true;
  clearBanner('diverged');
  clearBanner('stopped');
  if (view.stop && lab.step >= view.stop) {
    // Past the scenario's budget: keep training without a stop.
    view.stop = null;
    sendDisplay(false);
  }
  worker.postMessage({ type: 'play' });
  showPlaying(true);
}
function pause() {
  wantPlaying = false;
  worker.postMessage({ type: 'pause' });
  showPlaying(false);
  requestAutosave();
}
btn.step.addEventListener('click', () => worker && lab.ready && worker.postMessage({ type: 'step', n: 1 }));
btn.reset.addEventListener('click', () => {
  if (!worker) return;
  deleteAutosave(autosaveKey(trainConfig(cfg), dataName()));
  restartTraining({ fresh: true });
});
btn.resample.addEventListener('click', () => {
  displaySeed = (Math.random() * 2 ** 31) >>> 0;
  sendDisplay(true);
});

function displaySettings() {
  return {
    samples: view.rows,
    columns: view.cols,
    seed: displaySeed,
    sigma: cfg.sigma,
    forwardRows: Math.min(4, view.rows),
    show: view.show,
    stopAt: view.stop,
    metricsN: view.mn,
    metricsNExplicit: new URLSearchParams(location.search).has('mn'),
    metricsEvery: view.me,
    sampleEvery: view.se,
  };
}
function sendDisplay(resample) {
  if (worker && lab.ready) worker.postMessage({ type: 'display', display: displaySettings(), resample });
}

// ------------------------------------------------------------------------------------------------
// Sample grids (canvas putImageData, one readback per frame)
// ------------------------------------------------------------------------------------------------

const GAP = 2;
const CELL_BG = [255, 255, 255];

const SAMPLERS = {
  deterministic: {
    title: 'Eq. (2): the deterministic decoder',
    formula: 'z<sub>ℓ−1</sub> = ŷ(z<sub>ℓ</sub>, ℓ)',
    caption:
      'Each row starts from a different noise z<sub>L</sub>. <b>Quiz (a)–(b):</b> a perfect denoiser maps every z<sub>L</sub> to the mean image, so after one step all rows are (almost) the same picture and the diversity collapses. <b>Quiz (c):</b> the real network is not perfect; tiny differences survive and get amplified down the chain — look for rows that slowly drift apart.',
  },
  stochastic: {
    title: 'Stochastic sampler (current diffusion models)',
    formula: 'z<sub>ℓ−1</sub> = m(z<sub>ℓ</sub>, ŷ) + σ δ',
    caption:
      'The posterior mean plus fresh noise δ at every step (σ = √v by default, change it under Sampling). The injected noise keeps the rows different. With σ = 0 it becomes deterministic again — try it.',
  },
  ddim: {
    title: 'DDIM (η = 0): deterministic, not collapsing',
    formula: 'z<sub>ℓ−1</sub> = a<sup>ℓ−1</sup> ŷ + √(1 − a<sup>2(ℓ−1)</sup>) ε̂',
    caption:
      'Also deterministic, but it keeps the noise direction ε̂ = (z<sub>ℓ</sub> − a<sup>ℓ</sup> ŷ)/√(1 − a<sup>2ℓ</sup>) instead of throwing it away, so every z<sub>L</sub> leads to its own digit.',
  },
  cvae: {
    title: 'Progressive CVAE (Problem 2)',
    formula: 'z<sub>ℓ−1</sub> = z<sub>Φ</sub>(ε, z<sub>ℓ</sub>, ℓ) + σ<sub>Φ</sub> ⊙ δ,  ε ~ N(0, I)',
    caption:
      'Each step is a small conditional VAE with a latent ε of size k. With few levels (L = 2…8) the true step p(z<sub>ℓ−1</sub> | z<sub>ℓ</sub>) is far from Gaussian: a Gaussian step (the stochastic sampler) gives blurry or broken digits, the CVAE can still give sharp, diverse ones. The last step shows the mean z<sub>Φ</sub>.',
  },
};
const SAMPLER_COLORS = { deterministic: '#d1495b', stochastic: '#2e86ab', ddim: '#3c9d5d', cvae: '#8e5cc4', real: '#555' };

class ChainGrid {
  constructor(container, { forward = false, scale = 3 } = {}) {
    this.forward = forward;
    this.scale = scale;
    this.wrap = document.createElement('div');
    this.wrap.className = 'grid-wrap';
    this.header = document.createElement('div');
    this.header.className = 'grid-header';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'pixel';
    this.canvas.width = 1;
    this.canvas.height = 1;
    this.wrap.append(this.header, this.canvas);
    container.replaceChildren(this.wrap);
    this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    this.levelsKey = '';
  }

  draw(chain, { onlyLast = false } = {}) {
    const { n, h, w, pixels } = chain;
    const all = chain.levels;
    const levelIdx = onlyLast ? [all.length - 1] : all.map((_, i) => i);
    const cols = onlyLast ? n : levelIdx.length;
    const rows = onlyLast ? 1 : n;
    const cw = w + GAP;
    const ch = h + GAP;
    const W = cols * cw;
    const H = rows * ch;
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    this.wrap.style.width = `min(100%, ${W * this.scale}px)`;
    const key = onlyLast ? `last:${n}` : all.join(',');
    if (key !== this.levelsKey) {
      this.levelsKey = key;
      this.header.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
      this.header.innerHTML = onlyLast ? '' : all.map((l) => `<span>${levelLabel(l, this.forward)}</span>`).join('');
      this.header.hidden = onlyLast;
    }
    const img = this.ctx.createImageData(W, H);
    const d = img.data;
    for (let i = 0; i < d.length; i += 4) {
      d[i] = CELL_BG[0];
      d[i + 1] = CELL_BG[1];
      d[i + 2] = CELL_BG[2];
      d[i + 3] = 255;
    }
    const dim = h * w;
    for (let c = 0; c < levelIdx.length; c++) {
      const li = levelIdx[c];
      for (let s = 0; s < n; s++) {
        const src = (li * n + s) * dim;
        const col = onlyLast ? s : c;
        const row = onlyLast ? 0 : s;
        const x0 = col * cw + GAP / 2;
        const y0 = row * ch + GAP / 2;
        for (let y = 0; y < h; y++) {
          let o = ((y0 + y) * W + x0) * 4;
          const base = src + y * w;
          for (let x = 0; x < w; x++, o += 4) {
            let v = (pixels[base + x] + 1) * 127.5;
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            d[o] = d[o + 1] = d[o + 2] = v;
          }
        }
      }
    }
    this.ctx.putImageData(img, 0, 0);
  }
}

function drawImage(canvas, pixels, h, w) {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = Math.max(0, Math.min(255, (pixels[i] + 1) * 127.5));
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

const grids = {};
const gridScale = 2;
grids.forward = new ChainGrid($('grid-forward'), { forward: true, scale: gridScale });
grids.meanFinal = new ChainGrid($('grid-mean-final'), { scale: 2 });

/** The samplers shown: the model's (and the comparison model's), filtered by `show`. */
function activeSamplers() {
  const of = (m) => (m === 'cvae' ? ['cvae'] : ['deterministic', 'stochastic', 'ddim']);
  let names = of(cfg.model);
  if (lab.companionModel) names = [...names, ...of(lab.companionModel).filter((n) => !names.includes(n))];
  if (view.show && view.show.length) {
    const shown = names.filter((n) => view.show.includes(n));
    if (shown.length) names = shown;
  }
  return names;
}
let samplerPanelsKey = '';

function buildSamplerPanels() {
  samplerPanelsKey = activeSamplers().join(',') + (view.controls ? '+' : '');
  const host = $('sampler-panels');
  host.replaceChildren();
  const active = activeSamplers();
  for (const name of active) {
    const s = SAMPLERS[name];
    const sec = document.createElement('section');
    sec.className = 'panel sampler';
    sec.id = `panel-${name}`;
    sec.dataset.sampler = name;
    sec.innerHTML = `
      <h2><span class="swatch" style="background:${SAMPLER_COLORS[name]}"></span>${s.title} <span class="formula">${s.formula}</span></h2>
      <div class="body">
        <div class="chain" id="grid-${name}"></div>
        <div class="side">
          <p class="caption">${s.caption}</p>
          <p class="sampler-metrics" id="metrics-${name}">–</p>
        </div>
      </div>`;
    host.append(sec);
    grids[name] = new ChainGrid(sec.querySelector('.chain'), { scale: gridScale });
  }
  for (const name of Object.keys(SAMPLERS)) if (!active.includes(name)) delete grids[name];
  // The other model's samplers: a pointer instead of an empty grid.
  const other = document.createElement('section');
  other.className = 'panel other-model';
  if (cfg.model === 'cvae') {
    other.innerHTML = `<p><b>Eq. (2), stochastic and DDIM samplers</b> belong to the diffusion denoiser (Problem 1).
      <button type="button" class="small" data-switch="denoiser">Train the denoiser at L = ${cfg.L}</button></p>`;
  } else {
    other.innerHTML = `<p><b>Progressive CVAE (Problem 2):</b> a VAE per step instead of a Gaussian step — it needs far fewer levels.
      <button type="button" class="small" data-switch="cvae">Train the CVAE at L = ${Math.min(cfg.L, 4)}</button></p>`;
  }
  other.querySelector('button').addEventListener('click', (ev) => {
    const to = ev.target.dataset.switch;
    cfg.model = to;
    if (to === 'cvae' && cfg.L > 4) {
      cfg.L = 4;
      cfg.a = null;
    }
    showConfig();
    writeUrl();
    restartTraining();
  });
  if (view.controls && !lab.companionModel) host.append(other);
  $('panel-mean').hidden = !active.includes('deterministic');
  $('loss-caption').innerHTML =
    cfg.model === 'cvae'
      ? 'KL(q(ε | z<sub>ℓ−1</sub>, z<sub>ℓ</sub>) ‖ N(0, I)) − ln p(z<sub>ℓ−1</sub> | ε, z<sub>ℓ</sub>) per image: total, KL and NLL (smoothed; thin: every step). The NLL of a continuous density can go below 0.'
      : 'E ‖y − ŷ(z<sub>ℓ</sub>, ℓ)‖² per image, ℓ uniform in 1…L (thin: every step; thick: smoothed).';
}

function renderSamples(msg) {
  lastChains = msg.chains;
  if (msg.forward) lastForward = msg.forward;
  for (const [name, chain] of Object.entries(msg.chains)) {
    if (!grids[name]) continue;
    grids[name].draw(chain);
    const div = chain.diversity[chain.diversity.length - 1];
    const parts = [`diversity of z<sub>0</sub>: <b>${fmt(div)}</b>${realDiversity != null ? ` <span class="muted">(real digits ${fmt(realDiversity)})</span>` : ''}`];
    if (chain.rmsToMean != null) parts.push(`RMS to the mean image: <b>${fmt(chain.rmsToMean)}</b>`);
    parts.push(`<span class="muted">drawn at step ${msg.step}, noise seed ${msg.seed}</span>`);
    $(`metrics-${name}`).innerHTML = parts.map((p) => `<span>${p}</span>`).join('');
  }
  if (msg.forward) grids.forward.draw(msg.forward);
  if (msg.chains.deterministic) grids.meanFinal.draw(msg.chains.deterministic, { onlyLast: true });
  renderMeanTable();
  renderDiversity();
  lab.samplesStep = msg.step;
  lab.samplesVersion++;
  lab.times.firstSamples ??= performance.now();
  $('speed-sample').textContent = fmtMs(msg.ms);
}

function rms(a, b, off, dim) {
  let s = 0;
  for (let i = 0; i < dim; i++) {
    const d = a[off + i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s / dim);
}

function renderMeanTable() {
  const tbody = $('rms-table').querySelector('tbody');
  const rows = [];
  if (lastChains) {
    for (const [name, chain] of Object.entries(lastChains)) {
      if (chain.rmsToMean == null) continue;
      rows.push(`<tr><td><span class="swatch" style="background:${SAMPLER_COLORS[name]}"></span>${SAMPLERS[name].title.split(':')[0]} samples</td><td>${fmt(chain.rmsToMean)}</td></tr>`);
    }
  }
  if (lastForward && meanImage) {
    // The y = z_0 column of the forward process: real held-out digits.
    const f = lastForward;
    const dim = f.h * f.w;
    const li = f.levels.indexOf(0);
    if (li >= 0 && meanImage.length === dim) {
      let s = 0;
      for (let i = 0; i < f.n; i++) s += rms(f.pixels, meanImage, (li * f.n + i) * dim, dim);
      rows.push(`<tr class="ref"><td><span class="swatch" style="background:${SAMPLER_COLORS.real}"></span>real digits (for scale)</td><td>${fmt(s / f.n)}</td></tr>`);
    }
  }
  tbody.innerHTML = rows.join('');
}

// ------------------------------------------------------------------------------------------------
// Charts (uPlot)
// ------------------------------------------------------------------------------------------------

const charts = { loss: null, levels: null, diversity: null };
const lossData = { step: [], loss: [], kl: [], nll: [], sLoss: [], sKl: [], sNll: [] };
const EMA = 0.95;
const MAX_POINTS = 4000;
let chartDirty = false;

function chartSize(el, height) {
  const w = Math.max(200, Math.floor(el.clientWidth || el.parentElement.clientWidth || 400));
  return { width: w, height };
}

function axisStyle() {
  return { stroke: '#555', grid: { stroke: '#eee', width: 1 }, ticks: { stroke: '#ddd', width: 1 }, font: '11px system-ui, sans-serif' };
}

function makeLossChart() {
  const el = $('chart-loss');
  charts.loss?.destroy();
  const cvae = cfg.model === 'cvae';
  const series = [
    { label: 'step' },
    { label: 'loss', stroke: 'rgba(46,134,171,0.28)', width: 1, points: { show: false } },
    { label: 'loss (smoothed)', stroke: '#2e86ab', width: 2, points: { show: false } },
  ];
  if (cvae) {
    series.push({ label: 'KL', stroke: '#e08e0b', width: 2, points: { show: false } });
    series.push({ label: 'NLL', stroke: '#8e5cc4', width: 2, points: { show: false } });
  }
  const height = view.embed ? 160 : 220;
  charts.loss = new uPlot(
    {
      ...chartSize(el, height),
      series,
      scales: { x: { time: false } },
      axes: [{ ...axisStyle(), label: 'step' }, { ...axisStyle(), size: 56 }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
    },
    lossSeriesData(),
    el,
  );
}
function lossSeriesData() {
  const d = [lossData.step, lossData.loss, lossData.sLoss];
  if (cfg.model === 'cvae') d.push(lossData.sKl, lossData.sNll);
  return d;
}

function makeLevelChart() {
  const el = $('chart-levels');
  charts.levels?.destroy();
  const height = view.embed ? 160 : 220;
  charts.levels = new uPlot(
    {
      ...chartSize(el, height),
      series: [{ label: 'level ℓ' }, { label: 'loss at ℓ', stroke: '#3c9d5d', width: 2, fill: 'rgba(60,157,93,0.08)', points: { show: cfg.L <= 40, size: 4 }, spanGaps: true }],
      scales: { x: { time: false } },
      axes: [{ ...axisStyle(), label: 'level ℓ' }, { ...axisStyle(), size: 56 }],
    },
    [[], []],
    el,
  );
}

function makeDiversityChart() {
  const el = $('chart-diversity');
  charts.diversity?.destroy();
  const names = cfg.model === 'cvae' ? ['cvae'] : ['deterministic', 'stochastic', 'ddim'];
  const series = [{ label: 'level' }];
  for (const n of names) series.push({ label: n === 'deterministic' ? 'eq. (2)' : n, stroke: SAMPLER_COLORS[n], width: 2, points: { show: true, size: 5 } });
  series.push({ label: 'real digits', stroke: SAMPLER_COLORS.real, width: 1.5, dash: [6, 4], points: { show: false } });
  charts.diversity = new uPlot(
    {
      ...chartSize(el, view.embed ? 160 : 220),
      series,
      // z_L on the left, z_0 on the right, as in the grids.
      scales: { x: { time: false, dir: -1 } },
      axes: [{ ...axisStyle(), label: 'level ℓ (z_L → z_0)' }, { ...axisStyle(), size: 56, label: 'mean pairwise distance' }],
    },
    [[], ...names.map(() => []), []],
    el,
  );
  charts.diversity._names = names;
}

function renderDiversity() {
  if (!lastChains || !charts.diversity) return;
  const names = charts.diversity._names;
  const first = lastChains[names[0]];
  if (!first) return;
  const order = first.levels.map((l, i) => [l, i]).sort((p, q) => p[0] - q[0]);
  const xs = order.map((p) => p[0]);
  const data = [xs];
  for (const n of names) {
    const c = lastChains[n];
    data.push(order.map(([, i]) => (c ? c.diversity[i] : null)));
  }
  data.push(xs.map(() => realDiversity));
  charts.diversity.setData(data);
  // Bars: diversity of the final samples vs real digits.
  const maxV = Math.max(realDiversity || 0, ...names.map((n) => lastChains[n]?.diversity.at(-1) || 0), 1e-6);
  const row = (label, color, v) =>
    `<div class="bar-row"><span class="bar-label"><span class="swatch" style="background:${color}"></span>${label}</span><span class="bar"><span style="width:${((100 * (v || 0)) / maxV).toFixed(1)}%;background:${color}"></span></span><span class="bar-value">${fmt(v)}</span></div>`;
  let html = names.map((n) => row(`${n === 'deterministic' ? 'eq. (2)' : n} z<sub>0</sub>`, SAMPLER_COLORS[n], lastChains[n]?.diversity.at(-1))).join('');
  html += row('real digits', SAMPLER_COLORS.real, realDiversity);
  $('diversity-bars').innerHTML = html;
}

function pushLoss(points) {
  for (const p of points) {
    const prev = lossData.step.length ? lossData.sLoss[lossData.sLoss.length - 1] : null;
    const prevK = lossData.step.length ? lossData.sKl[lossData.sKl.length - 1] : null;
    const prevN = lossData.step.length ? lossData.sNll[lossData.sNll.length - 1] : null;
    const ema = (old, v) => (old == null || !Number.isFinite(old) ? v : EMA * old + (1 - EMA) * v);
    lossData.step.push(p.step);
    lossData.loss.push(p.loss);
    lossData.kl.push(p.kl);
    lossData.nll.push(p.nll);
    lossData.sLoss.push(ema(prev, p.loss));
    lossData.sKl.push(ema(prevK, p.kl));
    lossData.sNll.push(ema(prevN, p.nll));
  }
  if (lossData.step.length > MAX_POINTS) {
    // Keep every other point (the smoothed curves are unaffected).
    for (const k of Object.keys(lossData)) lossData[k] = lossData[k].filter((_, i) => i % 2 === 1 || i === lossData[k].length - 1);
  }
  chartDirty = true;
}
function clearLoss() {
  for (const k of Object.keys(lossData)) lossData[k] = [];
  chartDirty = true;
}

let levelLoss = [];
function redrawCharts() {
  if (chartDirty && charts.loss) {
    charts.loss.setData(lossSeriesData());
    if (charts.levels) {
      charts.levels.setData([levelLoss.map((_, i) => i + 1), levelLoss.map((v) => (v == null ? null : v))]);
    }
    chartDirty = false;
  }
  requestAnimationFrame(redrawCharts);
}
requestAnimationFrame(redrawCharts);

const resizeObserver = new ResizeObserver(() => {
  for (const [id, ch] of [['chart-loss', charts.loss], ['chart-levels', charts.levels], ['chart-diversity', charts.diversity]]) {
    if (!ch) continue;
    const el = $(id);
    const w = Math.floor(el.clientWidth);
    if (w > 0 && Math.abs(w - ch.width) > 2) ch.setSize({ width: w, height: ch.height });
  }
});
for (const id of ['chart-loss', 'chart-levels', 'chart-diversity']) resizeObserver.observe($(id));

// ------------------------------------------------------------------------------------------------
// Quiz scenarios (presets from the Rust core: src/scenario.rs) and the sample metrics
// ------------------------------------------------------------------------------------------------


function buildScenarioButtons(list) {
  const host = $('scenario-buttons');
  host.replaceChildren();
  list.forEach((sc, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'scenario';
    b.dataset.scenario = sc.name;
    b.innerHTML = `<span class="num">${i + 1}</span> ${escapeHtml(sc.title)}`;
    b.title = `${sc.steps} steps · ${sc.budget}`;
    b.addEventListener('click', () => startScenario(sc.name));
    host.append(b);
  });
  const free = document.createElement('button');
  free.type = 'button';
  free.className = 'scenario free';
  free.textContent = 'Free play';
  free.title = 'Leave the scenario: your own settings';
  free.addEventListener('click', () => {
    if (!view.scenario) return;
    leaveScenario();
    writeUrl();
    restartTraining();
  });
  host.append(free);
  markScenario();
}

function markScenario() {
  for (const b of $('scenario-buttons').querySelectorAll('button')) {
    // view.scenario is the preset's name once the worker has applied it (`onScenario`).
    const on = b.dataset.scenario ? view.scenario === b.dataset.scenario : !view.scenario;
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', String(on));
  }
}

function startScenario(name) {
  view.scenario = name;
  view.show = null;
  view.stop = null;
  wantPlaying = false;
  markScenario();
  writeUrl();
  restartTraining({ fresh: true });
}

function leaveScenario() {
  if (!view.scenario) return; // `show`/`stop` set by the URL outside a scenario stay
  view.scenario = null;
  view.show = null;
  view.stop = null;
  lab.companionModel = null;
  $('scenario-caption').hidden = true;
  $('stat-companion').hidden = true;
  clearBanner('stopped');
  markScenario();
}

function onScenario(msg) {
  const sc = msg.scenario;
  view.scenario = sc.name;
  view.show = msg.show;
  view.stop = msg.stopAt;
  lab.scenario = sc.name;
  const models = sc.models
    .map((m) => `${m.model === 'cvae' ? 'progressive CVAE' : 'denoiser'}, L = ${m.levels}, ${m.base_channels} channels, batch ${m.batch}, lr ${m.lr}`)
    .join(' · ');
  const cap = $('scenario-caption');
  cap.innerHTML = `<h3>${escapeHtml(sc.title)}</h3><p>${escapeHtml(sc.caption)}</p>
    <p class="note">Trains ${escapeHtml(models)} for ${sc.steps} steps (${escapeHtml(sc.budget)}), then pauses. Press <b>Play</b>. The metrics below update while it trains; <code>denoise-lab scenario ${escapeHtml(sc.name)}</code> reproduces the figures offline.</p>`;
  cap.hidden = false;
  markScenario();
  writeUrl();
}

const HIST_W = 150;
const HIST_H = 40;

/** Ten bars (digits 0..9), heights relative to the tallest. */
function drawHistogram(canvas, counts, color) {
  const dpr = 2;
  canvas.width = HIST_W * dpr;
  canvas.height = HIST_H * dpr;
  canvas.style.width = `${HIST_W}px`;
  canvas.style.height = `${HIST_H}px`;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, HIST_W, HIST_H);
  const max = Math.max(1, ...counts);
  const bw = HIST_W / counts.length;
  const top = 2;
  const base = HIST_H - 11;
  ctx.font = '9px system-ui, sans-serif';
  ctx.textAlign = 'center';
  counts.forEach((c, d) => {
    const h = ((base - top) * c) / max;
    ctx.fillStyle = color;
    ctx.fillRect(d * bw + 1.5, base - h, bw - 3, h);
    ctx.fillStyle = '#666';
    ctx.fillText(String(d), d * bw + bw / 2, HIST_H - 1.5);
  });
  ctx.strokeStyle = '#bbb';
  ctx.beginPath();
  ctx.moveTo(0, base + 0.5);
  ctx.lineTo(HIST_W, base + 0.5);
  ctx.stroke();
}

function clearMetrics() {
  $('metrics-table').querySelector('tbody').replaceChildren();
  $('metrics-status').textContent = 'Not measured yet.';
  lab.metrics = null;
}

function renderMetrics(msg) {
  $('panel-metrics').classList.remove('busy');
  if (msg.unavailable) {
    $('metrics-status').textContent = msg.unavailable;
    lab.metrics = { unavailable: msg.unavailable };
    return;
  }
  lab.metrics = msg;
  lab.metricsVersion = (lab.metricsVersion || 0) + 1;
  const tbody = $('metrics-table').querySelector('tbody');
  tbody.replaceChildren();
  const label = (n) => (n === 'deterministic' ? 'eq. (2)' : n === 'ddim' ? 'DDIM' : n === 'cvae' ? 'progressive CVAE' : n);
  const rows = Object.entries(msg.samplers).map(([n, m]) => [label(n), SAMPLER_COLORS[n], m, n]);
  rows.push([`real digits`, SAMPLER_COLORS.real, msg.real, 'real']);
  for (const [name, color, m, key] of rows) {
    const tr = document.createElement('tr');
    tr.dataset.sampler = key;
    if (key === 'real') tr.className = 'ref';
    tr.innerHTML = `<td><span class="swatch" style="background:${color}"></span>${escapeHtml(name)}</td>
      <td class="num frechet">${fmt(m.frechet, 3)}</td>
      <td class="num entropy">${fmt(m.entropy_nats, 3)}</td>
      <td class="num diversity">${fmt(m.diversity, 3)}</td>
      <td><canvas class="hist" aria-label="class histogram of ${escapeHtml(name)}"></canvas></td>`;
    tbody.append(tr);
    drawHistogram(tr.querySelector('canvas'), m.histogram, color);
  }
  const acc = msg.reference.classifier_accuracy;
  $('metrics-status').textContent = `Measured at step ${msg.step}: ${msg.n} samples per sampler (noise seed ${msg.seed}) against ${msg.reference.n} held-out real digits, in ${fmtMs(msg.ms)}. Classifier: ${acc ? `${(100 * acc).toFixed(1)}% on held-out digits` : 'bundled'}. Real digits: ${msg.real.n} training digits measured the same way (the best a sampler can do at this sample size).`;
}

$('measure').addEventListener('click', () => {
  if (worker && lab.ready) worker.postMessage({ type: 'measure' });
});

function rebuildForModel() {
  buildSamplerPanels();
  makeLossChart();
  makeLevelChart();
  makeDiversityChart();
}

// ------------------------------------------------------------------------------------------------
// Autosave (IndexedDB)
// ------------------------------------------------------------------------------------------------

const DB_NAME = 'denoise-lab';
const STORE = 'autosave';
const KEEP_AUTOSAVES = 6;
const AUTOSAVE_MS = 30000;
let dbPromise = null;

function openDb() {
  if (!('indexedDB' in self)) return Promise.reject(new Error('IndexedDB is not available'));
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'key' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
  return dbPromise;
}
function idb(mode, fn) {
  return openDb().then(
    (db) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const store = tx.objectStore(STORE);
        let result;
        Promise.resolve(fn(store)).then((r) => (result = r));
        tx.oncomplete = () => resolve(result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
      }),
  );
}
const reqP = (req) => new Promise((res, rej) => ((req.onsuccess = () => res(req.result)), (req.onerror = () => rej(req.error))));

function dataName() {
  return customData ? customData.name : 'bundled';
}
function autosaveKey(tc, data) {
  return JSON.stringify([tc.model, tc.levels, tc.a ?? null, tc.batch, tc.seed, tc.base_channels, tc.latent_dim, data]);
}
async function loadAutosave(key) {
  try {
    return await idb('readonly', (s) => reqP(s.get(key)));
  } catch {
    return null;
  }
}
async function storeAutosave(entry) {
  try {
    await idb('readwrite', async (s) => {
      s.put(entry);
      const all = await reqP(s.getAll());
      all.sort((x, y) => y.savedAt - x.savedAt);
      for (const old of all.slice(KEEP_AUTOSAVES)) s.delete(old.key);
    });
    return true;
  } catch (e) {
    banner('autosave', 'warn', `Autosave failed: ${escapeHtml(e.message || e)}. Use “Export checkpoint” to keep your work.`);
    return false;
  }
}
function deleteAutosave(key) {
  idb('readwrite', (s) => s.delete(key)).catch(() => {});
}

function requestAutosave() {
  // Scenario runs are short presets (and may train two models): not autosaved.
  if (view.scenario) return;
  if (!worker || !lab.ready || lab.step === lastSavedStep || lab.step === 0) return;
  worker.postMessage({ type: 'export', reason: 'autosave' });
}
setInterval(() => {
  if (wantPlaying && Date.now() - lastSaveAt > AUTOSAVE_MS) {
    lastSaveAt = Date.now();
    requestAutosave();
  }
  if (lastSaveAt && lab.autosaves) $('autosave-status').textContent = `Autosaved at step ${lastSavedStep}, ${ago(lastSaveAt)} (in this browser).`;
}, 1000);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') requestAutosave();
});

// ------------------------------------------------------------------------------------------------
// The worker
// ------------------------------------------------------------------------------------------------

async function startWorker({ resumeBytes = null, autoplay = false } = {}) {
  workerStarts++;
  lab.ready = false;
  setEnabled(false);
  worker?.terminate();
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev) => onWorkerMessage(ev.data);
  worker.onerror = (ev) => {
    ev.preventDefault?.();
    onWorkerCrash(`the training worker failed: ${ev.message || 'script error'}`);
  };
  worker.postMessage({
    type: 'init',
    config: trainConfig(cfg),
    display: displaySettings(),
    forceCpu: view.backend === 'cpu' || lab.forceCpuAfterLoss === true,
    checkpoint: view.scenario ? null : resumeBytes,
    scenario: view.scenario,
    autoplay,
    data: customData,
  });
  if (autoplay) {
    wantPlaying = true;
    showPlaying(true);
  }
}

let crashTimes = [];
async function onWorkerCrash(reason) {
  const now = Date.now();
  crashTimes = crashTimes.filter((t) => now - t < 60000);
  crashTimes.push(now);
  const wasPlaying = wantPlaying;
  wantPlaying = false;
  showPlaying(false);
  if (crashTimes.length > 2) {
    errorBanner('crash', `Training stopped: ${reason}. It failed repeatedly, so it was not restarted. Reload the page to try again.`);
    worker?.terminate();
    worker = null;
    return;
  }
  const saved = await loadAutosave(autosaveKey(trainConfig(cfg), dataName()));
  errorBanner('crash', `Training stopped: ${reason}. Restarting ${saved ? `from the last autosave (step ${saved.step})` : 'from scratch'}…`);
  clearLoss();
  startWorker({ resumeBytes: saved ? saved.bytes : null, autoplay: wasPlaying });
}

async function restartTraining({ fresh = false } = {}) {
  if (!worker) return;
  const wasPlaying = wantPlaying;
  // Keep the run being left (scenario runs are not autosaved).
  if (lab.ready && lab.step > 0 && lab.step !== lastSavedStep && !lab.scenario) worker.postMessage({ type: 'export', reason: 'autosave' });
  worker.postMessage({ type: 'pause' });
  lab.ready = false;
  setEnabled(false);
  rebuildForModel();
  clearLoss();
  levelLoss = [];
  lastChains = null;
  $('loading').hidden = false;
  $('loading').textContent = 'Restarting…';
  const key = autosaveKey(trainConfig(cfg), dataName());
  const saved = fresh || !view.resume || view.scenario ? null : await loadAutosave(key);
  pendingResumeKey = saved ? key : null;
  clearMetrics();
  worker.postMessage({ type: 'reset', config: trainConfig(cfg), display: displaySettings(), checkpoint: saved ? saved.bytes : null, scenario: view.scenario });
  wantPlaying = wasPlaying;
}

/** Settings that train at a few steps per second on a CPU (the full-size defaults need a GPU). */
const LIGHT = { channels: 8, batch: 16 };

/** A banner action that switches to LIGHT (only offered when the run is larger than that). */
function lightActions() {
  if (cfg.channels <= LIGHT.channels && cfg.batch <= LIGHT.batch) return { dismissible: true };
  return {
    dismissible: true,
    actions: [{
      label: `Use lighter settings (${LIGHT.channels} channels, batch ${LIGHT.batch})`,
      onClick: () => {
        cfg.channels = Math.min(cfg.channels, LIGHT.channels);
        cfg.batch = Math.min(cfg.batch, LIGHT.batch);
        showConfig();
        writeUrl();
        clearBanner('cpu-adapter');
        clearBanner('backend');
        restartTraining();
      },
    }],
  };
}

/** Restart the worker on burn's CPU backend, resuming the current run (`backend=cpu` in the URL). */
let switchingToCpu = false;
function switchToCpu() {
  view.backend = 'cpu';
  writeUrl();
  clearBanner('cpu-adapter');
  if (worker && lab.ready && lab.step > 0) {
    // Save first; onExported restarts the worker from those bytes.
    switchingToCpu = true;
    worker.postMessage({ type: 'pause' });
    worker.postMessage({ type: 'export', reason: 'autosave' });
  } else {
    startWorker({ autoplay: wantPlaying });
  }
}

function showBackend(msg) {
  lab.backend = msg.backend;
  lab.adapter = msg.adapter;
  lab.cpuAdapter = msg.cpuAdapter;
  lab.fallbackReason = msg.reason;
  const a = msg.adapter;
  const adapterText = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter' : '–';
  if (msg.backend === 'webgpu') {
    $('stat-backend').innerHTML = `<span class="badge gpu">WebGPU</span>`;
    $('stat-backend').title = adapterText;
    $('speed-backend').textContent = 'WebGPU';
    $('speed-adapter').textContent = adapterText;
    clearBanner('backend');
    if (msg.cpuAdapter) {
      // On a CPU adapter, burn's CPU backend in wasm is usually faster than emulated WebGPU
      // (measured: README, "In the browser"), so offer it beside the lighter settings.
      const acts = lightActions();
      acts.actions = [...(acts.actions || []), { label: 'Train on the CPU backend instead', onClick: () => switchToCpu() }];
      banner('cpu-adapter', 'warn', `<b>Your WebGPU adapter runs on the CPU</b> (${escapeHtml(adapterText)}): training works but is slow. A browser with GPU access trains much faster.`, acts);
    }
  } else {
    $('stat-backend').innerHTML = `<span class="badge cpu">CPU</span>`;
    $('speed-backend').textContent = 'CPU (WebAssembly, burn flex)';
    $('speed-adapter').textContent = 'none';
    banner('backend', 'warn', `<b>WebGPU unavailable: training on the CPU (slower).</b> ${escapeHtml(msg.reason || '')}`, lightActions());
  }
}

function onReady(msg) {
  lab.ready = true;
  lab.readyVersion++;
  lab.info = msg.info;
  lab.step = msg.info.step;
  lab.losses = [];
  lab.frames = [];
  lab.times.ready ??= performance.now();
  meanImage = msg.meanImage;
  realDiversity = msg.realDiversity;
  $('loading').hidden = true;
  // The session's configuration wins (a resumed or imported checkpoint may differ).
  const c = msg.info.config;
  const modelChanged = c.model !== cfg.model;
  Object.assign(cfg, {
    model: c.model,
    L: c.levels,
    a: c.a ?? null,
    batch: c.batch,
    seed: c.seed,
    channels: c.base_channels,
    k: c.latent_dim,
  });
  if (msg.imported || view.scenario) cfg.lr = c.lr;
  lab.companionModel = msg.companion ? msg.companion.config.model : null;
  if (!view.scenario) lab.scenario = null;
  lab.companion = msg.companion || null;
  showConfig();
  writeUrl();
  if (modelChanged || !charts.loss) rebuildForModel();
  else if (samplerPanelsKey !== activeSamplers().join(',') + (view.controls ? '+' : '')) buildSamplerPanels();
  else if (charts.levels && levelLoss.length !== cfg.L) makeLevelChart();
  drawImage($('mean-canvas'), meanImage, msg.info.height, msg.info.width);
  $('stat-step').textContent = String(lab.step);
  setEnabled(true);
  showPlaying(wantPlaying);
  // A new session: its own loss curve (a resumed or imported run brings its saved history).
  clearLoss();
  levelLoss = [];
  const restored = msg.resumed || msg.imported;
  if (restored && restored.history && restored.history.length) pushLoss(restored.history);
  if (msg.resumed) {
    lab.resumed = msg.resumed;
    banner('resumed', 'info', `Resumed from step ${msg.resumed.step} (autosaved in this browser).`, {
      actions: [{ label: 'Start over', onClick: () => { clearBanner('resumed'); btn.reset.click(); } }],
    });
    lastSavedStep = msg.resumed.step;
  }
  if (msg.imported) {
    banner('imported', 'info', `Imported checkpoint${msg.imported.name ? ` “${escapeHtml(msg.imported.name)}”` : ''} at step ${msg.imported.step}.`);
  }
  if (msg.data) $('data-status').textContent = `Data: ${msg.data.name} — ${msg.data.n} images of ${msg.data.h}×${msg.data.w}.`;
  clearBanner('crash');
  if (wantPlaying) worker.postMessage({ type: 'play' });
}

function onWorkerMessage(msg) {
  switch (msg.type) {
    case 'hello':
      break;
    case 'status':
      $('loading').textContent = msg.text;
      $('stat-backend').textContent = lab.backend ? $('stat-backend').textContent : 'starting…';
      break;
    case 'backend':
      showBackend(msg);
      break;
    case 'ready':
      onReady(msg);
      break;
    case 'progress': {
      lab.step = msg.step;
      lab.times.firstStep ??= performance.now();
      lab.frames.push({ k: msg.stepsPerFrame, ms: msg.frameMs });
      for (const p of msg.steps) lab.losses.push(p.loss);
      pushLoss(msg.steps);
      levelLoss = msg.levelLoss || levelLoss;
      lab.warmupMs = msg.warmupMs;
      lab.msPerStep = msg.msPerStep;
      lab.stepsPerSec = msg.stepsPerSec;
      const last = msg.steps[msg.steps.length - 1];
      $('stat-step').textContent = String(msg.step);
      $('stat-loss').textContent = last ? fmt(lossData.sLoss[lossData.sLoss.length - 1] ?? last.loss) : '–';
      $('stat-sps').textContent = fmt(msg.stepsPerSec, 3);
      $('stat-ms').textContent = msg.msPerStep != null ? fmt(msg.msPerStep, 3) : '–';
      $('stat-warmup').textContent = fmtMs(msg.warmupMs);
      $('speed-ms').textContent = fmtMs(msg.msPerStep);
      $('speed-sps').textContent = fmt(msg.stepsPerSec, 3);
      $('speed-ips').textContent = msg.stepsPerSec != null ? fmt(msg.stepsPerSec * cfg.batch, 3) : '–';
      $('speed-warmup').textContent = fmtMs(msg.warmupMs);
      $('speed-k').textContent = String(msg.stepsPerFrame);
      if (msg.companion && msg.companion.steps.length) {
        lab.companionLoss = msg.companion.steps[msg.companion.steps.length - 1].loss;
        $('stat-companion').hidden = false;
        $('stat-companion-label').textContent = `${msg.companion.model === 'cvae' ? 'CVAE' : 'denoiser'} loss`;
        $('stat-companion-loss').textContent = fmt(lab.companionLoss);
      }
      break;
    }
    case 'samples':
      if (msg.memory) {
        // Device allocations and wasm memory at each drawing (the soak benchmark reads these).
        lab.memory = lab.memory || [];
        lab.memory.push({ step: msg.step, ...msg.memory });
        if (lab.memory.length > 10000) lab.memory.splice(0, lab.memory.length - 10000);
      }
      renderSamples(msg);
      break;
    case 'scenarios':
      buildScenarioButtons(msg.list);
      break;
    case 'scenario':
      onScenario(msg);
      break;
    case 'metricsBusy':
      $('metrics-status').textContent = `Measuring ${msg.n} samples per sampler…`;
      $('panel-metrics').classList.add('busy');
      break;
    case 'metrics':
      renderMetrics(msg);
      break;
    case 'metricsSkipped':
      $('panel-metrics').classList.remove('busy');
      $('metrics-status').textContent = `Measurement postponed while training (every ${view.me || '–'} steps, on pause, or “Measure now”).`;
      break;
    case 'stopped':
      wantPlaying = false;
      showPlaying(false);
      banner('stopped', 'info', `Paused at step ${msg.step}: the end of this scenario's training budget. Press Play to keep training.`);
      break;
    case 'state':
      // The worker stopped on its own (an error): reflect it.
      if (!msg.playing && wantPlaying && !lab.playingStoppedByUser) {
        /* keep wantPlaying: a frame error sends its own message */
      }
      break;
    case 'exported':
      onExported(msg);
      break;
    case 'diverged':
      wantPlaying = false;
      showPlaying(false);
      errorBanner('diverged', `${msg.message.charAt(0).toUpperCase()}${msg.message.slice(1)} (step ${msg.step}). Training is paused: lower the learning rate, then press Play.`);
      break;
    case 'trainError':
      wantPlaying = false;
      showPlaying(false);
      errorBanner('train', `Training stopped: ${msg.message}`);
      break;
    case 'importMismatch': {
      const m = msg.meta.config;
      banner('import', 'warn', `This checkpoint is for the <b>${escapeHtml(m.model)}</b> with <b>L = ${m.levels}</b> (step ${msg.meta.step}); the page is set to the ${escapeHtml(msg.current.model)} with L = ${msg.current.levels}.`, {
        actions: [
          {
            label: `Switch to ${m.model}, L = ${m.levels}`,
            onClick: () => {
              clearBanner('import');
              if (pendingImport) sendImport(pendingImport.bytes, pendingImport.name, true);
            },
          },
        ],
      });
      break;
    }
    case 'dataLoaded':
      customData = pendingData;
      pendingData = null;
      clearBanner('data');
      banner('data', 'info', `Now training on ${escapeHtml(msg.name)}: ${msg.n} images of ${msg.h}×${msg.w}${msg.labels ? ' with labels' : ''}.`);
      clearLoss();
      break;
    case 'error':
      if (msg.kind === 'data') pendingData = null;
      errorBanner(msg.kind === 'import' ? 'import' : msg.kind === 'data' ? 'data' : `err-${msg.kind}`, msg.message);
      if (msg.kind === 'config' || msg.kind === 'import' || msg.kind === 'data') {
        // The previous session is still there.
        if (lab.info) {
          lab.ready = true;
          setEnabled(true);
          showPlaying(false);
          $('loading').hidden = true;
        }
      }
      if (msg.kind === 'init') $('loading').textContent = `Could not start: ${msg.message}`;
      break;
    case 'warning':
      lab.warnings.push(msg.message);
      banner(`w-${lab.warnings.length}`, 'warn', escapeHtml(msg.message));
      break;
    case 'gpuError':
      lab.warnings.push(msg.message);
      console.warn('WebGPU error:', msg.message);
      break;
    case 'deviceLost':
      onWorkerCrash(`the GPU device was lost (${msg.reason}${msg.message ? `: ${msg.message}` : ''})`);
      break;
    case 'fatal':
      onWorkerCrash(msg.message);
      break;
    default:
      console.warn('unknown worker message', msg);
  }
}

// ------------------------------------------------------------------------------------------------
// Export / import / data
// ------------------------------------------------------------------------------------------------

async function onExported(msg) {
  const key = autosaveKey(msg.config, dataName());
  if (msg.reason === 'autosave') {
    if (switchingToCpu) {
      switchingToCpu = false;
      clearLoss();
      startWorker({ resumeBytes: msg.bytes.slice(), autoplay: wantPlaying });
    }
    if (await storeAutosave({ key, bytes: msg.bytes, step: msg.step, config: msg.config, savedAt: Date.now() })) {
      lab.autosaves++;
      if (msg.config.model === cfg.model && msg.config.levels === cfg.L) {
        lastSavedStep = msg.step;
        lastSaveAt = Date.now();
        $('autosave-status').textContent = `Autosaved at step ${msg.step} (in this browser).`;
      }
    }
    return;
  }
  const blob = new Blob([msg.bytes], { type: 'application/octet-stream' });
  const name = `denoise-lab-${msg.config.model}-L${msg.config.levels}-step${msg.step}.ckpt`;
  lab.lastExport = { name, size: msg.bytes.byteLength, step: msg.step };
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
  banner('exported', 'info', `Exported ${escapeHtml(name)} (${(msg.bytes.byteLength / 1024).toFixed(0)} KiB).`);
}

btn.export.addEventListener('click', () => worker && lab.ready && worker.postMessage({ type: 'export', reason: 'user' }));

let pendingImport = null;
function sendImport(bytes, name, adopt = false) {
  pendingImport = { bytes, name };
  wantPlaying = false;
  showPlaying(false);
  clearBanner('import');
  const copy = bytes.slice();
  worker.postMessage({ type: 'import', bytes: copy, name, adopt }, [copy.buffer]);
}
async function importFile(file) {
  if (!worker || !lab.ready) return;
  let bytes;
  try {
    bytes = new Uint8Array(await file.arrayBuffer());
  } catch (e) {
    errorBanner('import', `Could not read ${file.name}: ${e.message}`);
    return;
  }
  sendImport(bytes, file.name);
}
$('import-file').addEventListener('change', (ev) => {
  const f = ev.target.files[0];
  ev.target.value = '';
  if (f) importFile(f);
});

let pendingData = null;
function loadData(images, labels, name) {
  if (!worker || !lab.ready) return;
  pendingData = { images, labels: labels || undefined, name };
  wantPlaying = false;
  showPlaying(false);
  clearBanner('data');
  worker.postMessage({ type: 'loadData', images: images.slice(), labels: labels ? labels.slice() : undefined, name });
}
$('data-load-files').addEventListener('click', async () => {
  const fi = $('data-images').files[0];
  const fl = $('data-labels').files[0];
  if (!fi) {
    errorBanner('data', 'Choose an images file (IDX, e.g. train-images-idx3-ubyte or .gz) first.');
    return;
  }
  const images = new Uint8Array(await fi.arrayBuffer());
  const labels = fl ? new Uint8Array(await fl.arrayBuffer()) : undefined;
  loadData(images, labels, fi.name);
});
$('data-load-url').addEventListener('click', async () => {
  const iu = $('data-images-url').value.trim();
  const lu = $('data-labels-url').value.trim();
  if (!iu) {
    errorBanner('data', 'Enter the URL of an images file first.');
    return;
  }
  const get = async (u) => {
    let res;
    try {
      res = await fetch(u);
    } catch (e) {
      throw new Error(`could not download ${u} (${e.message}; the server must allow cross-origin requests)`);
    }
    if (!res.ok) throw new Error(`could not download ${u}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  try {
    const images = await get(iu);
    const labels = lu ? await get(lu) : undefined;
    loadData(images, labels, iu.split('/').pop() || iu);
  } catch (e) {
    errorBanner('data', `${e.message}. Still using ${customData ? customData.name : 'the bundled MNIST'}.`);
  }
});

// Drag and drop: a checkpoint, or one/two IDX files.
let dragDepth = 0;
window.addEventListener('dragenter', (ev) => {
  if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
  dragDepth++;
  $('drop-overlay').hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) $('drop-overlay').hidden = true;
});
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', async (ev) => {
  ev.preventDefault();
  dragDepth = 0;
  $('drop-overlay').hidden = true;
  const files = [...(ev.dataTransfer?.files || [])];
  if (!files.length) return;
  const isIdx = (f) => /idx\d|ubyte/i.test(f.name);
  if (files.length === 1 && !isIdx(files[0])) {
    importFile(files[0]);
    return;
  }
  const img = files.find((f) => /idx3|images/i.test(f.name)) || files[0];
  const lbl = files.find((f) => f !== img && /idx1|labels/i.test(f.name));
  loadData(new Uint8Array(await img.arrayBuffer()), lbl ? new Uint8Array(await lbl.arrayBuffer()) : undefined, img.name);
});

// Test hook: simulate a lost GPU device (WebGPU only).
lab.debugLoseDevice = () => worker && worker.postMessage({ type: 'debugLoseDevice' });

// ------------------------------------------------------------------------------------------------
// Go
// ------------------------------------------------------------------------------------------------

showConfig();
writeUrl();
rebuildForModel();
(async () => {
  let resumeBytes = null;
  if (view.resume) {
    const saved = await loadAutosave(autosaveKey(trainConfig(cfg), dataName()));
    if (saved) resumeBytes = saved.bytes;
  }
  startWorker({ resumeBytes, autoplay: view.autoplay });
})();
