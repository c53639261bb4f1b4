// Sessions in the worker: a run of one or more models (the core's `Session`) created on the
// backend this worker uses, or rebuilt from checkpoint bytes. WebGPU that fails to start or to
// reopen a session hands over to the CPU backend, and the page is told (a resume that fails only
// on WebGPU must not leave a fresh run to overwrite the save).

import { errorKind, errorText, isFatal } from './errors.js';
import { WORK_LIMITS } from '../shared/limits.js';

export class Sessions {
  /** `backend`: 'webgpu' | 'cpu' (the probe's verdict); `post(msg)`: to the page. */
  constructor(wasm, backend, post) {
    this.wasm = wasm;
    this.backend = backend;
    this.post = post;
  }

  /** A fresh run of `configs` (TrainConfigs, main model first) on `data`. */
  async create(configs, data) {
    this.fitBatch(configs, data);
    if (this.backend === 'webgpu') {
      try {
        return await this.wasm.Session.create(configs, data.images, data.labels, 'webgpu');
      } catch (e) {
        if (isFatal(e)) throw e;
        if (errorKind(e) === 'config' || errorKind(e) === 'data') throw e; // not WebGPU's fault
        this.toCpu(`WebGPU failed to start: ${errorText(e)}`);
      }
    }
    return await this.wasm.Session.create(configs, data.images, data.labels, 'cpu');
  }

  /**
   * A run from checkpoint bytes of its main model, with the models of `alongside` (TrainConfigs,
   * e.g. Φ*) beside it; `expect` ({model, levels}) refuses a checkpoint of any other.
   * `alongsideBytes`: by the index of `alongside`, checkpoint bytes a model beside resumes from
   * (a lesson's second trained model), or null.
   */
  async open(bytes, data, expect = null, alongside = [], alongsideBytes = null) {
    const open = () => this.wasm.Session.fromCheckpoint(bytes, data.images, data.labels, this.backend, expect?.model ?? null, expect?.levels ?? null, alongside, alongsideBytes);
    if (this.backend === 'webgpu') {
      try {
        return await open();
      } catch (e) {
        // The checkpoint's own fault (damaged, another model, too large) is not WebGPU's: no retry.
        if (isFatal(e) || ['checkpoint', 'config', 'data'].includes(errorKind(e))) throw e;
        this.toCpu(`WebGPU failed to open the run: ${errorText(e)}`);
      }
    }
    return await open();
  }

  /**
   * Each model's batch within the core's memory bound for a step (WORK_LIMITS.step_memory) on
   * `data`'s image size, which the page's URL bounds only for the bundled 28×28 digits: larger
   * images (up to 64×64) lower the batch, and the page is told.
   */
  fitBatch(configs, data) {
    const { max, label } = WORK_LIMITS.step_memory;
    for (const c of configs) {
      if (c.model === 'universal' || !data.h || !data.w) continue;
      const units = c.batch * c.base_channels * data.h * data.w;
      if (units <= max) continue;
      const batch = Math.max(1, Math.floor(max / (c.base_channels * data.h * data.w)));
      this.post({ type: 'warning', message: `Batch ${c.batch} of ${data.h}×${data.w} images at ${c.base_channels} channels needs more memory than the page allows (${label} ≤ ${max}): using batch ${batch}.` });
      c.batch = batch;
    }
  }

  /** From now on the CPU backend, and the page is told why. */
  toCpu(reason) {
    this.backend = 'cpu';
    this.post({ type: 'backend', backend: 'cpu', reason, adapter: null, cpuAdapter: false });
  }

  /** A checkpoint's metadata ({config, step, history, ...}); throws kind "checkpoint" if unusable. */
  info(bytes) {
    return this.wasm.checkpointInfo(bytes);
  }

  /** The loss history saved in a checkpoint (to redraw the curve of a resumed run). */
  savedHistory(bytes) {
    try {
      const h = this.info(bytes).history;
      return Array.isArray(h) ? h : [];
    } catch {
      return [];
    }
  }
}
