// The live curves (uPlot): the training loss (total, and KL and NLL for the CVAE), the loss per
// level, and the diversity along the chain beside real digits; plus the diversity bars. Redrawn
// at most once per animation frame.

import uPlot from '../../vendor/uPlot.esm.js';
import { fmt } from './format.js';
import { SAMPLER_COLORS, samplerLabel } from './samplers.js';

const EMA = 0.95;
const MAX_POINTS = 4000;
const $ = (id) => document.getElementById(id);

function chartSize(el, height) {
  const w = Math.max(200, Math.floor(el.clientWidth || el.parentElement.clientWidth || 400));
  return { width: w, height };
}

/** A uPlot chart's canvas as an image with a text alternative (`text`: what it shows now). */
function labelCanvas(chart, text) {
  const c = chart.ctx.canvas;
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', text);
}

function axisStyle() {
  return { stroke: '#555', grid: { stroke: '#eee', width: 1 }, ticks: { stroke: '#ddd', width: 1 }, font: '11px system-ui, sans-serif' };
}


export class Charts {
  constructor() {
    this.loss = null;
    this.levels = null;
    this.diversity = null;
    this.diversityNames = [];
    this.model = 'denoiser';
    this.levelLoss = [];
    this.lossData = { step: [], loss: [], sLoss: [], sKl: [], sNll: [] };
    this.dirty = false;
    const redraw = () => {
      this.redraw();
      requestAnimationFrame(redraw);
    };
    requestAnimationFrame(redraw);
    const resize = new ResizeObserver(() => {
      for (const [id, ch] of [['chart-loss', this.loss], ['chart-levels', this.levels], ['chart-diversity', this.diversity]]) {
        if (!ch) continue;
        const w = Math.floor($(id).clientWidth);
        if (w > 0 && Math.abs(w - ch.width) > 2) ch.setSize({ width: w, height: ch.height });
      }
    });
    for (const id of ['chart-loss', 'chart-levels', 'chart-diversity']) resize.observe($(id));
  }

  /** New charts for a model (`samplers`: the ones whose diversity is plotted). */
  rebuild({ model, levels, samplers, compact }) {
    this.model = model;
    const height = compact ? 160 : 220;
    this.loss?.destroy();
    const series = [
      { label: 'step' },
      { label: 'loss', stroke: 'rgba(46,134,171,0.28)', width: 1, points: { show: false } },
      { label: 'loss (smoothed)', stroke: '#2e86ab', width: 2, points: { show: false } },
    ];
    if (model === 'cvae') {
      series.push({ label: 'KL', stroke: '#e08e0b', width: 2, points: { show: false } });
      series.push({ label: 'NLL', stroke: '#8e5cc4', width: 2, points: { show: false } });
    }
    this.loss = new uPlot(
      {
        ...chartSize($('chart-loss'), height),
        series,
        scales: { x: { time: false } },
        axes: [{ ...axisStyle(), label: 'step' }, { ...axisStyle(), size: 56 }],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      },
      this.lossSeries(),
      $('chart-loss'),
    );
    this.rebuildLevels(levels, compact);
    this.rebuildDiversity(samplers, compact);
    this.dirty = true; // labels the new canvases at the next frame
  }

  /** The diversity-along-the-chain chart for the sampler specs shown. */
  rebuildDiversity(samplers, compact) {
    const height = compact ? 160 : 220;
    this.diversity?.destroy();
    const dseries = [{ label: 'level' }];
    for (const n of samplers) dseries.push({ label: samplerLabel(n), stroke: SAMPLER_COLORS[n], width: 2, points: { show: true, size: 5 } });
    dseries.push({ label: 'real digits', stroke: SAMPLER_COLORS.real, width: 1.5, dash: [6, 4], points: { show: false } });
    this.diversity = new uPlot(
      {
        ...chartSize($('chart-diversity'), height),
        series: dseries,
        // z_L on the left, z_0 on the right, as in the grids.
        scales: { x: { time: false, dir: -1 } },
        axes: [{ ...axisStyle(), label: 'level ℓ (z_L → z_0)' }, { ...axisStyle(), size: 56, label: 'mean pairwise distance' }],
      },
      [[], ...samplers.map(() => []), []],
      $('chart-diversity'),
    );
    this.diversityNames = samplers;
    $('diversity-measured').textContent = '';
    labelCanvas(this.diversity, 'Diversity along the chain: not drawn yet');
  }

  /** The per-level loss chart for L levels (its points show when L is small). */
  rebuildLevels(levels, compact) {
    this.levels?.destroy();
    this.levelCount = levels;
    this.levels = new uPlot(
      {
        ...chartSize($('chart-levels'), compact ? 160 : 220),
        series: [{ label: 'level ℓ' }, { label: 'loss at ℓ', stroke: '#3c9d5d', width: 2, fill: 'rgba(60,157,93,0.08)', points: { show: levels <= 40, size: 4 }, spanGaps: true }],
        scales: { x: { time: false } },
        axes: [{ ...axisStyle(), label: 'level ℓ' }, { ...axisStyle(), size: 56 }],
      },
      [[], []],
      $('chart-levels'),
    );
    this.dirty = true; // labels the new canvas at the next frame
  }

  lossSeries() {
    const d = this.lossData;
    return this.model === 'cvae' ? [d.step, d.loss, d.sLoss, d.sKl, d.sNll] : [d.step, d.loss, d.sLoss];
  }

  /** Append flushed steps ({step, loss, kl, nll}); the smoothed curves are exponential averages. */
  pushLoss(points) {
    const d = this.lossData;
    const ema = (old, v) => (old == null || !Number.isFinite(old) ? v : EMA * old + (1 - EMA) * v);
    for (const p of points) {
      const [prev, prevK, prevN] = [d.sLoss.at(-1), d.sKl.at(-1), d.sNll.at(-1)];
      d.step.push(p.step);
      d.loss.push(p.loss);
      d.sLoss.push(ema(prev, p.loss));
      d.sKl.push(ema(prevK, p.kl));
      d.sNll.push(ema(prevN, p.nll));
    }
    if (d.step.length > MAX_POINTS) {
      // Keep every other point (the smoothed curves are unaffected).
      for (const k of Object.keys(d)) d[k] = d[k].filter((_, i) => i % 2 === 1 || i === d[k].length - 1);
    }
    this.dirty = true;
  }

  /** The latest smoothed loss (null before any step). */
  smoothedLoss() {
    return this.lossData.sLoss.at(-1) ?? null;
  }

  clearLoss() {
    for (const k of Object.keys(this.lossData)) this.lossData[k] = [];
    this.levelLoss = [];
    this.dirty = true;
  }

  setLevelLoss(values) {
    this.levelLoss = values;
    this.dirty = true;
  }

  redraw() {
    if (!this.dirty || !this.loss) return;
    this.loss.setData(this.lossSeries());
    this.levels?.setData([this.levelLoss.map((_, i) => i + 1), this.levelLoss.map((v) => (v == null ? null : v))]);
    const d = this.lossData;
    labelCanvas(this.loss, d.step.length ? `Training loss over ${d.step.length} steps: smoothed ${fmt(d.sLoss.at(-1))} at step ${d.step.at(-1)}` : 'Training loss: no step yet');
    const known = this.levelLoss.filter((v) => v != null);
    if (this.levels) labelCanvas(this.levels, known.length ? `Loss per level, 1 to ${this.levelLoss.length}: from ${fmt(this.levelLoss.find((v) => v != null))} at the lowest level measured to ${fmt(known.at(-1))} at the highest` : 'Loss per level: no step yet');
    this.dirty = false;
  }

  /**
   * Diversity along the chains (per sampler) and of the final samples, beside real digits:
   * `chains` by sampler, each measured at `measured[spec]` = {step, n} (its drawing's step and
   * rows). Returns {spec: {step, n}} of what it shows (null: nothing to show yet).
   */
  showDiversity(chains, realDiversity, realName = 'real digits', measured = {}) {
    if (!chains || !this.diversity) return null;
    const names = this.diversityNames;
    const first = names.map((n) => chains[n]).find(Boolean);
    if (!first) return null;
    const order = first.levels.map((l, i) => [l, i]).sort((p, q) => p[0] - q[0]);
    const xs = order.map((p) => p[0]);
    const data = [xs];
    for (const n of names) {
      const c = chains[n];
      const same = c && c.levels.length === first.levels.length;
      data.push(order.map(([, i]) => (same ? c.diversity[i] : null)));
    }
    data.push(xs.map(() => realDiversity));
    this.diversity.setData(data);
    const shown = Object.fromEntries(names.filter((n) => chains[n] && measured?.[n]).map((n) => [n, { step: measured[n].step, n: measured[n].n }]));
    const when = Object.entries(shown).map(([n, m]) => `${samplerLabel(n)} at step ${m.step} on ${m.n} samples`);
    $('diversity-measured').textContent = when.length ? `Measured ${when.join('; ')}.` : '';
    const figures = names.filter((n) => chains[n]).map((n) => `${samplerLabel(n)} ${fmt(chains[n].diversity.at(-1))}`);
    this.diversity.ctx.canvas.setAttribute('aria-label', `Diversity along the chain, level L to 0: z_0 ${figures.join(', ')}; ${realName} ${fmt(realDiversity)}. ${$('diversity-measured').textContent}`);
    // The reference series is named after the data ("real images" when it is not the digits).
    const ref = this.diversity.series.length - 1;
    if (this.diversity.series[ref].label !== realName) {
      this.diversity.series[ref].label = realName;
      const labels = this.diversity.root.querySelectorAll('.u-legend .u-label');
      if (labels[ref]) labels[ref].textContent = realName;
    }
    // Bars: diversity of the final samples vs real digits.
    const maxV = Math.max(realDiversity || 0, ...names.map((n) => chains[n]?.diversity.at(-1) || 0), 1e-6);
    const row = (label, color, v) =>
      `<div class="bar-row"><span class="bar-label"><span class="swatch" style="background:${color}"></span>${label}</span><span class="bar"><span style="width:${((100 * (v || 0)) / maxV).toFixed(1)}%;background:${color}"></span></span><span class="bar-value">${fmt(v)}</span></div>`;
    let html = names.map((n) => row(`${samplerLabel(n)} z<sub>0</sub>`, SAMPLER_COLORS[n], chains[n]?.diversity.at(-1))).join('');
    html += row(realName, SAMPLER_COLORS.real, realDiversity);
    $('diversity-bars').innerHTML = html;
    return shown;
  }
}
