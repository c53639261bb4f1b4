//! The fixed encoder of docs/math.md: z_l = a z_{l-1} + sqrt(1 - a^2) eps, l = 1..L, with its closed
//! form q(z_l | y) = N(a^l y, (1 - a^(2l)) I) and the one-step posterior q(z_{l-1} | z_l, y).
//! The coefficients are f64 arithmetic; `q_sample` and `encode_step` apply them to a batch of
//! images, one level per image (the one place the closed form is written).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::limits;

/// The signal left at level L when `a` is not given: z_L is practically independent of y.
pub const DEFAULT_FINAL_SIGNAL: f64 = 0.01;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Per-step signal factor, 0 < a < 1.
    pub a: f64,
    /// Number of levels L >= 1.
    pub levels: usize,
}

/// q(z_{l-1} | z_l, y) = N(coef_y * y + coef_z * z_l, var * I).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Posterior {
    pub coef_y: f64,
    pub coef_z: f64,
    pub var: f64,
}

impl Schedule {
    pub fn new(a: f64, levels: usize) -> Result<Self> {
        limits::LEVELS.check(levels as f64)?;
        limits::A.check(a)?;
        Ok(Self { a, levels })
    }

    /// The `a` for which a^L = 0.01 (L = 100 -> 0.955, L = 4 -> 0.316).
    pub fn default_a(levels: usize) -> f64 {
        DEFAULT_FINAL_SIGNAL.powf(1.0 / levels.max(1) as f64)
    }

    /// `a` given, or the default for `levels`.
    pub fn from_options(a: Option<f64>, levels: usize) -> Result<Self> {
        Self::new(a.unwrap_or_else(|| Self::default_a(levels)), levels)
    }

    /// a^l: how much of y is left in z_l.
    pub fn signal(&self, level: usize) -> f64 {
        self.a.powi(level as i32)
    }

    /// sqrt(1 - a^(2l)): the standard deviation of the noise in z_l.
    pub fn noise_std(&self, level: usize) -> f64 {
        (1.0 - self.a.powi(2 * level as i32)).max(0.0).sqrt()
    }

    /// sqrt(1 - a^2): the noise added by one step of the encoder.
    pub fn step_noise_std(&self) -> f64 {
        (1.0 - self.a * self.a).sqrt()
    }

    /// The closed form for a batch: z = a^l y + sqrt(1 - a^(2l)) eps, with `levels[i]` the level
    /// of image i (0 gives y itself). `y`, `eps`: [n, 1, H, W].
    pub fn q_sample(&self, y: Tensor<4>, eps: Tensor<4>, levels: &[usize]) -> Tensor<4> {
        QCoefs::new(self, levels, &y.device()).q_sample(y, eps)
    }

    /// One step of the encoder: z_l = a z_{l-1} + sqrt(1 - a^2) eps.
    pub fn encode_step(&self, z_prev: Tensor<4>, eps: Tensor<4>) -> Tensor<4> {
        z_prev * self.a + eps * self.step_noise_std()
    }

    /// The one-step posterior q(z_{l-1} | z_l, y) for 1 <= l <= L (docs/math.md, section 1).
    pub fn posterior(&self, level: usize) -> Posterior {
        assert!(level >= 1, "the posterior is defined for l >= 1");
        let a = self.a;
        let b = 1.0 - a * a;
        let a2l = a.powi(2 * level as i32);
        let a2lm1 = a.powi(2 * (level as i32 - 1));
        let denom = 1.0 - a2l;
        Posterior {
            coef_y: a.powi(level as i32 - 1) * b / denom,
            coef_z: a * (1.0 - a2lm1) / denom,
            var: (b * (1.0 - a2lm1) / denom).max(0.0),
        }
    }
}

/// The closed form's coefficients a^l and sqrt(1 - a^(2l)) for a batch's levels, on the device:
/// made apart from [`Schedule::q_sample`] so that a training step can upload them with its other
/// inputs before it queues any kernel.
pub struct QCoefs {
    signal: Tensor<4>,
    noise_std: Tensor<4>,
}

impl QCoefs {
    pub fn new(schedule: &Schedule, levels: &[usize], device: &Device) -> Self {
        Self {
            signal: per_image(levels, |l| schedule.signal(l), device),
            noise_std: per_image(levels, |l| schedule.noise_std(l), device),
        }
    }

    /// z = a^l y + sqrt(1 - a^(2l)) eps.
    pub fn q_sample(self, y: Tensor<4>, eps: Tensor<4>) -> Tensor<4> {
        y * self.signal + eps * self.noise_std
    }
}

/// A coefficient per image, shaped [n, 1, 1, 1] to broadcast over [n, 1, H, W].
fn per_image(levels: &[usize], f: impl Fn(usize) -> f64, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = levels.iter().map(|&l| f(l) as f32).collect();
    Tensor::from_data(TensorData::new(v, [levels.len(), 1, 1, 1]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::SmallRng};

    fn normal(rng: &mut SmallRng) -> f64 {
        // Box-Muller: keeps the test free of extra crates.
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    #[test]
    fn default_a_reaches_one_percent() {
        for l in [1, 4, 10, 100, 1000] {
            let s = Schedule::from_options(None, l).unwrap();
            assert!((s.signal(l) - 0.01).abs() < 1e-9, "L={l}");
        }
        assert!((Schedule::default_a(100) - 0.955).abs() < 1e-3);
        assert!((Schedule::default_a(4) - 0.316).abs() < 1e-3);
    }

    #[test]
    fn invalid_values_are_clear_errors() {
        for (a, l) in [(0.0, 10), (1.0, 10), (-0.5, 10), (f64::NAN, 10), (0.9, 0), (0.9, 1001)] {
            let err = Schedule::new(a, l).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("a must") || msg.contains("L (levels)"), "{msg}");
        }
    }

    /// Iterate the chain z_l = a z_{l-1} + sqrt(1-a^2) eps from a fixed y and compare the sample
    /// mean and variance of z_l with the closed form, at several levels.
    #[test]
    fn closed_form_matches_iterated_chain() {
        let s = Schedule::new(0.9, 20).unwrap();
        let y = 0.7;
        let n = 40_000;
        let mut rng = SmallRng::seed_from_u64(7);
        let mut sums = vec![0.0f64; s.levels + 1];
        let mut sq = vec![0.0f64; s.levels + 1];
        for _ in 0..n {
            let mut z = y;
            for l in 1..=s.levels {
                z = s.a * z + s.step_noise_std() * normal(&mut rng);
                sums[l] += z;
                sq[l] += z * z;
            }
        }
        for l in [1, 2, 5, 10, 20] {
            let mean = sums[l] / n as f64;
            let var = sq[l] / n as f64 - mean * mean;
            let want_mean = s.signal(l) * y;
            let want_var = s.noise_std(l).powi(2);
            // Standard error of the mean is sqrt(var/n) <= 0.005; allow 4 of them.
            assert!((mean - want_mean).abs() < 0.02, "l={l}: mean {mean} vs {want_mean}");
            assert!((var - want_var).abs() < 0.03 * want_var.max(0.1), "l={l}: var {var} vs {want_var}");
        }
    }

    /// The posterior coefficients of docs/math.md, checked against an independent derivation: the
    /// product of the Gaussians q(z_{l-1}|y) and q(z_l|z_{l-1}) as a function of z_{l-1}.
    #[test]
    fn posterior_matches_gaussian_product() {
        for (a, l) in [(0.5, 1), (0.5, 2), (0.9, 3), (0.955, 50), (0.316, 4), (0.99, 300)] {
            let s = Schedule::new(a, 400.max(l)).unwrap();
            let p = s.posterior(l);
            // prior on z_{l-1}: N(a^{l-1} y, 1 - a^{2(l-1)}); likelihood z_l ~ N(a z_{l-1}, 1 - a^2)
            let prior_var: f64 = 1.0 - a.powi(2 * (l as i32 - 1));
            let lik_var = 1.0 - a * a;
            if prior_var == 0.0 {
                assert_eq!(p.var, 0.0);
                assert!((p.coef_y - 1.0).abs() < 1e-12 && p.coef_z.abs() < 1e-12);
                continue;
            }
            let prec = 1.0 / prior_var + a * a / lik_var;
            let var = 1.0 / prec;
            let coef_y = var * a.powi(l as i32 - 1) / prior_var;
            let coef_z = var * a / lik_var;
            assert!((p.var - var).abs() < 1e-9, "a={a} l={l}: var {} vs {var}", p.var);
            assert!((p.coef_y - coef_y).abs() < 1e-9, "a={a} l={l}");
            assert!((p.coef_z - coef_z).abs() < 1e-9, "a={a} l={l}");
        }
    }

    /// And statistically: draw y-conditioned pairs (z_{l-1}, z_l) from the chain and regress.
    #[test]
    fn posterior_matches_simulated_pairs() {
        let s = Schedule::new(0.8, 10).unwrap();
        let (y, l) = (0.5, 3);
        let p = s.posterior(l);
        let mut rng = SmallRng::seed_from_u64(11);
        // Keep the pairs whose z_l falls near a chosen value, then compare mean/var of z_{l-1}.
        let target = 0.2;
        let (mut n, mut sum, mut sq) = (0usize, 0.0, 0.0);
        while n < 20_000 {
            let zprev = s.signal(l - 1) * y + s.noise_std(l - 1) * normal(&mut rng);
            let zl = s.a * zprev + s.step_noise_std() * normal(&mut rng);
            if (zl - target).abs() < 0.01 {
                n += 1;
                sum += zprev;
                sq += zprev * zprev;
            }
        }
        let mean = sum / n as f64;
        let var = sq / n as f64 - mean * mean;
        let want = p.coef_y * y + p.coef_z * target;
        assert!((mean - want).abs() < 0.02, "mean {mean} vs {want}");
        assert!((var - p.var).abs() < 0.05 * p.var, "var {var} vs {}", p.var);
    }
}
