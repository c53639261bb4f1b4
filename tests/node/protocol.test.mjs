// The messages between the page and the worker (www/shared/protocol.js) against the sources that
// send and handle them, read statically: every type the worker posts (www/worker/) and the page
// handles (www/page/messages.js) is in TO_PAGE and the other way round; every type the page
// sends (www/page/, and the tests' and benchmarks' `denoiseLab.command`) and the worker handles
// (www/worker/worker.js) is in TO_WORKER and the other way round; every field of a message
// written as an object literal is listed, and every field listed without `?` is there. The
// checker is also run on altered sources, to show that it fails on what it must catch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FROM_DRAWER, TO_DRAWER, TO_PAGE, TO_WORKER } from '../../www/shared/protocol.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// --- a small reader of JavaScript source --------------------------------------------------------

/**
 * What each character of `src` is: 'c' code, 's' inside a string or template literal (the `${`
 * and `}` of a template's expression included; the expression itself is code), 'r' a regular
 * expression literal, 'm' a comment.
 */
function classify(src) {
  const kind = new Array(src.length).fill('c');
  const templates = []; // brace depth at which each open template expression closes
  let depth = 0;
  let prev = ''; // the last significant code character
  let i = 0;
  const mark = (from, to, k) => kind.fill(k, from, to);
  // From inside a template literal at `i`: to its end or to the start of an expression.
  const inTemplate = () => {
    const start = i;
    while (i < src.length) {
      if (src[i] === '\\') i += 2;
      else if (src[i] === '`') {
        i++;
        mark(start, i, 's');
        prev = '`';
        return;
      } else if (src[i] === '$' && src[i + 1] === '{') {
        i += 2;
        mark(start, i, 's');
        templates.push(++depth);
        prev = '{';
        return;
      } else i++;
    }
    mark(start, i, 's');
  };
  while (i < src.length) {
    const ch = src[i];
    const next = src[i + 1];
    if (ch === '/' && next === '/') {
      const end = src.indexOf('\n', i);
      const to = end < 0 ? src.length : end;
      mark(i, to, 'm');
      i = to;
    } else if (ch === '/' && next === '*') {
      const to = src.indexOf('*/', i + 2) + 2;
      mark(i, to, 'm');
      i = to;
    } else if (ch === "'" || ch === '"') {
      const start = i++;
      while (i < src.length && src[i] !== ch) i += src[i] === '\\' ? 2 : 1;
      mark(start, ++i, 's');
      prev = ch;
    } else if (ch === '`') {
      const start = i++;
      inTemplate();
      kind[start] = 's';
    } else if (ch === '/' && (prev === '' || '(,=:[!&|?{};'.includes(prev) || /\breturn\s*$/.test(src.slice(Math.max(0, i - 8), i)))) {
      const start = i++;
      let cls = false;
      while (i < src.length && (src[i] !== '/' || cls)) {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') cls = true;
        else if (src[i] === ']') cls = false;
        i++;
      }
      i++;
      while (/[a-z]/.test(src[i] || '')) i++;
      mark(start, i, 'r');
      prev = '/';
    } else {
      if (ch === '{') depth++;
      if (ch === '}') {
        if (templates.length && templates.at(-1) === depth) {
          templates.pop();
          depth--;
          const start = i++;
          inTemplate();
          kind[start] = 's';
          continue;
        }
        depth--;
      }
      if (!/\s/.test(ch)) prev = ch;
      i++;
    }
  }
  return kind;
}

/** A source file, read once: its text, what each character is, and the line of an index. */
function source(file, src = fs.readFileSync(path.join(ROOT, file), 'utf8')) {
  const kind = classify(src);
  return { file, src, kind, code: (i) => kind[i] === 'c', where: (i) => `${file}:${src.slice(0, i).split('\n').length}` };
}

/** Code matches of `re` (global) in `s`: [{index, match}]. */
function codeMatches(s, re) {
  return [...s.src.matchAll(re)].filter((m) => s.code(m.index));
}

/**
 * The object literal opening at `open` in `s`: its top-level properties ({name, value}, `value`
 * the source text after the colon, null for a method or a shorthand), whether it spreads another
 * object, and where it ends.
 */
function objectAt(s, open) {
  const { src } = s;
  const props = [];
  let spread = false;
  let depth = 0;
  let start = open + 1;
  const property = (from, to) => {
    let text = '';
    for (let i = from; i < to; i++) if (s.kind[i] !== 'm') text += src[i];
    text = text.trim();
    if (!text) return;
    if (text.startsWith('...')) {
      spread = true;
      return;
    }
    const m = /^(?:(['"])(.*?)\1|([A-Za-z_$][\w$]*))\s*(:?)/s.exec(text);
    if (!m) throw new Error(`${s.where(from)}: cannot read the property ${text}`);
    props.push({ name: m[2] ?? m[3], value: m[4] ? text.slice(m[0].length).trim() : null });
  };
  for (let i = open + 1; i < src.length; i++) {
    if (!s.code(i)) continue;
    const ch = src[i];
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) {
      if (depth === 0) {
        property(start, i);
        return { props, spread, end: i };
      }
      depth--;
    } else if (ch === ',' && depth === 0) {
      property(start, i);
      start = i + 1;
    }
  }
  throw new Error(`${s.where(open)}: the object literal does not end`);
}

const literal = (value) => /^(['"])(\w+)\1$/.exec(value ?? '')?.[2] ?? null;

/** A message written as an object literal at `open`: {type (null: not a literal), fields, spread, where}. */
function messageAt(s, open) {
  const o = objectAt(s, open);
  const type = o.props.find((p) => p.name === 'type');
  return { type: type ? literal(type.value) : null, fields: o.props.filter((p) => p.name !== 'type').map((p) => p.name), spread: o.spread, where: s.where(open) };
}

const nextCode = (s, i) => {
  while (i < s.src.length && (!s.code(i) || /\s/.test(s.src[i]))) i++;
  return i;
};

/** Calls that send to the other side without an object literal, and where they may (forwarders). */
const FORWARDERS = ['self.postMessage(msg, transfer)', 'channel.port2.postMessage(null)', 'this.worker.postMessage(msg, transfer)', 'this.post(drawn, transfer)'];

/**
 * The messages the worker posts: every `post(...)` / `postMessage(...)` call in its files (`calls`:
 * another pattern of the calls that send, as `toDrawer(`).
 */
function workerPosts(files, calls = /\b(?:post|postMessage)\(/g) {
  const posts = [];
  for (const s of files) {
    for (const m of codeMatches(s, calls)) {
      const open = nextCode(s, m.index + m[0].length);
      if (s.src[open] === '{') posts.push(messageAt(s, open));
      else {
        const line = s.src.slice(s.src.lastIndexOf('\n', m.index) + 1, s.src.indexOf('\n', m.index));
        if (!FORWARDERS.some((f) => line.includes(f))) posts.push({ type: null, fields: [], spread: false, where: s.where(m.index) });
      }
    }
  }
  return posts;
}

/**
 * The messages the page sends: every object literal in its files that starts with a `type`
 * written as a word in quotes (not the Worker constructor's options; a Blob's MIME type is not a
 * word), and the objects given to `command(...)`, the test handle's hook, in the tests and
 * benchmarks.
 */
function pageSends(pageFiles, hookFiles) {
  const sends = [];
  for (const s of pageFiles) {
    for (const m of codeMatches(s, /\{\s*type\s*:\s*(['"])\w+\1/g)) {
      const line = s.src.slice(s.src.lastIndexOf('\n', m.index) + 1, m.index);
      if (!line.includes('new Worker(')) sends.push(messageAt(s, m.index));
    }
  }
  for (const s of hookFiles) {
    for (const m of codeMatches(s, /\bcommand\(/g)) {
      const open = nextCode(s, m.index + m[0].length);
      if (s.src[open] === '{') sends.push(messageAt(s, open));
    }
  }
  return sends;
}

/** The property names of the object literal after `pattern` (a regex whose match ends at its `{`). */
function tableAfter(s, pattern) {
  const m = codeMatches(s, pattern)[0];
  if (!m) throw new Error(`${s.file}: no ${pattern}`);
  return objectAt(s, m.index + m[0].length - 1).props.map((p) => p.name);
}

/** The keys of the table `workerHandlers` (www/page/messages.js): the page's handlers. */
const pageHandlers = (s) => tableAfter(s, /export const workerHandlers = \{/g);

// --- the checker ----------------------------------------------------------------------------------

/**
 * Problems (text, empty when none) of `sources` against the protocol `{toPage, toWorker,
 * toDrawer, fromDrawer}`: `sources`: {worker: the worker's files, workerHandlers: worker.js,
 * drawer: drawer.js, drawWorker: draw-worker.js, page: the page's files, pageHandlers:
 * messages.js, hooks: tests and benchmarks}, each a `source(...)`.
 */
function check(sources, { toPage = TO_PAGE, toWorker = TO_WORKER, toDrawer = TO_DRAWER, fromDrawer = FROM_DRAWER } = {}) {
  const problems = [];
  const messages = (list, table, direction) => {
    for (const msg of list) {
      if (msg.type == null) {
        problems.push(`${msg.where}: a message to the ${direction} whose type is not a string literal`);
        continue;
      }
      const spec = table[msg.type];
      if (!spec) {
        problems.push(`${msg.where}: '${msg.type}' is sent to the ${direction} but not in www/shared/protocol.js`);
        continue;
      }
      const names = Object.keys(spec.fields).map((f) => f.replace(/\?$/, ''));
      for (const f of msg.fields) if (!names.includes(f)) problems.push(`${msg.where}: field '${f}' of '${msg.type}' is not in www/shared/protocol.js`);
      if (!msg.spread) {
        for (const f of Object.keys(spec.fields)) if (!f.endsWith('?') && !msg.fields.includes(f)) problems.push(`${msg.where}: '${msg.type}' lacks its field '${f}'`);
      }
    }
    for (const type of Object.keys(table)) {
      if (!list.some((m) => m.type === type)) problems.push(`'${type}' (to the ${direction}) is in www/shared/protocol.js but nobody sends it`);
    }
  };
  const handled = (keys, table, who) => {
    for (const k of keys) if (!table[k]) problems.push(`${who} handles '${k}', which is not in www/shared/protocol.js`);
    for (const type of Object.keys(table)) if (!keys.includes(type)) problems.push(`${who} has no handler for '${type}'`);
  };
  messages(workerPosts(sources.worker), toPage, 'page');
  messages(pageSends(sources.page, sources.hooks), toWorker, 'worker');
  handled(pageHandlers(sources.pageHandlers), toPage, sources.pageHandlers.file);
  handled(tableAfter(sources.workerHandlers, /const handlers = \{/g), toWorker, sources.workerHandlers.file);
  // The training worker and its drawing worker.
  messages(workerPosts([sources.drawer], /\btoDrawer\(/g), toDrawer, 'drawing worker');
  messages(workerPosts([sources.drawWorker], /\btoTrainer\(/g), fromDrawer, 'training worker');
  handled(tableAfter(sources.drawWorker, /const handlers = \{/g), toDrawer, sources.drawWorker.file);
  handled(tableAfter(sources.drawer, /this\.handlers = \{/g), fromDrawer, sources.drawer.file);
  return problems;
}

const jsFiles = (dir, ext) =>
  fs
    .readdirSync(path.join(ROOT, dir), { recursive: true })
    .filter((f) => f.endsWith(ext) && !f.includes('node_modules'))
    .sort()
    .map((f) => path.join(dir, f));

function realSources() {
  const worker = jsFiles('www/worker', '.js').map((f) => source(f));
  const page = jsFiles('www/page', '.js').map((f) => source(f));
  const hooks = [...jsFiles('tests/browser', '.mjs'), ...fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.mjs')).map((f) => path.join('bench', f))].map((f) => source(f));
  return {
    worker,
    page,
    hooks,
    workerHandlers: worker.find((s) => s.file === path.join('www', 'worker', 'worker.js')),
    drawer: worker.find((s) => s.file === path.join('www', 'worker', 'drawer.js')),
    drawWorker: worker.find((s) => s.file === path.join('www', 'worker', 'draw-worker.js')),
    pageHandlers: page.find((s) => s.file === path.join('www', 'page', 'messages.js')),
  };
}

/** `sources` with `file`'s text changed by `edit(text)`. */
function altered(sources, file, edit) {
  const swap = (s) => (s.file === file ? source(file, edit(s.src)) : s);
  const out = { worker: sources.worker.map(swap), page: sources.page.map(swap), hooks: sources.hooks.map(swap) };
  out.workerHandlers = out.worker.find((s) => s.file === sources.workerHandlers.file);
  out.drawer = out.worker.find((s) => s.file === sources.drawer.file);
  out.drawWorker = out.worker.find((s) => s.file === sources.drawWorker.file);
  out.pageHandlers = out.page.find((s) => s.file === sources.pageHandlers.file);
  return out;
}

// --- tests ----------------------------------------------------------------------------------------

test('every message and field is described', () => {
  for (const [direction, table] of [['to the worker', TO_WORKER], ['to the page', TO_PAGE]]) {
    for (const [type, spec] of Object.entries(table)) {
      assert.ok(typeof spec.doc === 'string' && spec.doc.length > 10, `${type} (${direction}) has a description`);
      for (const [field, doc] of Object.entries(spec.fields)) {
        assert.ok(typeof doc === 'string' && doc.length > 2, `${type}.${field} has a description`);
        assert.notEqual(field.replace(/\?$/, ''), 'type', `${type}: 'type' is every message's, not a field`);
      }
    }
  }
});

test('the reader of the sources finds what it must', () => {
  const s = source('x.js', "const a = `t ${b({ c: '}' })} {`; // post({ type: 'no' })\nthis.post({ type: 'yes', n, m: f({ k: 1 }, [2, 3]), ...rest, 'q': /[}]/ });");
  const posts = workerPosts([s]);
  assert.equal(posts.length, 1, 'the post in a comment is not one');
  assert.deepEqual(posts[0], { type: 'yes', fields: ['n', 'm', 'q'], spread: true, where: 'x.js:2' });
  assert.equal(workerPosts([source('y.js', 'post(msg);')])[0].type, null, 'a message that is not an object literal');
  assert.equal(workerPosts([source('z.js', "post({ type: k ? 'a' : 'b' });")])[0].type, null, 'a computed type');
});

test('the worker, the page, the tests and the benchmarks use exactly the messages of www/shared/protocol.js', () => {
  const sources = realSources();
  assert.deepEqual(check(sources), []);
  // Every source the check reads was found.
  assert.ok(workerPosts(sources.worker).length >= Object.keys(TO_PAGE).length);
  assert.ok(pageSends(sources.page, sources.hooks).length >= Object.keys(TO_WORKER).length);
});

test('the check fails on a stray, missing, unhandled or malformed message', () => {
  const sources = realSources();
  const w = path.join('www', 'worker', 'worker.js');
  const m = path.join('www', 'page', 'messages.js');
  const app = path.join('www', 'page', 'app.js');
  const expect = (file, edit, pattern) => {
    const problems = check(altered(sources, file, edit));
    assert.ok(problems.some((p) => pattern.test(p)), `expected ${pattern} among ${JSON.stringify(problems)}`);
  };
  // The worker posts a type that is not in the protocol.
  expect(w, (t) => `${t}\npost({ type: 'strayNews' });\n`, /'strayNews' is sent to the page but not in/);
  // ... or one with a field that is not listed, or without a field that is required.
  expect(w, (t) => `${t}\npost({ type: 'warning', message: 'x', colour: 'red' });\n`, /field 'colour' of 'warning'/);
  expect(w, (t) => `${t}\npost({ type: 'paused' });\n`, /'paused' lacks its field 'step'/);
  // ... or with a computed type.
  expect(w, (t) => `${t}\npost({ type: t ? 'paused' : 'stopped', step: 1 });\n`, /type is not a string literal/);
  // The protocol lists a type nobody posts.
  const scheduler = path.join('www', 'worker', 'scheduler.js');
  expect(scheduler, (t) => t.replaceAll("type: 'paused'", "type: 'stopped'"), /'paused' \(to the page\) is in www\/shared\/protocol.js but nobody sends it/);
  // The page handles a type the protocol does not have, or lacks a handler.
  expect(m, (t) => t.replace('  status: (msg) => {', '  strayNews: () => {},\n  status: (msg) => {'), /handles 'strayNews'/);
  expect(m, (t) => t.replace('  gpuError: (msg) => {', '  gpuErrorGone: (msg) => {'), /no handler for 'gpuError'/);
  // The page sends a type the protocol does not have; the worker handles one, or lacks a handler.
  expect(app, (t) => `${t}\ntraining.post({ type: 'strayCommand' });\n`, /'strayCommand' is sent to the worker but not in/);
  expect(w, (t) => t.replace('  pause: () =>', '  strayCommand: () => {},\n  pause: () =>'), /handles 'strayCommand'/);
  expect(w, (t) => t.replace('  measure: () =>', '  measureGone: () =>'), /no handler for 'measure'/);
  // The drawing worker and the training worker: a stray or malformed message, a missing handler.
  const dw = path.join('www', 'worker', 'draw-worker.js');
  const dr = path.join('www', 'worker', 'drawer.js');
  expect(dw, (t) => `${t}\ntoTrainer({ type: 'strayNews' });\n`, /'strayNews' is sent to the training worker but not in/);
  expect(dw, (t) => t.replace("toTrainer({ type: 'idle' })", "toTrainer({ type: 'idle', when: 1 })"), /field 'when' of 'idle'/);
  expect(dr, (t) => t.replace("this.toDrawer({ type: 'stop' })", "this.toDrawer({ type: 'halt' })"), /'halt' is sent to the drawing worker but not in/);
  expect(dw, (t) => t.replace('  stop: () =>', '  stopGone: () =>'), /no handler for 'stop'/);
  expect(dr, (t) => t.replace('      idle: (msg) =>', '      idleGone: (msg) =>'), /no handler for 'idle'/);
  // The protocol lists a command nobody sends.
  const toWorker = { ...TO_WORKER, strayCommand: { doc: 'nobody sends this', fields: {} } };
  assert.ok(check(sources, { toWorker }).some((p) => /'strayCommand' \(to the worker\) is in .* but nobody sends it/.test(p)));
});
