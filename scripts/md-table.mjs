#!/usr/bin/env node
// Measured tables in the docs are written by the commands that measure them, never typed by hand:
// each table sits between two marker comments in a markdown file,
//
//   <!-- begin: NAME -->
//   ...replaced on every write...
//   <!-- end: NAME -->
//
// and a write replaces what is between them with a line naming the date, the command and the
// machine (CPU model and core count from os.cpus()), then the new content. Everything outside
// the markers is left byte for byte as it was.
//
// From a script: `import { writeBlock } from '../scripts/md-table.mjs'`. From the shell (the
// content on stdin):
//
//   node scripts/md-table.mjs FILE NAME --command "what measured it" [--date YYYY-MM-DD] [--machine TEXT] < table.md
//   node scripts/md-table.mjs FILE NAME --check    # only check that FILE has the block's markers
//
// --date and --machine are for seeding a block with figures measured earlier, elsewhere: then
// they name the date and the machine of that measurement, not of the write.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NAME = /^[a-z0-9][a-z0-9-]*$/;

/** This machine, as the stamp line names it: "CPU model (N cores)". */
export function machine() {
  const cpus = os.cpus();
  const model = (cpus[0]?.model || 'unknown CPU').replace(/\s+/g, ' ').trim();
  return `${model} (${cpus.length} cores)`;
}

/** Today's date, YYYY-MM-DD (UTC). */
export function today() {
  return new Date().toISOString().slice(0, 10);
}

/** A command line as a reader would type it: arguments with spaces or shell characters quoted. */
export function commandLine(words) {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(' ');
}

/** The stamp line written at the top of every block. */
export function stamp({ date, command, machine: m }) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`date must be YYYY-MM-DD, got '${date}'`);
  if (!command || /`/.test(command)) throw new Error(`command must be non-empty and without backticks, got '${command}'`);
  if (!m) throw new Error('machine must be named');
  return `_Measured ${date} by \`${command}\` on ${m}._`;
}

/** Where a block's markers are: offsets of the begin marker's end and the end marker's start. */
function locate(text, name) {
  if (!NAME.test(name)) throw new Error(`block name must match ${NAME}, got '${name}'`);
  const begin = `<!-- begin: ${name} -->`;
  const end = `<!-- end: ${name} -->`;
  const b = text.indexOf(begin);
  const e = text.indexOf(end);
  if (b < 0) throw new Error(`no '${begin}' marker`);
  if (e < 0) throw new Error(`no '${end}' marker`);
  if (text.indexOf(begin, b + 1) >= 0) throw new Error(`'${begin}' appears more than once`);
  if (text.indexOf(end, e + 1) >= 0) throw new Error(`'${end}' appears more than once`);
  if (e < b) throw new Error(`'${end}' comes before '${begin}'`);
  return { from: b + begin.length, to: e };
}

/**
 * `text` with block `name`'s content replaced by the stamp line and `body` (markdown). Pure: the
 * caller supplies date, command and machine. Throws when the markers are missing, repeated or
 * out of order, so a renamed block never goes silently stale.
 */
export function replaceBlock(text, name, body, { date, command, machine: m }) {
  const { from, to } = locate(text, name);
  const content = `\n${stamp({ date, command, machine: m })}\n\n${body.replace(/^\n+|\s+$/g, '')}\n`;
  return text.slice(0, from) + content + text.slice(to);
}

/** The content of block `name` (without the markers), or throws as `replaceBlock` does. */
export function readBlock(text, name) {
  const { from, to } = locate(text, name);
  return text.slice(from, to);
}

/**
 * Replace block `name` in markdown file `file` (written to a temporary file, then renamed over
 * it). `date` and `machine` default to today and this machine.
 */
export function writeBlock(file, name, body, { command, date = today(), machine: m = machine() }) {
  const text = fs.readFileSync(file, 'utf8');
  const next = replaceBlock(text, name, body, { date, command, machine: m });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, next);
  fs.renameSync(tmp, file);
}

function main(argv) {
  const positional = [];
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--command' || a === '--date' || a === '--machine') {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      o[a.slice(2)] = argv[++i];
    } else if (a === '--check') o.check = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2 || !(o.command || o.check)) {
    throw new Error('usage: node scripts/md-table.mjs FILE NAME (--command TEXT [--date YYYY-MM-DD] [--machine TEXT] < content.md | --check)');
  }
  if (o.check) return void readBlock(fs.readFileSync(positional[0], 'utf8'), positional[1]);
  const body = fs.readFileSync(0, 'utf8');
  if (!body.trim()) throw new Error('no content on stdin');
  writeBlock(positional[0], positional[1], body, o);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`md-table: ${e.message}`);
    process.exit(1);
  }
}
