// Never losing a run: the paths that could overwrite or bring back a save (issue 15). Each test
// fails on a page without the guard it names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, waitReady, train, lab, SMALL_CPU } from './helpers.mjs';

let env;
before(async () => {
  env = await launch({ webgpu: false });
});
after(async () => {
  await env?.close();
});

/** Wait until the autosave of `step` is in IndexedDB (the status line says so after the write). */
const autosavedAt = (page, step) => page.waitForFunction((s) => document.getElementById('autosave-status').textContent.includes(`step ${s}`), step);

/** The page's own autosave module and key for its current settings. */
const inPage = (page, fn, arg) =>
  page.evaluate(
    async ([src, a]) => {
      const store = await import('/www/page/autosave.js');
      const state = await import('/www/page/state.js');
      const key = store.autosaveKey(state.trainConfig(window.denoiseLab.config), 'bundled');
      return new Function('store', 'key', 'arg', `return (${src})(store, key, arg);`)(store, key, a);
    },
    [fn.toString(), arg],
  );

test('Reset discards the run for good: an autosave in flight does not bring it back on reload', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=31&me=0`);
  await waitReady(page);
  const saved = await train(page, 3);
  await autosavedAt(page, saved);
  // One step more, not saved yet: leaving the run would save it, but Reset discards it.
  await page.click('#step');
  await page.waitForFunction((s) => window.denoiseLab.step > s, saved);
  const v = await lab(page, 'lab.readyVersion');
  await page.click('#reset');
  await waitReady(page, { version: v + 1 });
  assert.equal(await lab(page, 'lab.step'), 0, 'a fresh run after Reset');
  await page.waitForTimeout(1000); // any save still in flight lands meanwhile
  assert.equal(await inPage(page, (store, key) => store.loadAutosave(key).then((e) => (e ? e.step : null))), null, 'no save left for these settings');
  await page.reload();
  await waitReady(page);
  assert.equal(await lab(page, 'lab.step'), 0, 'the reload does not resume the discarded run');
  assert.equal(await lab(page, 'lab.resumed'), null);
  assert.deepEqual(consoleErrors, []);
});

test('an autosave that cannot be resumed is kept aside, offered for download, and not overwritten', async () => {
  const { page } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=32&me=0`);
  await waitReady(page);
  // An unusable save under this configuration's key (as from an older architecture or a damaged write).
  const bad = [1, 2, 3, 4, 5, 6, 7, 8];
  await inPage(page, (store, key, bytes) => store.storeAutosave({ key, bytes: new Uint8Array(bytes), step: 777, config: { model: 'denoiser' }, savedAt: Date.now() }), bad);
  await page.reload();
  await waitReady(page);
  assert.equal(await lab(page, 'lab.step'), 0, 'a fresh run started');
  await page.waitForSelector('.banner[data-id="resume-failed"]');
  assert.match(await page.textContent('.banner[data-id="resume-failed"]'), /step 777\) could not be resumed/);
  assert.deepEqual(await lab(page, 'lab.keptAside'), { step: 777, kept: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.banner[data-id="resume-failed"] button:has-text("Download")')]);
  const got = await download.createReadStream().then((s) => s.toArray()).then((chunks) => [...Buffer.concat(chunks)]);
  assert.deepEqual(got, bad, 'the download is the old save, byte for byte');
  // The fresh run autosaves: the old save is still kept aside beside it.
  const step = await train(page, 2);
  await autosavedAt(page, step);
  const keys = await inPage(page, (store) => store.listAutosaves());
  const kept = keys.filter((k) => k.startsWith('kept:'));
  assert.equal(kept.length, 1, `one save kept aside: ${JSON.stringify(keys)}`);
  const keptStep = await page.evaluate(async (k) => {
    const db = await new Promise((res) => (indexedDB.open('denoise-lab').onsuccess = (ev) => res(ev.target.result)));
    return new Promise((res) => (db.transaction('autosave').objectStore('autosave').get(k).onsuccess = (ev) => res(ev.target.result.step)));
  }, kept[0]);
  assert.equal(keptStep, 777);
});

test('settings changed twice quickly (L 10 → 11 → 10): one restart, which resumes the right save', async () => {
  const { page, consoleErrors } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=33&me=0`);
  await waitReady(page);
  const saved = await train(page, 3);
  await autosavedAt(page, saved);
  const v = await lab(page, 'lab.readyVersion');
  const restarts = await lab(page, 'lab.restarts');
  await page.evaluate(() => {
    const el = document.getElementById('ctl-L');
    for (const value of ['11', '10']) {
      el.value = value;
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
  await waitReady(page, { version: v + 1 });
  await page.waitForTimeout(1500); // a stale restart would start a second session meanwhile
  assert.equal(await lab(page, 'lab.readyVersion'), v + 1, 'one session started, not one per change');
  assert.equal(await lab(page, 'lab.restarts'), restarts + 1, 'the superseded restart never reached the worker');
  assert.equal(await lab(page, 'lab.info.config.levels'), 10);
  assert.equal(await lab(page, 'lab.step'), saved, 'resumed the save of L = 10');
  assert.match(page.url(), /L=10/);
  assert.deepEqual(consoleErrors, []);
});

test('two tabs on the same settings: the one behind does not silently overwrite the other’s save', async () => {
  const q = `${SMALL_CPU}&seed=34&me=0&resume=0`;
  const a = await openPage(env.context, env.url, q);
  await waitReady(a.page);
  const ahead = await train(a.page, 200);
  await autosavedAt(a.page, ahead);
  // A second tab on the same settings, fresh (resume=0), saves fewer steps.
  const pageB = await env.context.newPage();
  pageB.setDefaultTimeout(120000);
  await pageB.goto(`${env.url}?${q}`);
  await waitReady(pageB);
  const behind = await train(pageB, 1);
  assert.ok(behind < ahead);
  await pageB.waitForSelector('.banner[data-id="save-conflict"]');
  // The refused save: any of this tab's (one comes right after Play, another at Pause).
  const conflict = await lab(pageB, 'lab.saveConflict');
  assert.equal(conflict.theirs, ahead);
  assert.ok(conflict.ours <= behind && conflict.ours < ahead, JSON.stringify(conflict));
  assert.equal(await inPage(pageB, (store, key) => store.loadAutosave(key).then((e) => e.step)), ahead, 'the save with more steps is kept');
  // Reset in the tab behind discards its own run, not the other tab's save (issue 26).
  const v0 = await lab(pageB, 'lab.readyVersion');
  await pageB.click('#reset');
  await waitReady(pageB, { version: v0 + 1 });
  assert.equal(await inPage(pageB, (store, key) => store.loadAutosave(key).then((e) => e?.step ?? null)), ahead, "Reset keeps the other tab's save");
  // Asked, the user continues from the other tab's save.
  const v = await lab(pageB, 'lab.readyVersion');
  await pageB.click('.banner[data-id="save-conflict"] button:has-text("Continue from that save")');
  await waitReady(pageB, { version: v + 1 });
  assert.equal(await lab(pageB, 'lab.step'), ahead, 'continued from the other tab’s save');
  await pageB.close();
});

test('autosave storage: old saves pruned before a write, a full quota still saves and the page names the saves it cost, saves listed without their bytes, persistent storage asked for', async () => {
  const { page } = await openPage(env.context, env.url, `${SMALL_CPU}&seed=33&me=0`);
  await waitReady(page);
  // Persistent storage is asked for with the first autosave.
  await page.evaluate(() => {
    window.persistAsked = 0;
    navigator.storage.persist = async () => (window.persistAsked++, false);
  });
  const step = await train(page, 2);
  await autosavedAt(page, step);
  assert.equal(await page.evaluate(() => window.persistAsked), 1, 'navigator.storage.persist() was called once');

  const result = await inPage(page, async (store) => {
    for (const k of await store.listAutosaves()) await store.deleteAutosave(k);
    const entry = (key, savedAt) => ({ key, bytes: new Uint8Array(1000), step: 1, config: { model: 'denoiser' }, savedAt });
    for (let i = 0; i < 6; i++) await store.storeAutosave(entry(`run${i}`, 1000 + i));
    // How many saves the store holds when the next one is written: counted inside the write's own
    // transaction, just before its put.
    const put = IDBObjectStore.prototype.put;
    let heldAtPut = null;
    IDBObjectStore.prototype.put = function (...args) {
      this.count().onsuccess = (ev) => (heldAtPut ??= ev.target.result);
      return put.apply(this, args);
    };
    await store.storeAutosave(entry('run6', 1006));
    const afterSeventh = await store.listAutosaves();
    // A full quota: the first put fails as a browser's would; the save still lands.
    let failed = 0;
    IDBObjectStore.prototype.put = function (...args) {
      if (failed++ === 0) throw new DOMException('test: the quota is full', 'QuotaExceededError');
      return put.apply(this, args);
    };
    const dropped = await store.storeAutosave(entry('run7', 1007));
    IDBObjectStore.prototype.put = put;
    const afterQuota = await store.listAutosaves();
    // Listing reads the keys from the date index: no value (no checkpoint bytes) is read.
    const reads = { n: 0 };
    const wrapped = [];
    for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
      for (const name of ['get', 'getAll', 'openCursor']) {
        const f = proto[name];
        wrapped.push([proto, name, f]);
        proto[name] = function (...args) {
          reads.n++;
          return f.apply(this, args);
        };
      }
    }
    const listed = await store.listAutosaves();
    for (const [proto, name, f] of wrapped) proto[name] = f;
    return { heldAtPut, afterSeventh, afterQuota, dropped, listed, valueReads: reads.n };
  });
  assert.equal(result.heldAtPut, 5, `the oldest save went before the 7th was written (held ${result.heldAtPut})`);
  assert.deepEqual(result.afterSeventh, ['run6', 'run5', 'run4', 'run3', 'run2', 'run1']);
  assert.deepEqual(result.afterQuota, ['run7'], 'on a full quota the other runs’ saves go and the new one is written');
  assert.deepEqual(result.dropped, ['run6', 'run5', 'run4', 'run3', 'run2'], 'the store names the saves the full quota cost');
  assert.deepEqual(result.listed, ['run7']);
  assert.equal(result.valueReads, 0, 'listing the saves reads no checkpoint');

  // The page's own autosave on a full quota says which saves went: not without a word.
  await page.evaluate(() => {
    const put = IDBObjectStore.prototype.put;
    let failed = 0;
    IDBObjectStore.prototype.put = function (...args) {
      if (failed++ === 0) throw new DOMException('test: the quota is full', 'QuotaExceededError');
      return put.apply(this, args);
    };
  });
  const later = await train(page, 1);
  await autosavedAt(page, later);
  assert.deepEqual(await lab(page, 'lab.savesDropped'), ['run7']);
  assert.match(await page.textContent('#banners'), /storage for the page was full.*the autosave of one other run .*had to be deleted/s);
});
