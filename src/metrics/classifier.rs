//! A small LeNet-style digit classifier: the yardstick of the sample metrics (docs/math.md,
//! section 4). Its penultimate layer (`FEATURES` = 64 ReLU units) is the feature
//! space of the Fréchet distance ("FID for MNIST"), its logits give the class histogram.
//!
//! 28x28 input in [-1, 1] -> conv 3x3 (16) -> max-pool -> conv 3x3 (32) -> max-pool
//! -> conv 3x3 (32) -> max-pool (3x3) -> linear 288 -> 64 (features) -> linear 64 -> 10 (logits).
//! About 33k parameters (133 KB as f32).
//!
//! The weights are trained natively (`denoise-lab train-classifier`) and shipped as
//! `www/data/classifier.bin`; `Classifier::from_bytes` loads them on any device (the browser
//! fetches the file). File layout: `MAGIC` | u32 LE length of the JSON metadata | metadata |
//! burnpack of the weights (burn's `ModuleRecord`) | CRC-32 of everything between `MAGIC` and
//! the CRC.
//!
//! Reading results back: `features_async` (browser) and `features_blocking` (native) run the
//! network batched on the device and read features and logits back in one read. Everything that
//! needs the values (argmax, histograms) is then done on the CPU: on wasm a synchronous read
//! panics, and so do burn ops that read internally (`one_hot`, `argwhere`, ...).

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
#[cfg(not(target_arch = "wasm32"))]
use burn::tensor::activation::log_softmax;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use crate::data::Dataset;
use crate::error::{Error, Result};

/// Size of the penultimate layer: the feature space of the Fréchet distance.
pub const FEATURES: usize = 64;
/// Digit classes.
pub const CLASSES: usize = 10;
/// The image size the classifier is built for.
pub const SIDE: usize = 28;
/// Images per forward pass when embedding a set.
const EMBED_BATCH: usize = 250;

pub const MAGIC: &[u8; 8] = b"DNLABCL\x01";

/// The shipped weights (native builds; the page fetches the same file from `www/data/`).
#[cfg(not(target_arch = "wasm32"))]
pub const BUNDLED_CLASSIFIER: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/classifier.bin"));

/// How a classifier file was made (stored in it as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierMeta {
    pub format: u32,
    pub features: usize,
    pub classes: usize,
    pub config: ClassifierTrainConfig,
    /// Accuracy on the held-out digits measured right after training.
    pub held_out_accuracy: f64,
}

/// Training recipe (`denoise-lab train-classifier`); all randomness comes from `seed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifierTrainConfig {
    pub steps: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    /// Digits of the bundled set kept out of training, chosen by `Dataset::split(held_out, seed)`.
    pub held_out: usize,
    /// Random shifts of up to this many pixels (augmentation).
    pub max_shift: usize,
}

impl Default for ClassifierTrainConfig {
    fn default() -> Self {
        Self { steps: 3000, batch: 64, lr: 2e-3, seed: 7, held_out: 2000, max_shift: 2 }
    }
}

/// A 3x3 convolution with padding 1 (the U-Net's, at stride 1).
fn conv3x3(cin: usize, cout: usize, device: &Device) -> Conv2d {
    crate::model::unet::conv3x3(cin, cout, 1, device)
}

fn pool2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]))
}

#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    fc1: Linear,
    fc2: Linear,
}

/// Features and logits of a set of images, read back to the CPU, row-major.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Embedding {
    pub n: usize,
    /// [n, FEATURES]
    pub features: Vec<f32>,
    /// [n, CLASSES]
    pub logits: Vec<f32>,
}

impl Embedding {
    /// The predicted class of every image (argmax of the logits, on the CPU).
    pub fn predictions(&self) -> Vec<usize> {
        crate::metrics::classes::predicted_classes(&self.logits, CLASSES)
    }
}

impl Classifier {
    /// A freshly initialised network (weights from the device's RNG).
    pub fn new(device: &Device) -> Self {
        Self {
            conv1: conv3x3(1, 16, device),
            conv2: conv3x3(16, 32, device),
            conv3: conv3x3(32, 32, device),
            fc1: LinearConfig::new(32 * 3 * 3, FEATURES).init(device),
            fc2: LinearConfig::new(FEATURES, CLASSES).init(device),
        }
    }

    /// x: [B, 1, 28, 28] -> (features [B, FEATURES], logits [B, CLASSES]).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let h = pool2(relu(self.conv1.forward(x))); // 14x14
        let h = pool2(relu(self.conv2.forward(h))); // 7x7
        let h = pool2(relu(self.conv3.forward(h))); // 3x3
        let features = relu(self.fc1.forward(h.flatten::<2>(1, 3)));
        let logits = self.fc2.forward(features.clone());
        (features, logits)
    }

    /// Logits only.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x).1
    }

    /// Load weights written by `to_bytes_blocking` (e.g. fetched `www/data/classifier.bin`).
    /// Truncated, corrupt or foreign files are refused with a message.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self> {
        Self::from_bytes_with_meta(bytes, device).map(|(c, _)| c)
    }

    /// The same, also returning how the file was made.
    pub fn from_bytes_with_meta(bytes: &[u8], device: &Device) -> Result<(Self, ClassifierMeta)> {
        let bad = |m: String| Error::Checkpoint(format!("classifier weights: {m}"));
        if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(bad("not a denoise-lab classifier file (wrong header)".into()));
        }
        let body = &bytes[MAGIC.len()..bytes.len() - 4];
        let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
        if crc32fast::hash(body) != crc {
            return Err(bad("the file is truncated or corrupt (checksum mismatch)".into()));
        }
        let meta_len = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
        if 4 + meta_len > body.len() {
            return Err(bad("bad metadata length".into()));
        }
        let meta: ClassifierMeta =
            serde_json::from_slice(&body[4..4 + meta_len]).map_err(|e| bad(format!("bad metadata: {e}")))?;
        if meta.format != 1 || meta.features != FEATURES || meta.classes != CLASSES {
            return Err(bad(format!(
                "unsupported format {} ({} features, {} classes)",
                meta.format, meta.features, meta.classes
            )));
        }
        let pack = &body[4 + meta_len..];
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(pack.to_vec()))
            .map_err(|e| bad(format!("unreadable tensors: {e}")))?;
        let model = Classifier::new(&device.clone().inner())
            .try_load_record(record)
            .map_err(|e| bad(format!("weights do not fit the network: {e}")))?;
        Ok((model, meta))
    }

    /// The shipped classifier, on `device` (native builds).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled(device: &Device) -> Self {
        Self::from_bytes(BUNDLED_CLASSIFIER, device).expect("the bundled classifier in www/data is valid")
    }

    /// Serialise (synchronous reads of every weight: native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_bytes_blocking(&self, meta: &ClassifierMeta) -> Result<Vec<u8>> {
        let pack = self
            .clone()
            .valid()
            .into_record()
            .into_bytes()
            .map_err(|e| Error::Checkpoint(format!("cannot write the classifier: {e}")))?;
        let meta = serde_json::to_vec(meta).map_err(|e| Error::Checkpoint(e.to_string()))?;
        let mut body = Vec::with_capacity(4 + meta.len() + pack.len());
        body.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        body.extend_from_slice(&meta);
        body.extend_from_slice(&pack);
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        Ok(out)
    }

    /// Queue the network on `images` (n * 28 * 28 values, row-major, pixels in [-1, 1]; values
    /// outside are clamped, as the page displays them) in batches; one [n, FEATURES + CLASSES]
    /// tensor, still on the device.
    fn embed_tensor(&self, images: &[f32], device: &Device) -> Result<(usize, Option<Tensor<2>>)> {
        let dim = SIDE * SIDE;
        if !images.len().is_multiple_of(dim) {
            return Err(Error::Config(format!(
                "the classifier takes 28x28 images: {} values is not a whole number of images",
                images.len()
            )));
        }
        let n = images.len() / dim;
        let mut parts = Vec::new();
        for start in (0..n).step_by(EMBED_BATCH) {
            let b = EMBED_BATCH.min(n - start);
            let x: Vec<f32> =
                images[start * dim..(start + b) * dim].iter().map(|v| v.clamp(-1.0, 1.0)).collect();
            let x = Tensor::<4>::from_data(TensorData::new(x, [b, 1, SIDE, SIDE]), device);
            let (f, l) = self.forward(x);
            parts.push(Tensor::cat(vec![f, l], 1));
        }
        Ok((n, (!parts.is_empty()).then(|| Tensor::cat(parts, 0))))
    }

    fn split(n: usize, values: Vec<f32>) -> Embedding {
        let width = FEATURES + CLASSES;
        let mut features = Vec::with_capacity(n * FEATURES);
        let mut logits = Vec::with_capacity(n * CLASSES);
        for row in values.chunks_exact(width) {
            features.extend_from_slice(&row[..FEATURES]);
            logits.extend_from_slice(&row[FEATURES..]);
        }
        Embedding { n, features, logits }
    }

    /// Features and logits of `images`, read back asynchronously (the browser's way).
    pub async fn features_async(&self, images: &[f32], device: &Device) -> Result<Embedding> {
        let (n, t) = self.embed_tensor(images, &device.clone().inner())?;
        let Some(t) = t else { return Ok(Embedding::default()) };
        Ok(Self::split(n, crate::backend::read(t).await?))
    }

    /// The same, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn features_blocking(&self, images: &[f32], device: &Device) -> Result<Embedding> {
        let (n, t) = self.embed_tensor(images, &device.clone().inner())?;
        let Some(t) = t else { return Ok(Embedding::default()) };
        Ok(Self::split(n, crate::backend::read_blocking(t)?))
    }

    /// Fraction of `data` classified correctly (native; `data` must be labelled).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn accuracy_blocking(&self, data: &Dataset, device: &Device) -> Result<f64> {
        let labels = data.labels.as_ref().ok_or_else(|| Error::Config("accuracy needs labels".into()))?;
        let pred = self.features_blocking(&data.pixels, device)?.predictions();
        Ok(accuracy(&pred, labels))
    }
}

/// Fraction of predictions equal to the labels.
pub fn accuracy(predictions: &[usize], labels: &[u8]) -> f64 {
    let right = predictions.iter().zip(labels).filter(|(p, l)| **p == **l as usize).count();
    right as f64 / labels.len().max(1) as f64
}

/// The images of a batch shifted by up to `max_shift` pixels (zero padding is -1, the
/// background), on the CPU (training is native-only).
#[cfg(not(target_arch = "wasm32"))]
fn shifted(data: &Dataset, idx: &[usize], max_shift: usize, rng: &mut crate::rng::SplitMix64) -> Vec<f32> {
    let (h, w) = (data.h, data.w);
    let mut out = vec![-1.0f32; idx.len() * h * w];
    let span = 2 * max_shift + 1;
    for (k, &i) in idx.iter().enumerate() {
        let (dy, dx) =
            (rng.below(span) as isize - max_shift as isize, rng.below(span) as isize - max_shift as isize);
        let src = data.image(i);
        let dst = &mut out[k * h * w..(k + 1) * h * w];
        for y in 0..h as isize {
            let sy = y - dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w as isize {
                let sx = x - dx;
                if sx >= 0 && sx < w as isize {
                    dst[(y * w as isize + x) as usize] = src[(sy * w as isize + sx) as usize];
                }
            }
        }
    }
    out
}

/// Train a classifier on `train` (labelled, 28x28). `progress(step, loss)` is called every 100
/// steps with the mean loss since the last call. Native (it reads the loss back synchronously).
#[cfg(not(target_arch = "wasm32"))]
pub fn train_classifier(
    train: &Dataset,
    config: &ClassifierTrainConfig,
    device: &Device,
    mut progress: impl FnMut(usize, f32),
) -> Result<Classifier> {
    use crate::data::BatchSampler;
    use crate::optim::{Adam, AdamConfig};
    use burn::optim::GradientsParams;

    if (train.h, train.w) != (SIDE, SIDE) {
        return Err(Error::Config(format!("the classifier takes 28x28 images, got {}x{}", train.h, train.w)));
    }
    let labels =
        train.labels.as_ref().ok_or_else(|| Error::Config("training the classifier needs labels".into()))?;
    let plain = device.clone().inner();
    plain.seed(config.seed);
    let ad = plain.clone().autodiff();
    let mut model = Classifier::new(&ad);
    let mut optim = Adam::new(AdamConfig { clip_norm: Some(5.0), ..AdamConfig::default() });
    let mut batches = BatchSampler::new(train.n, config.batch, config.seed);
    let mut rng = crate::rng::SplitMix64::new(config.seed ^ 0xC1A5_51F1);
    let mut losses = Vec::new();
    for step in 1..=config.steps {
        let idx = batches.next_indices();
        let b = idx.len();
        let x = shifted(train, &idx, config.max_shift, &mut rng);
        let mut target = vec![0.0f32; b * CLASSES];
        for (k, &i) in idx.iter().enumerate() {
            target[k * CLASSES + labels[i] as usize] = 1.0;
        }
        let x = Tensor::<4>::from_data(TensorData::new(x, [b, 1, SIDE, SIDE]), &ad);
        let target = Tensor::<2>::from_data(TensorData::new(target, [b, CLASSES]), &ad);
        // Cosine decay to 5% of the rate.
        let t = (step - 1) as f64 / config.steps.max(1) as f64;
        let lr = config.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()));
        let loss = -(log_softmax(model.logits(x), 1) * target).sum_dim(1).mean();
        losses.push(loss.clone().inner());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
        if step % 100 == 0 || step == config.steps {
            let all = Tensor::cat(std::mem::take(&mut losses), 0);
            let v = crate::backend::read_blocking(all)?;
            let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
            if !mean.is_finite() {
                return Err(Error::Diverged {
                    step: step as u64,
                    message: format!("the classifier's loss became {mean}"),
                });
            }
            progress(step, mean);
        }
    }
    Ok(model.valid())
}
