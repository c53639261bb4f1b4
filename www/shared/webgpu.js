// WebGPU as the page and the worker both see it: whether there is an adapter (and whether it runs on
// the CPU), and which backend a run trains on given that. Imported by the page (to choose its
// starting size) and by the worker (to choose its backend); neither imports the other's code.

const message = (e) => (e && e.message) || String(e);

function isCpuAdapter(info, adapter) {
  const text = `${info.vendor || ''} ${info.architecture || ''} ${info.description || ''} ${info.device || ''}`;
  return (
    /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i.test(text) ||
    adapter.isFallbackAdapter === true ||
    info.isFallbackAdapter === true
  );
}

/**
 * The backend a page asking for `requested` ('auto', 'webgpu' or 'cpu', the URL's `backend`) trains
 * on, given the adapter `probe` found: WebGPU on a GPU; on an adapter that runs on the CPU
 * (SwiftShader, lavapipe), burn's CPU backend unless WebGPU was asked for: emulated WebGPU is
 * several times slower there and compiles its shaders for seconds before the first step
 * (docs/performance.md, "The first minute"); the CPU backend when there is no adapter.
 */
export function chooseBackend(probe, requested) {
  if (!probe.ok) return { backend: 'cpu', reason: probe.reason };
  if (probe.cpuAdapter && requested !== 'webgpu') {
    return { backend: 'cpu', reason: 'the WebGPU adapter runs on the CPU, where burn\'s CPU backend is faster' };
  }
  return { backend: 'webgpu', reason: null };
}

/** What WebGPU offers here: an adapter (and whether it runs on the CPU), or why there is none. */
export async function probeWebGpu(forceCpu) {
  if (forceCpu) return { ok: false, reason: 'the CPU backend was requested (backend=cpu in the URL)' };
  if (!('gpu' in navigator) || !navigator.gpu) {
    return { ok: false, reason: 'this browser does not expose WebGPU (navigator.gpu is missing)' };
  }
  let adapter;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch (e) {
    return { ok: false, reason: `requestAdapter() failed: ${message(e)}` };
  }
  if (!adapter) {
    return { ok: false, reason: 'no WebGPU adapter is available (WebGPU disabled, or the GPU is blocklisted)' };
  }
  let info = adapter.info;
  if (!info && adapter.requestAdapterInfo) info = await adapter.requestAdapterInfo().catch(() => ({}));
  info = info || {};
  const adapterInfo = {
    vendor: info.vendor || '',
    architecture: info.architecture || '',
    description: info.description || '',
    device: info.device || '',
  };
  return { ok: true, adapter: adapterInfo, cpuAdapter: isCpuAdapter(info, adapter) };
}
