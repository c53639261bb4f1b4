//! The ranges every layer accepts, in one table: the core validates with it, the CLI passes its
//! values to the core, and the page's URL parser and controls use `www/shared/limits.js`, which is
//! generated from it (`crate::page`).

use serde::Serialize;

use crate::error::{Error, Result};

/// A closed or half-open range of numbers, optionally whole numbers only.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Limit {
    /// What a person calls it in a message ("L (levels)", "learning rate").
    pub label: &'static str,
    pub min: f64,
    pub max: f64,
    /// Whether `min` / `max` themselves are excluded.
    pub min_open: bool,
    pub max_open: bool,
    pub integer: bool,
}

impl Limit {
    const fn int(label: &'static str, min: u64, max: u64) -> Self {
        Limit { label, min: min as f64, max: max as f64, min_open: false, max_open: false, integer: true }
    }

    pub fn contains(&self, v: f64) -> bool {
        v.is_finite()
            && (!self.integer || v.fract() == 0.0)
            && if self.min_open { v > self.min } else { v >= self.min }
            && if self.max_open { v < self.max } else { v <= self.max }
    }

    /// The range as a person reads it: "1 to 1000", "> 0 and ≤ 100".
    pub fn describe(&self) -> String {
        if self.integer {
            format!("a whole number from {} to {}", self.min, self.max)
        } else {
            let lo = if self.min_open { ">" } else { "≥" };
            let hi = if self.max_open { "<" } else { "≤" };
            format!("{lo} {} and {hi} {}", self.min, self.max)
        }
    }

    /// `Ok` inside the range, else a configuration error naming the value and the range.
    pub fn check(&self, v: f64) -> Result<()> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(Error::Config(format!("{} must be {}, got {v}", self.label, self.describe())))
        }
    }
}

/// L, the number of levels.
pub const LEVELS: Limit = Limit::int("L (levels)", 1, 1000);
/// The encoder's constant a.
pub const A: Limit = Limit { label: "a", min: 0.0, max: 1.0, min_open: true, max_open: true, integer: false };
pub const BATCH: Limit = Limit::int("batch size", 1, 1024);
/// Up to 100: high enough to show a run diverging.
pub const LR: Limit =
    Limit { label: "learning rate", min: 0.0, max: 100.0, min_open: true, max_open: false, integer: false };
/// Seeds are 32-bit everywhere (exact as JS numbers, and the samplers' seed argument).
pub const SEED: Limit = Limit::int("seed", 0, u32::MAX as u64);
pub const BASE_CHANNELS: Limit = Limit::int("base channels", 4, 128);
pub const COND_DIM: Limit = Limit::int("embedding size", 8, 512);
pub const LATENT_DIM: Limit = Limit::int("latent size k", 1, 256);
/// The stochastic sampler's fixed sigma (when not the posterior's sqrt(v)).
pub const SIGMA: Limit =
    Limit { label: "sigma", min: 0.0, max: 10.0, min_open: false, max_open: false, integer: false };

/// Training steps one call queues (`Session::queue_steps`; the page's worker queues at most 64 a
/// frame). A bound of the core, not a setting: not in `all()`.
pub const STEPS_PER_CALL: Limit = Limit::int("training steps per call", 1, 1000);
/// Chains one sampler call draws (`Member::sample`, `Member::draws`): at least one, and at most
/// as many as the page's largest measurement (`METRICS_WORK` at L = 1). Not in `all()`.
pub const SAMPLES: Limit = Limit::int("samples per call", 1, 100_000);

/// The most levels the page gives the CVAE step: switching a run to the CVAE brings L down to this.
/// The step is made for few levels, where the true reverse step is far from Gaussian (docs/math.md,
/// section 3); scenario 4 trains it at L = 4 too.
pub const CVAE_MAX_LEVELS: usize = 4;

/// The most levels at which the page shows "one z_ℓ, many draws" (quiz problem 2, whose few levels
/// are 2..8): with more, one step barely moves z and every draw looks the same.
pub const DRAWS_MAX_LEVELS: usize = 8;

/// A bound on a product of settings. Each field's range alone would let a shared link combine the
/// largest of every one (batch 1024 with 128 channels needs gigabytes), so the page (the wasm
/// bridge, its URL parser and its checkpoint import) also bounds the work they make together.
/// The CLI does not: a native run may be as large as its machine allows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WorkLimit {
    /// The product in words ("batch × channels²").
    pub label: &'static str,
    pub max: f64,
}

impl WorkLimit {
    /// `Ok` up to the bound, else a configuration error naming the product.
    pub fn check(&self, work: f64) -> Result<()> {
        if work <= self.max {
            Ok(())
        } else {
            Err(Error::Config(format!("{} is {work}, more than the page allows ({})", self.label, self.max)))
        }
    }
}

/// batch × base channels²: a training step's memory and time (the page's default, 64 × 32², is
/// 65,536; this allows 16 times that, e.g. batch 256 with 64 channels).
pub const STEP_WORK: WorkLimit = WorkLimit { label: "batch × channels²", max: 1_048_576.0 };
/// L × rows: U-Net forwards of one sampler's grid (the default is 100 × 6).
pub const DRAW_WORK: WorkLimit = WorkLimit { label: "L × rows", max: 4_000.0 };
/// L × samples per sampler for the metrics (the default is 100 × 100).
pub const METRICS_WORK: WorkLimit = WorkLimit { label: "L × samples for the metrics", max: 100_000.0 };

/// A training step's memory: batch × base channels × height × width. `node bench/memory.mjs`
/// measured about 180 bytes per unit on the CPU backend (wasm memory) and about 200 in WebGPU's
/// memory pool ([docs/performance.md](../docs/performance.md#memory)), so 2^23 units is about
/// 1.5 GiB, well inside wasm32's 4 GiB: batch 334 at 32 channels on 28×28 images, or the default
/// batch 64 on 64×64 ones. `STEP_WORK` alone let batch 1024 at 32 channels through (4.5 GiB).
pub const STEP_MEMORY: WorkLimit = WorkLimit { label: "batch × channels × pixels", max: 8_388_608.0 };
/// A sampler's memory: the chains drawn together × base channels × height × width (about 50 bytes
/// per unit, measured as for `STEP_MEMORY`): 2^24 units, under 1 GiB, e.g. 668 chains at 32
/// channels on 28×28 images. Φ* (no channels) is not bounded by it.
pub const SAMPLE_MEMORY: WorkLimit = WorkLimit { label: "chains × channels × pixels", max: 16_777_216.0 };

/// What `STEP_MEMORY` and `SAMPLE_MEMORY` bound: `images` (a batch, or chains drawn together) ×
/// base channels × the pixels of one image.
pub fn memory_units(images: usize, base_channels: usize, (height, width): (usize, usize)) -> f64 {
    images as f64 * base_channels as f64 * (height * width) as f64
}

/// The work of one training step, as `STEP_WORK` bounds it.
pub fn step_work(batch: usize, base_channels: usize) -> f64 {
    batch as f64 * (base_channels as f64).powi(2)
}

/// Every bound on a product, by the name `www/shared/limits.js` uses.
pub fn all_work() -> Vec<(&'static str, WorkLimit)> {
    vec![
        ("step", STEP_WORK),
        ("draw", DRAW_WORK),
        ("metrics", METRICS_WORK),
        ("step_memory", STEP_MEMORY),
        ("sample_memory", SAMPLE_MEMORY),
    ]
}

/// Every limit by the name the page's URL and the core's JSON configuration use.
pub fn all() -> Vec<(&'static str, Limit)> {
    vec![
        ("levels", LEVELS),
        ("a", A),
        ("batch", BATCH),
        ("lr", LR),
        ("seed", SEED),
        ("base_channels", BASE_CHANNELS),
        ("cond_dim", COND_DIM),
        ("latent_dim", LATENT_DIM),
        ("sigma", SIGMA),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_and_exclude_their_ends_as_declared() {
        assert!(LEVELS.contains(1.0) && LEVELS.contains(1000.0));
        assert!(!LEVELS.contains(0.0) && !LEVELS.contains(1001.0) && !LEVELS.contains(2.5));
        assert!(!A.contains(0.0) && !A.contains(1.0) && A.contains(0.5));
        assert!(!LR.contains(0.0) && LR.contains(100.0) && !LR.contains(f64::NAN));
        assert!(SEED.contains(u32::MAX as f64) && !SEED.contains(u32::MAX as f64 + 1.0));
        let e = BATCH.check(0.0).unwrap_err().to_string();
        assert!(e.contains("batch size must be a whole number from 1 to 1024, got 0"), "{e}");
    }

    #[test]
    fn the_pages_bound_on_a_steps_work_allows_the_default_and_refuses_the_largest_fields() {
        assert!(STEP_WORK.check(step_work(64, 32)).is_ok(), "the default");
        assert!(STEP_WORK.check(step_work(256, 64)).is_ok(), "16 times the default");
        let e = STEP_WORK.check(step_work(1024, 128)).unwrap_err().to_string();
        assert!(e.contains("batch × channels² is 16777216, more than the page allows (1048576)"), "{e}");
    }
}
