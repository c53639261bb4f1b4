// The quiz scenarios on the page: one button per preset (the presets come from the Rust core,
// src/scenario.rs, through the worker), "Free play", and the active scenario's caption.

import { escapeHtml } from './format.js';

const $ = (id) => document.getElementById(id);

/** One button per scenario and "Free play"; `onPick(name)` / `onFree()` on click. */
export function buildScenarioButtons(list, { onPick, onFree }) {
  const host = $('scenario-buttons');
  host.replaceChildren();
  list.forEach((sc, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'scenario';
    b.dataset.scenario = sc.name;
    b.innerHTML = `<span class="num">${i + 1}</span> ${escapeHtml(sc.title)}`;
    b.title = `${sc.steps} steps · ${sc.budget}`;
    b.addEventListener('click', () => onPick(sc.name));
    host.append(b);
  });
  const free = document.createElement('button');
  free.type = 'button';
  free.className = 'scenario free';
  free.textContent = 'Free play';
  free.title = 'Leave the scenario: your own settings';
  free.addEventListener('click', () => onFree());
  host.append(free);
}

/** Highlight the active scenario's button (`name`; null: Free play). */
export function markScenario(name) {
  for (const b of $('scenario-buttons').querySelectorAll('button')) {
    const on = b.dataset.scenario ? name === b.dataset.scenario : !name;
    b.classList.toggle('active', on);
    b.setAttribute('aria-pressed', String(on));
  }
}

/** The caption of a scenario (its title, what to look for, what it trains); null hides it. */
export function showScenarioCaption(sc) {
  const cap = $('scenario-caption');
  if (!sc) {
    cap.hidden = true;
    return;
  }
  const models = sc.models
    .map((m) => `${m.model === 'cvae' ? 'progressive CVAE' : 'denoiser'}, L = ${m.levels}, ${m.base_channels} channels, batch ${m.batch}, lr ${m.lr}`)
    .join(' · ');
  cap.innerHTML = `<h3>${escapeHtml(sc.title)}</h3><p>${escapeHtml(sc.caption)}</p>
    <p class="note">Trains ${escapeHtml(models)} for ${sc.steps} steps (${escapeHtml(sc.budget)}), then pauses. Press <b>Play</b>. The metrics below update while it trains; <code>denoise-lab scenario ${escapeHtml(sc.name)}</code> reproduces the figures offline.</p>`;
  cap.hidden = false;
}
