// The run's views, one instance each per page load: the sampler panels, the "one step, many
// draws" panel and the charts; and how they follow the state (www/page/store.js): rebuilt for the
// current model and samplers, cleared when the run restarts.

import { Charts } from './charts.js';
import { DrawsPanel } from './draws-panel.js';
import { clearMetrics } from './metrics-panel.js';
import { keyboardScrollable } from './grid.js';
import { SamplePanels } from './sample-panels.js';
import { activeSamplers } from './samplers.js';
import { CVAE_LAST_STEP_SHARE } from '../shared/limits.js';
import { cfg, lab, view } from './store.js';

const $ = (id) => document.getElementById(id);

export const panels = new SamplePanels();
export const draws = new DrawsPanel();
export const charts = new Charts();
keyboardScrollable($('metrics-table'));

/** Panels and charts for the current model (and a scenario's side-by-side model). */
export function rebuildForModel() {
  buildPanels();
  charts.rebuild({ model: cfg.model, levels: cfg.L, samplers: shownSamplers(), compact: view.embed });
  $('loss-caption').innerHTML =
    cfg.model === 'cvae'
      ? `KL(q(ε | z<sub>ℓ−1</sub>, z<sub>ℓ</sub>) ‖ N(0, I)) − ln p(z<sub>ℓ−1</sub> | ε, z<sub>ℓ</sub>) per image: total, KL and NLL (smoothed; thin: every step), ℓ = 1 (the step to z<sub>0</sub>) for ${Math.round(CVAE_LAST_STEP_SHARE * 100)}% of the pairs, uniform in 2…L for the rest. The NLL of a continuous density can go below 0.`
      : 'E ‖y − ŷ(z<sub>ℓ</sub>, ℓ)‖² per image, ℓ uniform in 1…L (thin: every step; thick: smoothed).';
}

const shownSamplers = () => activeSamplers(cfg.model, lab.info?.samplers, view.show);
const showOtherModel = () => view.controls && !lab.companionModel;

/** What the sampler panels show now (compare with `panels.key`). */
export const panelsKey = () => shownSamplers().join(',') + (showOtherModel() ? '+' : '');

export function buildPanels() {
  panels.build(shownSamplers(), { model: cfg.model, levels: cfg.L, other: showOtherModel() });
  if (charts.loss) charts.rebuildDiversity(shownSamplers(), view.embed);
}

/** Clear the views of the run being left (new settings). */
export function clearRunViews() {
  rebuildForModel();
  charts.clearLoss();
  panels.clear();
  lab.gridRows = {};
  lab.diversityShown = null;
  draws.hide();
  clearMetrics(lab);
}
