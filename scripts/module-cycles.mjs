// The library's module graph, read from its sources, and a check that it has no cycle: module A
// depends on module B when code in A (src/A.rs or src/A/...) names `crate::B`, in a `use` line or
// inline, tests included. Comments are left out. A cycle means two modules that cannot be read,
// tested or changed one without the other; the test command's lint phase runs this.
//
//   node scripts/module-cycles.mjs          # exit 1 and the cycle when there is one
//   node scripts/module-cycles.mjs --graph  # also print each module's dependencies
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** Every .rs file under `dir`, except src/bin/ (the CLI is a crate of its own). */
function rustFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return p === path.join(SRC, 'bin') ? [] : rustFiles(p);
    return e.name.endsWith('.rs') ? [p] : [];
  });
}

/** The top-level module a file belongs to: src/metrics.rs and src/metrics/x.rs are `metrics`. */
const moduleOf = (file) => path.relative(SRC, file).split(path.sep)[0].replace(/\.rs$/, '');

/** Source without comments (`//` to the end of the line, outside string literals; block comments). */
function code(text) {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2);
      if (i < 0) break;
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/** Module -> the set of modules it names with `crate::`. */
export function moduleGraph() {
  const graph = new Map();
  for (const file of rustFiles(SRC)) {
    const from = moduleOf(file);
    if (from === 'lib') continue; // declares the modules, depends on none
    const deps = graph.get(from) ?? new Set();
    const text = code(fs.readFileSync(file, 'utf8'));
    const names = [...text.matchAll(/\bcrate::(\{[^}]*\}|\w+)/g)].flatMap((m) =>
      m[1].startsWith('{') ? [...m[1].matchAll(/(?:^|[{,])\s*(\w+)/g)].map((n) => n[1]) : [m[1]],
    );
    for (const to of names) if (to !== from && /^[a-z_][a-z0-9_]*$/.test(to)) deps.add(to);
    graph.set(from, deps);
  }
  // Names re-exported by lib.rs (`crate::Error`, `crate::Schedule`) are types, not modules.
  for (const deps of graph.values()) for (const d of [...deps]) if (!graph.has(d)) deps.delete(d);
  return graph;
}

/** One cycle of the graph as a list of modules (first = last), or null. */
export function findCycle(graph) {
  const state = new Map(); // undefined: unseen, 1: on the path, 2: done
  const stack = [];
  const visit = (m) => {
    state.set(m, 1);
    stack.push(m);
    for (const d of [...(graph.get(m) ?? [])].sort()) {
      if (state.get(d) === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(m, 2);
    return null;
  };
  for (const m of [...graph.keys()].sort()) {
    if (!state.has(m)) {
      const c = visit(m);
      if (c) return c;
    }
  }
  return null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const graph = moduleGraph();
  if (process.argv.includes('--graph')) {
    for (const [m, deps] of [...graph].sort()) console.log(`${m} -> ${[...deps].sort().join(', ')}`);
  }
  const cycle = findCycle(graph);
  if (cycle) {
    console.error(`module-cycles: src/ has an import cycle: ${cycle.join(' -> ')}`);
    process.exit(1);
  }
  console.log(`module-cycles: no cycle among the ${graph.size} modules of src/`);
}
