//! The two trainable models: the denoiser of Problem 1 and the progressive CVAE step of Problem 2.
//! (The third kind, the universal denoiser Φ*, has no network: src/ideal.rs.)

pub mod conv;
pub mod cvae;
pub mod denoiser;
pub mod embedding;
pub mod squared_error;
pub mod unet;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

pub use cvae::Cvae;
pub use denoiser::Denoiser;
pub use unet::{LEVEL_FEATURES, level_features, level_features_tensor};

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

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Denoiser(_) => ModelKind::Denoiser,
            Model::Cvae(_) => ModelKind::Cvae,
        }
    }
}
