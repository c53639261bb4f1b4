// Generated from the core (src/page.rs) by `cargo run -- limits --js > www/shared/limits.js`: do not edit.
// The ranges the core accepts, by configuration field.
export const LIMITS = {
  "a": {
    "integer": false,
    "label": "a",
    "max": 1.0,
    "max_open": true,
    "min": 0.0,
    "min_open": true
  },
  "base_channels": {
    "integer": true,
    "label": "base channels",
    "max": 128.0,
    "max_open": false,
    "min": 4.0,
    "min_open": false
  },
  "batch": {
    "integer": true,
    "label": "batch size",
    "max": 1024.0,
    "max_open": false,
    "min": 1.0,
    "min_open": false
  },
  "cond_dim": {
    "integer": true,
    "label": "embedding size",
    "max": 512.0,
    "max_open": false,
    "min": 8.0,
    "min_open": false
  },
  "latent_dim": {
    "integer": true,
    "label": "latent size k",
    "max": 256.0,
    "max_open": false,
    "min": 1.0,
    "min_open": false
  },
  "levels": {
    "integer": true,
    "label": "L (levels)",
    "max": 1000.0,
    "max_open": false,
    "min": 1.0,
    "min_open": false
  },
  "lr": {
    "integer": false,
    "label": "learning rate",
    "max": 100.0,
    "max_open": false,
    "min": 0.0,
    "min_open": true
  },
  "seed": {
    "integer": true,
    "label": "seed",
    "max": 4294967295.0,
    "max_open": false,
    "min": 0.0,
    "min_open": false
  },
  "sigma": {
    "integer": false,
    "label": "sigma",
    "max": 10.0,
    "max_open": false,
    "min": 0.0,
    "min_open": false
  }
};

// The core's default configuration (TrainConfig::default()), by configuration field (a: null
// is a^L = DEFAULT_FINAL_SIGNAL).
export const DEFAULTS = {
  "a": null,
  "base_channels": 32,
  "batch": 64,
  "clip_norm": 1.0,
  "cond_dim": 64,
  "held_out": 1000,
  "latent_dim": 32,
  "levels": 100,
  "lr": 0.002,
  "model": "denoiser",
  "seed": 1
};

// Bounds on products of settings (a step's, a grid's and the metrics' work) on the page.
export const WORK_LIMITS = {
  "draw": {
    "label": "L × rows",
    "max": 4000.0
  },
  "metrics": {
    "label": "L × samples for the metrics",
    "max": 100000.0
  },
  "step": {
    "label": "batch × channels²",
    "max": 1048576.0
  }
};

// The samplers that apply to each model, in the order they are shown.
export const SAMPLERS_BY_MODEL = {
  "cvae": [
    "cvae"
  ],
  "denoiser": [
    "deterministic",
    "stochastic",
    "ddim"
  ],
  "universal": [
    "deterministic",
    "stochastic",
    "ddim",
    "exact"
  ]
};

// Every sampler spec a run can show ([model/]sampler: Φ*'s are "universal/...").
export const SAMPLER_SPECS = ["deterministic","stochastic","ddim","cvae","universal/deterministic","universal/stochastic","universal/ddim","universal/exact"];

// The default a makes a^L equal to this (Schedule::default_a).
export const DEFAULT_FINAL_SIGNAL = 0.01;

// The share of the CVAE step's training pairs drawn at l = 1 (cvae::LAST_STEP_SHARE).
export const CVAE_LAST_STEP_SHARE = 0.5;

// The most levels the page gives the CVAE step (limits::CVAE_MAX_LEVELS).
export const CVAE_MAX_LEVELS = 4;

// The most levels at which the page shows one z_l's many draws (limits::DRAWS_MAX_LEVELS).
export const DRAWS_MAX_LEVELS = 8;

// What a file must start with, and its largest size, before the page copies it into the wasm.
export const FILES = {"checkpointMagic":[68,78,76,65,66,0,1,0],"checkpointMaxBytes":536870912,"idxMaxBytes":68157440};
