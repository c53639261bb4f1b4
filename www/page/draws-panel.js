// Quiz problem 2's view, "one step, many draws": for each sampler compared, one z_ℓ repeated, the
// draws of z_{ℓ−1} and their ends z_0 (one row per draw), and how many classes the ends reach.

import { ChainGrid } from './grid.js';
import { escapeHtml } from './format.js';
import { SAMPLER_COLORS, samplerLabel } from './samplers.js';

const $ = (id) => document.getElementById(id);

export class DrawsPanel {
  constructor() {
    this.key = '';
    this.grids = {};
  }

  /** Hidden until the worker sends draws (a run with the true conditional and few levels). */
  hide() {
    $('panel-draws').hidden = true;
    this.key = '';
  }

  /** Draw a `draws` message: {level, draws, items: [{spec, chain, classes}]}. */
  render(msg) {
    const key = msg.items.map((i) => i.spec).join(',');
    if (key !== this.key) {
      const host = $('draws-grids');
      host.replaceChildren();
      this.grids = {};
      for (const { spec } of msg.items) {
        const fig = document.createElement('figure');
        fig.className = 'draws';
        fig.dataset.sampler = spec;
        fig.innerHTML = `<figcaption><span class="swatch" style="background:${SAMPLER_COLORS[spec]}"></span>${escapeHtml(samplerLabel(spec))}</figcaption><div class="chain"></div><p class="note classes"></p>`;
        host.append(fig);
        this.grids[spec] = { grid: new ChainGrid(fig.querySelector('.chain'), { scale: 2 }), note: fig.querySelector('.classes') };
      }
      this.key = key;
    }
    for (const { spec, chain, classes } of msg.items) {
      const g = this.grids[spec];
      g.grid.draw(chain);
      g.grid.setLabel(`${samplerLabel(spec)}: one z_${msg.level} and ${msg.draws} draws of z_${msg.level - 1} and their ends z_0 at step ${msg.step}${classes == null ? '' : `; they end in ${classes} classes`}`);
      g.note.textContent = classes == null ? '' : `${msg.draws} draws end in ${classes} class${classes === 1 ? '' : 'es'}`;
      g.note.dataset.classes = classes ?? '';
    }
    $('panel-draws').hidden = false;
  }
}
