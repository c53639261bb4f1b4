// Errors in the worker: text for people, kind for code. Errors from the core carry a `kind`
// (config, data, checkpoint, diverged, backend, io: Rust's `Error::kind()`); code switches on it,
// never on message text, which may be reworded freely.

export function errorText(e) {
  if (e == null) return 'unknown error';
  if (typeof e === 'string') return e;
  return e.message || String(e);
}

export const errorKind = (e) => (e && typeof e === 'object' && typeof e.kind === 'string' ? e.kind : null);

/** A trap (Rust panic, OOM) leaves the wasm instance unusable: the page must restart the worker. */
export function isFatal(e) {
  return e instanceof WebAssembly.RuntimeError || e?.name === 'RuntimeError';
}
