//! The progressive VAE step of docs/math.md (section 3, quiz Problem 2): a conditional Gaussian VAE for
//! p(z_{l-1} | z_l, l) with a latent eps of dimension k and prior N(0, I).
//!   encoder  eps     = eps_Psi(z_{l-1}, z_l, l) + sigma_Psi(..) (.) gamma
//!   decoder  z_{l-1} = z_Phi(eps, z_l, l)       + sigma_Phi(..) (.) delta
//!   loss     KL(N(eps_Psi, sigma_Psi^2) || N(0, I)) - ln N(z_{l-1}; z_Phi, sigma_Phi^2)

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::silu;
use burn::tensor::module::adaptive_avg_pool2d;

use super::unet::{CondEmbedding, UNet, UNetConfig};

/// log sigma is kept in a range where exp() and its gradient stay finite in f32.
const LOG_SIGMA_MIN: f32 = -7.0;
const LOG_SIGMA_MAX: f32 = 2.0;
const LOGVAR_MIN: f32 = -14.0;
const LOGVAR_MAX: f32 = 6.0;
/// The encoder pools to a fixed grid so any image size gives the same head.
const POOL: usize = 4;

#[derive(Module, Debug)]
pub struct Cvae {
    enc_embed: CondEmbedding,
    enc_conv1: Conv2d,
    enc_cond: Linear,
    enc_conv2: Conv2d,
    enc_conv3: Conv2d,
    enc_head: Linear,
    dec_embed: CondEmbedding,
    dec_latent: Linear,
    dec: UNet,
}

/// What one training pass of the CVAE step gives, per sample ([B] each, in nats per image).
pub struct CvaeTerms {
    pub kl: Tensor<1>,
    pub nll: Tensor<1>,
}

fn conv(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

impl Cvae {
    pub fn new(base_channels: usize, cond_dim: usize, latent_dim: usize, device: &Device) -> Self {
        let c = base_channels;
        Self {
            enc_embed: CondEmbedding::new(cond_dim, device),
            enc_conv1: conv(2, c, 1, device),
            enc_cond: LinearConfig::new(cond_dim, c).init(device),
            enc_conv2: conv(c, 2 * c, 2, device),
            enc_conv3: conv(2 * c, 2 * c, 2, device),
            enc_head: LinearConfig::new(2 * c * POOL * POOL, 2 * latent_dim).init(device),
            dec_embed: CondEmbedding::new(cond_dim, device),
            dec_latent: LinearConfig::new(latent_dim, cond_dim).init(device),
            dec: UNetConfig::new(1, 2).with_base_channels(base_channels).with_cond_dim(cond_dim).init(device),
        }
    }

    /// Encoder: (eps_Psi, ln sigma_Psi^2), each [B, k].
    pub fn encode(
        &self,
        z_prev: Tensor<4>,
        z_l: Tensor<4>,
        level_features: Tensor<2>,
    ) -> (Tensor<2>, Tensor<2>) {
        let b = z_prev.dims()[0];
        let c = self.enc_cond.weight.dims()[1];
        let cond = self.enc_embed.forward(level_features);
        let h = self.enc_conv1.forward(Tensor::cat(vec![z_prev, z_l], 1));
        let h = silu(h + self.enc_cond.forward(silu(cond)).reshape([b, c, 1, 1]));
        let h = silu(self.enc_conv2.forward(h));
        let h = silu(self.enc_conv3.forward(h));
        let h = adaptive_avg_pool2d(h, [POOL, POOL]).flatten::<2>(1, 3);
        let out = self.enc_head.forward(h);
        let k = out.dims()[1] / 2;
        let mu = out.clone().narrow(1, 0, k);
        let logvar = out.narrow(1, k, k).clamp(LOGVAR_MIN, LOGVAR_MAX);
        (mu, logvar)
    }

    /// Decoder: (z_Phi, ln sigma_Phi), each [B, 1, H, W].
    pub fn decode(
        &self,
        eps: Tensor<2>,
        z_l: Tensor<4>,
        level_features: Tensor<2>,
    ) -> (Tensor<4>, Tensor<4>) {
        let cond = self.dec_embed.forward(level_features) + self.dec_latent.forward(eps);
        let out = self.dec.forward(z_l, cond);
        let mean = out.clone().narrow(1, 0, 1);
        let log_sigma = out.narrow(1, 1, 1).clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX);
        (mean, log_sigma)
    }

    /// The latent size k.
    pub fn latent_dim(&self) -> usize {
        self.dec_latent.weight.dims()[0]
    }

    /// KL and NLL per sample for training pairs (z_{l-1}, z_l) at the given levels.
    pub fn terms(&self, z_prev: Tensor<4>, z_l: Tensor<4>, level_features: Tensor<2>) -> CvaeTerms {
        let (mu, logvar) = self.encode(z_prev.clone(), z_l.clone(), level_features.clone());
        // Reparameterisation: eps = mu + sigma * gamma.
        let gamma = mu.random_like(Distribution::Normal(0.0, 1.0));
        let eps = mu.clone() + (logvar.clone() * 0.5).exp() * gamma;
        self.terms_given(z_prev, z_l, level_features, eps, mu, logvar)
    }

    fn terms_given(
        &self,
        z_prev: Tensor<4>,
        z_l: Tensor<4>,
        level_features: Tensor<2>,
        eps: Tensor<2>,
        mu: Tensor<2>,
        logvar: Tensor<2>,
    ) -> CvaeTerms {
        let kl = ((mu.powi_scalar(2) + logvar.clone().exp() - logvar - 1.0) * 0.5).sum_dim(1).flatten(0, 1);
        let (mean, log_sigma) = self.decode(eps, z_l, level_features);
        let pixels = (z_prev.dims()[2] * z_prev.dims()[3]) as f64;
        let sq = ((z_prev - mean) * (-log_sigma.clone()).exp()).powi_scalar(2) * 0.5;
        let nll = (sq + log_sigma).sum_dims(&[1, 2, 3]).flatten::<1>(0, 3)
            + 0.5 * (2.0 * std::f64::consts::PI).ln() * pixels;
        CvaeTerms { kl, nll }
    }

    /// The same terms with eps = eps_Psi (no reparameterisation noise): a deterministic figure
    /// for evaluation.
    pub fn terms_at_mean(&self, z_prev: Tensor<4>, z_l: Tensor<4>, level_features: Tensor<2>) -> CvaeTerms {
        let (mu, logvar) = self.encode(z_prev.clone(), z_l.clone(), level_features.clone());
        self.terms_given(z_prev, z_l, level_features, mu.clone(), mu, logvar)
    }

    /// One ancestral step given eps ~ N(0, I) [B, k]: z_{l-1} = z_Phi + sigma_Phi * delta, or the
    /// mean z_Phi when `delta` is None.
    pub fn sample_step(
        &self,
        z_l: Tensor<4>,
        level_features: Tensor<2>,
        eps: Tensor<2>,
        delta: Option<Tensor<4>>,
    ) -> Tensor<4> {
        let (mean, log_sigma) = self.decode(eps, z_l, level_features);
        match delta {
            Some(delta) => mean + log_sigma.exp() * delta,
            None => mean,
        }
    }
}
