// The sampler panels: for each sampler shown, the grid of chains z_L ... z_0 from the same z_L,
// its caption and its figures; the forward process; the mean image beside eq. (2)'s outputs with
// their RMS distances (quiz (a)).

import { CVAE_MAX_LEVELS } from '../shared/limits.js';
import { fmt } from './format.js';
import { ChainGrid, drawImage } from './grid.js';
import { SAMPLER_COLORS, describe, domId } from './samplers.js';

const $ = (id) => document.getElementById(id);
const SCALE = 2;

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
    this.chains = null;
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
    this.chains = null;
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
  }

  clear() {
    this.chains = null;
  }

  /**
   * Draw a `samples` message from the worker: some samplers' chains and maybe the forward process
   * (a pass posts each grid as it is drawn, so the chains shown are merged).
   */
  render(msg) {
    if (msg.light) return this.renderLight(msg);
    this.chains = { ...this.chains, ...msg.chains };
    if (msg.forward) this.forward = msg.forward;
    for (const [name, chain] of Object.entries(msg.chains)) {
      if (!this.grids[name]) continue;
      this.grids[name].draw(chain);
      const div = chain.diversity[chain.diversity.length - 1];
      const real = this.realDiversity != null ? ` <span class="muted">(${this.realName} ${fmt(this.realDiversity)})</span>` : '';
      const parts = [`diversity of z<sub>0</sub>: <b>${fmt(div)}</b>${real}`];
      if (chain.rmsToMean != null) parts.push(`RMS to the mean image: <b>${fmt(chain.rmsToMean)}</b>`);
      parts.push(`<span class="muted">drawn at step ${msg.step}, noise seed ${msg.seed}</span>`);
      this.drawnAt = { ...this.drawnAt, [name]: msg.step };
      $(`metrics-${domId(name)}`).innerHTML = parts.map((p) => `<span>${p}</span>`).join('');
    }
    if (msg.forward) this.grids.forward.draw(msg.forward);
    const eq2 = msg.chains.deterministic || msg.chains['universal/deterministic'];
    if (!Object.keys(msg.chains).length && !msg.forward) return;
    if (eq2) this.grids.meanFinal.draw(eq2, { onlyLast: true });
    this.renderMeanTable();
  }

  /**
   * A lighter redraw while training: the first `light.rows` rows of each grid are redrawn, the
   * others stay from the last full pass (whose figures stay too); the caption says which is which.
   */
  renderLight(msg) {
    for (const [name, chain] of Object.entries(msg.chains)) {
      if (!this.grids[name]) continue;
      this.grids[name].draw(chain, { firstRows: true });
      const rows = msg.light.rows === 1 ? 'row 1' : `rows 1–${msg.light.rows}`;
      const full = this.chains?.[name] ? `, the others and the figures at step ${this.drawnAt?.[name] ?? '?'}` : '';
      $(`metrics-${domId(name)}`).querySelector('.light')?.remove();
      $(`metrics-${domId(name)}`).insertAdjacentHTML('beforeend', `<span class="light muted">${rows} of ${msg.light.of} redrawn at step ${msg.step} while training${full} (all rows on pause)</span>`);
    }
  }

  renderMeanTable() {
    const tbody = $('rms-table').querySelector('tbody');
    const rows = [];
    for (const [name, chain] of Object.entries(this.chains || {})) {
      if (chain.rmsToMean == null) continue;
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
