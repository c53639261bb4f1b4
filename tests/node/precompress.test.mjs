// scripts/precompress.mjs: the .br/.gz siblings the page build writes (docs/hosting.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { precompress, removeSiblings, table } from '../../scripts/precompress.mjs';

function site() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precompress-'));
  const text = Array.from({ length: 3000 }, (_, i) => `export const v${i} = ${(i * 7919) % 104729};`).join('\n');
  fs.mkdirSync(path.join(dir, 'pkg'));
  fs.writeFileSync(path.join(dir, 'pkg', 'core.wasm'), Buffer.concat([Buffer.from('\0asm\x01\0\0\0'), Buffer.from(text)]));
  fs.writeFileSync(path.join(dir, 'app.js'), text);
  fs.writeFileSync(path.join(dir, 'tiny.css'), 'body{}'); // under the minimum size
  fs.writeFileSync(path.join(dir, 'noise.js'), crypto.randomBytes(64 * 1024)); // does not compress
  fs.writeFileSync(path.join(dir, 'digits-idx3-ubyte.gz'), zlib.gzipSync(text)); // compressed already
  fs.writeFileSync(path.join(dir, 'image.png'), text); // not a type that gets siblings
  return dir;
}

test('writes .br and .gz that decode to the file, only where they pay', async (t) => {
  const dir = site();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rows = await precompress(dir, { quality: 5 });
  assert.deepEqual(rows.map((r) => r.file).sort(), ['app.js', 'noise.js', path.join('pkg', 'core.wasm')]);
  for (const f of ['app.js', path.join('pkg', 'core.wasm')]) {
    const raw = fs.readFileSync(path.join(dir, f));
    const br = fs.readFileSync(path.join(dir, `${f}.br`));
    const gz = fs.readFileSync(path.join(dir, `${f}.gz`));
    assert.ok(zlib.brotliDecompressSync(br).equals(raw), `${f}.br decodes to ${f}`);
    assert.ok(zlib.gunzipSync(gz).equals(raw), `${f}.gz decodes to ${f}`);
    assert.ok(br.length < raw.length / 2 && gz.length < raw.length / 2, `${f} compresses`);
    const row = rows.find((r) => r.file === f);
    assert.equal(row.br.size, br.length);
    assert.equal(row.gz.size, gz.length);
    // Not older than the file: scripts/serve.mjs sends it.
    assert.ok(fs.statSync(path.join(dir, `${f}.br`)).mtimeMs >= fs.statSync(path.join(dir, f)).mtimeMs);
  }
  // Random bytes: no sibling (it would not be smaller), and the row says so.
  assert.equal(fs.existsSync(path.join(dir, 'noise.js.br')), false);
  assert.equal(fs.existsSync(path.join(dir, 'noise.js.gz')), false);
  assert.equal(rows.find((r) => r.file === 'noise.js').br.size, null);
  for (const f of ['tiny.css', 'digits-idx3-ubyte.gz', 'image.png']) {
    assert.equal(fs.existsSync(path.join(dir, `${f}.br`)), false, `no ${f}.br`);
    assert.equal(fs.existsSync(path.join(dir, `${f}.gz`)), false, `no ${f}.gz`);
  }
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temporary files left');
  const md = table(rows);
  assert.match(md, /^\| file \| raw \| gzip -9 \| brotli \| time \|/);
  assert.match(md, /\| \*\*total\*\* \|/);
});

test('an up-to-date sibling is kept, a stale one is written again, --remove removes them', async (t) => {
  const dir = site();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  await precompress(dir, { quality: 5 });
  const app = path.join(dir, 'app.js');
  const again = await precompress(dir, { quality: 5 });
  assert.equal(again.find((r) => r.file === 'app.js').br.fresh, false, 'kept: not older than the file');
  assert.match(table(again), /\| kept \|/);
  // The file changes (a rebuild): its siblings are stale and written again from the new content.
  const changed = `${fs.readFileSync(app, 'utf8')}\nexport const changed = true;\n`.repeat(2);
  fs.writeFileSync(app, changed);
  const future = new Date(Date.now() + 5000);
  fs.utimesSync(app, future, future);
  const rows = await precompress(dir, { quality: 5 });
  assert.equal(rows.find((r) => r.file === 'app.js').br.fresh, true);
  assert.equal(zlib.brotliDecompressSync(fs.readFileSync(`${app}.br`)).toString(), changed);
  assert.equal(zlib.gunzipSync(fs.readFileSync(`${app}.gz`)).toString(), changed);
  assert.equal(removeSiblings(dir), 4);
  assert.equal(fs.existsSync(`${app}.br`), false);
  assert.ok(fs.existsSync(path.join(dir, 'digits-idx3-ubyte.gz')), 'data that is gzip itself stays');
});
