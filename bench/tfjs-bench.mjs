#!/usr/bin/env node
// TensorFlow.js peer of the training-speed benchmark: serves the repository (so the page
// bench/tfjs/ and bench/node_modules/ are both reachable), opens bench/tfjs/ in headless Chromium
// and prints the page's result as one JSON line.
//
//   (cd bench && npm ci)     # once: tfjs 4.22.0 and its webgpu + wasm backends
//   node bench/tfjs-bench.mjs --backend webgpu|wasm --model denoiser|cvae --channels C --batch B
//        --levels L [--warmup 3] [--blocks 10] [--steps-per-block 5] [--count-steps 5] [--timeout 1800]
//
// On webgpu the JSON line also has GPU commands per training step and per U-Net forward
// (dispatch_per_step, submit_per_step, bind_group_per_step, write_buffer_per_step,
// new_pipelines_after_warmup, forward_dispatch, ...; bench/jaxjs/gpu-counter.mjs, counted over
// 1 and 1 + count-steps extra steps after the timed blocks).
//
// Exits non-zero with a message on any error, including "no WebGPU adapter" (the page never
// falls back to another backend).

import { runPeer } from './peer-page.mjs';

runPeer({ name: 'tfjs-bench', page: 'tfjs', installed: '@tensorflow/tfjs/package.json', backends: ['webgpu', 'wasm'] });
