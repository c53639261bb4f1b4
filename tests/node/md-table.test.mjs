// scripts/md-table.mjs: the measured tables in README.md and docs/ are rewritten between marker
// comments by the commands that measure them. A write must replace exactly one block, stamp it
// with date, command and machine, leave every other byte alone, and refuse a file whose markers
// are missing, repeated or out of order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceBlock, readBlock, writeBlock, machine, commandLine, stamp } from '../../scripts/md-table.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'md-table.mjs');
const META = { date: '2026-12-06', command: 'node bench/x.mjs --markdown f.md', machine: 'Some CPU (2 cores)' };

const DOC = `# Title

Text before.

<!-- begin: speed -->
| old | table |
| --- | --- |
| 1 | 2 |
<!-- end: speed -->

Between, with a $& and a $1 that must survive.

<!-- begin: other -->
untouched
<!-- end: other -->
Trailing text without a final newline`;

test('replaces one block, stamps it, and leaves every other byte as it was', () => {
  const body = '| model | ms |\n| --- | --- |\n| denoiser | 12.5 |\n';
  const out = replaceBlock(DOC, 'speed', body, META);
  const block = readBlock(out, 'speed');
  assert.equal(block, `\n_Measured 2026-12-06 by \`node bench/x.mjs --markdown f.md\` on Some CPU (2 cores)._\n\n${body}`);
  // Outside the block nothing moved.
  const [beforeOld, afterOld] = DOC.split(readBlock(DOC, 'speed'));
  const [beforeNew, afterNew] = out.split(block);
  assert.equal(beforeNew, beforeOld);
  assert.equal(afterNew, afterOld);
  assert.equal(readBlock(out, 'other'), '\nuntouched\n');
  assert.doesNotMatch(out, /old \| table/);
});

test('is idempotent, and replacement patterns in the content are taken literally', () => {
  const body = 'cost $& and $1 and $$ stay as written';
  const once = replaceBlock(DOC, 'speed', body, META);
  assert.equal(replaceBlock(once, 'speed', body, META), once);
  assert.ok(once.includes(`\n${body}\n<!-- end: speed -->`));
  // Blank lines around the content do not accumulate.
  assert.equal(replaceBlock(once, 'speed', `\n\n${body}\n\n\n`, META), once);
});

test('refuses missing, repeated or misordered markers and bad names', () => {
  assert.throws(() => replaceBlock(DOC, 'absent', 'x', META), /no '<!-- begin: absent -->' marker/);
  assert.throws(() => replaceBlock(DOC.replace('<!-- end: speed -->', ''), 'speed', 'x', META), /no '<!-- end: speed -->' marker/);
  assert.throws(() => replaceBlock(`${DOC}\n<!-- begin: speed -->\n`, 'speed', 'x', META), /more than once/);
  assert.throws(() => replaceBlock(`${DOC}\n<!-- end: other -->\n`, 'other', 'x', META), /more than once/);
  const swapped = '<!-- end: t -->\n<!-- begin: t -->\n';
  assert.throws(() => replaceBlock(swapped, 't', 'x', META), /comes before/);
  assert.throws(() => replaceBlock(DOC, 'Speed Table', 'x', META), /block name/);
  // A block named like the prefix of another is not confused with it.
  assert.throws(() => replaceBlock(DOC, 'spee', 'x', META), /no '<!-- begin: spee -->' marker/);
});

test('the stamp needs a date, a command and a machine', () => {
  assert.throws(() => stamp({ ...META, date: '6 Dec' }), /YYYY-MM-DD/);
  assert.throws(() => stamp({ ...META, command: '' }), /command/);
  assert.throws(() => stamp({ ...META, command: 'a `b`' }), /backticks/);
  assert.throws(() => stamp({ ...META, machine: '' }), /machine/);
  assert.match(machine(), new RegExp(`\\(${os.cpus().length} cores\\)$`));
  assert.equal(commandLine(['node', 'x.mjs', '--config', 'L=10&batch=16', "it's"]), "node x.mjs --config 'L=10&batch=16' 'it'\\''s'");
});

test('writeBlock and the command line write the file in place, with this machine by default', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-table-'));
  try {
    const file = path.join(dir, 'doc.md');
    fs.writeFileSync(file, DOC);
    writeBlock(file, 'other', 'new other', { command: 'cmd one' });
    const text = fs.readFileSync(file, 'utf8');
    const date = new Date().toISOString().slice(0, 10);
    assert.equal(readBlock(text, 'other'), `\n_Measured ${date} by \`cmd one\` on ${machine()}._\n\nnew other\n`);
    assert.equal(readBlock(text, 'speed'), readBlock(DOC, 'speed'));
    assert.deepEqual(fs.readdirSync(dir), ['doc.md'], 'no temporary file left behind');

    const ok = spawnSync('node', [SCRIPT, file, 'speed', '--command', 'bash scripts/test.sh', '--date', '2026-11-24', '--machine', 'AMD EPYC (2 cores)'], { input: '| a |\n| --- |\n| 1 |\n', encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(readBlock(fs.readFileSync(file, 'utf8'), 'speed'), '\n_Measured 2026-11-24 by `bash scripts/test.sh` on AMD EPYC (2 cores)._\n\n| a |\n| --- |\n| 1 |\n');

    const before = fs.readFileSync(file, 'utf8');
    const bad = spawnSync('node', [SCRIPT, file, 'missing', '--command', 'x'], { input: 'y', encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no '<!-- begin: missing -->' marker/);
    assert.equal(spawnSync('node', [SCRIPT, file, 'speed', '--check']).status, 0, '--check finds the markers');
    const unchecked = spawnSync('node', [SCRIPT, file, 'nowhere', '--check'], { encoding: 'utf8' });
    assert.equal(unchecked.status, 1, '--check fails without the markers');
    assert.match(unchecked.stderr, /no '<!-- begin: nowhere -->' marker/);
    const empty = spawnSync('node', [SCRIPT, file, 'speed', '--command', 'x'], { input: '  \n', encoding: 'utf8' });
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /no content/);
    assert.equal(fs.readFileSync(file, 'utf8'), before, 'a refused write changes nothing');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
