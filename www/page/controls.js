// The settings panel and the transport buttons: showing the configuration, reading an edited
// field with the URL's own rules (www/page/state.js), enabling and labelling the buttons.

import { banner, clearBanner } from './banners.js';
import { escapeHtml, fmt } from './format.js';
import { PARAMS, defaultA, parseValue } from './state.js';

const $ = (id) => document.getElementById(id);

export const ctl = {
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
  ideal: $('ctl-ideal'),
};
/** Settings whose change restarts training. */
const STRUCTURAL = ['model', 'L', 'a', 'k', 'channels', 'batch', 'seed'];

export const btn = { play: $('play'), step: $('step'), reset: $('reset'), resample: $('resample'), export: $('export') };

// The inputs' ranges are the core's (src/limits.rs through www/shared/limits.js), from the URL's table.
for (const { name, limit } of PARAMS) {
  if (!limit || !ctl[name]) continue;
  if (!limit.min_open) ctl[name].min = String(limit.min);
  if (!limit.max_open) ctl[name].max = String(limit.max);
  ctl[name].step = limit.integer ? '1' : 'any';
}

export function showConfig(cfg) {
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
  ctl.ideal.checked = cfg.ideal;
  ctl.ideal.disabled = cfg.model !== 'denoiser';
  $('ideal-field').classList.toggle('muted', cfg.model !== 'denoiser');
}

/** The edited field's value by the URL's rules, or a warning banner naming the problem. */
export function readControl(key) {
  const el = ctl[key];
  const raw = String(el.value).trim();
  try {
    const value = parseValue(key, raw);
    el.classList.remove('invalid');
    el.removeAttribute('aria-invalid');
    clearBanner(`ctl-${key}`);
    return { ok: true, value };
  } catch (e) {
    el.classList.add('invalid');
    el.setAttribute('aria-invalid', 'true');
    const label = el.closest('label')?.firstChild?.textContent?.trim() || key;
    banner(`ctl-${key}`, 'warn', `${escapeHtml(label)}: “${escapeHtml(raw)}” ${escapeHtml(e.message)}.`);
    return { ok: false };
  }
}

/** Buttons and file inputs usable only while a session is ready. */
export function setEnabled(on) {
  for (const b of Object.values(btn)) b.disabled = !on;
  $('import-file').disabled = !on;
  $('import-label').setAttribute('aria-disabled', String(!on));
  $('data-load-files').disabled = !on;
  $('data-load-url').disabled = !on;
}

/**
 * Wire the settings and the transport to the actions (www/page/actions.js): `on.setting(key, value)`
 * for a setting that restarts the run (`a` is null when the default value is typed back or
 * "default" pressed; `ideal`: Φ* shown beside the network),
 * `on.learningRate(lr)`, `on.sigma(sigma | null)` (null: the posterior's), and `on.play()`,
 * `on.step()`, `on.reset()`, `on.resample()`, `on.export()`, `on.measure()` for the buttons. A field
 * that does not parse shows its problem and calls nothing.
 */
export function wireControls(on) {
  for (const key of STRUCTURAL) {
    ctl[key].addEventListener('change', () => {
      const r = readControl(key);
      if (!r.ok) return;
      const typedDefault = key === 'a' && Math.abs(r.value - defaultA(Number(ctl.L.value))) < 5e-7;
      on.setting(key, typedDefault ? null : r.value);
    });
  }
  $('a-default').addEventListener('click', () => on.setting('a', null));
  ctl.lr.addEventListener('change', () => {
    const r = readControl('lr');
    if (r.ok) on.learningRate(r.value);
  });
  const sigmaChanged = () => {
    if (ctl.sigmaMode.value === 'posterior') {
      ctl.sigma.classList.remove('invalid');
      on.sigma(null);
      return;
    }
    if (ctl.sigma.value === '') ctl.sigma.value = '0.5';
    const r = readControl('sigma');
    if (r.ok) on.sigma(r.value);
  };
  ctl.sigmaMode.addEventListener('change', sigmaChanged);
  ctl.ideal.addEventListener('change', () => on.setting('ideal', ctl.ideal.checked));
  ctl.sigma.addEventListener('change', sigmaChanged);
  for (const name of ['play', 'step', 'reset', 'resample', 'export']) btn[name].addEventListener('click', () => on[name]());
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== ' ' || ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey || ev.shiftKey) return;
    if (!spacePlays(ev.target) || btn.play.disabled) return;
    ev.preventDefault(); // instead of scrolling the page
    on.play();
  });
  $('measure').addEventListener('click', () => on.measure());
  $('copy-link').addEventListener('click', async () => {
    const url = location.href;
    try {
      await navigator.clipboard.writeText(url);
      banner('link', 'info', `Link copied: <code>${escapeHtml(url)}</code>`);
    } catch {
      banner('link', 'info', `Link to this setup: <code>${escapeHtml(url)}</code>`);
    }
  });
}

/**
 * Whether Space, pressed with focus on `target`, plays and pauses: yes on the page itself (like a
 * video player), not where Space already does something: typing in a text field, opening a
 * select, pressing a focused button (the Play button itself plays that way), ticking a checkbox,
 * following a link, opening a details summary or the file picker, scrolling whatever else took
 * the focus (a grid that scrolls sideways on a phone).
 */
export function spacePlays(target) {
  if (!(target instanceof Element)) return true;
  return !target.closest('input, select, textarea, button, a[href], summary, label.button, [contenteditable], [role="button"], [tabindex]:not([tabindex="-1"])');
}

export function showPlaying(playing, ready) {
  btn.play.textContent = playing ? '❚❚ Pause' : '▶ Play';
  btn.play.classList.toggle('playing', playing);
  btn.step.disabled = playing || !ready;
}
