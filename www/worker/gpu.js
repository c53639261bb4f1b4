// The GPUDevice burn creates in the worker, watched so that a lost device is reported instead of
// hanging. (Whether there is an adapter at all: ../shared/webgpu.js.)

import { errorText } from './errors.js';

let device = null; // captured from requestDevice, for `lost` and the test hook

/** The GPUDevice burn created (null before, and on the CPU backend). */
export const gpuDevice = () => device;

/**
 * Watch every GPUDevice this worker creates: `onLost(info)` when it is lost, `onError(message)`
 * for an uncaptured WebGPU error.
 */
export function watchDevices({ onLost, onError }) {
  if (typeof GPUAdapter === 'undefined' || !GPUAdapter.prototype.requestDevice) return;
  const original = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const d = await original.apply(this, args);
    device = d;
    d.lost.then((info) => onLost(info));
    d.addEventListener('uncapturederror', (ev) => onError(errorText(ev.error)));
    return d;
  };
}
