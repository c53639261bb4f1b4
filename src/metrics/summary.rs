//! All the measures of one sample set (docs/math.md, section 4, "Measuring what a sample set is"), against a
//! reference set of real digits: Fréchet distance in the classifier's feature space, class
//! histogram and entropy (nats), diversity (mean pairwise L2 distance in pixel space).
//!
//! Plain slices in, numbers out. The classifier pass is the only device work; `*_async` reads it
//! back asynchronously (browser), `*_blocking` synchronously (native). `from_embedding` does the
//! CPU part alone, for a caller that already has the embedding. `Baseline` is what a run's samples
//! are compared with: held-out real digits (the reference), its training digits (the
//! memorisation figure) and real digits measured like a sample set; the CLI, the scenarios and
//! the page measure through it.

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::classes::{entropy_nats, histogram_of};
use super::classifier::{CLASSES, Classifier, Embedding, FEATURES, SIDE};
use super::frechet::{FeatureStats, frechet_distance};
use super::mean_pairwise_distance;
use super::memorisation::Memorisation;
use crate::data::Dataset;
use crate::error::Result;
use crate::ideal::Universal;
use crate::schedule::Schedule;

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

/// What a run's samples are measured against: the Fréchet reference of its first held-out digits,
/// and its training images on the device for the distance to the nearest one (`Memorisation`).
pub struct Baseline {
    pub reference: Reference,
    /// The training images (as Φ* holds them: its nearest-neighbour search).
    pub training: Universal,
}

/// The first `n` images of `data` (all of them if it has fewer), flattened.
fn first(data: &Dataset, n: usize) -> &[f32] {
    &data.pixels[..n.min(data.n) * data.image_len()]
}

impl Baseline {
    /// The baseline of a run whose split is (`train`, `held_out`): the first `reference` held-out
    /// digits form the Fréchet reference. `schedule` is the run's (Φ*'s; the distances do not
    /// depend on it).
    pub async fn compute_async(
        classifier: &Classifier,
        (train, held_out): (&Dataset, &Dataset),
        reference: usize,
        schedule: Schedule,
        device: &Device,
    ) -> Result<Self> {
        let training = Universal::new(train, schedule, device)?;
        let reference = Reference::compute_async(classifier, first(held_out, reference), device).await?;
        Ok(Self { reference, training })
    }

    /// The same, blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn compute_blocking(
        classifier: &Classifier,
        (train, held_out): (&Dataset, &Dataset),
        reference: usize,
        schedule: Schedule,
        device: &Device,
    ) -> Result<Self> {
        let training = Universal::new(train, schedule, device)?;
        let reference = Reference::compute_blocking(classifier, first(held_out, reference), device)?;
        Ok(Self { reference, training })
    }

    /// The figures of a sample set (final images, flattened) with its memorisation figure.
    pub async fn measure_async(
        &self,
        classifier: &Classifier,
        images: &[f32],
        device: &Device,
    ) -> Result<SampleMetrics> {
        self.measure_pair_async(classifier, images, images, device).await
    }

    /// The same, blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn measure_blocking(
        &self,
        classifier: &Classifier,
        images: &[f32],
        device: &Device,
    ) -> Result<SampleMetrics> {
        self.measure_pair_blocking(classifier, images, images, device)
    }

    /// Real digits measured like a sample set of `n` images: the first `n` training digits (never
    /// in the reference: the floor of each figure at this sample size), with the memorisation
    /// figure of the first `n` held-out digits (a training digit is its own nearest training
    /// image, at distance 0).
    pub async fn real_async(
        &self,
        classifier: &Classifier,
        (train, held_out): (&Dataset, &Dataset),
        n: usize,
        device: &Device,
    ) -> Result<SampleMetrics> {
        self.measure_pair_async(classifier, first(train, n), first(held_out, n), device).await
    }

    /// The same, blocking (native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn real_blocking(
        &self,
        classifier: &Classifier,
        (train, held_out): (&Dataset, &Dataset),
        n: usize,
        device: &Device,
    ) -> Result<SampleMetrics> {
        self.measure_pair_blocking(classifier, first(train, n), first(held_out, n), device)
    }

    /// The figures of `images`, with the memorisation figure of `nearest` (the same images, except
    /// for real digits).
    async fn measure_pair_async(
        &self,
        classifier: &Classifier,
        images: &[f32],
        nearest: &[f32],
        device: &Device,
    ) -> Result<SampleMetrics> {
        let mut m = SampleMetrics::measure_async(classifier, images, &self.reference, device).await?;
        m.memorisation = Some(Memorisation::measure_async(&self.training, nearest).await?);
        Ok(m)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn measure_pair_blocking(
        &self,
        classifier: &Classifier,
        images: &[f32],
        nearest: &[f32],
        device: &Device,
    ) -> Result<SampleMetrics> {
        let mut m = SampleMetrics::measure_blocking(classifier, images, &self.reference, device)?;
        m.memorisation = Some(Memorisation::measure_blocking(&self.training, nearest)?);
        Ok(m)
    }
}
