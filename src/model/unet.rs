//! The convolutional trunk shared by the denoiser and the CVAE decoder: a compact two-scale U-Net
//! whose residual blocks are conditioned (a per-channel bias, FiLM-style) on a vector that carries
//! the level l and, for the CVAE, the latent eps. No normalisation layers: at this size they cost
//! more dispatches than they save in training steps.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use super::conv;

/// Number of sinusoidal features describing a level (computed on the CPU, see `level_features`).
pub const LEVEL_FEATURES: usize = 32;

/// Sinusoidal features of t = l / L for each level: [sin(w_k t), cos(w_k t)] for k = 0..16, with
/// w_k = 2^k * pi / 8 (saved checkpoints depend on these exact frequencies).
/// The host knows the levels, so building these on the CPU saves GPU dispatches.
pub fn level_features(levels: &[usize], max_level: usize) -> Vec<f32> {
    let half = LEVEL_FEATURES / 2;
    let w: Vec<f64> =
        (0..half).map(|k| (1u64 << k.min(30)) as f64 * std::f64::consts::FRAC_PI_2 / 4.0).collect();
    let mut out = Vec::with_capacity(levels.len() * LEVEL_FEATURES);
    for &l in levels {
        let t = l as f64 / max_level.max(1) as f64;
        out.extend(w.iter().map(|w| (w * t).sin() as f32));
        out.extend(w.iter().map(|w| (w * t).cos() as f32));
    }
    out
}

/// `level_features` as a [B, LEVEL_FEATURES] tensor on `device`.
pub fn level_features_tensor(levels: &[usize], max_level: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(
        TensorData::new(level_features(levels, max_level), [levels.len(), LEVEL_FEATURES]),
        device,
    )
}

/// A 3x3 convolution with padding 1 (same size at stride 1).
pub(crate) fn conv3x3(cin: usize, cout: usize, stride: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [3, 3])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// The level (and latent) embedding: features -> Linear -> SiLU -> Linear.
#[derive(Module, Debug)]
pub struct CondEmbedding {
    fc1: Linear,
    fc2: Linear,
}

impl CondEmbedding {
    pub fn new(cond_dim: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(LEVEL_FEATURES, cond_dim).init(device),
            fc2: LinearConfig::new(cond_dim, cond_dim).init(device),
        }
    }

    /// fc2(silu(fc1(features))), one GPU kernel forward ([`super::embedding`]).
    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        super::embedding::forward(&self.fc1, &self.fc2, features)
    }
}

/// silu(x + conv(silu(conv(silu(x)) + bias(cond)))), from x and silu(x): the block's output is
/// returned activated, since whatever follows a block in the U-Net takes its SiLU.
#[derive(Module, Debug)]
pub struct ResBlock {
    conv1: Conv2d,
    cond: Linear,
    conv2: Conv2d,
}

impl ResBlock {
    pub fn new(channels: usize, cond_dim: usize, device: &Device) -> Self {
        Self {
            conv1: conv3x3(channels, channels, 1, device),
            cond: LinearConfig::new(cond_dim, channels).init(device),
            conv2: conv3x3(channels, channels, 1, device),
        }
    }

    /// `(x, silu(x))` as [`conv::block`] returns them; `cond` the conditioning vector.
    pub fn forward(&self, (x, x_act): (Tensor<4>, Tensor<4>), cond: Tensor<2>) -> Tensor<4> {
        let h = conv::cond_block(&self.conv1, x_act, &self.cond, cond);
        conv::res_block(&self.conv2, h, x)
    }
}

/// The U-Net's sizes (the models pass theirs from `ArchConfig`).
#[derive(Config, Debug)]
pub struct UNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Channels at full resolution; the half and quarter scales use twice as many.
    pub base_channels: usize,
    pub cond_dim: usize,
}

#[derive(Module, Debug)]
pub struct UNet {
    conv_in: Conv2d,
    res_full: ResBlock,
    down_half: Conv2d,
    res_half: ResBlock,
    down_quarter: Conv2d,
    res_quarter: ResBlock,
    up_half: Conv2d,
    res_up_half: ResBlock,
    up_full: Conv2d,
    res_up_full: ResBlock,
    conv_out: Conv2d,
}

impl UNetConfig {
    pub fn init(&self, device: &Device) -> UNet {
        let c = self.base_channels;
        let c2 = 2 * c;
        let d = self.cond_dim;
        UNet {
            conv_in: conv3x3(self.in_channels, c, 1, device),
            res_full: ResBlock::new(c, d, device),
            down_half: conv3x3(c, c2, 2, device),
            res_half: ResBlock::new(c2, d, device),
            down_quarter: conv3x3(c2, c2, 2, device),
            res_quarter: ResBlock::new(c2, d, device),
            up_half: conv3x3(c2 + c2, c2, 1, device),
            res_up_half: ResBlock::new(c2, d, device),
            up_full: conv3x3(c2 + c, c, 1, device),
            res_up_full: ResBlock::new(c, d, device),
            conv_out: conv3x3(c, self.out_channels, 1, device),
        }
    }
}

impl UNet {
    /// x: [B, in, H, W] (any H, W: odd sizes are handled by upsampling to the skip's size),
    /// cond: [B, cond_dim]. Returns [B, out, H, W].
    /// Each convolution is one [`conv`] block with the element-wise work around it: the
    /// upsampling and concatenation of the way up, the conditioning, the residual adds and the
    /// SiLU, which is applied to a block's output (every later use of it takes its SiLU).
    pub fn forward(&self, x: Tensor<4>, cond: Tensor<2>) -> Tensor<4> {
        // Every block's conditioning Linear takes silu(cond), which its kernel computes as it reads.
        let full = self.res_full.forward(conv::block(&self.conv_in, x), cond.clone());
        let half = self.res_half.forward(conv::block(&self.down_half, full.clone()), cond.clone());
        let quarter = self.res_quarter.forward(conv::block(&self.down_quarter, half.clone()), cond.clone());
        let up = self.res_up_half.forward(conv::up_block(&self.up_half, quarter, half), cond.clone());
        let up = self.res_up_full.forward(conv::up_block(&self.up_full, up, full), cond);
        conv::out_block(&self.conv_out, up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented frequencies, w_k = 2^k * pi / 8: trained weights depend on them.
    #[test]
    fn level_features_use_the_documented_frequencies() {
        let f = level_features(&[3, 8], 8);
        assert_eq!(f.len(), 2 * LEVEL_FEATURES);
        let half = LEVEL_FEATURES / 2;
        for (row, t) in [(0, 3.0 / 8.0), (1, 1.0)] {
            for k in 0..half {
                let w = 2f64.powi(k as i32) * std::f64::consts::PI / 8.0;
                let (s, c) = (f[row * LEVEL_FEATURES + k], f[row * LEVEL_FEATURES + half + k]);
                assert!((s as f64 - (w * t).sin()).abs() < 1e-6, "sin, level row {row}, k {k}");
                assert!((c as f64 - (w * t).cos()).abs() < 1e-6, "cos, level row {row}, k {k}");
            }
        }
    }
}
