//! The ranges every layer accepts, in one table: the core validates with it, the CLI passes its
//! values to the core, and the page's URL parser and controls use `www/limits.js`, which is
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
}
