#!/usr/bin/env node
// jax-js peer of the training-speed benchmark: serves the repository (so the page bench/jaxjs/
// and bench/node_modules/ are both reachable), opens bench/jaxjs/ in headless Chromium with
// WebGPU and prints the page's result as one JSON line (the shape tfjs-bench.mjs prints, plus
// GPU commands per training step and per U-Net forward; see bench/jaxjs/index.html).
//
//   (cd bench && npm ci)     # once: @jax-js/jax
//   node bench/jaxjs-bench.mjs --model denoiser|cvae --channels C --batch B --levels L
//        [--warmup 3] [--blocks 10] [--steps-per-block 5] [--count-steps 5] [--timeout 1800]
//        [--check STEPS]      (train STEPS steps, print the mean loss per 10 steps, no timing)
//        [--backend webgpu]   (accepted for symmetry with tfjs-bench.mjs; WebGPU only)
//
// Exits non-zero with a message on any error, including "no WebGPU adapter" (the page never
// falls back to jax-js's wasm device).

import { runPeer } from './peer-page.mjs';

runPeer({ name: 'jaxjs-bench', page: 'jaxjs', installed: '@jax-js/jax/package.json', backends: ['webgpu'], extra: { check: 0 } });
