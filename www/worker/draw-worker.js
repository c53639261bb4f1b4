// The drawing worker: draws the grids while the training worker trains on the CPU backend (a
// nested worker it starts: www/worker/drawer.js). The CPU backend trains on one thread, so on a
// machine with two cores or more the other one is idle while the page plays; here it redraws
// every row of every grid from a copy of the weights (a snapshot), instead of training giving up
// a quarter of its time to redraw a few rows. Every message in each direction, with its fields:
// www/shared/protocol.js (TO_DRAWER, FROM_DRAWER). It measures the samples too, when the
// training worker asks (a snapshot with `measure`: at most half of its time, www/worker/drawer.js).
//
// A snapshot carries the run's models as checkpoint bytes; the run is rebuilt from them on the
// same data (the core's `Session.fromCheckpoint`, as an import does) and drawn with the display's
// samplers, rows and seed (www/worker/sampling.js, the pass the training worker draws at pause).
// One snapshot is drawn at a time; the newest one waiting replaces any older one.

import { errorText, isFatal } from './errors.js';
import { freeCore, loadCore } from './core.js';
import { fetchBytes } from './data.js';
import { MetricsRunner } from './metrics.js';
import { SampleRunner, samplerSpecs } from './sampling.js';

let core = null;
let data = null; // {images, labels}: IDX bytes of the run's data (sent when it changes)
let session = null;
let waiting = null; // the newest snapshot not yet drawn
let drawing = false;
let stopped = false; // `stop` arrived: the pass under way gives way at its next sampler
let toPage = () => {}; // to the page, through the training worker, for the snapshot's run

const toTrainer = (msg, transfer = []) => self.postMessage(msg, transfer);
const metrics = new MetricsRunner((msg, transfer) => toPage(msg, transfer));

function failed(e) {
  waiting = null;
  toTrainer({ type: 'failed', message: errorText(e), fatal: isFatal(e) });
  if (isFatal(e)) self.close();
}

/**
 * Draw (or measure: `snapshot.measure`) the snapshot waiting, and any that arrives meanwhile,
 * then say `idle`.
 */
async function drawWaiting() {
  if (drawing || !core) return;
  drawing = true;
  try {
    while (waiting) {
      const snap = waiting;
      waiting = null;
      stopped = false;
      const t0 = performance.now();
      if (snap.data) data = snap.data;
      metrics.forget(null);
      freeCore(session);
      session = null;
      const [main, ...others] = snap.checkpoints;
      session = await core.Session.fromCheckpoint(main, data.images, data.labels, 'cpu', null, null, snap.models.slice(1), others);
      toPage = (msg, transfer) => toTrainer({ type: 'page', run: snap.run, msg }, transfer);
      const s = session;
      if (snap.measure) {
        // The figures of the samples (www/worker/metrics.js, the training worker's pass): `stop`
        // stops it between two chunks of levels.
        const { n, digits } = snap.measure;
        await metrics.measure({ wasm: core, session: s, specs: samplerSpecs(s, snap.display), n, seed: snap.display.seed, digits, current: () => session, giveWay: () => stopped });
      } else {
        // Each model's samplers together (one forward per level for all of them); `stop` (Pause,
        // a new session) stops the pass before the next model.
        await new SampleRunner(toPage).draw(s, snap.display, false, () => stopped);
      }
      if (!waiting) toTrainer({ type: 'idle', run: snap.run, kind: snap.measure ? 'measure' : 'draw', ms: performance.now() - t0 });
    }
  } catch (e) {
    failed(e);
  } finally {
    drawing = false;
  }
}

const handlers = {
  init: async (msg) => {
    try {
      ({ core } = await loadCore(msg.module));
      await metrics.loadClassifier(fetchBytes);
      toTrainer({ type: 'idle' });
    } catch (e) {
      failed(e);
    }
  },
  snapshot: (msg) => {
    waiting = msg;
    drawWaiting();
  },
  stop: () => {
    stopped = true;
    waiting = null;
  },
};

self.onmessage = (ev) => {
  const msg = ev.data || {};
  handlers[msg.type]?.(msg);
};
