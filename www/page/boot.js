// The page's first script (index.html loads it, then www/page/app.js, as two module scripts, so the
// Content-Security-Policy needs no inline script). It makes sure a browser locale that Intl rejects
// cannot stop the page, and when a module of the page fails to load or to run, the status line
// ("Loading…") says so, with what to try, instead of staying at "Loading…".
//
// It does not load app.js itself: a dynamic import() would run the page after the document's load
// event, whereas a module script in the document runs before DOMContentLoaded, so whoever reads the
// page at `load` (a test, an embedding page) finds it filled in. Module scripts without `async` run
// in document order, so this one runs before app.js and before anything app.js imports.

import { describeError, showStartFailure, startFailureText } from './start-failure.js';
import { usableLocale } from './locale.js';

// uPlot builds `new Intl.NumberFormat(navigator.language)` when its module loads; a browser
// started without a locale (WebKitGTK with LANG unset says "C") makes that throw a RangeError.
// Such a browser gets the first of its languages that Intl accepts (else en-US) in their place.
const locale = usableLocale(navigator.language, navigator.languages);
if (locale !== navigator.language) {
  Object.defineProperty(navigator, 'language', { value: locale, configurable: true });
  Object.defineProperty(navigator, 'languages', { value: Object.freeze([locale]), configurable: true });
}

const base = new URL('./', document.baseURI).href;
let failed = false;

/**
 * An error before DOMContentLoaded, that is while app.js and its modules load and run: a module
 * that throws (an ErrorEvent) or a module script that could not be fetched (an `error` event at
 * its script element, which does not bubble: hence the capture phase). Only the first is shown.
 */
function onStartError(event) {
  let detail;
  if (event instanceof ErrorEvent) {
    detail = `loading the page’s scripts failed with ${describeError(event.error ?? event.message, base)}`;
  } else if (event.target instanceof HTMLScriptElement) {
    const src = event.target.src.startsWith(base) ? event.target.src.slice(base.length) : event.target.src;
    detail = `loading the page’s scripts failed: ${src} or a module it imports could not be loaded`;
  } else {
    return; // an image or a stylesheet: not the page's scripts
  }
  if (failed) return;
  failed = true;
  console.error(`denoise-lab: the page could not start: ${detail}`);
  showStartFailure(startFailureText(detail));
}

window.addEventListener('error', onStartError, true);
// Every module script of the document has run (or failed) by DOMContentLoaded; a later error is the
// running page's, which reports its own.
document.addEventListener('DOMContentLoaded', () => window.removeEventListener('error', onStartError, true), { once: true });
