//! The training loop, shared by the CLI, the tests and the browser worker.
//!
//! `train_steps` only queues GPU work: the per-step statistics stay on the device until `flush`
//! reads all of them back at once (one readback per displayed frame, not one per step). `flush`
//! is also where NaN/Inf is detected: the model and optimiser then go back to the snapshot taken
//! at the previous good flush.

use burn::optim::GradientsParams;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::backend;
use crate::data::{BatchSampler, Dataset};
use crate::error::{Error, Result};
use crate::limits;
use crate::model::cvae::StepCoefs;
use crate::model::{ArchConfig, LEVEL_FEATURES, Model, ModelKind, level_features};
use crate::optim::{Adam, AdamConfig};
use crate::rng::{Noise, SplitMix64};
use crate::sampler::{self, Chain, SamplerKind};
use crate::schedule::{QCoefs, Schedule};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    #[serde(rename = "model")]
    pub kind: ModelKind,
    /// L
    pub levels: usize,
    /// None: a^L = 0.01.
    pub a: Option<f64>,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    pub clip_norm: f64,
    pub base_channels: usize,
    pub cond_dim: usize,
    pub latent_dim: usize,
    /// Digits kept out of training (metrics, forward-process display).
    pub held_out: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            kind: ModelKind::Denoiser,
            levels: 100,
            a: None,
            batch: 64,
            lr: 2e-3,
            seed: 1,
            clip_norm: 1.0,
            base_channels: 32,
            cond_dim: 64,
            latent_dim: 32,
            held_out: 1000,
        }
    }
}

/// The fewest images a run accepts (`TrainConfig::check_data`).
pub const MIN_IMAGES: usize = 10;

impl TrainConfig {
    pub fn arch(&self) -> ArchConfig {
        ArchConfig {
            kind: self.kind,
            base_channels: self.base_channels,
            cond_dim: self.cond_dim,
            latent_dim: self.latent_dim,
        }
    }

    /// `Ok` if `data` has enough images for a run: training batches, and held-out images (the
    /// forward process and the metrics compare with them). A 4-image file is refused here
    /// rather than failing later, on the page at every restart.
    pub fn check_data(&self, data: &Dataset) -> Result<()> {
        if data.n < MIN_IMAGES {
            return Err(Error::Config(format!(
                "the data has {} images; a run needs at least {MIN_IMAGES} (some are held out to compare samples with)",
                data.n
            )));
        }
        Ok(())
    }

    /// The training part and the held-out part of `data` (at most a fifth held out, chosen by
    /// the seed): the trainer's split, also used to measure real training digits.
    pub fn split(&self, data: &Dataset) -> (Dataset, Dataset) {
        data.split(self.held_out.min(data.n / 5), self.seed)
    }

    pub fn schedule(&self) -> Result<Schedule> {
        Schedule::from_options(self.a, self.levels)
    }

    /// `Ok` if some digits are held out: the forward process, the draws of one z_ℓ and the
    /// metrics' Fréchet reference all take held-out digits, and a run without any would fail
    /// there (or measure against nothing) long after it started.
    pub fn check_held_out(&self) -> Result<()> {
        if self.held_out == 0 {
            return Err(Error::Config(
                "held_out must be at least 1: the forward process and the metrics compare with held-out digits"
                    .into(),
            ));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        self.schedule()?;
        self.arch().validate()?;
        limits::BATCH.check(self.batch as f64)?;
        limits::LR.check(self.lr)?;
        limits::SEED.check(self.seed as f64)?;
        self.check_held_out()?;
        if !(self.clip_norm.is_finite() && self.clip_norm >= 0.0) {
            return Err(Error::Config(format!(
                "gradient clip norm must be >= 0 (0 = off), got {}",
                self.clip_norm
            )));
        }
        Ok(())
    }
}

/// Statistics of one training step (CVAE: loss = kl + nll; denoiser: kl = nll = 0).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub step: u64,
    pub loss: f32,
    pub kl: f32,
    pub nll: f32,
}

/// What `flush` learned.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlushReport {
    pub steps: Vec<StepStats>,
}

/// Fixed evaluation inputs: held-out images, levels and CPU-drawn noise.
#[derive(Clone, Debug)]
pub struct EvalInputs {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    y: Vec<f32>,
    levels: Vec<usize>,
    e1: Vec<f32>,
    e2: Vec<f32>,
}

#[derive(Clone)]
struct Snapshot {
    model: Model,
    optim: Adam,
    step: u64,
}

/// Queued steps' statistics read back and not yet absorbed (`Trainer::read_pending`).
#[derive(Default)]
pub(crate) struct ReadBack {
    values: Vec<f32>,
    pending: Vec<Pending>,
}

/// One queued step: its stats row ([loss, kl, nll, per-level sums...]) still on the device.
struct Pending {
    step: u64,
    stats: Tensor<1>,
    level_counts: Vec<u32>,
}

/// The step's levels as rows of a one-hot matrix [b, L] (level l in column l - 1), built on the
/// CPU: burn's `one_hot` validates its input with a synchronous read, which the browser cannot do.
fn level_one_hot(levels: &[usize], levels_n: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; levels.len() * levels_n];
    for (i, &l) in levels.iter().enumerate() {
        rows[i * levels_n + (l - 1)] = 1.0;
    }
    rows
}

/// What a CVAE's training step uploads beyond the denoiser's: the encoder step's noise, the
/// posterior's coefficients and the latent's noise.
struct CvaeInputs {
    eps_step: Tensor<4>,
    coefs: StepCoefs,
    gamma: Tensor<2>,
}

pub struct Trainer {
    pub config: TrainConfig,
    pub schedule: Schedule,
    /// The autodiff device the model trains on.
    device: Device,
    model: Model,
    optim: Adam,
    /// The training images on the plain device, [N, 1, H, W], uploaded once.
    images: Tensor<4>,
    held_out: Dataset,
    pub height: usize,
    pub width: usize,
    batches: BatchSampler,
    rng: SplitMix64,
    step: u64,
    pending: Vec<Pending>,
    pub history: Vec<StepStats>,
    /// Running mean of the loss at each level (index l-1), over the recent flushes.
    pub level_loss: Vec<Option<f64>>,
    /// The weights at the end of the last good flush: not yet proven, since their own loss is
    /// only computed by the next step.
    last_flushed: Snapshot,
    /// The flush before that: every step from it to `last_flushed` had a finite loss, so these
    /// weights are known good. A divergence rolls back here (rolling back to `last_flushed`
    /// could keep weights that already blew up, e.g. after one step at learning rate 10).
    last_good: Snapshot,
    mean_image: Vec<f32>,
    /// [0, 0]: the KL and NLL columns of the statistics row of a model without them, uploaded
    /// once (filled per step, they were two dispatches of every denoiser step).
    no_terms: Tensor<1>,
}

/// Decay of the per-level running mean at each flush window.
const LEVEL_EMA: f64 = 0.8;

impl Trainer {
    /// Builds the model and uploads the data. `device` is a plain device (CPU, wgpu or WebGPU);
    /// training runs on its autodiff wrapper.
    pub fn new(config: TrainConfig, data: &Dataset, device: &Device) -> Result<Self> {
        config.validate()?;
        config.check_data(data)?;
        let (train, held_out) = config.split(data);
        if train.n < config.batch.min(8) {
            return Err(Error::Config(format!("only {} training images: too few", train.n)));
        }
        let plain = device.clone().inner();
        plain.seed(config.seed);
        let ad = plain.clone().autodiff();
        let model = config.arch().init(&ad);
        let optim = Adam::new(AdamConfig {
            clip_norm: (config.clip_norm > 0.0).then_some(config.clip_norm),
            ..AdamConfig::default()
        });
        Self::assemble(config, train, held_out, plain, model, optim, 0)
    }

    fn assemble(
        config: TrainConfig,
        train: Dataset,
        held_out: Dataset,
        plain: Device,
        model: Model,
        optim: Adam,
        step: u64,
    ) -> Result<Self> {
        let schedule = config.schedule()?;
        let images = Tensor::<4>::from_data(
            TensorData::new(train.pixels.clone(), [train.n, 1, train.h, train.w]),
            &plain,
        );
        let batches = BatchSampler::new(train.n, config.batch, config.seed ^ step);
        let rng = SplitMix64::new(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step);
        let levels = schedule.levels;
        let mean_image = train.mean_image();
        let no_terms = Tensor::<1>::from_data(TensorData::new(vec![0.0f32; 2], [2]), &plain);
        Ok(Self {
            schedule,
            device: plain.autodiff(),
            last_flushed: Snapshot { model: model.clone(), optim: optim.clone(), step },
            last_good: Snapshot { model: model.clone(), optim: optim.clone(), step },
            model,
            optim,
            images,
            height: train.h,
            width: train.w,
            held_out,
            batches,
            rng,
            step,
            pending: Vec::new(),
            history: Vec::new(),
            level_loss: vec![None; levels],
            mean_image,
            no_terms,
            config,
        })
    }

    /// Rebuilds a trainer around a model and optimiser restored from a checkpoint.
    pub(crate) fn from_parts(
        config: TrainConfig,
        data: &Dataset,
        device: &Device,
        model: Model,
        optim: Adam,
        step: u64,
        history: Vec<StepStats>,
    ) -> Result<Self> {
        config.validate()?;
        config.check_data(data)?;
        let (train, held_out) = config.split(data);
        let plain = device.clone().inner();
        plain.seed(config.seed ^ step);
        let mut t = Self::assemble(config, train, held_out, plain, model, optim, step)?;
        t.history = history;
        Ok(t)
    }

    pub fn step(&self) -> u64 {
        self.step
    }
    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn optim(&self) -> &Adam {
        &self.optim
    }
    pub fn device(&self) -> Device {
        self.device.clone().inner()
    }
    pub fn mean_image(&self) -> &[f32] {
        &self.mean_image
    }
    pub fn held_out(&self) -> &Dataset {
        &self.held_out
    }

    /// Change the learning rate between steps (the page's slider).
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        let mut c = self.config.clone();
        c.lr = lr;
        c.validate()?;
        self.config = c;
        Ok(())
    }

    /// The gradient clip norm (0: no clipping) for the steps to come, also after a rollback.
    pub fn set_clip_norm(&mut self, clip_norm: f64) -> Result<()> {
        let mut c = self.config.clone();
        c.clip_norm = clip_norm;
        c.validate()?;
        self.config = c;
        let clip = (clip_norm > 0.0).then_some(clip_norm);
        for optim in [&mut self.optim, &mut self.last_flushed.optim, &mut self.last_good.optim] {
            optim.config.clip_norm = clip;
        }
        Ok(())
    }

    /// Queue `n` training steps. No readback happens here.
    pub fn train_steps(&mut self, n: usize) {
        for _ in 0..n {
            self.train_step();
        }
    }

    /// One step: draw a batch of pairs, compute the loss, take the optimiser's step and queue the
    /// step's statistics.
    fn train_step(&mut self) {
        let b = self.config.batch;
        let levels_n = self.schedule.levels;
        let plain = self.device.clone().inner();
        let idx: Vec<i64> = self.batches.next_indices().into_iter().map(|i| i as i64).collect();
        let levels: Vec<usize> = match &self.model {
            Model::Denoiser(_) => (0..b).map(|_| 1 + self.rng.below(levels_n)).collect(),
            Model::Cvae(_) => {
                (0..b).map(|_| crate::model::cvae::training_level(&mut self.rng, levels_n)).collect()
            }
        };
        let s = self.schedule;
        // Every random draw of a step comes from the trainer's CPU generator (seeded by the seed
        // and the step), not the device's: a run is the same run on every backend, so WebGPU (with
        // burn's fusion) and the CPU backend can be compared step for step (tests/browser/train).
        // Drawing b x 784 normals costs well under a millisecond.
        let (h, w) = (self.height, self.width);
        let rng = &mut self.rng;
        let mut normal = |shape: Vec<usize>| -> TensorData {
            let n = shape.iter().product::<usize>();
            TensorData::new((0..n).map(|_| rng.normal() as f32).collect::<Vec<f32>>(), shape)
        };
        // Every upload of the step comes first, before it queues any kernel: cubecl submits the
        // queued kernels before each upload, so uploads between kernels would cost one submit
        // each (counted by bench/gpu-count.mjs). The flush first runs what burn's fusion still
        // holds of the previous step (its last fused kernel) and submits it with the rest of that
        // step: left pending, it ran between two of the uploads, a second submit. It does not
        // wait for the device; on the CPU backend it does nothing. A device that cannot take the
        // work is lost or poisoned, which the step's readback reports (`Session::flush`).
        let _ = plain.flush();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [b]), &plain);
        let feats = Tensor::<2>::from_data(
            TensorData::new(level_features(&levels, levels_n), [b, LEVEL_FEATURES]),
            &plain,
        );
        let one_hot =
            Tensor::<2>::from_data(TensorData::new(level_one_hot(&levels, levels_n), [b, levels_n]), &plain);
        // Both models start from the closed form: the denoiser's z_l ~ q(z_l | y), the CVAE's
        // z_{l-1}, from which one encoder step gives its z_l.
        let closed_levels: Vec<usize> = match &self.model {
            Model::Denoiser(_) => levels.clone(),
            Model::Cvae(_) => levels.iter().map(|l| l - 1).collect(),
        };
        let eps = Tensor::<4>::from_data(normal(vec![b, 1, h, w]), &plain);
        let q = QCoefs::new(&s, &closed_levels, &plain);
        let cvae = match &self.model {
            Model::Denoiser(_) => None,
            Model::Cvae(m) => Some(CvaeInputs {
                eps_step: Tensor::from_data(normal(vec![b, 1, h, w]), &plain),
                coefs: StepCoefs::new(&s, &levels, &plain),
                gamma: Tensor::from_data(normal(vec![b, m.latent_dim()]), &plain),
            }),
        };

        let y = self.images.clone().select(0, idx);
        let z = q.q_sample(y.clone(), eps);
        let (per_sample, kl, nll) = match (&self.model, cvae) {
            (Model::Denoiser(m), _) => {
                (m.per_sample_loss(z.autodiff(), feats.autodiff(), y.autodiff()), None, None)
            }
            (Model::Cvae(m), Some(CvaeInputs { eps_step, coefs, gamma })) => {
                let z_l = s.encode_step(z.clone(), eps_step);
                let terms = m.terms(
                    z.autodiff(),
                    z_l.autodiff(),
                    feats.autodiff(),
                    &coefs.autodiff(),
                    gamma.autodiff(),
                );
                (terms.kl.clone() + terms.nll.clone(), Some(terms.kl), Some(terms.nll))
            }
            (Model::Cvae(_), None) => unreachable!("the CVAE's inputs are made above"),
        };
        let loss = per_sample.clone().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.config.lr, self.model.clone(), grads);
        self.step += 1;

        // Stats row: [loss, kl, nll, sum of per-sample loss at each level].
        let per_sample = per_sample.inner();
        let level_sums = per_sample.clone().reshape([1, b]).matmul(one_hot).reshape([levels_n]);
        let mut row = vec![loss.inner().reshape([1])];
        match (kl, nll) {
            (Some(kl), Some(nll)) => {
                row.extend([kl.inner().mean().reshape([1]), nll.inner().mean().reshape([1])]);
            }
            _ => row.push(self.no_terms.clone()),
        }
        row.push(level_sums);
        let stats = Tensor::cat(row, 0);
        let mut level_counts = vec![0u32; levels_n];
        for &l in &levels {
            level_counts[l - 1] += 1;
        }
        self.pending.push(Pending { step: self.step, stats, level_counts });
    }

    /// The queued statistics as one tensor (None when nothing is queued).
    /// Read back the queued steps' statistics without checking them (`Session::flush` checks
    /// every model's before any absorbs its own).
    pub(crate) async fn read_pending(&mut self) -> Result<ReadBack> {
        Ok(match self.take_pending() {
            Some((all, pending)) => ReadBack { values: backend::read(all).await?, pending },
            None => ReadBack::default(),
        })
    }

    /// The same, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn read_pending_blocking(&mut self) -> Result<ReadBack> {
        Ok(match self.take_pending() {
            Some((all, pending)) => ReadBack { values: backend::read_blocking(all)?, pending },
            None => ReadBack::default(),
        })
    }

    /// The first step of `read` whose statistics are not finite, with its loss.
    pub(crate) fn first_non_finite(&self, read: &ReadBack) -> Option<(u64, f32)> {
        let width = 3 + self.schedule.levels;
        read.values
            .chunks_exact(width)
            .zip(&read.pending)
            .find(|(row, _)| row.iter().any(|v| !v.is_finite()))
            .map(|(row, p)| (p.step, row[0]))
    }

    /// Check and keep what `read_pending` read (see `flush`).
    pub(crate) fn absorb_read(&mut self, read: ReadBack) -> Result<FlushReport> {
        self.absorb(&read.values, read.pending)
    }

    fn take_pending(&mut self) -> Option<(Tensor<1>, Vec<Pending>)> {
        if self.pending.is_empty() {
            return None;
        }
        let pending = std::mem::take(&mut self.pending);
        let all = Tensor::cat(pending.iter().map(|p| p.stats.clone()).collect(), 0);
        Some((all, pending))
    }

    /// Read back every queued step's statistics (one async read) and check them.
    pub async fn flush(&mut self) -> Result<FlushReport> {
        let Some((all, pending)) = self.take_pending() else {
            return Ok(FlushReport::default());
        };
        let values = backend::read(all).await?;
        self.absorb(&values, pending)
    }

    /// Train `steps` steps with one readback every `chunk` steps, handing each flush's report to
    /// `on_flush`: the loop of the CLI, the scenarios and the tests (the browser's worker makes the
    /// same two calls, `step(n)` then `flush()`, from its frame loop).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn train_blocking(
        &mut self,
        steps: usize,
        chunk: usize,
        mut on_flush: impl FnMut(&Trainer, &FlushReport),
    ) -> Result<()> {
        let mut done = 0;
        while done < steps {
            let n = chunk.max(1).min(steps - done);
            self.train_steps(n);
            let report = self.flush_blocking()?;
            done += n;
            on_flush(self, &report);
        }
        Ok(())
    }

    /// `flush`, blocking (native only: a browser cannot block).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn flush_blocking(&mut self) -> Result<FlushReport> {
        let Some((all, pending)) = self.take_pending() else {
            return Ok(FlushReport::default());
        };
        let values = backend::read_blocking(all)?;
        self.absorb(&values, pending)
    }

    fn absorb(&mut self, values: &[f32], pending: Vec<Pending>) -> Result<FlushReport> {
        let width = 3 + self.schedule.levels;
        let mut report = FlushReport::default();
        let mut sums = vec![0.0f64; self.schedule.levels];
        let mut counts = vec![0u64; self.schedule.levels];
        for (row, p) in values.chunks_exact(width).zip(&pending) {
            if row.iter().any(|v| !v.is_finite()) {
                let bad = row[0];
                self.rollback();
                return Err(Error::Diverged { step: p.step, message: format!("the loss became {bad}") });
            }
            let stats = StepStats { step: p.step, loss: row[0], kl: row[1], nll: row[2] };
            report.steps.push(stats);
            for (l, (&s, &c)) in row[3..].iter().zip(&p.level_counts).enumerate() {
                sums[l] += s as f64;
                counts[l] += c as u64;
            }
        }
        for l in 0..self.schedule.levels {
            if counts[l] > 0 {
                let mean = sums[l] / counts[l] as f64;
                self.level_loss[l] = Some(match self.level_loss[l] {
                    Some(old) => LEVEL_EMA * old + (1.0 - LEVEL_EMA) * mean,
                    None => mean,
                });
            }
        }
        self.history.extend_from_slice(&report.steps);
        let now = Snapshot { model: self.model.clone(), optim: self.optim.clone(), step: self.step };
        self.last_good = std::mem::replace(&mut self.last_flushed, now);
        Ok(report)
    }

    /// Back to the weights and optimiser known good (see `last_good`), dropping any queued step.
    pub(crate) fn rollback(&mut self) {
        self.pending.clear();
        let s = self.last_good.clone();
        self.last_flushed = s.clone();
        self.model = s.model;
        self.optim = s.optim;
        self.step = s.step;
    }

    /// Fixed inputs for the held-out loss (`eval_loss`): the first `n` held-out digits at evenly
    /// spread levels, with noise drawn on the CPU from `seed`: the same inputs on every backend,
    /// so CPU and GPU runs can be compared.
    pub fn eval_inputs(&self, n: usize, seed: u64) -> EvalInputs {
        let n = n.min(self.held_out.n).max(1);
        let big_l = self.schedule.levels;
        let (h, w) = (self.height, self.width);
        let idx: Vec<usize> = (0..n).collect();
        let y = self.held_out.take(&idx).pixels;
        let levels: Vec<usize> = (0..n).map(|i| 1 + i * big_l / n).collect();
        let mut rng = SplitMix64::new(seed);
        let mut noise = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.normal() as f32).collect() };
        let (e1, e2) = (noise(n * h * w), noise(n * h * w));
        EvalInputs { n, h, w, y, levels, e1, e2 }
    }

    /// The held-out loss on the inputs, as a [1] tensor (the CVAE's: [KL + NLL, KL, NLL]), its
    /// latent at the encoder's mean so the figure is deterministic.
    fn eval_tensor(&self, inputs: &EvalInputs) -> Tensor<1> {
        let plain = self.device();
        let EvalInputs { n, h, w, .. } = *inputs;
        let s = self.schedule;
        let t4 = |v: Vec<f32>, shape: [usize; 4]| Tensor::<4>::from_data(TensorData::new(v, shape), &plain);
        let y = t4(inputs.y.clone(), [n, 1, h, w]);
        let e1 = t4(inputs.e1.clone(), [n, 1, h, w]);
        let e2 = t4(inputs.e2.clone(), [n, 1, h, w]);
        let feats = Tensor::<2>::from_data(
            TensorData::new(level_features(&inputs.levels, s.levels), [n, LEVEL_FEATURES]),
            &plain,
        );
        match self.model.valid() {
            Model::Denoiser(m) => {
                let z = s.q_sample(y.clone(), e1, &inputs.levels);
                m.per_sample_loss(z, feats, y).mean().reshape([1])
            }
            Model::Cvae(m) => {
                let previous: Vec<usize> = inputs.levels.iter().map(|l| l - 1).collect();
                let z_prev = s.q_sample(y, e1, &previous);
                let z_l = s.encode_step(z_prev.clone(), e2);
                // The encoder's own noise gamma is replaced by its mean (eps = eps_Psi) so the
                // figure is deterministic: this is the loss without reparameterisation noise.
                let coefs = StepCoefs::new(&s, &inputs.levels, &plain);
                let t = m.terms_at_mean(z_prev, z_l, feats, &coefs);
                let kl = t.kl.mean().reshape([1]);
                let nll = t.nll.mean().reshape([1]);
                Tensor::cat(vec![kl.clone() + nll.clone(), kl, nll], 0)
            }
        }
    }

    /// The mean training loss on held-out digits with fixed inputs (see `eval_inputs`), read back
    /// asynchronously. The CVAE's is KL + NLL.
    pub async fn eval_loss(&self, inputs: &EvalInputs) -> Result<f32> {
        Ok(backend::read(self.eval_tensor(inputs)).await?[0])
    }

    /// `eval_loss`, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn eval_loss_blocking(&self, inputs: &EvalInputs) -> Result<f32> {
        Ok(backend::read_blocking(self.eval_tensor(inputs))?[0])
    }

    /// Run one sampler from z_L ~ N(0, I) (drawn from `seed`) and keep the listed levels.
    pub fn sample(&self, kind: SamplerKind, n: usize, seed: u64, keep: &[usize]) -> Result<Chain> {
        let (z_top, mut noise) = sampler::top(n, seed, (self.height, self.width), &self.device());
        self.sample_from(kind, z_top, self.schedule.levels, keep, &mut noise)
    }

    /// Several samplers from the same z_L (drawn with `seed`), those of the denoiser sharing one
    /// forward per level (`sampler::run_together`).
    pub fn sample_together(
        &self,
        kinds: &[SamplerKind],
        n: usize,
        seed: u64,
        keep: &[usize],
    ) -> Result<Vec<Chain>> {
        let valid = self.model.valid();
        let size = (self.height, self.width);
        sampler::run_together(
            sampler::Decoder::Trained(&valid),
            &self.schedule,
            kinds,
            n,
            seed,
            size,
            &self.device(),
            keep,
        )
    }

    /// Run one sampler from `z` at level `start` down to z_0 and keep the listed levels.
    pub fn sample_from(
        &self,
        kind: SamplerKind,
        z: Tensor<4>,
        start: usize,
        keep: &[usize],
        noise: &mut Noise,
    ) -> Result<Chain> {
        let valid = self.model.valid();
        sampler::run_from(sampler::Decoder::Trained(&valid), &self.schedule, kind, z, start, keep, noise)
    }

    /// The forward (encoding) process for the first `n` held-out digits: y, z_1, ..., z_L.
    pub fn forward_process(&self, n: usize, seed: u64, keep: &[usize]) -> Chain {
        let n = n.min(self.held_out.n).max(1);
        let (h, w) = (self.height, self.width);
        let idx: Vec<usize> = (0..n).collect();
        let y = self.held_out.take(&idx);
        let y = Tensor::<4>::from_data(TensorData::new(y.pixels, [n, 1, h, w]), &self.device());
        sampler::forward_chain(&self.schedule, y, keep, &mut Noise::new(seed))
    }
}
