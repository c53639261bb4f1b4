//! The two trainable models: the denoiser of Problem 1 and the progressive CVAE step of Problem 2.
//! (The third kind, the universal denoiser Φ*, has no network: src/ideal.rs.)

pub mod cvae;
pub mod denoiser;
pub mod unet;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use cvae::{Cvae, CvaeTerms};
pub use denoiser::Denoiser;
pub use unet::{LEVEL_FEATURES, level_features, level_features_tensor};

use crate::rng::SplitMix64;
use crate::schedule::Schedule;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Denoiser,
    Cvae,
    /// Φ*, the universal denoiser of the training set (src/ideal.rs): computed, never trained.
    Universal,
}

impl std::str::FromStr for ModelKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "denoiser" | "diffusion" => Ok(ModelKind::Denoiser),
            "cvae" | "vae" => Ok(ModelKind::Cvae),
            "universal" | "ideal" | "phi*" => Ok(ModelKind::Universal),
            other => Err(crate::Error::Config(format!(
                "unknown model '{other}' (use denoiser, cvae or universal)"
            ))),
        }
    }
}

impl ModelKind {
    /// Every kind, in the order the page and the CLI list them.
    pub const ALL: [ModelKind; 3] = [ModelKind::Denoiser, ModelKind::Cvae, ModelKind::Universal];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Denoiser => "denoiser",
            ModelKind::Cvae => "cvae",
            ModelKind::Universal => "universal",
        }
    }

    /// Whether the model has weights to train (the universal denoiser has none).
    pub fn trained(self) -> bool {
        self != ModelKind::Universal
    }
}

/// The architecture knobs, saved in checkpoints so a model can be rebuilt before loading weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchConfig {
    pub kind: ModelKind,
    pub base_channels: usize,
    pub cond_dim: usize,
    /// Latent size k of the CVAE step (ignored by the denoiser).
    pub latent_dim: usize,
}

impl ArchConfig {
    pub fn validate(&self) -> crate::error::Result<()> {
        if !self.kind.trained() {
            return Err(crate::Error::Config(format!(
                "the {} model has no network: it is computed from the training set, not trained or loaded",
                self.kind.name()
            )));
        }
        crate::limits::BASE_CHANNELS.check(self.base_channels as f64)?;
        crate::limits::COND_DIM.check(self.cond_dim as f64)?;
        crate::limits::LATENT_DIM.check(self.latent_dim as f64)
    }

    pub fn init(&self, device: &Device) -> Model {
        match self.kind {
            ModelKind::Denoiser => Model::Denoiser(Denoiser::new(self.base_channels, self.cond_dim, device)),
            ModelKind::Cvae => {
                Model::Cvae(Cvae::new(self.base_channels, self.cond_dim, self.latent_dim, device))
            }
            ModelKind::Universal => unreachable!("validate() refuses a network for the universal model"),
        }
    }
}

/// Either model. A derived `Module` on an enum gives record/visit/map for the active variant.
/// One `Model` lives in a trainer and is not moved around in loops, so the size difference of
/// the variants (a few KiB of layer descriptors) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Model {
    Denoiser(Denoiser),
    Cvae(Cvae),
}

/// A batch of training pairs with every random number drawn by the caller (a trainer from its CPU
/// generator, the held-out figure from a fixed seed), all on one plain (non-autodiff) device: a
/// run then draws the same numbers on every backend.
pub struct Pairs {
    /// The clean images y, [B, 1, H, W].
    pub y: Tensor<4>,
    /// The level l of each pair, 1..=L.
    pub levels: Vec<usize>,
    /// N(0, I) images, [B, 1, H, W], at least `Model::noise_images` of them: the forward process
    /// to z_l (the denoiser), or to z_{l-1} and then the encoder's one step to z_l (the CVAE).
    pub noise: Vec<Tensor<4>>,
    /// The CVAE encoder's reparameterisation draw gamma ~ N(0, I), [B, k]; `None`: the latent at
    /// the posterior's mean (a deterministic figure). The denoiser has no latent.
    pub gamma: Option<Tensor<2>>,
}

/// A batch's loss: per sample ([B], what training minimises on average) and, for the CVAE
/// step, its two terms (per sample = KL + NLL).
pub struct Loss {
    pub per_sample: Tensor<1>,
    pub terms: Option<CvaeTerms>,
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Denoiser(_) => ModelKind::Denoiser,
            Model::Cvae(_) => ModelKind::Cvae,
        }
    }

    /// The level l of one training pair of a chain of `levels` steps: uniform for the denoiser,
    /// for the CVAE step `cvae::training_level` (half of the pairs at the last step).
    pub fn training_level(&self, rng: &mut SplitMix64, levels: usize) -> usize {
        match self {
            Model::Denoiser(_) => 1 + rng.below(levels),
            Model::Cvae(_) => cvae::training_level(rng, levels),
        }
    }

    /// How many N(0, I) images a training pair uses (`Pairs::noise`).
    pub fn noise_images(&self) -> usize {
        match self {
            Model::Denoiser(_) => 1,
            Model::Cvae(_) => 2,
        }
    }

    /// The size k of the reparameterisation draw (`Pairs::gamma`), for a model with a latent.
    pub fn latent_dim(&self) -> Option<usize> {
        match self {
            Model::Denoiser(_) => None,
            Model::Cvae(m) => Some(m.latent_dim()),
        }
    }

    /// The training loss of `pairs` (docs/math.md): loss (1) of the denoiser, KL + NLL of the CVAE
    /// step. The forward process runs on the pairs' device; with `autodiff` (a model being
    /// trained) the network's inputs then move to the autodiff device.
    pub fn loss(&self, schedule: &Schedule, pairs: &Pairs, autodiff: bool) -> Loss {
        let device = pairs.y.device();
        let feats = level_features_tensor(&pairs.levels, schedule.levels, &device);
        match self {
            Model::Denoiser(m) => {
                // z_l ~ q(z_l | y) in one shot (closed form).
                let z = schedule.q_sample(pairs.y.clone(), pairs.noise[0].clone(), &pairs.levels);
                let per_sample = m.per_sample_loss(
                    lift(z, autodiff),
                    lift(feats, autodiff),
                    lift(pairs.y.clone(), autodiff),
                );
                Loss { per_sample, terms: None }
            }
            Model::Cvae(m) => {
                // z_{l-1} from the closed form, then one encoder step to z_l.
                let previous: Vec<usize> = pairs.levels.iter().map(|l| l - 1).collect();
                let z_prev = schedule.q_sample(pairs.y.clone(), pairs.noise[0].clone(), &previous);
                let z_l = schedule.encode_step(z_prev.clone(), pairs.noise[1].clone());
                let coefs = cvae::StepCoefs::new(schedule, &pairs.levels, &device);
                let coefs = if autodiff { coefs.autodiff() } else { coefs };
                let (z_prev, z_l, feats) =
                    (lift(z_prev, autodiff), lift(z_l, autodiff), lift(feats, autodiff));
                let terms = match &pairs.gamma {
                    Some(gamma) => m.terms(z_prev, z_l, feats, &coefs, lift(gamma.clone(), autodiff)),
                    // The encoder's own noise gamma is replaced by its mean (eps = eps_Psi): the
                    // loss without reparameterisation noise.
                    None => m.terms_at_mean(z_prev, z_l, feats, &coefs),
                };
                Loss { per_sample: terms.kl.clone() + terms.nll.clone(), terms: Some(terms) }
            }
        }
    }
}

/// `t` on the autodiff device when `autodiff`, else as it is.
fn lift<const D: usize>(t: Tensor<D>, autodiff: bool) -> Tensor<D> {
    if autodiff { t.autodiff() } else { t }
}
