// GPU command counter for the peer pages (bench/jaxjs/ and bench/tfjs/), the same five entry points
// bench/gpu-count.mjs wraps in our page's worker: GPUComputePassEncoder.dispatchWorkgroups,
// GPUQueue.submit, GPUDevice.createBindGroup, GPUQueue.writeBuffer and
// GPUDevice.createComputePipeline(Async). Both libraries drive WebGPU from the page's main
// thread, so wrapping the prototypes here (before any counted work) sees every call: the
// methods are looked up on the prototype at each call.
//
// `perStep(run, n, k)` is the difference method of gpu-count.mjs: counts over `n` units of work
// (each run ended by one readback, like a timed block) and over `n + k` units, so the readback
// and any once-per-block cost cancel: (count(n + k) - count(n)) / k.

export const KEYS = ['dispatch', 'submit', 'bindGroup', 'writeBuffer', 'pipeline'];

export function installGpuCounter() {
  if (globalThis.__gpuCounter) return globalThis.__gpuCounter;
  if (typeof GPUComputePassEncoder === 'undefined') throw new Error('no WebGPU in this realm (GPUComputePassEncoder undefined)');
  const counts = Object.fromEntries(KEYS.map((k) => [k, 0]));
  const wrap = (proto, name, key) => {
    const orig = proto[name];
    if (typeof orig !== 'function') return;
    proto[name] = function (...args) {
      counts[key]++;
      return orig.apply(this, args);
    };
  };
  wrap(GPUComputePassEncoder.prototype, 'dispatchWorkgroups', 'dispatch');
  wrap(GPUQueue.prototype, 'submit', 'submit');
  wrap(GPUDevice.prototype, 'createBindGroup', 'bindGroup');
  wrap(GPUQueue.prototype, 'writeBuffer', 'writeBuffer');
  wrap(GPUDevice.prototype, 'createComputePipeline', 'pipeline');
  wrap(GPUDevice.prototype, 'createComputePipelineAsync', 'pipeline');
  const counter = {
    counts,
    snapshot: () => ({ ...counts }),
    since: (s) => Object.fromEntries(KEYS.map((k) => [k, counts[k] - s[k]])),
    /**
     * `run(m)` does m units of work and waits for them (one readback). Returns per-unit counts
     * by the difference method, and the pipelines created over both runs.
     */
    async perUnit(run, n, k) {
      const s0 = counter.snapshot();
      await run(n);
      const a = counter.since(s0);
      const s1 = counter.snapshot();
      await run(n + k);
      const b = counter.since(s1);
      const per = Object.fromEntries(KEYS.map((key) => [key, (b[key] - a[key]) / k]));
      return { per, newPipelines: a.pipeline + b.pipeline, raw: { [n]: a, [n + k]: b } };
    },
  };
  globalThis.__gpuCounter = counter;
  return counter;
}
