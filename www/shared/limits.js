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
  "sample_memory": {
    "label": "chains × channels × pixels",
    "max": 16777216.0
  },
  "step": {
    "label": "batch × channels²",
    "max": 1048576.0
  },
  "step_memory": {
    "label": "batch × channels × pixels",
    "max": 8388608.0
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
export const FILES = {"checkpointMagic":[68,78,76,65,66,0,1,0],"checkpointMaxBytes":268435456,"idxMaxBytes":68157440};

// The lessons (src/lesson.rs): question, choices, scenario, bundled checkpoints. Their
// verdicts come from the worker (the core's `judgeLesson` on the measured figures).
export const LESSONS = [
  {
    "name": "mean-image",
    "title": "The best guess from pure noise",
    "quiz": "Problem 1 (a)",
    "scenario": "perfect",
    "steps": 600,
    "question": "Assuming universality for Φ, and z_L distributed as N(0, I) independent of y, what is ŷ_Φ*(z_L, L), the denoiser's prediction of the image from the top level?",
    "choices": [
      {
        "id": "mean",
        "text": "The mean training image E[y], the same for every z_L"
      },
      {
        "id": "depends",
        "text": "A different image for each z_L: some digit that z_L suggests"
      }
    ],
    "measures": "eq. (2)'s first step z_{L−1} = ŷ(z_L, L) for many draws of z_L: its RMS distance to the mean training image and how far the draws are from each other, with the perfect denoiser Φ* and the trained network",
    "explanation": "z_L is independent of y, so the prediction that minimises the expected squared error is the same for every z_L: the mean image, ŷ_Φ*(z_L, L) = E[y].",
    "try_this": {
      "text": "Watch the grids: eq. (2)'s second column is the same blur in every row",
      "query": "scenario=perfect"
    },
    "checkpoints": [
      "collapse-0-denoiser.ckpt",
      null
    ]
  },
  {
    "name": "collapse",
    "title": "Deterministic decoding collapses",
    "quiz": "Problem 1 (b)",
    "scenario": "collapse",
    "steps": 600,
    "question": "Does your answer to (a) have implications for the diversity of the generated images when every step is deterministic, z_{ℓ−1} = ŷ(z_ℓ, ℓ) (eq. (2))?",
    "choices": [
      {
        "id": "same",
        "text": "Every z_L ends on the same image"
      },
      {
        "id": "fewer",
        "text": "Different images, but of fewer kinds of digit than real ones"
      },
      {
        "id": "varied",
        "text": "Varied digits, like real ones"
      }
    ],
    "measures": "the diversity (mean pairwise distance) and class entropy of eq. (2)'s final samples z_0, beside real digits'",
    "explanation": "By (a), z_{L−1} is the mean image whatever z_L was. If every later step is deterministic, every chain continues from the same z_{L−1}, so the sampler always produces the same image.",
    "try_this": {
      "text": "Add noise to each step: the stochastic sampler and DDIM",
      "query": "lesson=noise"
    },
    "checkpoints": [
      "collapse-0-denoiser.ckpt"
    ]
  },
  {
    "name": "imperfect",
    "title": "Why it varies in practice",
    "quiz": "Problem 1 (c)",
    "scenario": "imperfect",
    "steps": 60,
    "question": "Why might an image generator based on eq. (1) and eq. (2) be diverse in practice? Is a small network's first step ŷ(z_L, L) really the same for every z_L?",
    "choices": [
      {
        "id": "constant",
        "text": "Yes: a trained network also gives exactly the mean image"
      },
      {
        "id": "varies",
        "text": "No: a real network's ŷ(z_L, L) still depends a little on z_L"
      }
    ],
    "measures": "how far apart eq. (2)'s first steps z_{L−1} land for different z_L, beside real digits, and the diversity left at z_0",
    "explanation": "The universality assumption does not hold in practice, so ŷ(z_L, L) is not truly constant in z_L. That variation can be amplified by the later steps of the chain.",
    "try_this": {
      "text": "A bigger network trained ten times longer (scenario 'collapse')",
      "query": "lesson=collapse"
    },
    "checkpoints": [
      null
    ]
  },
  {
    "name": "noise",
    "title": "Noise restores diversity",
    "quiz": "Problem 2 (the sampler of diffusion models)",
    "scenario": "noise",
    "steps": 600,
    "question": "Diffusion models sample z_{ℓ−1} = ŷ(z_ℓ, ℓ) + σ δ with δ ~ N(0, I). With the same trained network that collapses under eq. (2), what does adding that noise do?",
    "choices": [
      {
        "id": "restores",
        "text": "Varied digits of every class again"
      },
      {
        "id": "still",
        "text": "Still one image: the network is the same"
      }
    ],
    "measures": "the diversity and class entropy of the stochastic sampler's and DDIM's final samples, beside eq. (2)'s and real digits'",
    "explanation": "Fresh noise at every step (or, in DDIM, the noise direction kept from z_L) means the chains no longer all pass through the mean image, so different z_L lead to different digits.",
    "try_this": {
      "text": "σ = 0.1 instead of the posterior σ",
      "query": "scenario=noise&sigma=0.1"
    },
    "checkpoints": [
      "collapse-0-denoiser.ckpt"
    ]
  },
  {
    "name": "few-levels",
    "title": "Few levels need a non-Gaussian step",
    "quiz": "Problem 2",
    "scenario": "few-levels",
    "steps": 2000,
    "question": "With few layers (here L = 4) there is more noise between layers and the true p(z_{ℓ−1} | z_ℓ) is not Gaussian. Which step then gives samples closer to real digits: the Gaussian step ŷ + σ δ, or a conditional VAE step with a latent ε?",
    "choices": [
      {
        "id": "cvae",
        "text": "The CVAE step"
      },
      {
        "id": "gaussian",
        "text": "The Gaussian step"
      },
      {
        "id": "same",
        "text": "About the same"
      }
    ],
    "measures": "the Fréchet distance to real digits of each step's final samples (both trained the same number of steps)",
    "explanation": "A Gaussian step can only scatter noise around one mean, a blur of the digits z_ℓ could come from. The CVAE step first draws a latent ε, so p(z_{ℓ−1} | z_ℓ) can be multimodal: it picks one of them.",
    "try_this": {
      "text": "The same with L = 40 levels",
      "query": "scenario=noise"
    },
    "checkpoints": [
      "few-levels-0-denoiser.ckpt",
      "few-levels-1-cvae.ckpt",
      null
    ]
  },
  {
    "name": "perfect",
    "title": "What the perfect denoiser does",
    "quiz": "Problem 1 (a, b) with Φ*",
    "scenario": "perfect",
    "steps": 600,
    "question": "Φ* is the universal denoiser, computed exactly from the training images. Where does eq. (2) end with it?",
    "choices": [
      {
        "id": "training-digit",
        "text": "On one training digit, the same from every z_L"
      },
      {
        "id": "mean",
        "text": "On the blurry mean image"
      },
      {
        "id": "varied",
        "text": "On varied new digits"
      }
    ],
    "measures": "the diversity of Φ*'s eq. (2) samples and their distance to the nearest training image",
    "explanation": "Φ*(z_L, L) is the mean image for every z_L, so every chain continues from the same point. Further down Φ* can only ever predict a weighted average of training images, and as the noise shrinks the weight goes to one of them: the chain ends on a training digit.",
    "try_this": {
      "text": "Noise in the steps with Φ*",
      "query": "lesson=memorisation"
    },
    "checkpoints": [
      "collapse-0-denoiser.ckpt",
      null
    ]
  },
  {
    "name": "memorisation",
    "title": "Memorisation vs generalisation",
    "quiz": "Beyond the quiz: the perfect denoiser",
    "scenario": "memorisation",
    "steps": 600,
    "question": "Φ* is the best possible denoiser of the training set. With noise in the sampler, do Φ* and the trained network make new digits, or copies of training digits?",
    "choices": [
      {
        "id": "phi-copies",
        "text": "Φ* copies training digits; the network makes new ones"
      },
      {
        "id": "both-new",
        "text": "Both make new digits"
      },
      {
        "id": "both-copy",
        "text": "Both copy training digits"
      },
      {
        "id": "mixed",
        "text": "Some copies, some new digits"
      }
    ],
    "measures": "the share of samples within 0.05 RMS of a training image (copies) for Φ* and the network",
    "explanation": "The minimiser of eq. (1) over all functions knows nothing but the training set: sampling with it reproduces training images. A small network cannot fit that function and generalises instead.",
    "try_this": {
      "text": "The true reverse conditional of Φ*",
      "query": "scenario=memorisation"
    },
    "checkpoints": [
      "collapse-0-denoiser.ckpt",
      null
    ]
  }
];
