//! The quiz's ideal objects, computed exactly on the training set (docs/math.md, "The ideal
//! objects"): the universal denoiser Φ* of Problem 1 and the true reverse conditional
//! p(z_{ℓ−1} | z_ℓ) of Problem 2. No training: both follow from the N training images y_i.
//!
//! With s_ℓ = a^ℓ and S_ℓ = 1 − a^{2ℓ}, the posterior over which training image produced z is
//!     w_i(z, ℓ) = softmax_i( −‖z − s_ℓ y_i‖² / (2 S_ℓ) )
//!               = softmax_i( (s_ℓ z·y_i − s_ℓ² ‖y_i‖² / 2) / S_ℓ )      (‖z‖² is the same for every i)
//! and
//!     ŷ*(z, ℓ) = Σ_i w_i y_i                                      the exact argmin of loss (1),
//!     p(z_{ℓ−1} | z_ℓ) = Σ_i w_i(z_ℓ, ℓ) N(m(z_ℓ, y_i), v_ℓ I)       the true reverse step.
//! Both are one matrix product of the batch against all N images, then a softmax per row: cheap
//! on a GPU. The images live on the device once. (Φ* as one of a run's models, beside the trained
//! ones, is `session::UniversalModel`.)

use burn::prelude::*;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::schedule::Schedule;

/// Φ*: the universal denoiser of a training set, and the exact reverse step it defines.
#[derive(Clone, Debug)]
pub struct Universal {
    pub schedule: Schedule,
    pub height: usize,
    pub width: usize,
    /// The N training images, [N, D].
    images: Tensor<2>,
    /// ‖y_i‖² / 2, [1, N].
    half_sq_norms: Tensor<2>,
    n: usize,
}

impl Universal {
    /// Φ* of `train` (the training images) for `schedule`, on `device`.
    pub fn new(train: &Dataset, schedule: Schedule, device: &Device) -> Result<Self> {
        if train.n == 0 {
            return Err(Error::Config("the universal denoiser needs at least one training image".into()));
        }
        let dim = train.image_len();
        let images = Tensor::<2>::from_data(TensorData::new(train.pixels.clone(), [train.n, dim]), device);
        let half_sq_norms = (images.clone().powi_scalar(2).sum_dim(1) * 0.5).reshape([1, train.n]);
        Ok(Self { schedule, height: train.h, width: train.w, images, half_sq_norms, n: train.n })
    }

    pub fn device(&self) -> Device {
        self.images.device()
    }

    /// Training images Φ* averages over.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// log w_i(z, ℓ) up to a per-row constant, [B, N] for z of [B, D].
    fn logits(&self, z: Tensor<2>, level: usize) -> Tensor<2> {
        let s = self.schedule.signal(level);
        let var = self.schedule.noise_std(level).powi(2);
        let dots = z.matmul(self.images.clone().transpose());
        (dots * s - self.half_sq_norms.clone() * (s * s)) / var
    }

    /// w(z, ℓ): each row a distribution over the N training images, [B, N].
    pub fn weights(&self, z: Tensor<2>, level: usize) -> Tensor<2> {
        let logits = self.logits(z, level);
        let shifted = logits.clone() - logits.max_dim(1);
        let e = shifted.exp();
        e.clone() / e.sum_dim(1)
    }

    /// ŷ*(z_ℓ, ℓ) = Σ_i w_i y_i for z of [B, 1, H, W], level ℓ ≥ 1.
    pub fn yhat(&self, z: Tensor<4>, level: usize) -> Tensor<4> {
        let dims = z.dims();
        let flat = z.reshape([dims[0], self.height * self.width]);
        self.weights(flat, level).matmul(self.images.clone()).reshape(dims)
    }

    /// One draw from the true reverse conditional p(z_{ℓ−1} | z_ℓ): a training image i ~ w(z_ℓ, ℓ)
    /// per row, by the Gumbel-max trick on the device (the argmax of the logits plus `gumbel`,
    /// [B, N] standard Gumbel noise, see `Noise::gumbel`), then N(m(z_ℓ, y_i), v_ℓ I) with `delta`
    /// ~ N(0, I) (None: the mean).
    pub fn exact_step(
        &self,
        z: Tensor<4>,
        level: usize,
        gumbel: Tensor<2>,
        delta: Option<Tensor<4>>,
    ) -> Tensor<4> {
        let dims = z.dims();
        let batch = dims[0];
        let flat = z.clone().reshape([batch, self.height * self.width]);
        let picked = (self.logits(flat, level) + gumbel).argmax(1).reshape([batch]);
        let y = self.images.clone().select(0, picked).reshape(dims);
        let p = self.schedule.posterior(level);
        let mean = y * p.coef_y + z * p.coef_z;
        match delta {
            Some(d) if p.var > 0.0 => mean + d * p.var.sqrt(),
            _ => mean,
        }
    }

    /// The L2 distance of each of `x` ([B, D]) to its nearest training image, [B].
    pub fn nearest_distances(&self, x: Tensor<2>) -> Tensor<1> {
        let batch = x.dims()[0];
        let sq = x.clone().powi_scalar(2).sum_dim(1); // [B, 1]
        // ‖x − y‖² = ‖x‖² − 2 x·y + ‖y‖², smallest over the training images.
        let d2 = sq + (self.half_sq_norms.clone() - x.matmul(self.images.clone().transpose())) * 2.0;
        d2.min_dim(1).clamp_min(0.0).sqrt().reshape([batch])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Noise, SplitMix64};

    /// A few random images in [-1, 1] as a dataset.
    fn small(n: usize, h: usize, w: usize, seed: u64) -> Dataset {
        let mut rng = SplitMix64::new(seed);
        let pixels = (0..n * h * w).map(|_| (rng.next_f64() * 2.0 - 1.0) as f32).collect();
        Dataset { n, h, w, pixels, labels: None }
    }

    fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Φ* against a direct loop over the formula, in f64.
    #[test]
    fn universal_denoiser_matches_the_direct_sum() {
        let device = crate::backend::cpu();
        let (n, h, w, b) = (7, 3, 2, 3);
        let data = small(n, h, w, 1);
        let schedule = Schedule::new(0.8, 5).unwrap();
        let u = Universal::new(&data, schedule, &device).unwrap();
        let mut rng = SplitMix64::new(9);
        let z: Vec<f32> = (0..b * h * w).map(|_| rng.normal() as f32).collect();
        for level in [1, 3, 5] {
            let got =
                read(u.yhat(Tensor::from_data(TensorData::new(z.clone(), [b, 1, h, w]), &device), level));
            let (s, var) = (schedule.signal(level), schedule.noise_std(level).powi(2));
            for r in 0..b {
                let zr = &z[r * h * w..(r + 1) * h * w];
                let logw: Vec<f64> = (0..n)
                    .map(|i| {
                        let d2: f64 = zr
                            .iter()
                            .zip(data.image(i))
                            .map(|(&z, &y)| (z as f64 - s * y as f64).powi(2))
                            .sum();
                        -d2 / (2.0 * var)
                    })
                    .collect();
                let max = logw.iter().cloned().fold(f64::MIN, f64::max);
                let wts: Vec<f64> = logw.iter().map(|l| (l - max).exp()).collect();
                let total: f64 = wts.iter().sum();
                for p in 0..h * w {
                    let want: f64 = (0..n).map(|i| wts[i] / total * data.image(i)[p] as f64).sum();
                    let g = got[r * h * w + p] as f64;
                    assert!((g - want).abs() < 1e-4, "level {level}, row {r}, pixel {p}: {g} vs {want}");
                }
            }
        }
    }

    /// At level 1 with little noise, z close to a training image picks it: the exact step lands on
    /// (nearly) that image, and its nearest training image is at distance ~0.
    #[test]
    fn exact_step_and_nearest_neighbour_find_the_training_image() {
        let device = crate::backend::cpu();
        let (n, h, w) = (5, 4, 4);
        let data = small(n, h, w, 2);
        let schedule = Schedule::new(0.99, 3).unwrap();
        let u = Universal::new(&data, schedule, &device).unwrap();
        let s = schedule.signal(1) as f32;
        let z: Vec<f32> = data.image(3).iter().map(|&y| y * s).collect();
        let z = Tensor::<4>::from_data(TensorData::new(z, [1, 1, h, w]), &device);
        let gumbel = Noise::new(4).gumbel([1, n], &device);
        let step = read(u.exact_step(z, 1, gumbel, None));
        for (g, &y) in step.iter().zip(data.image(3)) {
            assert!((g - y).abs() < 1e-3, "{g} vs {y}");
        }
        let x = Tensor::<2>::from_data(TensorData::new(data.image(2).to_vec(), [1, h * w]), &device);
        let far = Tensor::<2>::from_data(TensorData::new(vec![5.0f32; h * w], [1, h * w]), &device);
        let d = read(u.nearest_distances(Tensor::cat(vec![x, far], 0)));
        assert!(d[0] < 1e-2, "a training image is its own nearest neighbour: {}", d[0]);
        assert!(d[1] > 10.0, "a far image is far: {}", d[1]);
    }
}
