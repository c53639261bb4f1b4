// Formatting numbers, times and text for the page. Pure: tested by `node --test tests/node/`.

/** A number with `digits` significant digits; exponent form when very small or large. */
export function fmt(v, digits = 3) {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

/** Milliseconds as "12 ms", "3.4 s", "42 s". */
export function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 1)} s`;
  return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/** How long ago a Date.now() time was, in words. */
export function ago(t, now = Date.now()) {
  const s = Math.round((now - t) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** A level's column header: z_l (y = z_0 in the forward process). */
export const levelLabel = (l, forward) => (forward && l === 0 ? 'y = z<sub>0</sub>' : `z<sub>${l}</sub>`);

/** `text` as a sentence: a capital first letter and a closing full stop if it has none ('' stays ''). */
export function sentence(text) {
  const t = String(text ?? '').trim();
  if (!t) return '';
  const capital = t[0].toUpperCase() + t.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}
