// The quiz as lessons (src/lesson.rs, www/page/lesson.js), on the CPU backend without WebGPU, the
// way a student without a GPU meets them: for every lesson, the page asks its question, takes a
// prediction, runs (from the lesson's bundled checkpoints, or training live where it has none), and
// answers from the figures it measured (the worker's `verdict`). Each answer must agree with the
// quiz within 60 s of Run. The lesson embed (`embed=1`) must fit a 760x640 iframe without
// scrolling. Screenshots go to target/browser-artifacts/; with DOCS_UPDATE=1 each lesson's embed
// is also written to www/data/lessons/NAME.jpg, the teacher's page's preview of it.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launch, waitReady, lab, axeCheck, ARTIFACTS, ROOT } from './helpers.mjs';
import { LESSONS } from '../../www/shared/limits.js';

const DOCS_UPDATE = process.env.DOCS_UPDATE === '1';
/** The quiz's answer to each lesson's question (its solution; docs/quiz.md). */
const QUIZ = { 'mean-image': 'mean', collapse: 'same', imperfect: 'varies', noise: 'restores', 'few-levels': 'cvae', perfect: 'training-digit', memorisation: 'phi-copies' };
const ANSWER_MS = 60000;

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

test('every lesson of the quiz has its answer here', () => {
  assert.deepEqual(LESSONS.map((l) => l.name).sort(), Object.keys(QUIZ).sort());
});


for (const lesson of LESSONS) {
  test(`lesson ${lesson.name}: predict, run, and the measured answer is the quiz's within ${ANSWER_MS / 1000} s`, async () => {
    const page = await env.context.newPage();
    // Every lesson as a course page embeds it (the full page shows the same panel).
    await page.setViewportSize({ width: 760, height: 640 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${env.url}?lesson=${lesson.name}&backend=cpu&resume=0&embed=1`);
    // The question is there before the core is (generated from src/lesson.rs into limits.js).
    await page.waitForSelector('#panel-lesson:not([hidden]) .lesson-question', { timeout: 5000 });
    assert.match(await page.textContent('#panel-lesson h2'), new RegExp(lesson.title.slice(0, 12)));
    assert.equal(await page.isVisible('#sampler-panels'), false, 'the grids wait for the prediction');
    await waitReady(page);
    assert.equal(await page.isDisabled('#lesson-run'), true, 'Run waits for a prediction');
    // A prediction that differs from the quiz's answer: the page must say so.
    const wrong = lesson.choices.find((c) => c.id !== QUIZ[lesson.name]).id;
    await page.check(`input[name="prediction"][value="${wrong}"]`);
    const t0 = Date.now();
    await page.click('#lesson-run');
    await page.waitForFunction(() => window.denoiseLab.verdict != null && !document.getElementById('lesson-answer').hidden, null, { timeout: ANSWER_MS, polling: 200 });
    const ms = Date.now() - t0;
    const verdict = await lab(page, 'lab.verdict');
    const answer = await page.textContent('#lesson-answer');
    console.log(`# ${lesson.name}: "${verdict.choice}" at step ${verdict.step} (${verdict.n} samples per sampler), ${(ms / 1000).toFixed(1)} s after Run: ${verdict.text}`);
    assert.equal(verdict.choice, QUIZ[lesson.name], `the measured answer: ${verdict.text}`);
    assert.equal(verdict.step, lesson.steps, 'measured on the models trained for the scenario budget');
    assert.ok(answer.includes(verdict.text), 'the figures are on the page');
    assert.match(answer, /not what you predicted/, 'the page compares the answer with the prediction');
    assert.ok(answer.includes(lesson.explanation.slice(0, 30)), "the quiz's explanation");
    assert.equal(await page.isVisible('#sampler-panels'), true, 'the grids are shown after Run');
    // The prediction is kept in this browser: a reload shows it chosen.
    assert.equal(await page.evaluate((n) => localStorage.getItem(`denoise-lab:prediction:${n}`), lesson.name), wrong);
    const size = await page.evaluate(() => ({ h: document.documentElement.scrollHeight, w: document.documentElement.scrollWidth }));
    assert.ok(size.h <= 640 && size.w <= 760, `the embed fits 760x640 without scrolling: ${JSON.stringify(size)}`);
    assert.deepEqual(await axeCheck(page), [], 'axe-core (WCAG 2.1 A/AA): no violations on the answered lesson');
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `lesson-${lesson.name}.png`) });
    if (DOCS_UPDATE) {
      // The teacher's page's preview: the embed at half size (380x320), drawn down in the page.
      const png = await page.screenshot();
      const small = await page.evaluate(async (b64) => {
        const img = new Image();
        img.src = `data:image/png;base64,${b64}`;
        await img.decode();
        const c = document.createElement('canvas');
        [c.width, c.height] = [380, 320];
        c.getContext('2d').drawImage(img, 0, 0, 380, 320);
        return c.toDataURL('image/jpeg', 0.8).split(',')[1];
      }, png.toString('base64'));
      fs.writeFileSync(path.join(ROOT, 'www', 'data', 'lessons', `${lesson.name}.jpg`), Buffer.from(small, 'base64'));
    }
    assert.deepEqual(errors, []);
    await page.close();
  });
}

test("the teacher's page lists every lesson with its embed snippet, and trains nothing", async () => {
  const page = await env.context.newPage();
  await page.goto(`${env.url}?teacher=1`);
  await page.waitForSelector('#panel-teacher:not([hidden]) .teacher-lesson');
  const items = await page.$$eval('.teacher-lesson', (els) =>
    els.map((el) => ({ href: el.querySelector('h3 a').getAttribute('href'), snippet: el.querySelector('input').value, copy: !!el.querySelector('button.copy') })),
  );
  assert.equal(items.length, LESSONS.length, 'one entry per lesson');
  for (const [i, l] of LESSONS.entries()) {
    assert.equal(items[i].href, `?lesson=${l.name}`);
    assert.match(items[i].snippet, new RegExp(`<iframe src="[^"]*\\?lesson=${l.name}&amp;embed=1|<iframe src="[^"]*\\?lesson=${l.name}&embed=1`));
    assert.match(items[i].snippet, /width="760" height="640"/);
    assert.ok(items[i].copy, 'a copy button');
  }
  assert.equal(await page.evaluate(() => window.denoiseLab.backend), null, 'no worker started');
  assert.deepEqual(await axeCheck(page), [], "axe-core: no violations on the teacher's page");
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'teacher.png'), fullPage: true });
  await page.close();
});
