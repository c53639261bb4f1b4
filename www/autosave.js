// Autosave in this browser (IndexedDB): a checkpoint per configuration, the newest few kept, so a
// reload, a crash or a switch of settings does not lose a run.

const DB_NAME = 'denoise-lab';
const STORE = 'autosave';
const KEEP_AUTOSAVES = 6;
let dbPromise = null;

function openDb() {
  if (!('indexedDB' in self)) return Promise.reject(new Error('IndexedDB is not available'));
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'key' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
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
/** Store `entry` ({key, bytes, step, config, savedAt}), keeping the newest few saves; throws on failure. */
export async function storeAutosave(entry) {
  await idb('readwrite', async (s) => {
    s.put(entry);
    const all = await reqP(s.getAll());
    all.sort((x, y) => y.savedAt - x.savedAt);
    for (const old of all.slice(KEEP_AUTOSAVES)) s.delete(old.key);
  });
}
export function deleteAutosave(key) {
  idb('readwrite', (s) => s.delete(key)).catch(() => {});
}
