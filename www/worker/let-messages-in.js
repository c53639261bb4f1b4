// Let the worker's queued messages (Pause, Play, Export) run before going on. Awaiting wasm work
// that finished without waiting for the GPU (the CPU backend) resumes as a microtask, which never
// lets a message in, so a pass that checks "should I give way?" between samplers must yield first.
// A MessageChannel round trip is a task of its own, without setTimeout's 4 ms clamping.

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
channel.port1.unref?.(); // in Node (the unit tests import the worker's run) an open port keeps the process alive

/** Resolves after the messages already queued for this worker have been handled. */
export function letMessagesIn() {
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel.port2.postMessage(null);
  });
}
