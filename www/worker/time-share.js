// How the worker's time is shared while playing: training, and the passes that show it (drawing
// the grids, measuring the samples). A pass starts only when, with its expected cost, training
// still gets at least TRAINING_SHARE of the recent wall time; so a slow machine redraws less
// often instead of training less. Pure: tested by `node --test tests/node/`.

export const TRAINING_SHARE = 0.75;
/**
 * The share a pass must leave to training when it starts: above TRAINING_SHARE, because the
 * loop's own overhead between frames (messages, yielding to them) also counts as wall time not
 * spent training (measured: 73% with a planned 75% on the CPU backend at L = 100).
 */
export const PLANNED_SHARE = 0.8;
const WINDOW_MS = 60000;

export class TimeShare {
  constructor(share = PLANNED_SHARE) {
    this.share = share;
    this.reset();
  }

  /** A new run: nothing measured yet. */
  reset() {
    this.spans = []; // {start, end, kind}: 'train' or a pass ('draw', 'measure')
    this.costs = {}; // kind -> Map(units -> ms of its last complete pass of that size)
  }

  /**
   * Playing again after a pause: the paused time is not wall time of training (costs are kept);
   * the window opens again with the next training (see `record`).
   */
  resume() {
    this.spans = [];
  }

  /**
   * A pass outside playing (at load, on pause): its cost is known, its time is not counted.
   * `units`: its size (a drawing's rows); costs are kept per unit.
   */
  cost(kind, ms, units = 1) {
    this.known(kind).set(units, ms);
  }

  known(kind) {
    this.costs[kind] ??= new Map();
    return this.costs[kind];
  }

  /**
   * Something ran from `start` to `end` (ms, one clock); a pass of `units` (see `cost`). A pass
   * that gave way before its end (`complete` false) counts against training like any other, but
   * its time is only a lower bound of its cost: it can raise a known cost, never set one (a
   * drawing cut short by Play after half a second once made a 16 s drawing look cheap).
   */
  record(kind, start, end, units = 1, complete = true) {
    if (kind !== 'train') {
      const ms = end - start;
      const expected = this.expected(kind, { units });
      if (complete) this.known(kind).set(units, ms);
      else if (expected != null && ms > expected) this.known(kind).set(units, ms);
    }
    // The window opens with the first training since Play: a pass that was running when Play was
    // pressed (the drawing at load, which gives way between two samplers' chains) delays the
    // first step, reported as such (the page's "first step after Play"); it is not a pass the
    // loop chose to start while playing, which is what the share governs.
    if (kind !== 'train' && !this.spans.length) return;
    this.spans.push({ start, end, kind });
    const cut = end - WINDOW_MS;
    while (this.spans.length && this.spans[0].end < cut) this.spans.shift();
  }

  /** Training ms and wall ms over the window ending at `now` (wall: from the first span kept). */
  totals(now) {
    if (!this.spans.length) return { train: 0, other: 0, wall: 0 };
    let train = 0;
    let other = 0;
    for (const s of this.spans) {
      if (s.kind === 'train') train += s.end - s.start;
      else other += s.end - s.start;
    }
    return { train, other, wall: now - this.spans[0].start };
  }

  /** The share of wall time spent training over the window (null before any training). */
  trainingShare(now) {
    const t = this.totals(now);
    return t.wall > 0 && t.train > 0 ? t.train / t.wall : null;
  }

  /**
   * The expected cost of a pass of `kind` and `units`: the last complete pass of that size; else,
   * from passes of two other sizes, the line through them (a drawing's cost is a part per level
   * whatever the rows, plus a part per row: one row costs more than a sixth of six); from one
   * size, that cost per unit times `units`; else (never run) `basis`'s expected cost for `factor`
   * times as many units (a measurement of n samples per sampler from a drawing's cost: factor n,
   * since both run the same chains); else null: unknown.
   */
  expected(kind, { basis, factor = 1, units = 1 } = {}) {
    const known = this.costs[kind];
    if (known?.size) return costAt(known, units);
    const base = basis == null ? null : this.costs[basis];
    return base?.size ? costAt(base, units * factor) : null;
  }

  /**
   * The largest size of a `kind` pass, from `max` units down by halves to 1, that may start at
   * `now` (see `allows`); 0 if none. A drawing too costly for all its rows redraws fewer. A pass
   * of unknown cost starts at one unit, which measures it.
   */
  largestFit(kind, now, max, estimate = {}) {
    if (max >= 1 && this.expected(kind, { ...estimate, units: 1 }) == null) return 1;
    for (let units = max; units >= 1; units = units === 1 ? 0 : Math.ceil(units / 2)) {
      if (this.allows(kind, now, { ...estimate, units })) return units;
    }
    return 0;
  }

  /**
   * Whether a pass of `kind` (with `estimate`, as `expected`) can start while playing at all: its
   * expected cost is unknown or at most what a window of nothing but training would leave it
   * (15 s of a minute at an 80% share). One that costs more waits for a pause, and nothing
   * should wait for it while playing.
   */
  fitsAWindow(kind, estimate = {}) {
    const cost = this.expected(kind, estimate);
    return cost == null || cost <= (WINDOW_MS * (1 - this.share)) / this.share;
  }

  /**
   * Whether a pass of `kind` may start at `now`: yes if its cost is unknown (see `expected`, with
   * `estimate` its fallback), else if training would keep its share of the window with that cost
   * added to it. A pass costing more than the window allows waits for a pause.
   */
  allows(kind, now, estimate = {}) {
    const cost = this.expected(kind, estimate);
    if (cost == null) return true;
    const t = this.totals(now);
    return t.train >= this.share * (t.wall + cost);
  }
}

/** The cost of `units` from `known` (units -> ms): see `TimeShare.expected`. */
function costAt(known, units) {
  if (known.has(units)) return known.get(units);
  const sizes = [...known.keys()].sort((a, b) => a - b);
  if (sizes.length === 1) return (known.get(sizes[0]) * units) / sizes[0];
  // The two sizes nearest `units` (both below or both above it: extrapolated).
  const near = sizes.sort((a, b) => Math.abs(a - units) - Math.abs(b - units)).slice(0, 2).sort((a, b) => a - b);
  const [u1, u2] = near;
  const perUnit = (known.get(u2) - known.get(u1)) / (u2 - u1);
  const fixed = known.get(u1) - perUnit * u1;
  // Never below the linear share of the cheaper size per unit (a noisy pair could give a slope < 0).
  return Math.max(fixed + perUnit * units, (Math.min(...near.map((u) => known.get(u) / u)) * units) / 2);
}
