// The teacher's page (`?teacher=1`): every lesson (src/lesson.rs, from www/shared/limits.js) with a
// preview, what it shows in one line, and the iframe snippet that embeds it, with a copy button.
// No training runs here.

import { LESSONS } from '../shared/limits.js';
import { escapeHtml } from './format.js';

const $ = (id) => document.getElementById(id);

/** The iframe that embeds lesson `name` from this page's address. */
export function snippet(name) {
  const src = new URL(location.href);
  src.search = `?lesson=${name}&embed=1`;
  src.hash = '';
  return `<iframe src="${src.href}" width="760" height="640" style="border:0;max-width:100%" title="denoise-lab lesson: ${name}" loading="lazy"></iframe>`;
}

export function showTeacherPage() {
  document.body.classList.add('teacher');
  const host = $('panel-teacher');
  const items = LESSONS.map(
    (l) => `<li class="teacher-lesson">
      <img src="www/data/lessons/${escapeHtml(l.name)}.jpg" alt="" width="190" height="160" loading="lazy">
      <div>
        <h3><a href="?lesson=${escapeHtml(l.name)}">${escapeHtml(l.title)}</a> <span class="hint">${escapeHtml(l.quiz)}</span></h3>
        <p>${escapeHtml(l.question)}</p>
        <p class="note">Shows: ${escapeHtml(l.measures)}. ${l.checkpoints.some(Boolean) ? 'Starts from a bundled trained model; students can train it from scratch.' : `Trains live (${l.steps} steps).`}</p>
        <label class="snippet">Embed it: <input type="text" readonly value="${escapeHtml(snippet(l.name))}" aria-label="iframe snippet for ${escapeHtml(l.title)}"></label>
        <button type="button" class="small copy" data-lesson="${escapeHtml(l.name)}">Copy</button>
      </div>
    </li>`,
  ).join('');
  host.innerHTML = `<h2>Lessons for a course</h2>
    <p>Each lesson asks one question of the quiz, takes the student's prediction, runs the model in the browser (on the GPU if there is one, else on the CPU, within a minute) and answers from what it measured. Embed one per page with its snippet (760×640).</p>
    <ol class="teacher-list">${items}</ol>`;
  host.hidden = false;
  // A lesson without a preview image (not written yet: DOCS_UPDATE=1 node --test tests/browser/lessons.test.mjs).
  for (const img of host.querySelectorAll('img')) img.addEventListener('error', () => (img.hidden = true));
  for (const b of host.querySelectorAll('button.copy')) {
    b.addEventListener('click', async () => {
      const text = snippet(b.dataset.lesson);
      try {
        await navigator.clipboard.writeText(text);
        b.textContent = 'Copied';
      } catch {
        const input = b.parentElement.querySelector('input');
        input.select();
        b.textContent = 'Selected: press Ctrl+C';
      }
    });
  }
}
