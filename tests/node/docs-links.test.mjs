// The docs' links and paths stay true: every relative link in README.md and docs/*.md (and its
// #anchor, when it points into a markdown file) and every repository path written in code
// (`src/...`, `www/...`, `tests/...`, `scripts/...`, `bench/...`, `docs/...`, root files) must
// exist. A file moved or a heading renamed then fails here instead of leaving a dead link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The markdown files whose links and paths are checked. */
function docFiles(root) {
  const docs = path.join(root, 'docs');
  return ['README.md', ...fs.readdirSync(docs).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file's headings (repeated headings get -1, -2, ... as on GitHub). */
function anchors(text) {
  const seen = new Map();
  const out = new Set();
  for (const line of stripFences(text).split('\n')) {
    const m = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!m) continue;
    const base = slug(m[1]);
    const n = seen.get(base) || 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

/** The text without fenced code blocks (their lines blanked, so line numbers stay). */
function stripFences(text) {
  let inFence = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*```/.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line;
    })
    .join('\n');
}

/** Words that name a path in this repository. */
const PATH = /^(?:\.\/)?(?:(?:src|www|tests|scripts|bench|docs|\.ci|\.cargo)\/[\w@.*/-]*|(?:Cargo\.toml|Cargo\.lock|index\.html|package\.json|package-lock\.json|rustfmt\.toml|eslint\.config\.js|README\.md))$/;

/** Repository paths in inline code spans and fenced code blocks, with their line numbers. */
function codePaths(text) {
  const found = [];
  const lines = text.split('\n');
  let inFence = false;
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) {
      inFence = !inFence;
      return;
    }
    const chunks = inFence ? [line] : [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    for (const chunk of chunks) {
      for (let word of chunk.split(/[\s"'(),;=<>[\]]+/)) {
        word = word.replace(/[.:]+$/, '').replace(/:\d+$/, '');
        if (PATH.test(word)) found.push({ line: i + 1, target: word });
      }
    }
  });
  return found;
}

/** Markdown links and images outside code: [text](target) and ![alt](target). */
function links(text) {
  const found = [];
  stripFences(text)
    .split('\n')
    .forEach((line, i) => {
      const noCode = line.replace(/`[^`]*`/g, '');
      for (const m of noCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) found.push({ line: i + 1, target: m[1] });
    });
  return found;
}

/** A path with `*` exists when some file in its folder matches it. */
function exists(root, rel) {
  const full = path.join(root, rel);
  if (!rel.includes('*')) return fs.existsSync(full);
  const dir = path.dirname(full);
  if (dir.includes('*') || !fs.existsSync(dir)) return false;
  const re = new RegExp(`^${path.basename(full).replace(/[.+?^${}()|\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return fs.readdirSync(dir).some((f) => re.test(f));
}

/** The folders .gitignore names from the root (`/target`, `/bench/node_modules`): made by commands, not committed. */
function generated(root) {
  const file = path.join(root, '.gitignore');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\/[\w./-]+$/.test(l))
    .map((l) => l.slice(1).replace(/\/$/, ''));
}

/** Every broken link, anchor or path of the docs under `root`, as readable strings. */
export function brokenReferences(root) {
  const problems = [];
  const ignored = generated(root);
  const anchorCache = new Map();
  const anchorsOf = (file) => {
    if (!anchorCache.has(file)) anchorCache.set(file, anchors(fs.readFileSync(file, 'utf8')));
    return anchorCache.get(file);
  };
  for (const rel of docFiles(root)) {
    const file = path.join(root, rel);
    const text = fs.readFileSync(file, 'utf8');
    for (const { line, target } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [p, anchor] = target.split('#');
      const dest = p ? path.resolve(path.dirname(file), decodeURIComponent(p)) : file;
      if (!path.relative(root, dest) || path.relative(root, dest).startsWith('..')) {
        if (p) problems.push(`${rel}:${line}: link ${target} leaves the repository`);
        continue;
      }
      if (!fs.existsSync(dest)) {
        problems.push(`${rel}:${line}: link ${target}: ${path.relative(root, dest)} does not exist`);
      } else if (anchor && dest.endsWith('.md') && !anchorsOf(dest).has(anchor)) {
        problems.push(`${rel}:${line}: link ${target}: no heading #${anchor} in ${path.relative(root, dest)}`);
      }
    }
    for (const { line, target } of codePaths(text)) {
      const p = target.replace(/^\.\//, '');
      if (ignored.some((g) => p === g || p.startsWith(`${g}/`))) continue;
      if (!exists(root, p)) problems.push(`${rel}:${line}: path ${target} does not exist`);
    }
  }
  return problems;
}

test("README.md's and docs/'s links, anchors and code paths all exist", () => {
  assert.deepEqual(brokenReferences(REPO), []);
});

test('the check finds a broken link, anchor, image and path', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'docs-links-'));
  try {
    fs.mkdirSync(path.join(root, 'docs'));
    fs.mkdirSync(path.join(root, 'src', 'model'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src', 'model', 'unet.rs'), '');
    fs.writeFileSync(path.join(root, 'docs', 'a.md'), '# A page\n\n## Few levels (`few-levels`)\n');
    fs.writeFileSync(path.join(root, '.gitignore'), '/target\n/bench/node_modules\n');
    fs.writeFileSync(
      path.join(root, 'README.md'),
      [
        '# Title',
        '![shot](docs/images/missing.png)',
        'Good: [a](docs/a.md), [b](docs/a.md#few-levels-few-levels), [c](#title), `src/model/unet.rs`, `src/model/*.rs`, [w](https://example.com/x).',
        'Bad: [d](docs/b.md) and [e](docs/a.md#few-levels) and [f](#nowhere).',
        'Code: `src/model/classifier.rs` and `cargo run -- limits --js > www/shared/limits.js`.',
        '```sh',
        'bash scripts/serve.sh',
        '```',
        'Glob: `tests/*.rs`. Made by commands: `bench/node_modules`, not `bench/node_modules2`.',
      ].join('\n'),
    );
    assert.deepEqual(brokenReferences(root), [
      'README.md:2: link docs/images/missing.png: docs/images/missing.png does not exist',
      'README.md:4: link docs/b.md: docs/b.md does not exist',
      'README.md:4: link docs/a.md#few-levels: no heading #few-levels in docs/a.md',
      'README.md:4: link #nowhere: no heading #nowhere in README.md',
      'README.md:5: path src/model/classifier.rs does not exist',
      'README.md:5: path www/shared/limits.js does not exist',
      'README.md:7: path scripts/serve.sh does not exist',
      'README.md:9: path tests/*.rs does not exist',
      'README.md:9: path bench/node_modules2 does not exist',
    ]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('anchors follow GitHub: punctuation dropped, spaces to hyphens, case folded', () => {
  assert.equal(slug('4. Few levels need a non-Gaussian step (`few-levels`)'), '4-few-levels-need-a-non-gaussian-step-few-levels');
  assert.equal(slug('Taking a model to PyTorch'), 'taking-a-model-to-pytorch');
  assert.equal(slug('Shared, `www/shared/`, and data'), 'shared-wwwshared-and-data');
});
