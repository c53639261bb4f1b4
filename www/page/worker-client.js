// The page's side of the training worker (www/worker/worker.js): starting and stopping it, sending it
// messages, and dispatching its messages to one handler per message type. One connection per page
// load (`worker`); www/page/app.js connects it to the handlers (www/page/messages.js) at load.

export class WorkerClient {
  constructor() {
    this.handlers = {};
    this.onCrash = () => {};
    this.worker = null;
  }

  /**
   * Where the worker's messages go: `handlers` { [message type]: (msg) => void }; `onCrash(reason)`:
   * the worker script failed.
   */
  connect(handlers, onCrash) {
    this.handlers = handlers;
    this.onCrash = onCrash;
  }

  get running() {
    return this.worker !== null;
  }

  /** A fresh worker (the old one, if any, is terminated), started with `init`. */
  start(init) {
    this.worker?.terminate();
    const w = new Worker(new URL('../worker/worker.js', import.meta.url), { type: 'module' });
    w.onmessage = (ev) => {
      const msg = ev.data;
      const handle = this.handlers[msg.type];
      if (handle) handle(msg);
      else console.warn('unknown worker message', msg);
    };
    w.onerror = (ev) => {
      ev.preventDefault?.();
      this.onCrash(`the training worker failed: ${ev.message || 'script error'}`);
    };
    this.worker = w;
    w.postMessage({ type: 'init', ...init });
  }

  post(msg, transfer) {
    this.worker?.postMessage(msg, transfer);
  }

  stop() {
    this.worker?.terminate();
    this.worker = null;
  }
}

/** The page's connection to its training worker. */
export const worker = new WorkerClient();
