// Why the page could not start, as its status line (#loading, which says "Loading…" until then)
// shows it: what failed, and what to try. Pure text helpers (tested in Node) and the one function
// that shows them; www/page/boot.js uses it when the page's modules fail to load, the page when
// the training worker cannot load the wasm core or the data.

/** What to try after any failure to start. */
export const START_ADVICE = 'Reload the page to try again. If it fails again, clear this site’s cached files, or open the page in a recent Firefox, Chrome, Edge or Safari.';

/** The status line's text for a start that failed on `detail` (what failed, and why). */
export function startFailureText(detail) {
  return `The page could not start: ${String(detail).replace(/\.+$/, '')}. ${START_ADVICE}`;
}

/**
 * A status line the page showed while starting ("Loading the WebAssembly core…") as the start of a
 * failure's detail: "loading the WebAssembly core failed: "; empty when there is none.
 */
export function failedStep(status) {
  const step = typeof status === 'string' ? status.trim().replace(/(…|\.\.\.)$/, '') : '';
  return step ? `${step.charAt(0).toLowerCase()}${step.slice(1)} failed: ` : '';
}

/**
 * Where an error was thrown, as a path of the site and a line ("vendor/uPlot.esm.js:442"), from
 * the first frame of its stack that is a file under `base` (the page's folder); null when the
 * stack names none. Chromium writes frames as "at URL:line:col", Firefox and WebKit as
 * "name@URL:line:col".
 */
export function errorSource(error, base) {
  const stack = typeof error?.stack === 'string' ? error.stack : '';
  for (const m of stack.matchAll(/(https?:\/\/[^\s()@]+?):(\d+):\d+/g)) {
    if (m[1].startsWith(base)) return `${m[1].slice(base.length)}:${m[2]}`;
  }
  return null;
}

/** An error as one line: its name and message, and where it was thrown when the stack says. */
export function describeError(error, base) {
  if (error == null) return 'unknown error';
  if (typeof error !== 'object') return String(error);
  const text = error.message ? `${error.name || 'Error'}: ${error.message}` : String(error);
  const where = errorSource(error, base);
  return where && !text.includes(where) ? `${text} (in ${where})` : text;
}

/**
 * Show in the status line that the page could not start (`text`, from startFailureText); it stays
 * (the page's own activity line is not running then, or was ended by the caller).
 */
export function showStartFailure(text) {
  const el = document.getElementById('loading');
  el.hidden = false;
  el.classList.add('failed');
  el.setAttribute('role', 'alert');
  el.textContent = text;
}
