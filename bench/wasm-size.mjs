#!/usr/bin/env node
// Where the wasm module's code comes from: the size of every function body, summed by the crate
// its (mangled) name starts with, read from the name section of the module cargo builds (the
// bindgen tool drops that section from the module the page ships; function bodies are the same).
//
//   bash scripts/build-web.sh
//   node bench/wasm-size.mjs [--wasm target/wasm32-unknown-unknown/release/denoise_lab.wasm]
//                            [--top 25] [--markdown docs/performance.md [--block wasm-crates]]
//
// A generic function is counted under the crate that defines it, whichever crate instantiated
// it; `<T as Trait>::f` under T's crate. Sizes are of the uncompressed code section.

import fs from 'node:fs';
import { writeBlock, commandLine } from '../scripts/md-table.mjs';

function args() {
  const o = { wasm: 'target/wasm32-unknown-unknown/release/denoise_lab.wasm', top: 25, markdown: null, block: 'wasm-crates' };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => a[++i];
    if (a[i] === '--wasm') o.wasm = v();
    else if (a[i] === '--top') o.top = Number(v());
    else if (a[i] === '--markdown') o.markdown = v();
    else if (a[i] === '--block') o.block = v();
    else throw new Error(`wasm-size: unknown argument ${a[i]}`);
  }
  return o;
}

/** Function body sizes, function names (by index) and the number of imported functions. */
export function parseModule(buf) {
  let p = 8;
  const leb = () => {
    let r = 0;
    let s = 0;
    let b;
    do {
      b = buf[p++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  const skipLimits = () => {
    const flags = buf[p++];
    leb();
    if (flags & 1) leb();
  };
  let imported = 0;
  const bodies = [];
  const names = new Map();
  while (p < buf.length) {
    const id = buf[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        p += leb(); // module
        p += leb(); // field
        const kind = buf[p++];
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          p++;
          skipLimits();
        } else if (kind === 2) skipLimits();
        else if (kind === 3) p += 2;
        else if (kind === 4) {
          p++;
          leb();
        }
      }
    } else if (id === 10) {
      for (let n = leb(); n > 0; n--) {
        const len = leb();
        bodies.push(len);
        p += len;
      }
    } else if (id === 0) {
      const len = leb();
      const name = buf.subarray(p, p + len).toString();
      p += len;
      if (name === 'name') {
        while (p < end) {
          const sub = buf[p++];
          const subSize = leb();
          const subEnd = p + subSize;
          if (sub === 1) {
            for (let n = leb(); n > 0; n--) {
              const index = leb();
              const l = leb();
              names.set(index, buf.subarray(p, p + l).toString());
              p += l;
            }
          }
          p = subEnd;
        }
      }
    }
    p = end;
  }
  return { bodies, names, imported };
}

/** The crate a legacy-mangled Rust symbol belongs to (`_ZN9burn_flex3ops...` → burn_flex). */
export function crateOf(name) {
  if (!name) return '(unnamed)';
  const m = /^_ZN(\d+)/.exec(name);
  if (!m) return name.startsWith('__wbindgen') || name.startsWith('__wbg') ? '(wasm-bindgen glue)' : '(other)';
  let first = name.slice(3 + m[1].length, 3 + m[1].length + Number(m[1]));
  // `<T as Trait>::f` and `<impl Trait for T>`: T's path, `$LT$`-escaped.
  first = first.replace(/^_?\$LT\$/, '').replace(/^(\$RF\$|mut\$u20\$|impl\$u20\$|dyn\$u20\$)+/, '');
  const crate = first.split('..')[0];
  return /^[a-z_][a-z0-9_]*$/.test(crate) ? crate : '(generic: T as Trait)';
}

const opts = args();
const buf = fs.readFileSync(opts.wasm);
const { bodies, names, imported } = parseModule(buf);
if (!names.size) throw new Error(`${opts.wasm} has no name section: measure cargo's module, not the one the bindgen tool wrote`);
const byCrate = new Map();
bodies.forEach((size, i) => {
  const c = crateOf(names.get(imported + i));
  const e = byCrate.get(c) || { bytes: 0, functions: 0 };
  e.bytes += size;
  e.functions++;
  byCrate.set(c, e);
});
const total = bodies.reduce((s, b) => s + b, 0);
const rows = [...byCrate].sort((a, b) => b[1].bytes - a[1].bytes);
const shown = rows.slice(0, opts.top);
const rest = rows.slice(opts.top).reduce((s, [, e]) => ({ bytes: s.bytes + e.bytes, functions: s.functions + e.functions }), { bytes: 0, functions: 0 });
const mb = (b) => (b / 1e6).toFixed(2);
const table = [
  `Code section: ${mb(total)} MB in ${bodies.length} functions (module ${mb(buf.length)} MB with its name section).`,
  '',
  '| crate | code (MB) | share | functions |',
  '| --- | ---: | ---: | ---: |',
  ...shown.map(([c, e]) => `| ${c} | ${mb(e.bytes)} | ${((100 * e.bytes) / total).toFixed(1)} % | ${e.functions} |`),
  `| ${rows.length - shown.length} other crates | ${mb(rest.bytes)} | ${((100 * rest.bytes) / total).toFixed(1)} % | ${rest.functions} |`,
];
console.log(table.join('\n'));
if (opts.markdown) {
  writeBlock(opts.markdown, opts.block, table.join('\n'), { command: commandLine(['node', 'bench/wasm-size.mjs', ...process.argv.slice(2)]) });
  console.log(`(written to ${opts.markdown}, block ${opts.block})`);
}
