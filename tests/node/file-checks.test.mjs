// The page's checks of a file before it is read into the wasm (www/page/file-checks.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchChecked, fileProblem, readChecked } from '../../www/page/file-checks.js';
import { FILES } from '../../www/shared/limits.js';

const idxImages = [0, 0, 8, 3, 0, 0, 0, 1];
const idxLabels = [0, 0, 8, 1, 0, 0, 0, 1];

test('IDX files: the right magic (or gzip) passes, anything else is named', () => {
  assert.equal(fileProblem('images', 100, idxImages), null);
  assert.equal(fileProblem('labels', 100, idxLabels), null);
  assert.equal(fileProblem('images', 100, [0x1f, 0x8b, 8, 0]), null, 'gzipped: the core checks inside');
  assert.equal(fileProblem('images', 100, idxLabels), 'it is an IDX label file, not images');
  assert.equal(fileProblem('labels', 100, idxImages), 'it is an IDX image file, not labels');
  assert.match(fileProblem('images', 100, [0x89, 0x50, 0x4e, 0x47]), /not an IDX image file/);
  assert.equal(fileProblem('images', 0, []), 'it is empty');
});

test('sizes: a file larger than the core could accept is refused before it is read', () => {
  assert.equal(FILES.idxMaxBytes, (64 << 20) + (1 << 20), 'the core: 64 Mi pixels, plus headers');
  assert.match(fileProblem('images', FILES.idxMaxBytes + 1, idxImages), /^it is 65 MiB; the page reads at most 65 MiB for an IDX file$/);
  assert.match(fileProblem('checkpoint', 600 << 20, FILES.checkpointMagic), /at most 256 MiB for a checkpoint/);
});

test('checkpoints start with the core header; readChecked reads only the head of a bad file', async () => {
  assert.equal(fileProblem('checkpoint', 100, FILES.checkpointMagic), null);
  assert.equal(fileProblem('checkpoint', 100, [...'not a checkpoint'].map((c) => c.charCodeAt(0))), 'it does not start with the checkpoint header');
  // A Blob whose whole body would throw if read: only its first bytes are.
  const head = new Blob([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])]);
  const fake = { name: 'x.ckpt', size: 10, slice: (a, b) => head.slice(a, b), arrayBuffer: () => Promise.reject(new Error('read the whole file')) };
  await assert.rejects(readChecked(fake, 'checkpoint'), /does not start with the checkpoint header/);
  const good = new Blob([new Uint8Array([...FILES.checkpointMagic, 9, 9])]);
  assert.equal((await readChecked(good, 'checkpoint')).length, 10);
});

test('data by URL: the same checks, a declared or streamed size over the limit and a wrong head stop the download', async () => {
  // A fake server: `body` in chunks, `declared` as Content-Length; counts the chunks read.
  const serve = (chunks, declared) => {
    const read = { n: 0 };
    const fetchImpl = async () => {
      let i = 0;
      const body = new ReadableStream({
        pull(c) {
          if (i < chunks.length) (read.n++, c.enqueue(new Uint8Array(chunks[i++])));
          else c.close();
        },
      }, { highWaterMark: 0 }); // a chunk is produced only when read
      return new Response(body, { headers: declared == null ? {} : { 'content-length': String(declared) } });
    };
    return { fetchImpl, read };
  };
  const ok = serve([idxImages, [1, 2, 3]]);
  assert.deepEqual([...(await fetchChecked('u', 'images', ok.fetchImpl))], [...idxImages, 1, 2, 3]);
  const declared = serve([idxImages], FILES.idxMaxBytes + 1);
  await assert.rejects(fetchChecked('u', 'images', declared.fetchImpl), /could not use u: it is 65 MiB; the page reads at most 65 MiB/);
  assert.equal(declared.read.n, 0, 'refused on its declared size, before any byte');
  const png = serve([[0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0], [1], [2], [3]]);
  await assert.rejects(fetchChecked('u', 'images', png.fetchImpl), /not an IDX image file/);
  assert.equal(png.read.n, 1, 'dropped after its first bytes');
  const big = Array.from({ length: 9 }, (_, i) => (i === 0 ? Uint8Array.from({ length: 8 << 20 }, (_, j) => idxImages[j] ?? 0) : new Uint8Array(8 << 20)));
  const streamed = serve(big); // no Content-Length: 72 MiB in 9 chunks
  await assert.rejects(fetchChecked('u', 'images', streamed.fetchImpl), /the page reads at most 65 MiB/);
  assert.equal(streamed.read.n, 9, 'stopped at the chunk that passed the limit');
  await assert.rejects(fetchChecked('u', 'labels', serve([]).fetchImpl), /it is empty/);
  const missing = async () => new Response('no', { status: 404 });
  await assert.rejects(fetchChecked('u', 'images', missing), /HTTP 404/);
});
