// What the page checks of a file before reading it into the wasm: its size and its first bytes
// (the core checks everything again; this only keeps a wrong or huge file out of memory and gives
// the message at once). Pure: tested by `node --test tests/node/`.

import { FILES } from './limits.js';

const GZIP = [0x1f, 0x8b];
const IDX_IMAGES = [0x00, 0x00, 0x08, 0x03];
const IDX_LABELS = [0x00, 0x00, 0x08, 0x01];
const startsWith = (head, magic) => magic.every((b, i) => head[i] === b);
const mib = (n) => `${(n / 2 ** 20).toFixed(0)} MiB`;

/**
 * Why a file of `size` bytes starting with `head` (its first bytes) cannot be `kind`
 * ('checkpoint', 'images' or 'labels'), or null if it may be.
 */
export function fileProblem(kind, size, head) {
  const max = kind === 'checkpoint' ? FILES.checkpointMaxBytes : FILES.idxMaxBytes;
  if (size > max) return `it is ${mib(size)}; the page reads at most ${mib(max)} for ${kind === 'checkpoint' ? 'a checkpoint' : 'an IDX file'}`;
  if (size === 0) return 'it is empty';
  if (kind === 'checkpoint') {
    return startsWith(head, FILES.checkpointMagic) ? null : 'it does not start with the checkpoint header';
  }
  if (startsWith(head, GZIP)) return null; // gzipped IDX: the core checks the header inside
  const magic = kind === 'images' ? IDX_IMAGES : IDX_LABELS;
  if (startsWith(head, magic)) return null;
  const other = kind === 'images' ? IDX_LABELS : IDX_IMAGES;
  if (startsWith(head, other)) return `it is an IDX ${kind === 'images' ? 'label' : 'image'} file, not ${kind === 'images' ? 'images' : 'labels'}`;
  return `it is not an IDX ${kind === 'images' ? 'image' : 'label'} file (gzipped or not)`;
}

/** The bytes of `file` (a File or Blob) if it passes `fileProblem`, else throws with the reason. */
export async function readChecked(file, kind) {
  const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  const problem = fileProblem(kind, file.size, head);
  if (problem) throw new Error(problem);
  return new Uint8Array(await file.arrayBuffer());
}
