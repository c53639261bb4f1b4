// The sampler panels: for each sampler shown, the grid of chains z_L ... z_0 from the same z_L,
// its caption and its figures; the forward process; the mean image beside eq. (2)'s outputs with
// their RMS distances (quiz (a)).

import { CVAE_MAX_LEVELS } from '../shared/limits.js';
import { fmt } from './format.js';
import { ChainGrid, drawImage } from './grid.js';
import { SAMPLER_COLORS, describe, domId } from './samplers.js';

const $ = (id) => document.getElementById(id);
const SCALE = 2;

/** The rows of a lighter redraw, 1-based for people ("2–3", "6, 1"), or 0-based indices. */
function rowList({ rows, first, of }, indices = false) {
  const list = Array.from({ length: rows }, (_, i) => (first + i) % of);
  if (indices) return list;
  return list.every((r, i) => i === 0 || r === list[i - 1] + 1) ? `${list[0] + 1}–${list.at(-1) + 1}` : list.map((r) => r + 1).join(', ');
}

/** "step 40" or "steps 20–40" (null: not drawn yet). */
function stepsText(steps) {
  const known = steps.filter((s) => s != null);
  if (!known.length) return 'no step yet';
  const [lo, hi] = [Math.min(...known), Math.max(...known)];
  const text = lo === hi ? `step ${lo}` : `steps ${lo}–${hi}`;
  return known.length < steps.length ? `${text} (${steps.length - known.length} not drawn yet)` : text;
}

/** The levels of a grid's columns, as a short list. */
const levelsText = (levels) => (levels.length > 4 ? `${levels[0]}, ${levels[1]}, …, ${levels.at(-1)}` : levels.join(', '));

function rms(a, b, off, dim) {
  let s = 0;
  for (let i = 0; i < dim; i++) {
    const d = a[off + i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s / dim);
}

/** `onSwitch(model)` when the pointer to the other model's samplers is clicked (SamplePanels.build). */
export function wireModelSwitch(onSwitch) {
  $('sampler-panels').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-switch-to]');
    if (b) onSwitch(b.dataset.switchTo);
  });
}

export class SamplePanels {
  constructor() {
    this.grids = {
      forward: new ChainGrid($('grid-forward'), { forward: true, scale: SCALE }),
      meanFinal: new ChainGrid($('grid-mean-final'), { scale: 2 }),
    };
    this.key = '';
    this.chains = null; // the latest chains of at least two rows, by sampler
    this.measured = null; // {step, n, seed} of those, by sampler
    this.rowSteps = {}; // the step each row of each sampler's grid was drawn at
    this.forward = null;
    this.meanImage = null;
    this.realDiversity = null;
  }

  /**
   * One panel per sampler in `active` for `model` at `levels`; `other`: a pointer to the other
   * model's samplers (its button calls wireModelSwitch's `onSwitch`).
   */
  build(active, { model, levels, other }) {
    this.key = active.join(',') + (other ? '+' : '');
    this.clear();
    const host = $('sampler-panels');
    host.replaceChildren();
    for (const name of Object.keys(this.grids)) if (name !== 'forward' && name !== 'meanFinal') delete this.grids[name];
    for (const name of active) {
      const s = describe(name);
      const id = domId(name);
      const sec = document.createElement('section');
      sec.className = 'panel sampler';
      sec.id = `panel-${id}`;
      sec.dataset.sampler = name;
      sec.innerHTML = `
      <h2><span class="swatch" style="background:${SAMPLER_COLORS[name]}"></span>${s.title} <span class="formula">${s.formula}</span></h2>
      <div class="body">
        <div class="chain" id="grid-${id}"></div>
        <div class="side">
          <p class="caption">${s.caption}</p>
          <p class="sampler-metrics" id="metrics-${id}">–</p>
        </div>
      </div>`;
      host.append(sec);
      this.grids[name] = new ChainGrid(sec.querySelector('.chain'), { scale: SCALE });
    }
    if (other) {
      // The other model's samplers: a pointer instead of an empty grid.
      const sec = document.createElement('section');
      sec.className = 'panel other-model';
      sec.innerHTML =
        model === 'cvae'
          ? `<p><b>Eq. (2), stochastic and DDIM samplers</b> belong to the diffusion denoiser (Problem 1).
      <button type="button" class="small">Train the denoiser at L = ${levels}</button></p>`
          : `<p><b>Progressive CVAE (Problem 2):</b> a VAE per step instead of a Gaussian step — it needs far fewer levels.
      <button type="button" class="small">Train the CVAE at L = ${Math.min(levels, CVAE_MAX_LEVELS)}</button></p>`;
      sec.querySelector('button').dataset.switchTo = model === 'cvae' ? 'denoiser' : 'cvae';
      host.append(sec);
    }
    $('panel-mean').hidden = !active.includes('deterministic') && !active.includes('universal/deterministic');
  }

  /** The session's reference images: the mean training image and real digits' diversity. */
  setReference({ meanImage, realDiversity, h, w, digits = true }) {
    this.realName = digits ? 'real digits' : 'real images';
    this.meanImage = meanImage;
    this.realDiversity = realDiversity;
    drawImage($('mean-canvas'), meanImage, h, w);
    $('mean-canvas').setAttribute('role', 'img');
    $('mean-canvas').setAttribute('aria-label', `The mean training image E[y], ${h}×${w} pixels, of the ${this.realName.replace('real ', '')} this run trains on`);
  }

  clear() {
    this.chains = null;
    this.measured = null;
    this.rowSteps = {};
  }

  /**
   * Draw a `samples` message from the worker: some samplers' chains and maybe the forward process
   * (a pass posts each grid as it is drawn, so the chains shown are merged). A lighter redraw
   * (`msg.light`: some rows, while training) replaces those rows of each grid and of the strip of
   * eq. (2)'s outputs, and keeps the others.
   *
   * The figures beside each grid (diversity of z_0, RMS to the mean image) and the diversity
   * chart are those of the latest drawing of at least two rows of that sampler (a diversity needs
   * two samples; a lighter redraw of two rows or more counts, with its number of samples), each
   * with the step it was measured at (`this.measured`).
   */
  render(msg) {
    const light = msg.light || null;
    const at = light ? Array.from({ length: light.rows }, (_, i) => (light.first + i) % light.of) : null;
    const of = light ? light.of : null;
    if (msg.forward) {
      this.forward = msg.forward;
      this.grids.forward.draw(msg.forward);
      this.grids.forward.setLabel(`Forward process: ${msg.forward.n} held-out images y = z_0 drowned in noise up to z_L, one per row, levels ${levelsText(msg.forward.levels)}, drawn at step ${msg.step}`);
    }
    for (const [name, chain] of Object.entries(msg.chains)) {
      if (!this.grids[name]) continue;
      this.grids[name].draw(chain, light ? { at, of } : {});
      const rows = this.rowSteps[name]?.length === (of ?? chain.n) ? [...this.rowSteps[name]] : Array(of ?? chain.n).fill(null);
      for (const r of at || rows.keys()) rows[r] = msg.step;
      this.rowSteps = { ...this.rowSteps, [name]: rows };
      if (chain.n >= 2) {
        this.chains = { ...this.chains, [name]: chain };
        this.measured = { ...this.measured, [name]: { step: msg.step, n: chain.n, seed: msg.seed } };
      }
      this.showFigures(name, light, msg);
    }
    const eq2 = msg.chains.deterministic || msg.chains['universal/deterministic'];
    if (eq2) {
      this.grids.meanFinal.draw(eq2, { onlyLast: true, ...(light ? { at, of } : {}) });
      const steps = this.rowSteps.deterministic || this.rowSteps['universal/deterministic'] || [];
      this.grids.meanFinal.setLabel(`Final outputs z_0 of eq. (2): ${steps.length} samples, drawn at ${stepsText(steps)}`);
    }
    if (!Object.keys(msg.chains).length && !msg.forward) return;
    this.renderMeanTable();
  }

  /** The figures beside a sampler's grid and its canvas's text alternative. */
  showFigures(name, light, msg) {
    const chain = this.chains?.[name];
    const m = this.measured?.[name];
    const parts = [];
    if (chain && m) {
      const div = chain.diversity[chain.diversity.length - 1];
      const real = this.realDiversity != null ? ` <span class="muted">(${this.realName} ${fmt(this.realDiversity)})</span>` : '';
      parts.push(`diversity of z<sub>0</sub>: <b>${fmt(div)}</b>${real}`);
      if (chain.rmsToMean != null) parts.push(`RMS to the mean image: <b>${fmt(chain.rmsToMean)}</b>`);
      parts.push(`<span class="muted measured">measured at step ${m.step} on ${m.n} samples, noise seed ${m.seed}</span>`);
    } else {
      parts.push('<span class="muted">diversity of z<sub>0</sub>: not measured yet (it needs a drawing of two rows or more: on pause, or while training when one fits)</span>');
    }
    const steps = this.rowSteps[name];
    if (light) {
      const rows = light.rows === 1 ? `row ${light.first + 1}` : `rows ${rowList(light)}`;
      const others = steps.filter((_, i) => !rowList(light, true).includes(i));
      const same = others.every((s) => s === others[0]);
      const rest = same && m && others[0] === m.step ? `the others and the figures at step ${m.step}` : `the others at ${stepsText(others)}`;
      parts.push(`<span class="light muted">${rows} of ${light.of} redrawn at step ${msg.step} while training, ${rest} (all rows on pause)</span>`);
    }
    $(`metrics-${domId(name)}`).innerHTML = parts.map((p) => `<span>${p}</span>`).join('');
    const s = describe(name);
    const figure = chain && m ? `; diversity of z_0 ${fmt(chain.diversity.at(-1))} measured at step ${m.step}` : '';
    this.grids[name].setLabel(`${s.title.replace(/<[^>]+>/g, '')}: ${steps.length} samples from z_L to z_0, drawn at ${stepsText(steps)}${figure}`);
  }

  renderMeanTable() {
    const tbody = $('rms-table').querySelector('tbody');
    const rows = [];
    for (const [name, chain] of Object.entries(this.chains || {})) {
      if (chain.rmsToMean == null || !this.grids[name]) continue;
      rows.push(`<tr><td><span class="swatch" style="background:${SAMPLER_COLORS[name]}"></span>${describe(name).title.split(':')[0]} samples</td><td>${fmt(chain.rmsToMean)}</td></tr>`);
    }
    const f = this.forward;
    if (f && this.meanImage) {
      // The y = z_0 column of the forward process: real held-out digits.
      const dim = f.h * f.w;
      const li = f.levels.indexOf(0);
      if (li >= 0 && this.meanImage.length === dim) {
        let s = 0;
        for (let i = 0; i < f.n; i++) s += rms(f.pixels, this.meanImage, (li * f.n + i) * dim, dim);
        rows.push(`<tr class="ref"><td><span class="swatch" style="background:${SAMPLER_COLORS.real}"></span>${this.realName} (for scale)</td><td>${fmt(s / f.n)}</td></tr>`);
      }
    }
    tbody.innerHTML = rows.join('');
  }
}
