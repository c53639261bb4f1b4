// The page's state in the URL: one declarative table of parameters, one generic parser and one
// writer. Pure (no DOM): `node --test tests/node/` tests it directly. The ranges and the defaults of
// the settings come from the Rust core (www/shared/limits.js is generated from src/limits.rs and
// TrainConfig::default()), so the page, the worker, the CLI and the core accept the same values and
// start from the same ones.

import { LIMITS, DEFAULTS, SAMPLER_SPECS, DEFAULT_FINAL_SIGNAL, WORK_LIMITS, LESSONS } from '../shared/limits.js';

/** The default a for L levels: a^L = DEFAULT_FINAL_SIGNAL (the core's Schedule::default_a). */
export const defaultA = (L) => Math.pow(DEFAULT_FINAL_SIGNAL, 1 / Math.max(1, L));

// ---- value parsers: raw string -> value, or throw an Error whose message completes "x=“raw” ..."

/** A number in one of the core's ranges (see src/limits.rs). */
export function inLimit(limit) {
  return (s) => {
    const v = Number(s);
    if (String(s).trim() === '' || !Number.isFinite(v) || (limit.integer && !Number.isInteger(v))) {
      throw new Error(`must be ${describe(limit)}`);
    }
    const lowOk = limit.min_open ? v > limit.min : v >= limit.min;
    const highOk = limit.max_open ? v < limit.max : v <= limit.max;
    if (!lowOk || !highOk) throw new Error(`must be ${describe(limit)}`);
    return v;
  };
}

/** The range as a person reads it (the same words as the core's `Limit::describe`). */
export function describe(limit) {
  if (limit.integer) return `a whole number from ${limit.min} to ${limit.max}`;
  return `${limit.min_open ? '>' : '≥'} ${limit.min} and ${limit.max_open ? '<' : '≤'} ${limit.max}`;
}

const intIn = (min, max) => inLimit({ min, max, min_open: false, max_open: false, integer: true });

/** `words` (case-insensitive) mean null ("use the default"); anything else goes to `parse`. */
const orNull = (words, parse) => (s) => (s.trim() === '' || words.includes(s.trim().toLowerCase()) ? null : parse(s));

function flag(s) {
  const v = s.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new Error('must be 0 or 1');
}

/** One of several values, each with the spellings that mean it. */
const oneOf = (spellings) => (s) => {
  const v = s.trim().toLowerCase();
  for (const [value, words] of Object.entries(spellings)) if (words.includes(v)) return value;
  throw new Error(`must be ${Object.keys(spellings).join(' or ')}`);
};

function scenarioName(s) {
  const v = s.trim().toLowerCase();
  if (v === '' || v === 'none') return null;
  if (!/^([1-9]|[a-z][a-z0-9-]*)$/.test(v)) throw new Error('must be a scenario name (collapse, imperfect, noise, few-levels, perfect, memorisation) or its number');
  return v;
}

function lessonName(s) {
  const v = s.trim().toLowerCase();
  if (v === '' || v === 'none') return null;
  if (!LESSONS.some((l) => l.name === v)) throw new Error(`must be a lesson: ${LESSONS.map((l) => l.name).join(', ')}`);
  return v;
}

function samplerList(s) {
  const names = s
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean)
    .map((x) => (x === 'eq2' ? 'deterministic' : x));
  // Sampler specs as the core names them (src/session.rs `spec`): a trained model's samplers by
  // name, the universal denoiser Φ*'s as "universal/name".
  const bad = names.filter((x) => !SAMPLER_SPECS.includes(x));
  if (bad.length || !names.length) throw new Error(`must list samplers from ${SAMPLER_SPECS.join(', ')}`);
  return names;
}

// ---- the table ----------------------------------------------------------------------------------

/**
 * A parameter that sets the core's TrainConfig field `field`: its range (`limit`) and its default
 * are the core's, looked up by that field. `extra` adds to the row or overrides its parser.
 */
const setting = (name, field, extra = {}) => ({ name, group: 'cfg', field, limit: LIMITS[field], default: DEFAULTS[field], parse: inLimit(LIMITS[field]), ...extra });

/**
 * Every URL parameter. `group`: 'cfg' (what is trained and sampled: changing it restarts or
 * resamples) or 'view' (how the page looks and behaves). `field`: the core's TrainConfig field
 * it sets, if any. `limit`: the core's range of its value (www/shared/limits.js), if it has one.
 * `always`: written to the URL even at its default. `write`: a custom writer (value, state) =>
 * string or null (null: left out); the default writes non-default values.
 */
export const PARAMS = [
  { name: 'model', group: 'cfg', field: 'model', default: DEFAULTS.model, always: true, parse: oneOf({ denoiser: ['denoiser', 'diffusion'], cvae: ['cvae', 'vae'] }) },
  setting('L', 'levels', { always: true }),
  setting('a', 'a', { parse: orNull(['default'], inLimit(LIMITS.a)) }), // null: a^L = DEFAULT_FINAL_SIGNAL
  // The stochastic sampler's sigma: a sampling setting, not a TrainConfig field. null: sqrt(v).
  { name: 'sigma', group: 'cfg', limit: LIMITS.sigma, default: null, parse: orNull(['posterior', 'default', 'auto'], inLimit(LIMITS.sigma)) },
  setting('k', 'latent_dim'),
  setting('lr', 'lr'),
  setting('batch', 'batch'),
  setting('seed', 'seed'),
  setting('channels', 'base_channels'),
  { name: 'ideal', group: 'cfg', default: false, parse: flag }, // show Φ*, the universal denoiser, beside a trained denoiser
  { name: 'controls', group: 'view', default: true, parse: flag },
  { name: 'embed', group: 'view', default: false, parse: flag },
  { name: 'autoplay', group: 'view', default: false, parse: flag },
  { name: 'resume', group: 'view', default: true, parse: flag },
  { name: 'light', group: 'view', default: true, parse: flag }, // on a CPU, start with lighter settings unless the URL sets sizes (0: never)
  { name: 'backend', group: 'view', default: 'auto', parse: oneOf({ auto: ['auto'], webgpu: ['webgpu', 'gpu'], cpu: ['cpu'] }) }, // auto: WebGPU on a GPU, the CPU backend on a CPU adapter
  { name: 'rows', group: 'view', default: 6, parse: intIn(2, 16) }, // samples per grid
  { name: 'cols', group: 'view', default: 11, parse: intIn(2, 21) }, // levels shown
  // A lesson (src/lesson.rs): its scenario runs, so `scenario` is not written beside it.
  { name: 'lesson', group: 'view', default: null, parse: lessonName },
  { name: 'teacher', group: 'view', default: false, parse: flag }, // the teacher's page: every lesson and its embed snippet
  { name: 'scenario', group: 'view', default: null, parse: scenarioName, write: (v, s) => (v && !s.view.lesson ? v : null) }, // a quiz preset
  // Samplers shown and a step to pause at: a scenario sets its own, so they are written only outside one.
  { name: 'show', group: 'view', default: null, parse: samplerList, write: (v, s) => (v && !s.view.scenario ? v.join(',') : null) },
  { name: 'stop', group: 'view', default: null, parse: intIn(1, 10_000_000), write: (v, s) => (v && !s.view.scenario ? String(v) : null) },
  { name: 'mn', group: 'view', default: 100, parse: intIn(10, 1000) }, // samples per sampler for the metrics
  { name: 'me', group: 'view', default: 200, parse: intIn(0, 10_000_000) }, // metrics every me steps (0: on pause only)
  { name: 'se', group: 'view', default: null, parse: intIn(1, 10_000_000) }, // samples every se steps (null: by wall time)
];

const BY_NAME = new Map(PARAMS.map((p) => [p.name, p]));
export const param = (name) => BY_NAME.get(name);

/** The defaults: { cfg: {model, L, ...}, view: {controls, ...} }. */
export function defaults() {
  const state = { cfg: {}, view: {} };
  for (const p of PARAMS) state[p.group][p.name] = p.default;
  return state;
}

/** Parse one value with its parameter's rule (throws with a message for people). */
export function parseValue(name, raw) {
  const p = BY_NAME.get(name);
  if (!p) throw new Error(`unknown parameter “${name}”`);
  return p.parse(String(raw));
}

/**
 * A query string to state. Bad values fall back to their default with a message in `problems`.
 * In an embed (`embed=1`) the grids default to fewer rows and columns.
 */
export function parseQuery(search) {
  const q = new URLSearchParams(search);
  const state = defaults();
  const problems = [];
  for (const [key, raw] of q.entries()) {
    const p = BY_NAME.get(key);
    if (!p) {
      problems.push(`unknown parameter “${key}” ignored`);
      continue;
    }
    try {
      state[p.group][key] = p.parse(raw);
    } catch (e) {
      problems.push(`${key}=“${raw}” ${e.message}; using ${p.default === null ? 'the default' : p.default}`);
    }
  }
  if (state.view.embed) {
    if (!q.has('rows')) state.view.rows = 4;
    if (!q.has('cols')) state.view.cols = 9;
  }
  if (state.view.lesson) {
    state.view.scenario = LESSONS.find((l) => l.name === state.view.lesson).scenario;
    // A lesson's embed shows its grids side by side under the lesson: three rows, six levels.
    if (state.view.embed && !q.has('rows')) state.view.rows = 3;
    if (state.view.embed && !q.has('cols')) state.view.cols = 6;
  }
  boundWork(state, problems);
  return { ...state, problems };
}

/** Pixels of one bundled MNIST digit (28 × 28), the data a URL's settings are bounded for. */
const BUNDLED_PIXELS = 28 * 28;

/**
 * The core's bounds on products of settings (WORK_LIMITS, from src/limits.rs): each field may be
 * in its range while together they would exhaust memory (a shared link with the largest batch
 * and channels). Over a bound, the sizes go back to their defaults (a step) or shrink to fit (a
 * grid's rows, the metrics' samples), with a message in `problems`.
 */
function boundWork(state, problems) {
  const { cfg, view } = state;
  const over = (limit, work) => work > limit.max;
  const step = cfg.batch * cfg.channels * cfg.channels;
  if (over(WORK_LIMITS.step, step)) {
    const [batch, channels] = [param('batch').default, param('channels').default];
    problems.push(`${WORK_LIMITS.step.label} = ${step} is more than the page allows (${WORK_LIMITS.step.max}); using batch ${batch} and ${channels} channels`);
    Object.assign(cfg, { batch, channels });
  }
  // Memory: the URL's settings on the bundled 28×28 digits (the worker fits other data's sizes).
  const pixels = BUNDLED_PIXELS;
  const stepMemory = cfg.batch * cfg.channels * pixels;
  if (over(WORK_LIMITS.step_memory, stepMemory)) {
    const batch = Math.max(1, Math.floor(WORK_LIMITS.step_memory.max / (cfg.channels * pixels)));
    problems.push(`${WORK_LIMITS.step_memory.label} = ${stepMemory} is more than the page allows (${WORK_LIMITS.step_memory.max}); using batch ${batch}`);
    cfg.batch = batch;
  }
  if (over(WORK_LIMITS.sample_memory, view.mn * cfg.channels * pixels)) {
    const mn = Math.max(10, Math.floor(WORK_LIMITS.sample_memory.max / (cfg.channels * pixels)));
    problems.push(`${WORK_LIMITS.sample_memory.label} = ${view.mn * cfg.channels * pixels} is more than the page allows (${WORK_LIMITS.sample_memory.max}); using ${mn} samples for the metrics`);
    view.mn = mn;
  }
  if (over(WORK_LIMITS.draw, cfg.L * view.rows)) {
    const rows = Math.max(2, Math.floor(WORK_LIMITS.draw.max / cfg.L));
    problems.push(`${WORK_LIMITS.draw.label} = ${cfg.L * view.rows} is more than the page allows (${WORK_LIMITS.draw.max}); using ${rows} rows`);
    view.rows = rows;
  }
  if (over(WORK_LIMITS.metrics, cfg.L * view.mn)) {
    const mn = Math.max(10, Math.floor(WORK_LIMITS.metrics.max / cfg.L));
    problems.push(`${WORK_LIMITS.metrics.label} = ${cfg.L * view.mn} is more than the page allows (${WORK_LIMITS.metrics.max}); using ${mn} samples`);
    view.mn = mn;
  }
}

function writeDefault(p, v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v === p.default ? null : v ? '1' : '0';
  return !p.always && v === p.default ? null : String(v);
}

/** State to a query string: every parameter not at its default (and those marked `always`). */
export function toQuery(state) {
  const q = new URLSearchParams();
  for (const p of PARAMS) {
    const v = state[p.group][p.name];
    const s = p.write ? p.write(v, state) : writeDefault(p, v);
    if (s !== null) q.set(p.name, s);
  }
  return q.toString();
}

/** The core's TrainConfig (JSON field names) for the page's configuration. */
export function trainConfig(cfg) {
  const out = {};
  for (const p of PARAMS) if (p.field) out[p.field] = cfg[p.name];
  return out;
}

/** The page's configuration values (URL names) of a core TrainConfig: the inverse of `trainConfig`. */
export function fromTrainConfig(config) {
  const out = {};
  for (const p of PARAMS) if (p.field && p.field in config) out[p.name] = config[p.field] ?? null;
  return out;
}

/**
 * The page's own URL with `query` as its search (the hash kept), built from `href` (location.href)
 * so that it stays on the page's origin whatever the path: from a path like
 * `//other.example/index.html`, `${location.pathname}?…` would name another host.
 */
export function withQuery(href, query) {
  const url = new URL(href);
  url.search = String(query);
  return url.href;
}

/** The full page of an embed (`embed=1`): its URL without `embed` and `controls`, on its origin. */
export function fullPageUrl(href) {
  const url = new URL(href);
  url.searchParams.delete('embed');
  url.searchParams.delete('controls');
  url.hash = '';
  return url.href;
}
