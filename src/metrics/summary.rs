//! All the measures of one sample set (docs/math.md, section 4, "Measuring what a sample set is"), against a
//! reference set of real digits: Fréchet distance in the classifier's feature space, class
//! histogram and entropy (nats), diversity (mean pairwise L2 distance in pixel space).
//!
//! Plain slices in, numbers out. The classifier pass is the only device work; `*_async` reads it
//! back asynchronously (browser), `*_blocking` synchronously (native). `from_embedding` does the
//! CPU part alone, for a caller that already has the embedding.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::classes::{entropy_nats, histogram_of};
use super::classifier::{CLASSES, Classifier, Embedding, FEATURES, SIDE};
use super::frechet::{FeatureStats, frechet_distance};
use super::mean_pairwise_distance;
use crate::error::Result;

/// Images per set used for the pairwise diversity (O(n^2)): the first `DIVERSITY_MAX`.
pub const DIVERSITY_MAX: usize = 256;

/// What the real digits give: the Fréchet reference statistics and the figures to compare with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub n: usize,
    pub stats: FeatureStats,
    pub histogram: Vec<usize>,
    pub entropy_nats: f64,
    pub diversity: f64,
}

/// The figures of one sample set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleMetrics {
    pub n: usize,
    /// Fréchet distance to the reference set in the classifier's 64-d feature space.
    pub frechet: f64,
    /// Predicted class counts, digits 0..9.
    pub histogram: Vec<usize>,
    /// Entropy of `histogram`, in nats (max ln 10 = 2.303).
    pub entropy_nats: f64,
    /// Mean pairwise L2 distance of the (first 256) images, in pixel units of [-1, 1].
    pub diversity: f64,
    /// Distance to the nearest training image, when the training images were at hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memorisation: Option<super::Memorisation>,
}

fn diversity(images: &[f32]) -> f64 {
    let dim = SIDE * SIDE;
    let n = (images.len() / dim).min(DIVERSITY_MAX);
    mean_pairwise_distance(&images[..n * dim], dim)
}

impl Reference {
    pub fn from_embedding(embedding: &Embedding, images: &[f32]) -> Self {
        let histogram = histogram_of(&embedding.predictions(), CLASSES);
        Reference {
            n: embedding.n,
            stats: FeatureStats::from_features(&embedding.features, FEATURES),
            entropy_nats: entropy_nats(&histogram),
            histogram,
            diversity: diversity(images),
        }
    }

    pub async fn compute_async(classifier: &Classifier, images: &[f32], device: &Device) -> Result<Self> {
        let e = classifier.features_async(images, device).await?;
        Ok(Self::from_embedding(&e, images))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn compute_blocking(classifier: &Classifier, images: &[f32], device: &Device) -> Result<Self> {
        let e = classifier.features_blocking(images, device)?;
        Ok(Self::from_embedding(&e, images))
    }
}

impl SampleMetrics {
    pub fn from_embedding(embedding: &Embedding, images: &[f32], reference: &Reference) -> Self {
        let histogram = histogram_of(&embedding.predictions(), CLASSES);
        let stats = FeatureStats::from_features(&embedding.features, FEATURES);
        SampleMetrics {
            n: embedding.n,
            frechet: frechet_distance(&stats, &reference.stats),
            entropy_nats: entropy_nats(&histogram),
            histogram,
            diversity: diversity(images),
            memorisation: None,
        }
    }

    /// Measure `images` (n * 28 * 28 values in [-1, 1]) against `reference` (browser).
    pub async fn measure_async(
        classifier: &Classifier,
        images: &[f32],
        reference: &Reference,
        device: &Device,
    ) -> Result<Self> {
        let e = classifier.features_async(images, device).await?;
        Ok(Self::from_embedding(&e, images, reference))
    }

    /// The same, blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn measure_blocking(
        classifier: &Classifier,
        images: &[f32],
        reference: &Reference,
        device: &Device,
    ) -> Result<Self> {
        let e = classifier.features_blocking(images, device)?;
        Ok(Self::from_embedding(&e, images, reference))
    }
}
