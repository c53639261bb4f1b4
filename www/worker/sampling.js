// Drawing in the worker: one pass over every sampler shown (and the forward process), posted to
// the page as `samples`, and when the next pass is due while training.

import { DRAWS_MAX_LEVELS } from '../shared/limits.js';
import { letMessagesIn } from './let-messages-in.js';

const shownIn = (display) => (name) => !display.show || !display.show.length || display.show.includes(name);
const withSigma = (display) => (name) => [name, name === 'stochastic' && display.sigma != null ? `stochastic:${display.sigma}` : name];

/** [name, spec] of the samplers shown: the run's (the core's rule), filtered, with the display's sigma. */
export function samplerSpecs(session, display) {
  return session.samplers.filter(shownIn(display)).map(withSigma(display));
}

/** The same by the model they run on (the core's `samplerGroups`): each group is sampled together. */
function samplerGroups(session, display) {
  return session.samplerGroups.map((g) => g.filter(shownIn(display)).map(withSigma(display))).filter((g) => g.length);
}

export class SampleRunner {
  /** `post(msg, transfer)`: to the page. */
  constructor(post) {
    this.post = post;
    this.reset();
  }

  reset() {
    this.lastAt = 0;
    this.stepsSince = 0;
    this.nextRow = 0; // the first row of the next lighter redraw (they rotate through the rows)
  }

  trained(steps) {
    this.stepsSince += steps;
  }

  /** Due while training: every `display.sampleEvery` steps, else at most every 1.5 s (the worker also keeps training's share of time, www/worker/time-share.js). */
  due(display) {
    if (this.stepsSince === 0) return false;
    if (display.sampleEvery) return this.stepsSince >= display.sampleEvery;
    return performance.now() - this.lastAt > 1500;
  }

  /**
   * Sample every shown sampler of `session` (and first the forward process if `withForward`),
   * posting the grids of each model as soon as they are drawn (`samples` with `partial: true`),
   * then a closing `samples` message with the pass's time. The samplers of one model are drawn
   * together (`sampleMany`: one forward per level for all of them, one readback). `giveWay()`:
   * stop between models (an export or the page being hidden is waiting; between samplers when not
   * `together`); the pass then counts as not done. `rows`: fewer rows than the display's (a
   * lighter redraw while training, www/worker/time-share.js): rows `first` to `first + rows - 1`
   * (counted modulo the display's rows), where each lighter redraw starts after the last one's
   * rows, so that a few of them refresh every row; the page replaces those rows only, and the
   * pass at pause draws them all again. The core draws a pass's z_L from one seed, so a row cannot
   * be drawn alone with the noise the pass over every row gives it: a lighter redraw starting at
   * row `first` > 0 draws its z_L with the seed `seed + first` (the one starting at row 0 with
   * `seed`, the same noise as those rows of the whole pass).
   */
  async draw(session, display, withForward, giveWay = () => false, { together = true, rows = display.samples } = {}) {
    const t0 = performance.now();
    const first = rows < display.samples ? this.nextRow % display.samples : 0;
    const light = rows < display.samples ? { rows, of: display.samples, first } : null;
    const step = session.currentStep;
    const seed = (display.seed + first) % 2 ** 32;
    if (withForward) {
      const forward = await session.forwardProcess(display.forwardRows, seed, display.columns);
      this.post({ type: 'samples', partial: true, step, seed, chains: {}, forward }, [forward.pixels.buffer]);
    }
    let incomplete = false;
    // `together: false` (a pass Play may interrupt): one sampler at a time, so Play waits for one
    // sampler's chains at most, not for a whole model's.
    const groups = samplerGroups(session, display);
    for (const group of together ? groups : groups.flat().map((s) => [s])) {
      await letMessagesIn();
      if (giveWay()) {
        incomplete = true;
        break;
      }
      const bySpec = await session.sampleMany(group.map(([, spec]) => spec), rows, seed, display.columns);
      const chains = Object.fromEntries(group.map(([name, spec]) => [name, bySpec[spec]]));
      this.post({ type: 'samples', partial: true, step, seed, chains, light }, Object.values(chains).map((c) => c.pixels.buffer));
    }
    const ms = performance.now() - t0;
    if (!incomplete) {
      this.lastAt = performance.now();
      if (!light) this.stepsSince = 0;
      this.nextRow = light ? (first + rows) % display.samples : 0;
    }
    this.post({ type: 'samples', partial: false, incomplete, step, seed, chains: {}, ms, light, memory: session.memory() });
    return !incomplete;
  }
}

/** The samplers compared in the "one step, many draws" view (quiz problem 2), those the run has. */
const DRAWS_SPECS = ['universal/exact', 'universal/stochastic', 'stochastic', 'cvae'];
const DRAWS = 8;
/** The level ℓ of the repeated z_ℓ in that view (at most the run's L). */
const DRAWS_LEVEL = 2;

/**
 * Quiz problem 2's view: from one z_ℓ (a held-out digit's forward process at DRAWS_LEVEL),
 * DRAWS draws of z_{ℓ−1} and their ends z_0 with each sampler compared, and how many
 * classes the ends reach (`classify(pixels)` -> class counts, or null without a classifier).
 * Posted as `draws`; only for a run with the true reverse conditional and few levels.
 */
export async function drawsPass(session, display, classify, post) {
  const info = session.info();
  if (!session.samplers.includes('universal/exact') || info.levels > DRAWS_MAX_LEVELS) return;
  const level = Math.min(DRAWS_LEVEL, info.levels);
  const items = [];
  const transfer = [];
  for (const spec of DRAWS_SPECS.filter((s) => session.samplers.includes(s))) {
    const chain = await session.draws(spec, level, display.seed, DRAWS);
    const dim = chain.h * chain.w;
    const ends = chain.pixels.slice((chain.levels.length - 1) * DRAWS * dim);
    const counts = await classify(ends);
    items.push({ spec, chain, classes: counts ? counts.filter((c) => c > 0).length : null });
    transfer.push(chain.pixels.buffer);
  }
  post({ type: 'draws', level, draws: DRAWS, step: session.currentStep, items }, transfer);
}
