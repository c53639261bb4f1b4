// Firefox and WebKit for the browser tests: the built page (dist/) in Debian's Firefox ESR, driven
// headless over WebDriver BiDi by puppeteer-core, and in WebKitGTK's MiniBrowser under Xvfb, driven
// over classic WebDriver (HTTP and JSON, a few fetch() calls) by WebKitWebDriver. Both give the
// same small page handle, so one test body runs on either engine:
//
//   const engine = await launchFirefox({ webgpu: false });   // or launchWebKit({ lang: 'C' })
//   const page = await engine.open('L=10&batch=8');
//   await page.waitFor('window.denoiseLab && window.denoiseLab.ready');
//   await page.evaluate('window.denoiseLab.step');
//   await engine.close();
//
// Environment: FIREFOX (default /usr/bin/firefox-esr), MINIBROWSER (default WebKitGTK's),
// WEBKIT_DRIVER (default /usr/bin/WebKitWebDriver); DIST_DIR as in helpers.mjs.

import fs from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import puppeteer from 'puppeteer-core';
import { startServer } from '../../scripts/serve.mjs';
import { DIST } from './helpers.mjs';

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';
export const MINIBROWSER = process.env.MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER || '/usr/bin/WebKitWebDriver';

/**
 * Firefox's preferences for WebGPU: `dom.webgpu.enabled` exposes navigator.gpu (off by default in
 * Firefox ESR 153 on Linux); without `gfx.webgpu.ignore-blocklist` requestAdapter() returns null on
 * a machine without GPU, and with it Firefox gives a fallback adapter (isFallbackAdapter: a CPU
 * Vulkan driver such as Mesa's lavapipe).
 */
export const FIREFOX_WEBGPU_PREFS = { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function checkDist() {
  for (const f of ['index.html', 'www/page/boot.js', 'www/page/app.js', 'www/worker/worker.js', 'pkg/denoise_lab.js', 'pkg/denoise_lab_bg.wasm']) {
    assert.ok(fs.existsSync(`${DIST}/${f}`), `${DIST}/${f} is missing: run \`bash scripts/build-web.sh\` first`);
  }
}

/** What both engines' pages share: waiting on an expression. */
class EnginePage {
  /** Poll `expr` (a JS expression in the page) until it is truthy; fail with `describe()`'s state. */
  async waitFor(expr, { timeout = 120000, interval = 250 } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await this.evaluate(expr);
      if (v) return v;
      if (Date.now() > end) {
        const state = await this.evaluate(`({ loading: document.getElementById('loading')?.textContent, errors: window.denoiseLab?.errors, banners: [...document.querySelectorAll('.banner')].map((b) => b.textContent) })`).catch((e) => String(e));
        throw new Error(`timed out after ${timeout} ms waiting for ${expr}: ${JSON.stringify(state)}`);
      }
      await sleep(interval);
    }
  }

  /** Click the element `selector` (as a user's click: the element's click()). */
  click(selector) {
    return this.evaluate(`(document.querySelector(${JSON.stringify(selector)}).click(), true)`);
  }
}

class PuppeteerPage extends EnginePage {
  constructor(page) {
    super();
    this.page = page;
    this.consoleErrors = [];
    this.log = [];
    page.on('console', (m) => {
      this.log.push(`${m.type()}: ${m.text()}`);
      if (m.type() === 'error') this.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => this.consoleErrors.push(`uncaught: ${e.message}`));
  }

  evaluate(expr) {
    return this.page.evaluate(expr);
  }

  screenshot(file) {
    return this.page.screenshot({ path: file });
  }
}

/**
 * Firefox ESR over WebDriver BiDi, with a fresh profile (puppeteer-core makes and removes it).
 * `webgpu`: with FIREFOX_WEBGPU_PREFS, else with `dom.webgpu.enabled` false.
 */
export async function launchFirefox({ webgpu = false } = {}) {
  checkDist();
  assert.ok(fs.existsSync(FIREFOX), `${FIREFOX} not found: apt-get install -y firefox-esr (or set FIREFOX)`);
  const { server, url } = await startServer({ dir: DIST, port: 0, quiet: true });
  let browser;
  try {
    browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: FIREFOX,
      headless: true,
      defaultViewport: { width: 1400, height: 1000 },
      extraPrefsFirefox: webgpu ? FIREFOX_WEBGPU_PREFS : { 'dom.webgpu.enabled': false },
    });
  } catch (e) {
    server.close();
    throw e;
  }
  return {
    name: `Firefox ${(await browser.version()).replace(/^firefox\//, '')}`,
    async open(query = '') {
      const page = new PuppeteerPage(await browser.newPage());
      await page.page.goto(`${url}${query ? `?${query}` : ''}`);
      return page;
    },
    async close() {
      await browser.close().catch(() => {});
      await new Promise((r) => server.close(r));
      server.closeAllConnections?.();
    },
  };
}

/** A free TCP port on the loopback interface. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Xvfb on a display it picks itself (-displayfd); `{display, stop}`. */
async function startXvfb() {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1400x1000x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  xvfb.stderr.on('data', (d) => (err += d));
  const display = await new Promise((resolve, reject) => {
    xvfb.once('error', (e) => reject(new Error(`Xvfb did not start (apt-get install -y xvfb): ${e.message}`)));
    xvfb.once('exit', (code) => reject(new Error(`Xvfb exited (${code}): ${err}`)));
    xvfb.stdio[3].once('data', (d) => resolve(`:${String(d).trim()}`));
  });
  return { display, stop: () => stopChild(xvfb) };
}

function stopChild(child) {
  if (child.exitCode != null || child.signalCode != null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

class WebDriverPage extends EnginePage {
  constructor(call) {
    super();
    this.call = call;
    // Classic WebDriver has no console: these are the uncaught errors and console.error() calls
    // the page makes after `watchErrors()`, see launchWebKit.
    this.consoleErrors = [];
  }

  async evaluate(expr) {
    return this.call('POST', 'execute/sync', { script: `return (${expr});`, args: [] });
  }

  /** From now on, record the page's console.error() calls and uncaught errors (read by `errors()`). */
  watchErrors() {
    return this.evaluate(`(() => {
      const seen = (window.__engineErrors = []);
      const error = console.error.bind(console);
      console.error = (...args) => (seen.push(args.map(String).join(' ')), error(...args));
      addEventListener('error', (e) => seen.push('uncaught: ' + e.message));
      addEventListener('unhandledrejection', (e) => seen.push('unhandled rejection: ' + (e.reason?.message || e.reason)));
      return true;
    })()`);
  }

  async errors() {
    this.consoleErrors = await this.evaluate('window.__engineErrors || []');
    return this.consoleErrors;
  }

  async screenshot(file) {
    const png = await this.call('GET', 'screenshot');
    fs.writeFileSync(file, Buffer.from(png, 'base64'));
  }
}

/**
 * WebKitGTK's MiniBrowser under its own Xvfb, driven by WebKitWebDriver. `lang`: the browser's LANG
 * (`null`: unset; "C.UTF-8" makes WebKitGTK report navigator.language "C", which Intl rejects; "C" alone gives "en-US").
 */
export async function launchWebKit({ lang = null } = {}) {
  checkDist();
  for (const [file, pkg] of [[MINIBROWSER, 'libwebkit2gtk-4.1-0'], [WEBKIT_DRIVER, 'webkit2gtk-driver']]) {
    assert.ok(fs.existsSync(file), `${file} not found: apt-get install -y ${pkg} xvfb`);
  }
  const { server, url } = await startServer({ dir: DIST, port: 0, quiet: true });
  const stops = [() => new Promise((r) => server.close(r))];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    server.closeAllConnections?.();
  };
  try {
    const xvfb = await startXvfb();
    stops.push(xvfb.stop);
    const env = { ...process.env, DISPLAY: xvfb.display };
    for (const k of Object.keys(env)) if (k === 'LANG' || k === 'LANGUAGE' || k.startsWith('LC_')) delete env[k];
    if (lang != null) env.LANG = lang;
    const port = await freePort();
    const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let driverLog = '';
    driver.stderr.on('data', (d) => (driverLog += d));
    stops.push(() => stopChild(driver));
    const base = `http://127.0.0.1:${port}`;
    const request = async (method, path, body) => {
      const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
      const json = await res.json();
      if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error}: ${json.value?.message} ${driverLog}`);
      return json.value;
    };
    for (let i = 0; ; i++) {
      try {
        if ((await request('GET', '/status')).ready) break;
      } catch (e) {
        if (i > 100) throw new Error(`WebKitWebDriver did not answer on port ${port}: ${e.message} ${driverLog}`, { cause: e });
      }
      await sleep(100);
    }
    const session = await request('POST', '/session', {
      capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } },
    });
    const id = session.sessionId;
    stops.push(() => request('DELETE', `/session/${id}`));
    const call = (method, path, body) => request(method, `/session/${id}/${path}`, body);
    await call('POST', 'timeouts', { script: 60000 });
    await call('POST', 'window/rect', { width: 1400, height: 1000 }).catch(() => {});
    return {
      name: `WebKitGTK ${session.capabilities.browserVersion}`,
      async open(query = '') {
        const page = new WebDriverPage(call);
        // Navigation returns once the document has loaded: errors are recorded from then on. An
        // error before that (while the page's modules load) shows as a failed start in the
        // status line (www/page/start-failure.js), which the tests check.
        await call('POST', 'url', { url: `${url}${query ? `?${query}` : ''}` });
        await page.watchErrors();
        return page;
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * The page on `page` reaches ready (after `query`'s settings), then trains `steps` steps with Play
 * (`drawnBeside`: and until the drawing worker beside training has drawn every row once) and
 * pauses: returns what it measured ({readyMs, firstStepMs, steps, seconds, msPerStep,
 * trainingShare, first, last}, `first` and `last` the mean losses of the first and last 10 steps).
 * Fails on an error banner, on a failed start and when the loss does not fall.
 */
export async function trainAndLearn(page, { steps, drawnBeside = false, timeout = 240000 }) {
  const t0 = Date.now();
  await page.waitFor('window.denoiseLab && window.denoiseLab.ready', { timeout });
  const readyMs = Date.now() - t0;
  assert.deepEqual(await page.evaluate('window.denoiseLab.errors'), [], 'no error banner at load');
  const t1 = Date.now();
  await page.click('#play');
  await page.waitFor('window.denoiseLab.step >= 1 || window.denoiseLab.errors.length > 0', { timeout });
  const firstStepMs = Date.now() - t1;
  await page.waitFor(`window.denoiseLab.step >= ${steps} || window.denoiseLab.errors.length > 0`, { timeout });
  const seconds = (Date.now() - t1) / 1000;
  // `drawnBeside`: the drawing worker (CPU backend) drew every row while playing.
  if (drawnBeside) await page.waitFor('window.denoiseLab.drawerDrawings >= 1 || window.denoiseLab.errors.length > 0', { timeout: 60000 });
  assert.deepEqual(await page.evaluate('window.denoiseLab.errors'), [], 'no error while training');
  await page.click('#play'); // pause
  await page.waitFor('window.denoiseLab.pausedStep != null', { timeout });
  const st = await page.evaluate('({ losses: window.denoiseLab.losses, msPerStep: window.denoiseLab.msPerStep, trainingShare: window.denoiseLab.trainingShare, step: window.denoiseLab.step })');
  assert.ok(st.losses.length >= steps, `${st.losses.length} losses flushed, expected ${steps}`);
  assert.ok(st.losses.every(Number.isFinite), 'every loss is finite');
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(st.losses.slice(0, 10));
  const last = mean(st.losses.slice(-10));
  assert.ok(last < first, `the loss falls: mean of the first 10 steps ${first}, of the last 10 ${last}`);
  return { readyMs, firstStepMs, steps: st.step, seconds, msPerStep: st.msPerStep, trainingShare: st.trainingShare, first, last };
}

/** One line for the test log: what trainAndLearn measured. */
export function describeRun(engine, r) {
  const share = r.trainingShare == null ? '–' : `${Math.round(r.trainingShare * 100)}%`;
  return `# ${engine}: ready ${(r.readyMs / 1000).toFixed(1)} s after navigation, first step ${(r.firstStepMs / 1000).toFixed(1)} s after Play, ${r.steps} steps in ${r.seconds.toFixed(1)} s (${r.msPerStep?.toFixed(0)} ms/step, ${share} training), loss ${r.first.toFixed(3)} -> ${r.last.toFixed(3)}`;
}
