// The training worker (a module worker): owns the wasm core and its run (www/worker/run.js),
// whose passes the scheduler orders (www/worker/scheduler.js: its states and transitions), and
// posts results to the page. The page never waits on it. This file is the message dispatch: one
// handler per message from the page. Every message in each direction, with its fields:
// www/shared/protocol.js.

import { errorText, isFatal } from './errors.js';
import { gpuDevice, watchDevices } from './gpu.js';
import { Run } from './run.js';
import { Scheduler } from './scheduler.js';

// Panics are reported with the JS stack (console_error_panic_hook): keep all of its frames.
Error.stackTraceLimit = 200;

const post = (msg, transfer = []) => self.postMessage(msg, transfer);
const run = new Run(post);
const scheduler = new Scheduler(run, post);

// A lost device is reported (the page restarts this worker).
watchDevices({
  onLost: (info) => scheduler.lost(info),
  onError: (message) => post({ type: 'gpuError', message }),
});

/**
 * A command that replaces the session (new settings, an import, other data): training stops, and
 * a drawing or measuring pass under way stops at its next sampler instead of finishing for a
 * session about to go (measured: "Full size" waited about 40 s for the pause's measuring pass on
 * the CPU backend). A new session gets its load pass.
 */
function replace(kind, command) {
  scheduler.pause();
  scheduler.urgently(kind, async () => {
    if (await command()) await scheduler.loadPass();
  });
}

const handlers = {
  init: (msg) =>
    scheduler
      .guard('init', async () => {
        if (await run.start(msg)) await scheduler.loadPass({ autoplay: !!msg.autoplay });
      })
      .then(() => {
        if (msg.autoplay) scheduler.play();
      }),
  play: () => scheduler.play(),
  pause: () => scheduler.pause(),
  step: (msg) =>
    scheduler.guard('step', async () => {
      if (await scheduler.frame(msg.n || 1)) await scheduler.draw();
    }),
  reset: (msg) => replace('reset', () => run.reset(msg)),
  display: (msg) => {
    run.setDisplay(msg.display);
    if (msg.resample && run.session) scheduler.guard('sample', () => scheduler.draw({ withForward: true }));
  },
  lr: (msg) => scheduler.guard('learning rate', async () => run.setLearningRate(msg.lr)),
  // An export (an autosave when the page is hidden) does not wait for a whole drawing or
  // measuring pass: they stop at their next sampler, and the measurement runs again after it
  // (measured before: an export at load on SwiftShader waited ~57 s for the load-time pass).
  export: (msg) => scheduler.urgently('export', () => run.export(msg)),
  import: (msg) => replace('import', () => run.import(msg)),
  loadData: (msg) => replace('data', () => run.loadData(msg)),
  measure: () => scheduler.guard('metrics', () => scheduler.measure()),
  debugCrash: () => scheduler.die('test', new Error('a simulated crash (debugCrash)')),
  // Test hook: one drawing pass of `rows` rows, as a lighter redraw while training would draw.
  debugDraw: (msg) => scheduler.guard('sample', () => scheduler.draw({ rows: msg.rows })),
  debugLoseDevice: () => {
    if (gpuDevice()) gpuDevice().destroy();
    else post({ type: 'warning', message: 'No GPU device to lose (CPU backend).' });
  },
};

self.onmessage = (ev) => {
  const msg = ev.data || {};
  const handle = handlers[msg.type];
  if (handle) handle(msg);
  else post({ type: 'warning', message: `worker: unknown message ${msg.type}` });
};

self.addEventListener('unhandledrejection', (ev) => {
  const e = ev.reason;
  if (isFatal(e)) scheduler.die('worker', e);
  else post({ type: 'error', kind: 'worker', message: errorText(e) });
});
