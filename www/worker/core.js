// The wasm core in a worker: the wasm-bindgen module (pkg/, built by scripts/build-web.sh),
// compiled and instantiated. The training worker compiles it (streaming, from the network); the
// drawing worker (www/worker/draw-worker.js) is given that compiled module instead of compiling
// the same 30 MB again.

const PKG = new URL('../../pkg/denoise_lab.js', import.meta.url).href;
const WASM = new URL('../../pkg/denoise_lab_bg.wasm', import.meta.url).href;

/** The core's compiled `WebAssembly.Module`: streamed, or from the whole file where the server does not say `application/wasm`. */
async function compile() {
  try {
    return await WebAssembly.compileStreaming(fetch(WASM));
  } catch {
    const res = await fetch(WASM);
    if (!res.ok) throw new Error(`failed to fetch the wasm core (${WASM}): HTTP ${res.status}`);
    return await WebAssembly.compile(await res.arrayBuffer());
  }
}

/** Free a core object (a session, a Metrics, a job) that may have been freed already. */
export function freeCore(obj) {
  try {
    obj?.free();
  } catch {
    /* already freed */
  }
}

/**
 * The core: `{core, module}`, `core` its JS bindings ready to call, `module` the compiled module
 * behind them. `module`: a compiled module of this build to instantiate (absent: compile it).
 */
export async function loadCore(module) {
  const core = await import(PKG);
  const compiled = module ?? (await compile());
  await core.default({ module_or_path: compiled });
  return { core, module: compiled };
}
