// The autosave store (www/page/autosave.js) against a fake IndexedDB: a failed open is tried again
// on the next save instead of failing every later save of the tab, and a schema upgrade from
// another tab closes this tab's connection (issue 26, "the autosave store").
import { test } from 'node:test';
import assert from 'node:assert/strict';

/** A fake `indexedDB.open` whose first `failures` calls fail; the store holds one record. */
function fakeIndexedDb(failures) {
  const opened = [];
  const record = { key: 'k', step: 7 };
  const db = {
    closed: false,
    close() {
      this.closed = true;
    },
    transaction() {
      const tx = {
        objectStore: () => ({
          get: () => {
            const req = {};
            setTimeout(() => {
              req.result = record;
              req.onsuccess?.();
              setTimeout(() => tx.oncomplete?.());
            });
            return req;
          },
        }),
      };
      return tx;
    },
  };
  return {
    opened,
    db,
    open() {
      const req = {};
      opened.push(req);
      const fail = opened.length <= failures;
      setTimeout(() => {
        if (fail) {
          req.error = new Error('busy');
          req.onerror?.();
        } else {
          req.result = db;
          req.onsuccess?.();
        }
      });
      return req;
    },
  };
}

test('a failed open is retried by the next call, and another tab upgrading the schema closes this one', async () => {
  const fake = fakeIndexedDb(1);
  globalThis.self = globalThis;
  globalThis.indexedDB = fake;
  const { loadAutosave } = await import('../../www/page/autosave.js');
  assert.equal(await loadAutosave('k'), null, 'the first open fails: no save');
  assert.deepEqual(await loadAutosave('k'), { key: 'k', step: 7 }, 'the next call opens again and reads the save');
  assert.equal(fake.opened.length, 2);
  assert.deepEqual(await loadAutosave('k'), { key: 'k', step: 7 });
  assert.equal(fake.opened.length, 2, 'an open connection is reused');
  fake.db.onversionchange();
  assert.ok(fake.db.closed, 'closed for the other tab’s upgrade');
  await loadAutosave('k');
  assert.equal(fake.opened.length, 3, 'reopened afterwards');
});
