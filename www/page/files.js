// Files in and out of the page: a checkpoint by the Import button or dropped on the page, IDX data by
// file picker, URL or drop (one or two files: images and optional labels), and downloads.

const $ = (id) => document.getElementById(id);

import { fetchChecked, readChecked } from './file-checks.js';

const isIdx = (f) => /idx\d|ubyte/i.test(f.name);
/** How long a download of the user's data may take before it is given up. */
const URL_TIMEOUT_MS = 120000;

/**
 * Wire the import and data controls and drag and drop.
 * `onCheckpoint(file)`, `onData(images, labels, name)`, `onError(bannerId, message)`,
 * `currentDataName()` for messages.
 */
export function wireFiles({ onCheckpoint, onData, onError, currentDataName }) {
  /** Images (and labels) checked (www/page/file-checks.js) before they are read into memory. */
  const readBoth = async (images, labels) => {
    let file = images;
    try {
      const ib = await readChecked(images, 'images');
      file = labels;
      const lb = labels ? await readChecked(labels, 'labels') : undefined;
      onData(ib, lb, images.name);
    } catch (e) {
      onError('data', `Could not read ${file.name}: ${e.message}. Still using ${currentDataName()}.`);
    }
  };
  $('import-file').addEventListener('change', (ev) => {
    const f = ev.target.files[0];
    ev.target.value = '';
    if (f) onCheckpoint(f);
  });

  $('data-load-files').addEventListener('click', async () => {
    const fi = $('data-images').files[0];
    const fl = $('data-labels').files[0];
    if (!fi) {
      onError('data', 'Choose an images file (IDX, e.g. train-images-idx3-ubyte or .gz) first.');
      return;
    }
    readBoth(fi, fl);
  });

  $('data-load-url').addEventListener('click', async () => {
    const iu = $('data-images-url').value.trim();
    const lu = $('data-labels-url').value.trim();
    if (!iu) {
      onError('data', 'Enter the URL of an images file first.');
      return;
    }
    // One download at a time, with its progress, given up after URL_TIMEOUT_MS or on Cancel.
    const button = $('data-load-url');
    const cancel = $('data-cancel-url');
    const status = $('data-status');
    const before = status.textContent;
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no complete answer within ${URL_TIMEOUT_MS / 1000} s`)), URL_TIMEOUT_MS);
    const cancelled = new Error('cancelled');
    cancel.onclick = () => controller.abort(cancelled);
    cancel.hidden = false;
    const progress = (what) => (bytes) => (status.textContent = `Downloading ${what}: ${(bytes / 1e6).toFixed(1)} MB…`);
    try {
      status.textContent = `Downloading ${iu}…`;
      const images = await fetchChecked(iu, 'images', fetch, { signal: controller.signal, onProgress: progress('the images') });
      const labels = lu ? await fetchChecked(lu, 'labels', fetch, { signal: controller.signal, onProgress: progress('the labels') }) : undefined;
      status.textContent = before;
      onData(images, labels, iu.split('/').pop() || iu);
    } catch (e) {
      status.textContent = before;
      if (controller.signal.reason === cancelled) status.textContent = `Download cancelled. ${before}`;
      else onError('data', `${e.message}. Still using ${currentDataName()}.`);
    } finally {
      clearTimeout(timer);
      cancel.hidden = true;
      cancel.onclick = null;
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  });

  // Drag and drop: a checkpoint, or one/two IDX files.
  let dragDepth = 0;
  window.addEventListener('dragenter', (ev) => {
    if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
    dragDepth++;
    $('drop-overlay').hidden = false;
  });
  window.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) $('drop-overlay').hidden = true;
  });
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    dragDepth = 0;
    $('drop-overlay').hidden = true;
    const files = [...(ev.dataTransfer?.files || [])];
    if (!files.length) return;
    if (files.length === 1 && !isIdx(files[0])) {
      onCheckpoint(files[0]);
      return;
    }
    const img = files.find((f) => /idx3|images/i.test(f.name)) || files[0];
    const lbl = files.find((f) => f !== img && /idx1|labels/i.test(f.name));
    readBoth(img, lbl);
  });
}

/** Save checkpoint bytes as a file download (`name`). */
export function downloadFile(bytes, name) {
  const blob = new Blob([bytes], { type: 'application/octet-stream' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60000);
}
