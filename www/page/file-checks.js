// What the page checks of a file before reading it into the wasm: its size and its first bytes
// (the core checks everything again; this only keeps a wrong or huge file out of memory and gives
// the message at once). Pure: tested by `node --test tests/node/`.

import { FILES } from '../shared/limits.js';

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
  return sizeProblem(kind, size) ?? headProblem(kind, head);
}

const maxBytes = (kind) => (kind === 'checkpoint' ? FILES.checkpointMaxBytes : FILES.idxMaxBytes);

function sizeProblem(kind, size) {
  const max = maxBytes(kind);
  if (size > max) return `it is ${mib(size)}; the page reads at most ${mib(max)} for ${kind === 'checkpoint' ? 'a checkpoint' : 'an IDX file'}`;
  return null;
}

function headProblem(kind, head) {
  if (head.length === 0) return 'it is empty';
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

/**
 * The bytes at `url` if they pass `fileProblem` as `kind`, else throws with the reason. A
 * declared size over the limit is refused before the download; the body is read in chunks and
 * dropped as soon as it passes the limit or its first bytes are not `kind`. `fetchImpl`: for tests.
 */
export async function fetchChecked(url, kind, fetchImpl = fetch, { signal, onProgress } = {}) {
  let res;
  try {
    res = await fetchImpl(url, signal ? { signal } : undefined);
  } catch (e) {
    if (signal?.aborted) throw new Error(`could not download ${url}: ${signal.reason?.message || 'stopped'}`, { cause: e });
    throw new Error(`could not download ${url} (${e.message}; the server must allow cross-origin requests)`, { cause: e });
  }
  if (!res.ok) throw new Error(`could not download ${url}: HTTP ${res.status}`);
  const refuse = (problem) => new Error(`could not use ${url}: ${problem}`);
  const declared = sizeProblem(kind, Number(res.headers.get('content-length')) || 0);
  if (declared) throw refuse(declared);
  const chunks = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const headBefore = size >= 8;
    chunks.push(value);
    size += value.length;
    onProgress?.(size);
    const problem = sizeProblem(kind, size) ?? (!headBefore && size >= 8 ? headProblem(kind, concat(chunks, size).subarray(0, 8)) : null);
    if (problem) {
      await reader.cancel().catch(() => {});
      throw refuse(problem);
    }
  }
  const bytes = concat(chunks, size);
  const problem = headProblem(kind, bytes.subarray(0, 8));
  if (problem) throw refuse(problem);
  return bytes;
}

function concat(chunks, size) {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
