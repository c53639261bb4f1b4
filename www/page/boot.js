// The page's entry script (index.html loads only this file, so the Content-Security-Policy needs no
// inline script). It makes sure a browser locale that Intl rejects cannot stop the page, then
// loads the page (www/page/app.js). When a module of the page fails to load or to run, the status
// line ("Loading…") says so, with what to try, instead of staying at "Loading…".

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
import('./app.js').catch((e) => {
  console.error('denoise-lab: the page could not start:', e);
  showStartFailure(startFailureText(`loading the page’s scripts failed with ${describeError(e, base)}`));
});
