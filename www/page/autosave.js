// Autosave in this browser (IndexedDB): a checkpoint per configuration, the newest few kept, so a
// reload, a crash or a switch of settings does not lose a run.

const DB_NAME = 'denoise-lab';
const STORE = 'autosave';
const KEEP_AUTOSAVES = 6;
let dbPromise = null;

function openDb() {
  if (!('indexedDB' in self)) return Promise.reject(new Error('IndexedDB is not available'));
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 2);
    req.onupgradeneeded = (ev) => {
      // Version 2 indexes the saves by date, so they can be listed without reading their bytes.
      const store = ev.oldVersion < 1 ? req.result.createObjectStore(STORE, { keyPath: 'key' }) : req.transaction.objectStore(STORE);
      if (!store.indexNames.contains('savedAt')) store.createIndex('savedAt', 'savedAt');
    };
    req.onsuccess = () => {
      const db = req.result;
      // A newer page in another tab upgrades the schema: let it (this tab reopens on its next save).
      db.onversionchange = () => {
        db.close();
        dbPromise = null;
      };
      resolve(db);
    };
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
  // A failed open is not kept: the next save tries again (a blocked or busy store is often transient).
  dbPromise.catch(() => (dbPromise = null));
  return dbPromise;
}
function idb(mode, fn) {
  return openDb().then(
    (db) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const store = tx.objectStore(STORE);
        let result;
        Promise.resolve(fn(store)).then((r) => (result = r));
        tx.oncomplete = () => resolve(result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
      }),
  );
}
const reqP = (req) => new Promise((res, rej) => ((req.onsuccess = () => res(req.result)), (req.onerror = () => rej(req.error))));

/** One save per configuration (the fields that change the model or its data) and data set. */
export function autosaveKey(tc, data) {
  return JSON.stringify([tc.model, tc.levels, tc.a ?? null, tc.batch, tc.seed, tc.base_channels, tc.latent_dim, data]);
}
/** The save under `key`, or null (also when IndexedDB is unavailable). */
export async function loadAutosave(key) {
  try {
    return await idb('readonly', (s) => reqP(s.get(key)));
  } catch {
    return null;
  }
}
const KEEP_ASIDE = 2;
const isKept = (key) => String(key).startsWith('kept:');

/**
 * Delete the oldest saves so that at most `keep` remain besides `except` (saves kept aside are
 * counted apart). Resolves to the keys of the other runs' saves deleted.
 */
async function prune(keep, except) {
  let dropped = [];
  await idb('readwrite', async (s) => {
    const newestFirst = await keysByDate(s);
    const runs = newestFirst.filter((k) => !isKept(k) && k !== except);
    const kept = newestFirst.filter(isKept);
    dropped = runs.slice(keep);
    for (const old of [...dropped, ...kept.slice(KEEP_ASIDE)]) s.delete(old);
  });
  return dropped;
}

/**
 * Store `entry` ({key, bytes, step, config, savedAt}), keeping the newest few saves. Old saves
 * are pruned before the write (a full quota would otherwise block every later save); if the
 * write still does not fit, every other run's save goes and it is tried once more. Throws on
 * failure. Resolves to the keys of the other runs' saves that the full quota cost (the page says
 * so: they are gone), [] when there was room.
 */
export async function storeAutosave(entry) {
  await prune(KEEP_AUTOSAVES - 1, entry.key);
  try {
    await idb('readwrite', (s) => s.put(entry));
    return [];
  } catch (e) {
    if (e?.name !== 'QuotaExceededError') throw e;
    const dropped = await prune(0, entry.key);
    await idb('readwrite', (s) => s.put(entry));
    return dropped;
  }
}

/** Keep `entry` aside under its own key (an unusable save a fresh run must not overwrite). */
export async function keepAside(entry) {
  await idb('readwrite', (s) => s.put({ ...entry, key: `kept:${entry.key}:${entry.savedAt}`, keptAt: Date.now() }));
}

/** The keys of every save, newest first, read from the date index (no bytes are loaded). */
function keysByDate(store) {
  return new Promise((resolve, reject) => {
    const keys = [];
    const req = store.index('savedAt').openKeyCursor(null, 'prev');
    req.onsuccess = () => {
      const c = req.result;
      if (!c) return resolve(keys);
      keys.push(c.primaryKey);
      c.continue();
    };
    req.onerror = () => reject(req.error);
  });
}

/** The keys of every save, newest first (saves kept aside start with "kept:"). */
export async function listAutosaves() {
  try {
    return await idb('readonly', (s) => keysByDate(s));
  } catch {
    return [];
  }
}

export function deleteAutosave(key) {
  return idb('readwrite', (s) => s.delete(key)).catch(() => {});
}
