// The page's composition, run once at load: the state (www/page/store.js, from the URL), the
// layout, the controls and files wired to the actions (www/page/actions.js), the worker's messages
// to their handlers (www/page/messages.js), then the training worker started (www/page/training.js,
// through www/page/worker-client.js). It never blocks on the wasm, which lives in the worker.

import { changeSetting, exportCheckpoint, importCheckpoint, lessonFromScratch, loadData, measure, resample, runLesson, setLearningRate, setSigma, startOver, stepOnce, switchModel, togglePlay } from './actions.js';
import { loadAutosave } from './autosave.js';
import { banner, errorBanner, logErrorsTo } from './banners.js';
import { showConfig, wireControls } from './controls.js';
import { wireFiles } from './files.js';
import { escapeHtml } from './format.js';
import { LessonView, hasCheckpoints, lessonNamed } from './lesson.js';
import { showTeacherPage } from './teacher.js';
import { workerHandlers } from './messages.js';
import { wireModelSwitch } from './sample-panels.js';
import { LIGHT, cfg, isLight, lab, run, saveKey, urlProblems, view, writeUrl } from './store.js';
import { fullPageUrl } from './state.js';
import { training } from './training.js';
import { rebuildForModel } from './views.js';
import { worker } from './worker-client.js';
import { probeWebGpu } from '../shared/webgpu.js';

const $ = (id) => document.getElementById(id);

// ---- state ------------------------------------------------------------------------------------

window.denoiseLab = lab;
logErrorsTo(lab.errors);

// ---- layout -----------------------------------------------------------------------------------

if (view.embed) document.body.classList.add('embed');
if (!view.controls) document.body.classList.add('no-controls');
if (view.embed) {
  $('open-full').href = fullPageUrl(location.href);
  $('open-full').hidden = false;
}
// A lesson (`?lesson=NAME`): its question and prediction first, the grids once Run is pressed.
if (view.lesson) {
  const lesson = lessonNamed(view.lesson);
  document.body.classList.add('lesson');
  run.lessonFromCheckpoint = hasCheckpoints(lesson);
  run.lessonView = new LessonView(lesson, { run: runLesson, scratch: lessonFromScratch, steps: lesson.steps });
}
if (urlProblems.length) {
  lab.warnings.push(...urlProblems);
  banner('url', 'warn', `<b>Some settings in the URL were not understood</b> — defaults used instead:<ul>${urlProblems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`);
}

// ---- controls, files and the worker's messages ------------------------------------------------

wireControls({
  setting: changeSetting,
  learningRate: setLearningRate,
  sigma: setSigma,
  play: togglePlay,
  step: stepOnce,
  reset: startOver,
  resample,
  export: exportCheckpoint,
  measure,
});
wireModelSwitch(switchModel);

wireFiles({
  onCheckpoint: importCheckpoint,
  onData: loadData,
  onError: (id, message) => errorBanner(id, message),
  currentDataName: () => (run.customData ? run.customData.name : 'bundled MNIST (10k digits)'),
});

worker.connect(workerHandlers, (reason) => training.crashed(reason));

// ---- go ---------------------------------------------------------------------------------------

/**
 * On a CPU (no WebGPU, an adapter that runs on the CPU, or backend=cpu) a free-play run whose URL
 * sets no size starts with LIGHT: the full size trains at one step in several seconds there.
 */
function startsLight(probe) {
  const q = new URLSearchParams(location.search);
  if (view.scenario || !view.light || q.has('channels') || q.has('batch')) return false;
  if (isLight()) return false;
  if (view.backend === 'cpu') return true;
  return !probe.ok || !!probe.cpuAdapter;
}

showConfig(cfg);
writeUrl();
if (view.teacher) showTeacherPage();
else start();

function start() {
  rebuildForModel();
  go();
}

async function go() {
  // The one adapter probe of this load (none for backend=cpu): the worker is given it in `init`.
  run.probe = view.backend === 'cpu' ? null : await probeWebGpu(false);
  if (startsLight(run.probe)) {
    run.lightened = { channels: cfg.channels, batch: cfg.batch };
    cfg.channels = LIGHT.channels;
    cfg.batch = LIGHT.batch;
    lab.lightened = true;
    showConfig(cfg);
    writeUrl();
  }
  const saved = view.resume ? await loadAutosave(saveKey()) : null;
  training.start({ resumeBytes: saved ? saved.bytes : null, autoplay: view.autoplay });
}
