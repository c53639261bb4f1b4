// Every sampler the core names has what the page shows of it. The core lists the sampler specs a
// run can show (SAMPLER_SPECS in www/shared/limits.js, generated from src/sampler.rs and
// src/session.rs, and kept current by a Rust test); a sampler added there and forgotten in
// www/page/samplers.js fails here. (The PyTorch export's samplers are checked by src/export.rs's
// tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAMPLER_SPECS, SAMPLERS_BY_MODEL } from '../../www/shared/limits.js';
import { SAMPLER_COLORS, SAMPLER_LABELS, describe } from '../../www/page/samplers.js';

test('every sampler spec of the core has a title, formula, caption, label and colour on the page', () => {
  assert.ok(SAMPLER_SPECS.length > 0);
  for (const spec of SAMPLER_SPECS) {
    const d = describe(spec);
    assert.notEqual(d.title, spec, `${spec}: no title in www/page/samplers.js`);
    assert.ok(d.title && d.formula && d.caption, `${spec}: a title, a formula and a caption`);
    assert.ok(SAMPLER_LABELS[spec], `${spec}: no label in www/page/samplers.js (LABELS)`);
    assert.match(SAMPLER_COLORS[spec] ?? '', /^#[0-9a-f]{3,6}$/i, `${spec}: no colour in www/page/samplers.js (COLORS)`);
  }
  // Every model's samplers are among the specs (the trained models' by name).
  for (const name of [...SAMPLERS_BY_MODEL.denoiser, ...SAMPLERS_BY_MODEL.cvae]) assert.ok(SAMPLER_SPECS.includes(name), name);
});

test('the page has no entries for samplers the core does not name', () => {
  const known = new Set([...SAMPLER_SPECS, 'real']);
  for (const spec of [...Object.keys(SAMPLER_COLORS), ...Object.keys(SAMPLER_LABELS)]) assert.ok(known.has(spec), `${spec} is not a sampler of the core`);
});
