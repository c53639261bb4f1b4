//! yhat_Phi(z_l, l): predicts the clean image y from a noisy level z_l (quiz eq. (1)).

use burn::prelude::*;

use super::unet::{CondEmbedding, UNet, UNetConfig};

#[derive(Module, Debug)]
pub struct Denoiser {
    embed: CondEmbedding,
    unet: UNet,
}

impl Denoiser {
    pub fn new(base_channels: usize, cond_dim: usize, device: &Device) -> Self {
        Self {
            embed: CondEmbedding::new(cond_dim, device),
            unet: UNetConfig::new(1, 1, base_channels, cond_dim).init(device),
        }
    }

    /// z: [B, 1, H, W]; level_features: [B, LEVEL_FEATURES]. Returns yhat: [B, 1, H, W].
    pub fn forward(&self, z: Tensor<4>, level_features: Tensor<2>) -> Tensor<4> {
        self.unet.forward(z, self.embed.forward(level_features))
    }

    /// Per-sample squared error ||y - yhat||^2 / (H W): [B].
    pub fn per_sample_loss(&self, z: Tensor<4>, level_features: Tensor<2>, y: Tensor<4>) -> Tensor<1> {
        super::squared_error::per_sample(y, self.forward(z, level_features))
    }
}
