// The status line and the speed panel: step, loss, steps/s, ms/step, warm-up, the backend and
// its adapter; and the banners that say when training runs on the CPU.

import { banner, clearBanner } from './banners.js';
import { escapeHtml, fmt, fmtMs } from './format.js';

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

/**
 * Which backend trains (`backend` from the worker). On the CPU, or on a WebGPU adapter that
 * runs on the CPU, a banner says so with `actions` (lighter settings, the CPU backend).
 */
export function showBackend(msg, { lightActions, onCpuBackend }) {
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
      // (measured: README, "In the browser"), so offer it beside the lighter settings.
      const acts = lightActions();
      acts.actions = [...(acts.actions || []), { label: 'Train on the CPU backend instead', onClick: onCpuBackend }];
      banner('cpu-adapter', 'warn', `<b>Your WebGPU adapter runs on the CPU</b> (${escapeHtml(adapterText)}): training works but is slow. A browser with GPU access trains much faster.`, acts);
    }
  } else {
    $('stat-backend').innerHTML = `<span class="badge cpu">CPU</span>`;
    $('speed-backend').textContent = 'CPU (WebAssembly, burn flex)';
    $('speed-adapter').textContent = 'none';
    banner('backend', 'warn', `<b>WebGPU unavailable: training on the CPU (slower).</b> ${escapeHtml(msg.reason || '')}`, lightActions());
  }
}
