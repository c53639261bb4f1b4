// "What are the samples?": the metrics table (Fréchet distance, class entropy, diversity, the
// distance to the nearest training image and the share of copies, the class histogram drawn) for
// every sampler and for real digits, as the worker measured them.

import { fmt, fmtMs, escapeHtml } from './format.js';
import { SAMPLER_COLORS, samplerLabel } from './samplers.js';

const $ = (id) => document.getElementById(id);

const HIST_W = 150;
const HIST_H = 40;

/** Ten bars (digits 0..9), heights relative to the tallest. */
function drawHistogram(canvas, counts, color) {
  const dpr = 2;
  canvas.width = HIST_W * dpr;
  canvas.height = HIST_H * dpr;
  canvas.style.width = `${HIST_W}px`;
  canvas.style.height = `${HIST_H}px`;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, HIST_W, HIST_H);
  const max = Math.max(1, ...counts);
  const bw = HIST_W / counts.length;
  const top = 2;
  const base = HIST_H - 11;
  ctx.font = '9px system-ui, sans-serif';
  ctx.textAlign = 'center';
  counts.forEach((c, d) => {
    const h = ((base - top) * c) / max;
    ctx.fillStyle = color;
    ctx.fillRect(d * bw + 1.5, base - h, bw - 3, h);
    ctx.fillStyle = '#666';
    ctx.fillText(String(d), d * bw + bw / 2, HIST_H - 1.5);
  });
  ctx.strokeStyle = '#bbb';
  ctx.beginPath();
  ctx.moveTo(0, base + 0.5);
  ctx.lineTo(HIST_W, base + 0.5);
  ctx.stroke();
}

/** What the data's real images are called: "real digits" for the bundled MNIST. */
export const realLabel = (digits) => (digits ? 'real digits' : 'real images');

export function clearMetrics(lab) {
  $('metrics-table').querySelector('tbody').replaceChildren();
  $('metrics-status').textContent = 'Not measured yet: the samples are measured on pause, with “Measure now”, and while training when a measurement leaves training its share of the time.';
  lab.metrics = null;
}

export function renderMetrics(msg, lab) {
  $('panel-metrics').classList.remove('busy');
  if (msg.unavailable) {
    $('metrics-status').textContent = msg.unavailable;
    lab.metrics = { unavailable: msg.unavailable };
    return;
  }
  lab.metrics = msg;
  lab.metricsVersion++;
  const tbody = $('metrics-table').querySelector('tbody');
  tbody.replaceChildren();
  // On data other than the bundled digits, the digit classifier's figures (Fréchet distance of
  // its features, class entropy and histogram) mean nothing: shown as not applicable.
  const digits = msg.digits !== false;
  const na = '<span class="muted" title="needs a classifier of this data: the bundled one knows MNIST digits only">n/a</span>';
  const rows = Object.entries(msg.samplers).map(([n, m]) => [samplerLabel(n), SAMPLER_COLORS[n], m, n]);
  rows.push([realLabel(digits), SAMPLER_COLORS.real, msg.real, 'real']);
  for (const [name, color, m, key] of rows) {
    const tr = document.createElement('tr');
    tr.dataset.sampler = key;
    if (key === 'real') tr.className = 'ref';
    tr.innerHTML = `<td><span class="swatch" style="background:${color}"></span>${escapeHtml(name)}</td>
      <td class="num frechet">${digits ? fmt(m.frechet, 3) : na}</td>
      <td class="num entropy">${digits ? fmt(m.entropy_nats, 3) : na}</td>
      <td class="num diversity">${fmt(m.diversity, 3)}</td>
      <td class="num nearest">${m.memorisation ? fmt(m.memorisation.median_nn_rms, 3) : '–'}</td>
      <td class="num copies">${m.memorisation ? `${Math.round(100 * m.memorisation.copies)}%` : '–'}</td>
      <td>${digits ? `<canvas class="hist" role="img" aria-label="class histogram of ${escapeHtml(name)}, digits 0 to 9: ${m.histogram.join(', ')}"></canvas>` : na}</td>`;
    tbody.append(tr);
    if (digits) drawHistogram(tr.querySelector('canvas'), m.histogram, color);
  }
  const acc = msg.reference.classifier_accuracy;
  if (!digits) {
    $('metrics-status').textContent = `Measured at step ${msg.step}: ${msg.n} samples per sampler (noise seed ${msg.seed}), in ${fmtMs(msg.ms)}. This data is not the bundled MNIST digits, so the figures of the digit classifier (Fréchet distance, class entropy, histogram) do not apply; diversity and the distance to the nearest training image do. Real images: ${msg.real.n} training images measured the same way; their distance to the nearest training image is that of held-out images.`;
    return;
  }
  $('metrics-status').textContent = `Measured at step ${msg.step}: ${msg.n} samples per sampler (noise seed ${msg.seed}) against ${msg.reference.n} held-out real digits, in ${fmtMs(msg.ms)}. Classifier: ${acc ? `${(100 * acc).toFixed(1)}% on held-out digits` : 'bundled'}. Real digits: ${msg.real.n} training digits measured the same way (the best a sampler can do at this sample size); their distance to the nearest training image is that of held-out digits, which are not in the training set.`;
}
