// Training data in the worker: the bundled digits (downloaded once) and the user's IDX files,
// validated by the core before anything uses them.

import { errorText } from './errors.js';

const BUNDLED = {
  name: 'bundled MNIST (10k digits)',
  images: new URL('../data/mnist-10k-images-idx3-ubyte.gz', import.meta.url).href,
  labels: new URL('../data/mnist-10k-labels-idx1-ubyte.gz', import.meta.url).href,
};

/** The bytes at `url`; a failure says what was being downloaded. */
export async function fetchBytes(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not download ${what} (${url}): ${errorText(e)}`, { cause: e });
  }
  if (!res.ok) throw new Error(`could not download ${what} (${url}): HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * A data set the worker trains on: `{images, labels, name, digits, n, h, w}` (`digits`: the bundled
 * MNIST digits, which the metrics' digit classifier was trained on; false for the user's data). `parseDataset` (the core)
 * checks the IDX bytes and gives the shape; it throws an error of kind "data" for a bad file.
 */
export function dataset(wasm, { images, labels, name, digits = false }) {
  return { images, labels: labels || undefined, name, digits, ...wasm.parseDataset(images, labels || undefined) };
}

/** The bundled MNIST digits (the labels are optional: without them only the class metrics go). */
export async function loadBundled(wasm) {
  const [images, labels] = await Promise.all([
    fetchBytes(BUNDLED.images, 'the bundled MNIST images'),
    fetchBytes(BUNDLED.labels, 'the bundled MNIST labels').catch(() => undefined),
  ]);
  // `digits`: the classifier-based metrics (trained on MNIST digits) mean something for this data.
  return dataset(wasm, { images, labels, name: BUNDLED.name, digits: true });
}
