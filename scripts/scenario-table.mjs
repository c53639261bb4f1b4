#!/usr/bin/env node
// The scenario figures of docs/scenarios.md, measured by the CLI on the models committed in
// tests/fixtures/ (`denoise-lab scenario NAME --load DIR --json`), one table per scenario.
//
//   node scripts/scenario-table.mjs [--markdown docs/scenarios.md] [--only collapse,few-levels,...]
//                                   [--bin target/debug/denoise-lab] [-n 256]
//
// Without --markdown the tables are printed; with it each goes into FILE between
// `<!-- begin: scenario-NAME -->` and `<!-- end: scenario-NAME -->` (scripts/md-table.mjs).
// The binary is the one the test command builds (`cargo test --all-targets` builds it); the
// script does not build it. About 10-20 minutes on 2 cores, most of it scenario 4's three seeds.
//
// Which models: `collapse` and `few-levels` (seeds 3, 4 and 5) load their fixtures; `noise`,
// `perfect` and `memorisation` train the same model as `collapse` (same preset), so they load
// that fixture under their own names (symbolic links in a temporary folder; the CLI refuses a
// checkpoint whose configuration or step count is not its preset's); Φ* is computed, not
// trained; `imperfect` (60 steps of a 4-channel network, seconds) is trained by the CLI.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeBlock, readBlock, commandLine } from './md-table.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = path.join(ROOT, 'tests', 'fixtures');

/** Every run: block name, scenario, extra CLI arguments, and where its trained models come from. */
const RUNS = [
  { block: 'collapse', scenario: 'collapse', load: 'tests/fixtures' },
  { block: 'imperfect', scenario: 'imperfect', load: null },
  { block: 'noise', scenario: 'noise', load: 'collapse' },
  { block: 'few-levels', scenario: 'few-levels', load: 'tests/fixtures' },
  { block: 'few-levels-seed-4', scenario: 'few-levels', args: ['--train-seed', '4'], load: 'tests/fixtures/seed-4' },
  { block: 'few-levels-seed-5', scenario: 'few-levels', args: ['--train-seed', '5'], load: 'tests/fixtures/seed-5' },
  { block: 'perfect', scenario: 'perfect', load: 'collapse' },
  { block: 'memorisation', scenario: 'memorisation', load: 'collapse' },
];

function options() {
  const o = { markdown: null, only: null, bin: path.join(ROOT, 'target', 'debug', 'denoise-lab'), n: 256 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = () => {
      if (i + 1 >= a.length) throw new Error(`${a[i]} needs a value`);
      return a[++i];
    };
    switch (a[i]) {
      case '--markdown': o.markdown = v(); break;
      case '--only': o.only = v().split(','); break;
      case '--bin': o.bin = v(); break;
      case '-n': o.n = Number(v()); break;
      default: throw new Error(`unknown argument ${a[i]}`);
    }
  }
  const known = RUNS.map((r) => r.block);
  for (const b of o.only || []) if (!known.includes(b)) throw new Error(`unknown run '${b}' (one of: ${known.join(', ')})`);
  if (!fs.existsSync(o.bin)) throw new Error(`${o.bin} not found: the test command builds it (cargo test --all-targets), or pass --bin`);
  return o;
}

/** A folder holding the collapse fixture under `scenario`'s checkpoint name (model 0, a denoiser). */
function collapseAs(scenario, tmp) {
  const dir = path.join(tmp, scenario);
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(path.join(FIXTURES, 'collapse-0-denoiser.ckpt'), path.join(dir, `${scenario}-0-denoiser.ckpt`));
  return dir;
}

/** Run the CLI; the report is the pretty-printed JSON object at the end of its output. */
function runScenario(run, o, tmp) {
  const args = ['scenario', run.scenario, ...(run.args || []), '-n', String(o.n)];
  let shown = [...args];
  if (run.load === 'collapse') {
    args.push('--load', collapseAs(run.scenario, tmp));
    shown.push('--load', `<tests/fixtures/collapse-0-denoiser.ckpt as ${run.scenario}-0-denoiser.ckpt>`);
  } else if (run.load) {
    args.push('--load', path.join(ROOT, run.load));
    shown.push('--load', run.load);
  }
  args.push('--json');
  shown.push('--json');
  const t0 = Date.now();
  const r = spawnSync(o.bin, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`denoise-lab ${args.join(' ')} failed (${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  const at = r.stdout.indexOf('\n{\n');
  if (at < 0) throw new Error(`no JSON report in the output of denoise-lab ${args.join(' ')}`);
  const report = JSON.parse(r.stdout.slice(at + 1));
  return { report, command: `denoise-lab ${shown.join(' ')}`, seconds: (Date.now() - t0) / 1000 };
}

const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '–');
/** Three significant figures at most, no exponent: 2344, 266, 19.9, 0.34. */
const sig = (x) => (!Number.isFinite(x) ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

function row(label, m) {
  const mem = m.memorisation;
  return `| ${label} | ${sig(m.frechet)} | ${f(m.entropy_nats, 3)} | ${f(m.diversity, 2)} | ${mem ? f(mem.median_nn_rms, 3) : '–'} | ${mem ? `${f(100 * mem.copies, 0)}%` : '–'} | ${m.histogram.join(' ')} |`;
}

/** The markdown of one run: what ran, the table, and the scenario's extra figures. */
function table(run, { report, command }, o) {
  const trained = report.training.map(([kind]) => kind);
  const source = run.load ? `its trained model${trained.length > 1 ? 's' : ''} (${trained.join(', ')}, ${report.steps} steps) loaded from the fixtures` : `trained by the command (${report.training.map(([kind, s]) => `${kind}: ${report.steps} steps in ${f(s, 0)} s`).join(', ')})`;
  const lines = [
    `\`${command}\`: ${report.panels[0]?.metrics.n ?? o.n} samples per sampler (noise seed 11); the Fréchet reference is the CLI's 1000 held-out real digits, the last row ${report.real.n} other held-out digits measured like the samples; ${source}.`,
    '',
    '| samples | Fréchet ↓ | class entropy (nats) | diversity | nearest training image (median RMS) | copies | class histogram 0..9 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...report.panels.map((p) => row(p.label, p.metrics)),
    row(`real digits (${report.real.n})`, report.real),
  ];
  const extra = [];
  for (const p of report.panels) {
    if (Number.isFinite(p.rms_to_mean) && /collapse|imperfect|perfect/.test(run.scenario)) {
      extra.push(`RMS distance of the ${p.label} samples to the mean training image: ${f(p.rms_to_mean, 3)} (two random real digits: ${f(report.real_rms_pair, 3)}).`);
    }
    if (p.chain.length) extra.push(`Spread along the ${p.label} chain (mean pairwise L2): ${p.chain.map(([l, d]) => `z_${l} ${f(d, 2)}`).join(', ')}.`);
  }
  if (run.scenario === 'few-levels') {
    const fd = (label) => report.panels.find((p) => p.label === label)?.metrics.frechet;
    const ratio = fd('CVAE step') / fd('Gaussian step (stochastic)');
    extra.push(`CVAE step / Gaussian step, Fréchet distance: **${f(ratio, 2)}** (the aim: below 0.7).`);
    extra.push(`Gaussian step with Φ* / true conditional, Fréchet distance: ${f(fd('Gaussian step with Φ*') / fd('true conditional'), 1)}.`);
  }
  if (extra.length) lines.push('', ...extra.map((e) => `- ${e}`));
  return lines.join('\n');
}

const o = options();
const runs = RUNS.filter((r) => !o.only || o.only.includes(r.block));
if (o.markdown) {
  const text = fs.readFileSync(o.markdown, 'utf8');
  for (const r of runs) readBlock(text, `scenario-${r.block}`); // every block is there before an hour of runs
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scenario-table-'));
try {
  for (const run of runs) {
    process.stderr.write(`scenario-table: ${run.block}… `);
    const result = runScenario(run, o, tmp);
    process.stderr.write(`${result.seconds.toFixed(0)} s\n`);
    const md = table(run, result, o);
    if (o.markdown) {
      const command = commandLine(['node', 'scripts/scenario-table.mjs', '--only', run.block, ...(o.n !== 256 ? ['-n', String(o.n)] : []), '--markdown', o.markdown]);
      writeBlock(o.markdown, `scenario-${run.block}`, md, { command });
    } else {
      console.log(`\n## ${run.block}\n\n${md}`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
