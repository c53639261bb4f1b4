// The page's modules (www/page/*.js) as source text, without a browser: every field of the test
// handle `window.denoiseLab` is declared in www/page/lab.js, and the modules' imports have no cycle
// (the dependencies between them are the ones their imports show).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'www', 'page');
const pageFiles = () => fs.readdirSync(PAGE).filter((f) => f.endsWith('.js')).sort();
const source = (file) => fs.readFileSync(path.join(PAGE, file), 'utf8');

/** The fields createLab returns (www/page/lab.js): `{name: the line's comment, or null}`. */
function declaredLabFields(text) {
  const body = text.match(/export function createLab\([^)]*\)\s*\{\s*return \{\n([\s\S]*?)\n\s*\};\n\}/);
  assert.ok(body, 'www/page/lab.js: createLab returns one object literal');
  const fields = {};
  for (const line of body[1].split('\n')) {
    const m = line.match(/^\s*([A-Za-z_$][\w$]*)\s*[:,]/);
    if (!m) continue;
    const comment = line.match(/\/\/\s*(\S.*)$/);
    fields[m[1]] = comment ? comment[1] : null;
  }
  return fields;
}

/**
 * The fields of `lab` that `text` sets, with their lines: `lab.x = ...` (and `+=`, `??=`, `++`,
 * `--`, also as `this.lab.x` or `window.denoiseLab.x`), `Object.assign(lab, {x, ...})`; `lab[...]`
 * written by a computed name is reported as `[computed]`, since it cannot be checked.
 */
function labFieldsSet(text) {
  const found = [];
  const lines = text.split('\n');
  const lab = String.raw`\b(?:lab|denoiseLab)`;
  // An assignment (=, +=, ??=, ...; not ==, ===, =>) or an increment after the field.
  const op = String.raw`\s*(?:=(?![=>])|\+\+|--|(?:\*\*|<<|>>>?|[-+*/%&|^]|&&|\|\||\?\?)=)`;
  const assign = new RegExp(String.raw`${lab}\.([A-Za-z_$][\w$]*)${op}`, 'g');
  const prefix = new RegExp(String.raw`(?:\+\+|--)\s*${lab}\.([A-Za-z_$][\w$]*)`, 'g');
  const computed = new RegExp(String.raw`${lab}\[[^\]]*\]${op}`, 'g');
  lines.forEach((line, i) => {
    for (const re of [assign, prefix]) for (const m of line.matchAll(re)) found.push({ field: m[1], line: i + 1 });
    for (const m of line.matchAll(computed)) found.push({ field: `[computed] ${m[0]}`, line: i + 1 });
  });
  // Object.assign(lab, {a: ..., b, ...}): the keys at the object's top level.
  for (const m of text.matchAll(new RegExp(String.raw`Object\.assign\(\s*${lab}\s*,\s*\{`, 'g'))) {
    let depth = 1;
    let j = m.index + m[0].length;
    let top = '';
    for (; j < text.length && depth > 0; j++) {
      const c = text[j];
      if ('{[('.includes(c)) depth++;
      else if ('}])'.includes(c)) depth--;
      if (depth === 1 && !'{[('.includes(c)) top += c;
      else if (depth === 1) top += ' ';
    }
    const line = text.slice(0, m.index).split('\n').length;
    for (const part of top.split(',')) {
      const key = part.match(/^\s*([A-Za-z_$][\w$]*)\s*(?::|$)/);
      if (key) found.push({ field: key[1], line });
      else if (part.trim()) found.push({ field: `[computed] ${part.trim()}`, line });
    }
  }
  return found;
}

test('every field of the test handle is declared in www/page/lab.js, with a comment', () => {
  const declared = declaredLabFields(source('lab.js'));
  assert.ok(Object.keys(declared).length > 40, `lab.js declares ${Object.keys(declared).length} fields`);
  const uncommented = Object.keys(declared).filter((f) => !declared[f]);
  assert.deepEqual(uncommented, [], 'each field in lab.js has a one-line comment');
  const undeclared = [];
  let seen = 0;
  for (const file of pageFiles()) {
    for (const { field, line } of labFieldsSet(source(file))) {
      seen++;
      if (!Object.hasOwn(declared, field)) undeclared.push(`www/page/${file}:${line}: lab.${field}`);
    }
  }
  assert.ok(seen > 40, `the page's modules set ${seen} fields of lab`);
  assert.deepEqual(undeclared, [], 'fields set on lab that www/page/lab.js does not declare');
});

test('the check finds a field that lab.js does not declare, however it is set', () => {
  const set = (text) => labFieldsSet(text).map((f) => f.field);
  assert.deepEqual(set('lab.extra = 1;'), ['extra']);
  assert.deepEqual(set('this.lab.extra ??= [];'), ['extra']);
  assert.deepEqual(set('lab.extra++; --lab.other;'), ['extra', 'other']);
  assert.deepEqual(set('lab.extra += 2; window.denoiseLab.other = 3;'), ['extra', 'other']);
  assert.deepEqual(set('Object.assign(lab, { extra: f(a, b), other, third: { x: 1 } });'), ['extra', 'other', 'third']);
  assert.deepEqual(set('lab[name] = 1;'), ['[computed] lab[name] =']);
  // Reading a field, comparing it or calling through it sets nothing.
  assert.deepEqual(set('if (lab.step === 3 && lab.ready) lab.errors.push(x); const f = (lab) => lab.step >= 2;'), []);
  assert.deepEqual(set('if (lab[k] === v || lab.step != 1 || lab.step <= 2) g();'), []);
  assert.equal(declaredLabFields(source('lab.js')).extra, undefined);
});

/** The static imports of a page module, resolved to paths relative to www/. */
function imports(file) {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*import\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/gm)].map((m) => path.resolve(path.dirname(file), m[1]));
}

test("the page's modules import each other without a cycle", () => {
  const graph = new Map();
  const visit = (file) => {
    if (graph.has(file)) return;
    const deps = imports(file).filter((d) => d.endsWith('.js') && fs.existsSync(d));
    graph.set(file, deps);
    deps.forEach(visit);
  };
  for (const f of pageFiles()) visit(path.join(PAGE, f));
  assert.ok(graph.size >= pageFiles().length);
  const state = new Map(); // file -> 'open' | 'done'
  const cycles = [];
  const walk = (file, trail) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(PAGE, f)).join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const d of graph.get(file)) walk(d, [...trail, file]);
    state.set(file, 'done');
  };
  for (const f of graph.keys()) walk(f, []);
  assert.deepEqual(cycles, [], 'import cycles among www/page/*.js');
  // The composition imports the modules it wires; nothing imports it.
  const app = path.join(PAGE, 'app.js');
  assert.deepEqual([...graph].filter(([, deps]) => deps.includes(app)).map(([f]) => f), []);
});
