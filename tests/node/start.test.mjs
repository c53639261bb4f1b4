// Starting the page: the locale fallback (www/page/locale.js) that keeps a browser without a usable
// locale from stopping the page, and the text of a failed start (www/page/start-failure.js). The
// browser side (a broken module, the "C" locale) is tests/browser/start.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptedLocale, usableLocale } from '../../www/page/locale.js';
import { START_ADVICE, describeError, errorSource, failedStep, startFailureText } from '../../www/page/start-failure.js';

const WWW = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'www');

test('a locale Intl rejects gives way to the first accepted language, else en-US', () => {
  // "C" is what WebKitGTK reports with LANG unset; Intl.NumberFormat throws a RangeError on it.
  assert.throws(() => new Intl.NumberFormat('C'), RangeError);
  assert.equal(acceptedLocale('C'), false);
  assert.equal(acceptedLocale(''), false);
  assert.equal(acceptedLocale(undefined), false);
  assert.equal(acceptedLocale('de-CH'), true);
  assert.equal(usableLocale('fr-FR', ['fr-FR', 'en']), 'fr-FR');
  assert.equal(usableLocale('C', ['C']), 'en-US');
  assert.equal(usableLocale('C', ['C', 'de-DE']), 'de-DE');
  assert.equal(usableLocale('', undefined), 'en-US');
  assert.equal(usableLocale('C', null), 'en-US');
  // What the page hands uPlot in its place formats numbers.
  assert.equal(typeof new Intl.NumberFormat(usableLocale('C', ['C'])).format(1234.5), 'string');
});

test("the page's own formatting does not depend on the locale", () => {
  // Only www/page/locale.js may build an Intl formatter or call toLocale*(): everything else
  // formats numbers with toFixed/toPrecision/toExponential, which no locale can make throw.
  const offenders = [];
  for (const dir of ['page', 'worker', 'shared']) {
    for (const f of fs.readdirSync(path.join(WWW, dir)).filter((n) => n.endsWith('.js'))) {
      if (dir === 'page' && f === 'locale.js') continue;
      const text = fs.readFileSync(path.join(WWW, dir, f), 'utf8');
      text.split('\n').forEach((line, i) => {
        if (/\bIntl\.|\.toLocale[A-Za-z]*\(/.test(line.replace(/\/\/.*$/, ''))) offenders.push(`www/${dir}/${f}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(offenders, []);
});

test('a failed start says what failed and what to try', () => {
  const text = startFailureText('loading the page’s scripts failed with RangeError: invalid language tag: C');
  assert.match(text, /^The page could not start: loading the page’s scripts failed with RangeError: invalid language tag: C\. /);
  assert.ok(text.endsWith(START_ADVICE));
  assert.match(START_ADVICE, /Reload/);
});

test("an error's source is the first frame under the page's folder, in each engine's stack format", () => {
  const base = 'http://127.0.0.1:8080/';
  const at = (stack) => ({ name: 'RangeError', message: 'invalid language tag: C', stack });
  // Chromium
  assert.equal(errorSource(at('RangeError: invalid language tag: C\n    at http://127.0.0.1:8080/vendor/uPlot.esm.js:442:21'), base), 'vendor/uPlot.esm.js:442');
  // Firefox
  assert.equal(errorSource(at('@http://127.0.0.1:8080/vendor/uPlot.esm.js:442:21\n'), base), 'vendor/uPlot.esm.js:442');
  // WebKit
  assert.equal(errorSource(at('module code@http://127.0.0.1:8080/vendor/uPlot.esm.js:442:40'), base), 'vendor/uPlot.esm.js:442');
  // A frame elsewhere (another origin, an extension) is not named.
  assert.equal(errorSource(at('f@https://elsewhere.example/x.js:1:1\ng@http://127.0.0.1:8080/www/page/charts.js:5:3'), base), 'www/page/charts.js:5');
  assert.equal(errorSource(at(''), base), null);
  assert.equal(errorSource(null, base), null);
  assert.equal(describeError(at('at http://127.0.0.1:8080/vendor/uPlot.esm.js:442:21'), base), 'RangeError: invalid language tag: C (in vendor/uPlot.esm.js:442)');
  assert.equal(describeError(new TypeError('Failed to fetch dynamically imported module: http://127.0.0.1:8080/www/page/app.js'), base), 'TypeError: Failed to fetch dynamically imported module: http://127.0.0.1:8080/www/page/app.js');
  assert.equal(describeError('boom', base), 'boom');
  assert.equal(describeError(undefined, base), 'unknown error');
});

test("a failure in the worker's start names the step it was at", () => {
  assert.equal(failedStep('Loading the WebAssembly core…'), 'loading the WebAssembly core failed: ');
  assert.equal(failedStep('Loading the bundled MNIST digits...'), 'loading the bundled MNIST digits failed: ');
  assert.equal(failedStep(undefined), '');
  assert.equal(failedStep(''), '');
  assert.equal(
    startFailureText(`${failedStep('Loading the WebAssembly core…')}init: CompileError: expected magic word`),
    `The page could not start: loading the WebAssembly core failed: init: CompileError: expected magic word. ${START_ADVICE}`,
  );
});

test('a detail that ends in a full stop gets no second one', () => {
  assert.equal(startFailureText('init: Importing a module script failed.'), `The page could not start: init: Importing a module script failed. ${START_ADVICE}`);
});
