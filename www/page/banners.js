// Banners: clear messages above the page, each under an id (a new one replaces the old), with
// optional action buttons. The page keeps working underneath.

import { escapeHtml } from './format.js';

const banners = new Map();
let errorLog = null;

/** Where error banners' messages are also recorded (the test handle's `errors`). */
export function logErrorsTo(list) {
  errorLog = list;
}

export function banner(id, kind, html, { actions = [], dismissible = true } = {}) {
  clearBanner(id);
  const el = document.createElement('div');
  el.className = `banner ${kind}`;
  el.dataset.id = id;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  const text = document.createElement('div');
  text.className = 'banner-text';
  text.innerHTML = html;
  el.append(text);
  const acts = document.createElement('div');
  acts.className = 'banner-actions';
  for (const { label, onClick } of actions) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', () => onClick(el));
    acts.append(b);
  }
  if (dismissible) {
    const x = document.createElement('button');
    x.type = 'button';
    x.className = 'close';
    x.setAttribute('aria-label', 'Dismiss');
    x.textContent = '×';
    x.addEventListener('click', () => clearBanner(id));
    acts.append(x);
  }
  el.append(acts);
  document.getElementById('banners').append(el);
  banners.set(id, el);
  return el;
}

export function clearBanner(id) {
  const el = banners.get(id);
  if (el) el.remove();
  banners.delete(id);
}

/** An error banner (plain text message), also recorded in the error log. */
export function errorBanner(id, message, opts) {
  errorLog?.push(message);
  return banner(id, 'error', escapeHtml(message), opts);
}

