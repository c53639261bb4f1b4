//! A portable seeded PRNG (SplitMix64): the same numbers natively and on wasm32, so a seed means
//! the same batches, levels and evaluation noise in the CLI and in the browser.
//! (`rand`'s SmallRng is a different algorithm on 32-bit targets.) `Noise` draws tensors of such
//! numbers for the samplers.

use burn::prelude::*;

#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth mentioning for n << 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `0..bound` with no bias at all (Lemire's method with rejection). `bound > 0`.
    /// The data's shuffles use this one (and so keep their exact order across versions).
    pub fn below_unbiased(&mut self, bound: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(bound);
        if (m as u64) < bound {
            let threshold = bound.wrapping_neg() % bound;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(bound);
            }
        }
        (m >> 64) as u64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Gaussian noise drawn on the CPU from a seed and uploaded: the same seed gives the same z_L
/// and the same per-step noise on every backend (CPU, wgpu, WebGPU), whatever else shares the
/// device's RNG.
#[derive(Clone)]
pub struct Noise(SplitMix64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(SplitMix64::new(seed ^ 0x6E6F_6973_6521))
    }

    pub fn normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.0.normal() as f32).collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    /// Standard Gumbel noise −ln(−ln u), u uniform in (0, 1): argmax(logits + it) draws from
    /// softmax(logits) (the exact sampler's choice of training image).
    pub fn gumbel(&mut self, shape: [usize; 2], device: &Device) -> Tensor<2> {
        let v: Vec<f32> = (0..shape[0] * shape[1])
            .map(|_| {
                // Never exactly 0 or 1, so both logarithms stay finite.
                let u = self.0.next_f64().clamp(f64::EPSILON, 1.0 - f64::EPSILON);
                -(-u.ln()).ln() as f32
            })
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }
}
