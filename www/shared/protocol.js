// The messages between the page and the training worker: every type in each direction, with its
// fields. `type` is the only field every message has; a field name ending in `?` may be absent.
// The page sends from www/page/ (the controller, www/page/training.js, and the test handle
// www/page/lab.js); the worker (www/worker/worker.js) has one handler per message in TO_WORKER;
// the worker posts from www/worker/; the page (www/page/messages.js) has one handler per message
// in TO_PAGE. tests/node/protocol.test.mjs reads those sources and fails on a type sent or handled
// that is not here, on a type here that nobody sends or handles, and on a field posted that is not
// listed here.

/** Page -> worker: `{[type]: {doc, fields: {[name]: doc}}}`. */
export const TO_WORKER = {
  init: {
    doc: 'Start: load the core, choose the backend, load the data and start the first run (the first message to every worker).',
    fields: {
      config: "the main model's TrainConfig (src/train.rs)",
      ideal: 'Φ*, the universal denoiser of the same training images, beside a trained denoiser',
      display: 'what is drawn and measured, and how often (see `display`)',
      backend: "the URL's backend: 'auto', 'webgpu' or 'cpu'",
      'scenario?': "a quiz scenario's name: its models, panels and step budget replace the settings",
      'lesson?': "a lesson's name (src/lesson.rs; its scenario is `scenario`): each measurement is judged (`verdict`)",
      'fromCheckpoint?': "start the lesson's models from its bundled checkpoints (www/data/lessons/) instead of untrained",
      'data?': '{images, labels, name}: the user\'s IDX bytes, kept by a restarted worker',
      'checkpoint?': "checkpoint bytes to resume from (the settings' autosave)",
      'autoplay?': 'train as soon as the run is ready',
      'probe?': "the page's WebGPU adapter probe (www/shared/webgpu.js probeWebGpu); absent: the worker probes",
    },
  },
  play: { doc: 'Start (or go on) training.', fields: {} },
  pause: { doc: 'Stop training after the frame in flight; `paused` follows.', fields: {} },
  step: { doc: 'Train one frame of `n` steps, then draw.', fields: { 'n?': 'steps (default 1)' } },
  reset: {
    doc: 'A new run for new settings, resumed from `checkpoint` if given.',
    fields: {
      config: 'as in `init`',
      ideal: 'as in `init`',
      display: 'as in `init`',
      'scenario?': 'as in `init`',
      'lesson?': 'as in `init`',
      'fromCheckpoint?': 'as in `init`',
      'checkpoint?': 'as in `init` (null: a fresh run)',
    },
  },
  display: {
    doc: 'Change what is drawn and measured.',
    fields: {
      display: '{samples, columns, seed, sigma, forwardRows, show, stopAt, metricsN, metricsNExplicit, metricsEvery, sampleEvery}: rows and columns of the grids, their seed and σ, the samplers shown, the step budget, samples per sampler for the metrics (and whether the URL set it), steps between measurements and between drawings',
      resample: 'draw every grid again now',
    },
  },
  lr: { doc: 'Change the learning rate of the run in place.', fields: { lr: 'the learning rate' } },
  export: { doc: "The main model's checkpoint bytes, answered by `exported`.", fields: { reason: "'user' (a download) or 'autosave'" } },
  import: {
    doc: "Replace the run from the user's checkpoint (`importMismatch` if it is for other settings).",
    fields: { bytes: 'the checkpoint bytes (transferred)', name: 'its file name', adopt: "take the checkpoint's model and L even if they differ from the settings" },
  },
  loadData: {
    doc: "Validate the user's IDX files and start a run on them.",
    fields: { id: "the page's number of this load (answered in `dataLoaded` or `error`)", images: 'IDX image bytes', 'labels?': 'IDX label bytes', name: 'a name for the page' },
  },
  measure: { doc: 'Measure the samples now (`metrics`).', fields: {} },
  debugLoseDevice: { doc: 'Test hook: destroy the GPUDevice (the lost-device path).', fields: {} },
  debugDraw: { doc: 'Test hook: one drawing pass of `rows` rows (a lighter redraw).', fields: { rows: 'rows to draw' } },
  debugCrash: { doc: 'Test hook: report a fatal error, as a wasm trap does (the crash path).', fields: {} },
};

/** Worker -> page: `{[type]: {doc, fields: {[name]: doc}}}`. */
export const TO_PAGE = {
  status: {
    doc: 'What the worker is doing now (the progress line), or that an activity ended.',
    fields: { 'key?': "the activity: 'draw', 'step' (absent: starting up)", text: 'what it does, or null: the activity ended' },
  },
  scenarios: { doc: "The core's quiz scenarios (the scenario buttons).", fields: { list: '[{name, title, steps, budget, ...}] (src/scenario.rs)' } },
  scenario: {
    doc: 'A scenario was applied to the run starting now.',
    fields: { scenario: 'the scenario (models, panels, steps, caption)', show: 'the samplers its panels show', stopAt: 'its step budget' },
  },
  backend: {
    doc: 'The backend training runs on, and the adapter found (also sent again when WebGPU fails and the CPU takes over).',
    fields: { backend: "'webgpu' or 'cpu'", adapter: '{vendor, architecture, description, device} or null', cpuAdapter: 'the adapter runs on the CPU (SwiftShader, lavapipe)', reason: 'why the CPU backend, or null' },
  },
  ready: {
    doc: 'A new session runs: its configuration and reference images; its load pass follows.',
    fields: {
      run: 'the number of this session in the worker (an export names it)',
      info: "the session's info(): config, models, samplers, levels, step, sizes",
      meanImage: 'the mean training image (transferred)',
      realDiversity: 'the mean pairwise distance of held-out images',
      data: '{name, n, h, w, digits}: the data trained on (`digits`: the bundled MNIST digits)',
      'resumed?': '{step, history}: resumed from an autosave (null: not)',
      'imported?': "{step, name, history}: from the user's checkpoint",
      'reset?': 'true: new settings or data',
    },
  },
  progress: {
    doc: 'A training frame ended.',
    fields: {
      companion: "the scenario's other trained model's losses this frame, or null",
      step: 'the step reached',
      steps: "[{step, loss, ...}] of this frame's steps",
      levelLoss: 'loss per level, or null',
      msPerStep: 'median ms per step of the steady frames',
      stepsPerSec: 'steps per second over the last seconds',
      warmupMs: 'the first frame (shader compilation, warm-up)',
      stepsPerFrame: "this frame's steps",
      frameMs: "this frame's time",
      hostMs: "of it the wasm's own time (Session::host_time: queuing the steps, running and submitting their dispatches; not the wait for the device)",
      trainingShare: "training's share of the worker's wall time while playing",
    },
  },
  samples: {
    doc: "A drawing pass: each model's grids as soon as drawn (`partial`), then its end.",
    fields: {
      partial: 'more of this pass follows',
      step: 'the step drawn at',
      seed: 'the seed of the grids',
      chains: '{[sampler]: chain}: the grids drawn (pixels transferred)',
      'forward?': 'the forward process grid (pixels transferred)',
      'light?': '{rows, of, first}: fewer rows than the display (a lighter redraw while training): `rows` rows from row `first` on (modulo `of`), or null',
      'incomplete?': 'the pass stopped early (for an export, Play, Pause or new settings)',
      'ms?': "the pass's time",
      'memory?': 'device allocations and wasm memory after the pass',
      'by?': "'drawer': drawn by the drawing worker beside training (www/worker/drawer.js)",
    },
  },
  draws: {
    doc: "Quiz problem 2's view: many draws of one step from one z_ℓ, with each sampler.",
    fields: { level: 'the level ℓ of z_ℓ', draws: 'draws per sampler', step: 'the step drawn at', items: '[{spec, chain, classes}] (pixels transferred)' },
  },
  metricsBusy: { doc: 'A measuring pass started.', fields: { n: 'samples per sampler' } },
  metricsProgress: {
    doc: "A measuring pass's progress: a chunk of one sampler's chains is done (www/worker/metrics.js measureInChunks).",
    fields: { sampler: 'the sampler measured', index: 'its place among the pass’s samplers (from 0)', of: 'samplers in the pass', n: 'samples per sampler', done: 'the share of its chains’ levels done (0-1)' },
  },
  metrics: {
    doc: 'A measuring pass ended, or why there are no metrics for this session.',
    fields: {
      'step?': 'the step measured at',
      'n?': 'samples per sampler',
      'seed?': 'their seed',
      'ms?': "the pass's time",
      'digits?': 'the data is the bundled digits (the classifier applies)',
      'samplers?': '{[sampler]: {fid, classes, diversity, ...}}',
      'real?': 'held-out digits measured like samples',
      'reference?': 'the Fréchet reference (held-out digits)',
      'unavailable?': 'why there are no metrics (no other field then)',
    },
  },
  verdict: {
    doc: "A lesson's answer, judged by the core (src/lesson.rs `judge`) on the measurement just posted.",
    fields: { run: 'the run measured', lesson: "the lesson's name", step: 'the step measured', n: 'samples per sampler', choice: "the outcome: one of the lesson's choice ids", text: 'the figures that decide it, in words' },
  },
  metricsSkipped: { doc: 'A measuring pass gave way (Play, Pause, an export, new settings) before it ended.', fields: {} },
  paused: { doc: 'The loop stopped and the final weights are drawn.', fields: { step: 'the step it stopped at' } },
  stopped: { doc: "Training reached the scenario's step budget (`paused` follows).", fields: { step: 'the step reached' } },
  exported: {
    doc: 'Checkpoint bytes of the main model (the answer to `export`).',
    fields: { run: 'the session they come from (`ready`)', reason: "the export's reason", bytes: 'the checkpoint (transferred)', step: 'its step', config: 'its TrainConfig', backend: 'the backend it trained on' },
  },
  diverged: { doc: 'The loss is not finite: training stopped.', fields: { message: 'what diverged', step: 'the step' } },
  trainError: { doc: 'Training failed (not a divergence, not fatal): it stopped.', fields: { message: 'the error', 'step?': 'the step, when known' } },
  importMismatch: {
    doc: "An imported checkpoint is for another model or L than the settings (import it again with `adopt`).",
    fields: { meta: "the checkpoint's metadata ({config, step, history, ...})", current: '{model, levels} of the settings' },
  },
  dataLoaded: { doc: "The user's data is in use (`ready` follows).", fields: { id: 'the number of the load (`loadData`)', name: 'its name', n: 'images', h: 'height', w: 'width', labels: 'labels came with it' } },
  resumeFailed: { doc: 'The checkpoint of `init`/`reset` could not be resumed: a fresh run starts.', fields: { reason: 'why' } },
  error: {
    doc: 'A command failed; the worker goes on (the previous session stays, if any).',
    fields: { kind: "what failed: 'init', 'config', 'import', 'data', 'export', 'metrics', 'sample', 'step', 'reset', 'learning rate', 'worker'", message: 'for people', 'id?': 'the number of the failed load (kind data)' },
  },
  warning: { doc: 'Something the user should know (a limit applied, an unknown scenario, ...).', fields: { message: 'for people' } },
  gpuError: { doc: 'An uncaptured WebGPU error (logged, training goes on).', fields: { message: 'the error' } },
  deviceLost: { doc: 'The GPU device was lost: the worker is dead, the page restarts it.', fields: { reason: "the device's reason", message: 'its message' } },
  fatal: { doc: 'A wasm trap (or debugCrash): the worker is dead, the page restarts it.', fields: { message: 'where, and the error' } },
};

// The messages between the training worker and the drawing worker it starts on the CPU backend
// (www/worker/drawer.js sends TO_DRAWER with `toDrawer` and handles FROM_DRAWER in its
// `handlers`; www/worker/draw-worker.js the other way round, with `toTrainer` and `handlers`).
// tests/node/protocol.test.mjs checks them as it checks the page's.

/** Training worker -> drawing worker. */
export const TO_DRAWER = {
  init: { doc: 'Load the core (the first message).', fields: { module: "the training worker's compiled WebAssembly.Module, or null: compile it again" } },
  snapshot: {
    doc: 'Draw every row of every grid shown from these weights (the newest snapshot waiting replaces an older one).',
    fields: {
      run: "the training worker's run id: its grids are relayed only while that run plays",
      step: 'the step of the weights',
      checkpoints: "every model's checkpoint bytes, main first, null for a computed one (Φ*) (transferred)",
      models: "every model's TrainConfig, main first (the core's `info().models`)",
      display: "the page's display settings (as in `init` to the training worker)",
      data: '{images, labels}: IDX bytes of the run\'s data, or null: the same as the last snapshot\'s',
      measure: '{n, digits}: measure the samples (n per sampler; `digits` as in `metrics`) instead of drawing, or null',
    },
  },
  stop: { doc: 'Pause, or a new run: the pass under way stops before its next model.', fields: {} },
};

/** Drawing worker -> training worker. */
export const FROM_DRAWER = {
  idle: {
    doc: 'Ready for a snapshot: the core is loaded, or the last pass ended.',
    fields: { 'run?': 'the run of the pass that ended', 'kind?': "'draw' or 'measure'", 'ms?': "that pass's time, the rebuild of the run included" },
  },
  page: {
    doc: 'A message for the page (`samples`, or a measurement\'s `metricsBusy`, `metricsProgress`, `metrics`, `metricsSkipped` of TO_PAGE), relayed while its run plays.',
    fields: { run: 'the run id of the snapshot', msg: 'the message' },
  },
  failed: { doc: 'The drawing worker cannot draw: the training worker draws again.', fields: { message: 'why', fatal: 'a wasm trap: the drawing worker closed' } },
};
