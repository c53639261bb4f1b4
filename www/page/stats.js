// The status line and the speed panel: step, loss, steps/s, ms/step, warm-up, the backend and
// its adapter; and the banners that say when training runs on the CPU.

import { banner, clearBanner } from './banners.js';
import { escapeHtml, fmt, fmtMs, sentence } from './format.js';

const $ = (id) => document.getElementById(id);

/** A training frame's figures (`progress` from the worker); `loss`: the smoothed loss to show. */
export function showProgress(msg, { loss, batch }) {
  $('stat-step').textContent = String(msg.step);
  $('stat-loss').textContent = loss != null ? fmt(loss) : '–';
  $('stat-sps').textContent = fmt(msg.stepsPerSec, 3);
  $('stat-ms').textContent = msg.msPerStep != null ? fmt(msg.msPerStep, 3) : '–';
  $('stat-warmup').textContent = fmtMs(msg.warmupMs);
  $('speed-ms').textContent = fmtMs(msg.msPerStep);
  $('speed-sps').textContent = fmt(msg.stepsPerSec, 3);
  $('speed-ips').textContent = msg.stepsPerSec != null ? fmt(msg.stepsPerSec * batch, 3) : '–';
  $('speed-warmup').textContent = fmtMs(msg.warmupMs);
  $('speed-k').textContent = String(msg.stepsPerFrame);
}

/** The side-by-side model's last loss (scenario 4). */
export function showCompanionLoss(model, loss) {
  $('stat-companion').hidden = false;
  $('stat-companion-label').textContent = `${model === 'cvae' ? 'CVAE' : 'denoiser'} loss`;
  $('stat-companion-loss').textContent = fmt(loss);
}

const note = (acts) => (acts.note ? ` ${escapeHtml(acts.note)}` : '');

/**
 * Which backend trains (`backend` from the worker). On the CPU, or on a WebGPU adapter that
 * runs on the CPU, a banner says so with `actions` (lighter settings, the CPU backend).
 */
export function showBackend(msg, { lightActions, onCpuBackend, onWebGpu }) {
  const a = msg.adapter;
  const adapterText = a ? [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'unnamed adapter' : '–';
  if (msg.backend === 'webgpu') {
    $('stat-backend').innerHTML = `<span class="badge gpu">WebGPU</span>`;
    $('stat-backend').title = adapterText;
    $('speed-backend').textContent = 'WebGPU';
    $('speed-adapter').textContent = adapterText;
    clearBanner('backend');
    if (msg.cpuAdapter) {
      // On a CPU adapter, burn's CPU backend in wasm is usually faster than emulated WebGPU
      // (measured: docs/performance.md, "In the browser"), so offer it beside the lighter settings.
      const acts = lightActions();
      acts.actions = [...(acts.actions || []), { label: 'Train on the CPU backend instead', onClick: onCpuBackend }];
      banner('cpu-adapter', 'warn', `<b>Your WebGPU adapter runs on the CPU</b> (${escapeHtml(adapterText)}): training works but is slow. A browser with GPU access trains much faster.${note(acts)}`, acts);
    }
  } else {
    $('stat-backend').innerHTML = `<span class="badge cpu">CPU</span>`;
    $('speed-backend').textContent = 'CPU (WebAssembly, burn flex)';
    $('speed-adapter').textContent = a ? `${adapterText} (not used: it runs on the CPU)` : 'none';
    const acts = lightActions();
    if (msg.cpuAdapter) {
      // The page's own choice (www/shared/webgpu.js chooseBackend): WebGPU stays one click away.
      acts.actions = [...(acts.actions || []), { label: 'Use WebGPU anyway', onClick: onWebGpu }];
      banner('cpu-adapter', 'warn', `<b>Training on the CPU backend:</b> your WebGPU adapter (${escapeHtml(adapterText)}) runs on the CPU, where burn's CPU backend trains several times faster. A browser with GPU access trains much faster still.${note(acts)}`, acts);
    } else {
      banner('backend', 'warn', `<b>WebGPU unavailable: training on the CPU (slower).</b> ${escapeHtml(sentence(msg.reason))}${note(acts)}`, acts);
    }
  }
}

// ---- what the page is busy with -----------------------------------------------------------------

let activity = null; // {key, text, since}
let ticker = 0;

function renderActivity() {
  if (!activity) return;
  const s = (performance.now() - activity.since) / 1000;
  $('loading').textContent = s < 0.5 ? activity.text : `${activity.text} (${s.toFixed(1)} s)`;
}

/**
 * Show what the page waits for (`text`, with the seconds elapsed, updated while it lasts) under
 * `key` ('start', 'draw', 'step'): a newer activity replaces an older one.
 */
export function showActivity(key, text) {
  activity = { key, text, since: performance.now() };
  $('loading').hidden = false;
  renderActivity();
  ticker ||= setInterval(renderActivity, 200);
}

/** The activity `key` is over (another one shown since stays); with no key, whatever is shown. */
export function endActivity(key = null) {
  if (!activity || (key && activity.key !== key)) return;
  activity = null;
  clearInterval(ticker);
  ticker = 0;
  $('loading').hidden = true;
}

/** A message that stays (no timer): e.g. why the page could not start. */
export function showStuck(text) {
  endActivity();
  $('loading').hidden = false;
  $('loading').textContent = text;
}
