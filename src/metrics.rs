//! Measures of a set of images (flattened, row-major): diversity and distances. Computed on the
//! CPU from the one readback that also feeds the display.
//!
//! Submodules: [`classifier`] (the digit classifier whose features and predictions the figures
//! use), [`frechet`] (Fréchet distance between feature sets), [`classes`] (class histogram and
//! entropy from logits), [`memorisation`] (distance to the nearest training image), [`summary`]
//! (all of them for one sample set, with the classifier, and the real digits they are compared
//! with).

pub mod classes;
pub mod classifier;
pub mod frechet;
pub mod memorisation;
pub mod summary;

pub use classes::{entropy_nats, histogram_of, predicted_classes};
pub use classifier::Classifier;
pub use frechet::{FeatureStats, frechet_distance};
pub use memorisation::Memorisation;
pub use summary::{Baseline, Reference, SampleMetrics};

/// Root-mean-square distance between two images of the same size.
pub fn rms_distance(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let s: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    (s / a.len().max(1) as f64).sqrt()
}

/// The diversity at every level of a chain read back level-major (`n` images of `dim` pixels per
/// level): how the spread of the samples changes from z_L to z_0.
pub fn spread_per_level(pixels: &[f32], n: usize, dim: usize) -> Vec<f64> {
    if n * dim == 0 {
        return Vec::new();
    }
    pixels.chunks_exact(n * dim).map(|level| mean_pairwise_distance(level, dim)).collect()
}

/// Mean pairwise L2 distance between the `n = images.len() / dim` images (0 for fewer than two).
/// The quiz's diversity: a collapsed sampler gives (nearly) 0.
pub fn mean_pairwise_distance(images: &[f32], dim: usize) -> f64 {
    let n = images.len() / dim;
    if n < 2 {
        return 0.0;
    }
    let mut total = 0.0;
    for i in 0..n {
        let a = &images[i * dim..(i + 1) * dim];
        for j in i + 1..n {
            let b = &images[j * dim..(j + 1) * dim];
            let s: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
            total += s.sqrt();
        }
    }
    total / (n * (n - 1) / 2) as f64
}

/// Eq. (2)'s first step z_{L−1} = ŷ(z_L, L) over several draws of z_L (quiz problem 1 (a)): how
/// far it lands from the mean training image, and how far the draws land from each other. The
/// images are the level L−1 of the chains (`dim` pixels each); at most `summary::DIVERSITY_MAX`
/// enter the spread.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FirstStep {
    /// Mean RMS distance (per pixel, range −1..1) of z_{L−1} to the mean training image.
    pub rms_to_mean: f64,
    /// Mean pairwise L2 distance of the z_{L−1} (the diversity of the first step).
    pub spread: f64,
}

impl FirstStep {
    pub fn of(images: &[f32], mean_image: &[f32]) -> Self {
        let dim = mean_image.len();
        let n = (images.len() / dim).min(summary::DIVERSITY_MAX);
        FirstStep {
            rms_to_mean: mean_rms_to(images, mean_image),
            spread: mean_pairwise_distance(&images[..n * dim], dim),
        }
    }
}

/// Mean RMS distance of each image to a reference image (e.g. the mean training image).
pub fn mean_rms_to(images: &[f32], reference: &[f32]) -> f64 {
    let dim = reference.len();
    let n = images.len() / dim;
    (0..n).map(|i| rms_distance(&images[i * dim..(i + 1) * dim], reference)).sum::<f64>() / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_measured_level_by_level() {
        // Two levels of two 2-pixel images: the same image twice, then two images 5 apart.
        let px = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 3.0, 4.0];
        assert_eq!(spread_per_level(&px, 2, 2), vec![0.0, 5.0]);
    }

    #[test]
    fn identical_images_have_zero_diversity() {
        let imgs = vec![0.5f32; 4 * 10];
        assert_eq!(mean_pairwise_distance(&imgs, 10), 0.0);
    }

    #[test]
    fn pairwise_distance_of_known_points() {
        // Three 1-pixel-wide "images" at 0, 3 and 4: distances 3, 4, 1 -> mean 8/3.
        let d = mean_pairwise_distance(&[0.0, 3.0, 4.0], 1);
        assert!((d - 8.0 / 3.0).abs() < 1e-12);
        assert!((rms_distance(&[0.0, 0.0], &[3.0, 4.0]) - (12.5f64).sqrt()).abs() < 1e-12);
    }
}
