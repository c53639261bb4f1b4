//! Memorisation: how close each image of a set is to its nearest training image. A model that
//! reproduces its training set (Φ* with a noisy sampler, the exact sampler) gives distances near 0;
//! one that generalises gives distances like those of held-out real digits, which are not in the
//! training set. Distances are RMS per pixel (L2 / sqrt(D)), like the page's other distances.
//!
//! The nearest-neighbour search is one matrix product against the training images on the device
//! (`Universal::nearest_distances`); the summary here is CPU arithmetic on the read-back distances.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ideal::Universal;

/// An image whose nearest training image is within this RMS distance per pixel counts as a copy
/// (pixels in [-1, 1]; two different real digits are ~0.4 apart, a digit and its own copy
/// rounded to 8 bits ~0.002).
pub const COPY_RMS: f64 = 0.05;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memorisation {
    pub n: usize,
    /// Median RMS distance to the nearest training image.
    pub median_nn_rms: f64,
    /// Share of the images within `COPY_RMS` of a training image.
    pub copies: f64,
}

impl Memorisation {
    /// From the L2 distances to the nearest training image of images of `dim` pixels.
    pub fn from_distances(distances: &[f32], dim: usize) -> Self {
        let mut rms: Vec<f64> = distances.iter().map(|&d| d as f64 / (dim as f64).sqrt()).collect();
        rms.sort_by(f64::total_cmp);
        let n = rms.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            rms[n / 2]
        } else {
            (rms[n / 2 - 1] + rms[n / 2]) / 2.0
        };
        let copies = rms.iter().filter(|&&d| d <= COPY_RMS).count() as f64 / n.max(1) as f64;
        Self { n, median_nn_rms: median, copies }
    }

    fn distances(training: &Universal, images: &[f32]) -> (Tensor<1>, usize) {
        let dim = training.height * training.width;
        let n = images.len() / dim;
        let device = training.device();
        let x = Tensor::<2>::from_data(TensorData::new(images[..n * dim].to_vec(), [n, dim]), &device);
        (training.nearest_distances(x), dim)
    }

    /// Measure `images` (flattened, the training images' size) against `training` (browser).
    pub async fn measure_async(training: &Universal, images: &[f32]) -> Result<Self> {
        let (d, dim) = Self::distances(training, images);
        let d = crate::backend::read(d).await?;
        Ok(Self::from_distances(&d, dim))
    }

    /// The same, blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn measure_blocking(training: &Universal, images: &[f32]) -> Result<Self> {
        let (d, dim) = Self::distances(training, images);
        let d = crate::backend::read_blocking(d)?;
        Ok(Self::from_distances(&d, dim))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_copies_of_known_distances() {
        // 4-pixel images: L2 0.0, 0.08, 2.0 -> RMS 0, 0.04, 1.0.
        let m = Memorisation::from_distances(&[2.0, 0.0, 0.08], 4);
        assert_eq!(m.n, 3);
        assert!((m.median_nn_rms - 0.04).abs() < 1e-7);
        assert!((m.copies - 2.0 / 3.0).abs() < 1e-12);
    }
}
