// The test and automation handle, `window.denoiseLab`: what the page shows, as data. Tests and
// benchmarks read it (and wait on its counters) instead of scraping the page. Every field is
// declared here, with what it holds; the page's modules only update them (www/page/store.js owns
// the instance; tests/node/page-modules.test.mjs fails when a module sets a field not declared here).

/** The handle for the page's settings `cfg`/`view`; `post(msg)` sends to the worker (test hooks). */
export function createLab({ cfg, view, post }) {
  return {
    ready: false, // a session is ready for commands
    playing: false, // the Play button says training runs (www/page/training.js is its one owner)
    backend: null, // 'webgpu' | 'cpu'
    adapter: null, // the WebGPU adapter's info
    cpuAdapter: false, // the adapter runs on the CPU (SwiftShader, lavapipe, ...)
    fallbackReason: null, // why the CPU backend is used, if it is
    step: 0, // the training step the session is at
    losses: [], // every flushed step's loss, in order (this session)
    info: null, // the session's configuration, schedule and sizes (the worker's `ready`)
    samplesStep: -1, // the training step the shown samples were drawn at
    samplesVersion: 0, // counts drawings of every row
    lightDrawings: 0, // counts lighter redraws while training (some rows only; www/worker/time-share.js)
    drawerDrawings: 0, // counts drawings of every row by the drawing worker beside training (www/worker/drawer.js)
    lightRows: null, // {rows, of, first, step} of the last lighter redraw
    lightHistory: [], // {rows, of, first, step} of every lighter redraw of this page (the last 1000)
    gridRows: {}, // {spec: [step]}: the step each row of each sampler's grid was last drawn at (null: not yet)
    diversityShown: null, // {spec: {step, n}}: what the diversity chart shows, measured at `step` on `n` samples
    draws: null, // problem 2's view: {level, step, classes: {spec: classes reached}}
    finalDiversity: null, // {spec: mean pairwise distance of the drawn z_0} at the last drawing
    readyVersion: 0, // counts sessions
    run: null, // the worker's number of the session shown
    restarts: 0, // restarts that reached the worker (a superseded one does not)
    saveConflict: null, // {theirs, ours}: steps when another tab's save was not overwritten
    savesDropped: null, // keys of other runs' autosaves deleted because the storage quota was full (the page says so)
    keptAside: null, // {step, kept}: an autosave that could not be resumed, put aside
    warmupMs: null, // milliseconds of the session's first training frame (shader compilation, ...)
    msPerStep: null, // milliseconds per training step, the median of steady frames
    stepsPerSec: null, // training steps per second of wall time over the last few seconds
    trainingShare: null, // training's share of the worker's wall time while playing (www/worker/time-share.js)
    lightened: false, // started with lighter settings because training runs on a CPU
    errors: [], // the message of every error banner, in order
    warnings: [], // the URL's problems, the worker's warnings and WebGPU errors, in order
    lastExport: null, // {name, size, step} of the last download
    importPending: false, // a checkpoint's bytes are kept for an import under way (or its "Switch to ...")
    autosaves: 0, // counts autosaves stored in this browser
    resumed: null, // {step, history} of the autosave this session resumed, if it did
    frames: [], // [{k, ms, hostMs}] per training frame of this session (k steps in ms, hostMs of them the wasm's own)
    activities: [], // the worker's last status texts (what the progress line said), newest last
    times: {}, // performance.now() of milestones: ready, firstDrawn (a first grid), firstSamples (a whole pass), firstStep
    companionModel: null, // the side-by-side model of a scenario
    companionLoss: null, // its last loss
    scenario: null, // the scenario that runs now
    verdict: null, // the lesson's last verdict ({run, lesson, step, n, choice, text}: the worker's `verdict`)
    pausedStep: null, // the step the worker's loop stopped at (null while it runs)
    memory: null, // [{step, allocations, bytesInUse, ...}] at each drawing (the soak benchmark)
    metrics: null, // the last `metrics` message (www/page/metrics-panel.js), or {unavailable}; null until measured
    metricsVersion: 0, // counts measurements shown
    measuring: false, // a measuring pass is under way (between `metricsBusy` and its end)
    measureProgress: null, // the pass's last `metricsProgress` {sampler, index, of, n, done}
    metricsSkipped: 0, // counts measurements the worker postponed (for training or an export)
    dataDigits: null, // whether the session's data are digits the bundled classifier knows (null before a session)
    config: cfg, // the page's settings (www/page/store.js cfg), live
    view, // the page's view options (www/page/store.js view), live
    debugLoseDevice: () => post({ type: 'debugLoseDevice' }), // test hook (WebGPU only)
    debugDraw: (rows) => post({ type: 'debugDraw', rows }), // test hook: a lighter redraw of `rows` rows
    command: (msg) => post(msg), // benchmark hook: a message to the worker, e.g. {type: 'step', n: 11}
  };
}
