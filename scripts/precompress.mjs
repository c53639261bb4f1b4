#!/usr/bin/env node
// Writes `F.br` (brotli) and `F.gz` (gzip -9) beside each text or wasm file F of a built site, for
// scripts/serve.mjs (and static hosts, docs/hosting.md) to send to clients that accept them.
// Node's own zlib: no dependency.
//
//   node scripts/precompress.mjs DIR [--quality 0-11] [--lgwin 10-24] [--min-size BYTES]
//   node scripts/precompress.mjs DIR --remove     (removes the siblings of earlier runs)
//
// Under DIR, every file ending in .wasm, .js, .mjs, .css, .html, .json, .svg, .txt or .md of at
// least --min-size bytes (default 1024) gets its siblings. A sibling is kept only when it is
// smaller than the file by at least 5 % (else a stale one is removed and the file is sent as it
// is); a sibling whose mtime is not older than its file is taken as up to date and not written
// again (so `build-web.sh --web-only` does not compress an unchanged wasm again). Prints one line
// per file (sizes, time) and the totals.
//
// Brotli: quality 11 with a 16 MiB window (--lgwin 24) and the file size as a hint; the .wasm is
// compressed in generic mode, text in text mode. docs/hosting.md ("Sizes") has the measurements
// that chose these.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export const EXTENSIONS = new Set(['.wasm', '.js', '.mjs', '.css', '.html', '.json', '.svg', '.txt', '.md']);
const TEXT = new Set(['.js', '.mjs', '.css', '.html', '.json', '.svg', '.txt', '.md']);
// A sibling must save at least this share of the file, or the file is sent as it is.
const MIN_SAVING = 0.05;

/** The brotli options for `file` of `size` bytes. */
export function brotliOptions(file, size, { quality = 11, lgwin = 24 } = {}) {
  const ext = path.extname(file).toLowerCase();
  return {
    params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
      [zlib.constants.BROTLI_PARAM_LGWIN]: lgwin,
      [zlib.constants.BROTLI_PARAM_MODE]: TEXT.has(ext) ? zlib.constants.BROTLI_MODE_TEXT : zlib.constants.BROTLI_MODE_GENERIC,
      [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
    },
  };
}

function* walk(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (entry.isFile()) yield p;
  }
}

/** The files under `dir` that get siblings. */
export function candidates(dir, minSize = 1024) {
  return [...walk(dir)].filter((f) => EXTENSIONS.has(path.extname(f).toLowerCase()) && fs.statSync(f).size >= minSize).sort();
}

// Writes `file + suffix` from `encode(bytes)` unless an up-to-date one is there. Returns
// { size, seconds, fresh } with size null when the sibling would not pay (and none is left).
async function sibling(file, bytes, st, suffix, encode) {
  const out = file + suffix;
  try {
    const o = fs.statSync(out);
    if (o.isFile() && o.mtimeMs >= st.mtimeMs) {
      return { size: o.size <= bytes.length * (1 - MIN_SAVING) ? o.size : null, seconds: 0, fresh: false };
    }
  } catch {
    // No sibling yet.
  }
  const t0 = process.hrtime.bigint();
  const packed = await encode(bytes);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (packed.length > bytes.length * (1 - MIN_SAVING)) {
    fs.rmSync(out, { force: true });
    return { size: null, seconds, fresh: true };
  }
  // Written beside, then renamed: a server never sends a half-written sibling.
  fs.writeFileSync(`${out}.tmp`, packed);
  fs.renameSync(`${out}.tmp`, out);
  return { size: packed.length, seconds, fresh: true };
}

/** Precompresses every candidate under `dir`; returns one row per file. */
export async function precompress(dir, { quality = 11, lgwin = 24, minSize = 1024 } = {}) {
  const rows = [];
  for (const file of candidates(dir, minSize)) {
    const st = fs.statSync(file);
    const bytes = fs.readFileSync(file);
    // The two codings of one file run at once (libuv's thread pool): on 2 cores the wasm's brotli
    // takes the time, its gzip runs beside it.
    const [br, gz] = await Promise.all([
      sibling(file, bytes, st, '.br', (b) => brotli(b, brotliOptions(file, b.length, { quality, lgwin }))),
      sibling(file, bytes, st, '.gz', (b) => gzip(b, { level: 9, memLevel: 9 })),
    ]);
    rows.push({ file: path.relative(dir, file), raw: bytes.length, br, gz });
  }
  return rows;
}

/** Removes the siblings of every file that could have them; returns how many. */
export function removeSiblings(dir) {
  let n = 0;
  for (const file of candidates(dir, 0)) {
    for (const suffix of ['.br', '.gz']) {
      if (fs.existsSync(file + suffix)) {
        fs.rmSync(file + suffix);
        n++;
      }
    }
  }
  return n;
}

const kib = (n) => (n === null ? '-' : `${(n / 1024).toFixed(0)} KiB`);
const mb = (n) => (n === null ? '-' : `${(n / 1e6).toFixed(2)} MB`);

/**
 * The rows as a Markdown table: one line per file of 50 KiB or more, one for the smaller ones
 * together, one for the total (a file without a sibling counts with its raw size there).
 */
export function table(rows) {
  const big = rows.filter((r) => r.raw >= 50 * 1024);
  const small = rows.filter((r) => r.raw < 50 * 1024);
  const sum = (list, pick) => list.reduce((s, r) => s + (pick(r) ?? r.raw), 0);
  const time = (list) => {
    const fresh = list.filter((r) => r.br.fresh || r.gz.fresh);
    if (fresh.length === 0) return 'kept';
    return `${fresh.reduce((s, r) => s + Math.max(r.br.seconds, r.gz.seconds), 0).toFixed(1)} s`;
  };
  const line = (name, list, size) =>
    `| ${name} | ${size(sum(list, (r) => r.raw))} | ${size(sum(list, (r) => r.gz.size))} | ${size(sum(list, (r) => r.br.size))} | ${time(list)} |`;
  const lines = ['| file | raw | gzip -9 | brotli | time |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const r of big) lines.push(line(r.file, [r], r.raw > 1e6 ? mb : kib));
  if (small.length) lines.push(line(`${small.length} files under 50 KiB`, small, kib));
  lines.push(line('**total**', rows, mb));
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opts = {};
  let dir = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = (lo, hi) => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < lo || v > hi) {
        console.error(`precompress: ${a} needs an integer ${lo}..${hi}`);
        process.exit(2);
      }
      return v;
    };
    if (a === '--quality') opts.quality = num(0, 11);
    else if (a === '--lgwin') opts.lgwin = num(10, 24);
    else if (a === '--min-size') opts.minSize = num(0, 2 ** 31);
    else if (a === '--remove') opts.remove = true;
    else if (dir === null && !a.startsWith('-')) dir = a;
    else {
      console.error(`usage: node scripts/precompress.mjs DIR [--quality 0-11] [--lgwin 10-24] [--min-size BYTES] [--remove]`);
      process.exit(2);
    }
  }
  if (dir === null || !fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    console.error(`precompress: ${dir ?? '(no folder given)'} is not a folder`);
    process.exit(2);
  }
  if (opts.remove) {
    console.log(`precompress: removed ${removeSiblings(dir)} .br/.gz siblings under ${dir}`);
    process.exit(0);
  }
  const t0 = Date.now();
  const rows = await precompress(dir, opts);
  console.log(table(rows));
  console.log(`precompress: ${rows.length} files under ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
