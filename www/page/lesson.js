// One lesson of the quiz (`?lesson=NAME`; the lessons are src/lesson.rs, in www/shared/limits.js):
// the question in the quiz's words, the student's prediction first (kept in this browser), the run
// (the lesson's bundled checkpoints, or training live), then the answer the worker's core judged
// from this run's measured figures (`verdict`), whether it agrees with the prediction, the quiz's
// explanation and one variation to try. The grids stay hidden until the student has predicted.

import { LESSONS } from '../shared/limits.js';
import { escapeHtml } from './format.js';

const $ = (id) => document.getElementById(id);
const PREDICTION_KEY = (name) => `denoise-lab:prediction:${name}`;

/** The lesson named `name`, or null. */
export const lessonNamed = (name) => LESSONS.find((l) => l.name === name) || null;

/** Whether the lesson starts from bundled checkpoints (else it trains live). */
export const hasCheckpoints = (lesson) => lesson.checkpoints.some(Boolean);

function readPrediction(name) {
  try {
    return localStorage.getItem(PREDICTION_KEY(name));
  } catch {
    return null;
  }
}

function keepPrediction(name, id) {
  try {
    localStorage.setItem(PREDICTION_KEY(name), id);
  } catch {
    /* private mode: kept for this page only */
  }
}

/**
 * The lesson view. `run()`: show the models and measure them, or train live; `scratch()`: train
 * the lesson's models from scratch; `steps`: its scenario's training budget.
 */
export class LessonView {
  constructor(lesson, { run, scratch, steps }) {
    this.lesson = lesson;
    this.actions = { run, scratch };
    this.steps = steps; // the scenario's training budget
    this.prediction = readPrediction(lesson.name);
    this.revealed = false;
    this.verdict = null;
    this.build();
  }

  build() {
    const l = this.lesson;
    const host = $('panel-lesson');
    const live = !hasCheckpoints(l);
    const choices = l.choices
      .map(
        (c) => `<label class="choice"><input type="radio" name="prediction" value="${escapeHtml(c.id)}"${this.prediction === c.id ? ' checked' : ''}> <span>${escapeHtml(c.text)}</span></label>`,
      )
      .join('');
    host.innerHTML = `
      <h2 id="lesson-title"><span class="lesson-kicker">Lesson · ${escapeHtml(l.quiz)}</span> ${escapeHtml(l.title)}</h2>
      <p class="lesson-question">${escapeHtml(l.question)}</p>
      <fieldset class="prediction"><legend>1. Your prediction</legend>${choices}</fieldset>
      <div class="lesson-run">
        <button id="lesson-run" type="button" class="primary" disabled>${live ? `2. Train it (${this.steps} steps) and measure` : '2. Run: sample the trained model and measure'}</button>
        ${live ? '' : `<button id="lesson-scratch" type="button" class="small">Train it yourself from scratch (${this.steps} steps)</button>`}
      </div>
      <p class="lesson-status" id="lesson-status" role="status" aria-live="polite">${this.prediction ? 'Press Run.' : 'Choose what you expect, then press Run.'}</p>
      <div class="lesson-answer" id="lesson-answer" aria-live="polite" hidden></div>
      <p class="note lesson-measures">Measured: ${escapeHtml(l.measures)}.</p>`;
    host.hidden = false;
    for (const input of host.querySelectorAll('input[name="prediction"]')) {
      input.addEventListener('change', () => {
        this.prediction = input.value;
        keepPrediction(l.name, input.value);
        this.update();
        if (this.verdict) this.showVerdict(this.verdict);
      });
    }
    $('lesson-run').addEventListener('click', () => {
      this.reveal();
      this.actions.run();
    });
    $('lesson-scratch')?.addEventListener('click', () => {
      this.verdict = null;
      this.reveal();
      $('lesson-answer').hidden = true;
      $('panel-lesson').classList.remove('answered');
      this.status(`Training from scratch: ${this.steps} steps, then a measurement.`);
      this.actions.scratch();
    });
    this.update();
  }

  /** Show the grids (hidden until a prediction is made and Run pressed). */
  reveal() {
    this.revealed = true;
    $('panel-lesson').classList.add('ran');
    document.body.classList.add('lesson-revealed');
    if (this.verdict) this.showVerdict(this.verdict);
  }

  /** Enable Run once there is a prediction and a session. */
  update(ready = this.ready) {
    this.ready = ready;
    const run = $('lesson-run');
    if (run) run.disabled = !this.prediction || !ready;
    const scratch = $('lesson-scratch');
    if (scratch) scratch.disabled = !this.prediction || !ready;
  }

  /** The backend the run trains on ('cpu' or 'webgpu'), said with the figures. */
  setBackend(backend) {
    this.backend = backend;
  }

  status(text) {
    $('lesson-status').textContent = text;
  }

  /** The core's verdict on this run's measurement: the measured figures, agreement, explanation, a variation. */
  showVerdict(v) {
    this.verdict = v;
    if (!this.revealed) return; // shown once the student has predicted and pressed Run
    const l = this.lesson;
    const outcome = l.choices.find((c) => c.id === v.choice);
    const agrees = this.prediction === v.choice;
    const url = new URL(location.href);
    url.search = `?${l.try_this.query}`;
    const box = $('lesson-answer');
    box.innerHTML = `
      <p class="lesson-figures"><b>3. Measured</b> <span class="hint">(step ${v.step}, ${v.n} samples per sampler${this.backend ? `, ${this.backend === 'cpu' ? 'CPU backend' : 'WebGPU'}` : ''})</span>: ${escapeHtml(v.text)}</p>
      <p class="lesson-outcome ${agrees ? 'agrees' : 'differs'}">${outcome ? `So: <b>${escapeHtml(outcome.text)}</b>. ` : ''}${agrees ? 'That agrees with your prediction.' : 'That is not what you predicted.'}</p>
      <p><b>4. Why.</b> ${escapeHtml(l.explanation)}</p>
      <p><b>5. Try this:</b> <a href="${escapeHtml(url.pathname + url.search)}" target="_top">${escapeHtml(l.try_this.text)}</a></p>`;
    box.hidden = false;
    $('panel-lesson').classList.add('answered');
    this.status(`Answered from this run's measurement at step ${v.step}.`);
  }
}
