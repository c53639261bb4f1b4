//! A run: one or more models trained step for step on the same data and shown side by side.
//!
//! Free play has one model. A scenario may compare two (problem 2 trains the denoiser and the
//! CVAE at L = 4 on the same batches' worth of steps). The first model is the run's *main* model:
//! the one exported, autosaved, resumed and whose step the page shows. Every sampler belongs to
//! the first model it applies to (`SamplerKind::applies_to`), so callers ask for a sampler by name
//! and never pick a model themselves.

use crate::backend;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::ideal::Universal;
use crate::limits;
use crate::model::ModelKind;
use crate::rng::Noise;
use crate::sampler::{self, Chain, Decoder, SamplerKind, Walk};
use crate::schedule::Schedule;
use crate::train::{FlushReport, ReadBack, TrainConfig, Trainer};
use burn::prelude::*;
use web_time::{Duration, Instant};

/// One model of a run: trained, or the universal denoiser Φ* of the same training images.
pub enum Member {
    /// Both boxed: each holds a model's tensors and settings (kilobytes of descriptors), and a
    /// run's members are few.
    Trained(Box<Trainer>),
    Universal(Box<UniversalModel>),
}

impl Member {
    /// A trained model for a trainable configuration, Φ* for `model: universal`.
    pub fn new(config: &TrainConfig, data: &Dataset, device: &Device) -> Result<Self> {
        Ok(match config.kind {
            ModelKind::Universal => {
                Member::Universal(Box::new(UniversalModel::new(config.clone(), data, device)?))
            }
            _ => Member::Trained(Box::new(Trainer::new(config.clone(), data, device)?)),
        })
    }

    pub fn config(&self) -> &TrainConfig {
        match self {
            Member::Trained(t) => &t.config,
            Member::Universal(u) => &u.config,
        }
    }

    pub fn kind(&self) -> ModelKind {
        self.config().kind
    }

    pub fn trainer(&self) -> Option<&Trainer> {
        match self {
            Member::Trained(t) => Some(t.as_ref()),
            Member::Universal(_) => None,
        }
    }

    pub fn mean_image(&self) -> &[f32] {
        match self {
            Member::Trained(t) => t.mean_image(),
            Member::Universal(u) => u.mean_image(),
        }
    }

    pub fn held_out(&self) -> &Dataset {
        match self {
            Member::Trained(t) => t.held_out(),
            Member::Universal(u) => u.held_out(),
        }
    }

    /// (height, width) of the images.
    pub fn size(&self) -> (usize, usize) {
        match self {
            Member::Trained(t) => (t.height, t.width),
            Member::Universal(u) => (u.universal.height, u.universal.width),
        }
    }

    pub fn levels(&self) -> usize {
        self.schedule().levels
    }

    pub fn device(&self) -> Device {
        match self {
            Member::Trained(t) => t.device(),
            Member::Universal(u) => u.device(),
        }
    }

    /// Steps trained (0 for Φ*, which is not trained).
    pub fn step(&self) -> u64 {
        self.trainer().map_or(0, Trainer::step)
    }

    /// A sampler's chain from z_L ~ N(0, I) drawn with `seed`, keeping the levels in `keep`.
    pub fn sample(&self, kind: SamplerKind, n: usize, seed: u64, keep: &[usize]) -> Result<Chain> {
        limits::SAMPLES.check(n as f64)?;
        match self {
            Member::Trained(t) => t.sample(kind, n, seed, keep),
            Member::Universal(u) => u.sample(kind, n, seed, keep),
        }
    }

    /// The chain `sample` gives, not yet stepped: `advance` steps it down a few levels at a
    /// time (a measurement in chunks, www/worker/metrics.js).
    pub fn walk(&self, kind: SamplerKind, n: usize, seed: u64, keep: &[usize]) -> Result<Walk> {
        limits::SAMPLES.check(n as f64)?;
        Ok(Walk::from_seed(kind, n, seed, self.size(), self.levels(), keep, &self.device()))
    }

    /// Step `walk` down at most `levels` levels on this model; true once it is at z_0.
    pub fn advance(&self, walk: &mut Walk, levels: usize) -> Result<bool> {
        let schedule = self.schedule();
        match self {
            Member::Trained(t) => {
                let valid = t.model().valid();
                walk.advance(Decoder::Trained(&valid), &schedule, levels)
            }
            Member::Universal(u) => walk.advance(Decoder::Universal(&u.universal), &schedule, levels),
        }
    }

    /// Several samplers' chains from the same z_L, in lockstep where they share the model's
    /// denoiser (one forward per level for all of them).
    pub fn sample_together(
        &self,
        kinds: &[SamplerKind],
        n: usize,
        seed: u64,
        keep: &[usize],
    ) -> Result<Vec<Chain>> {
        limits::SAMPLES.check(n as f64)?;
        match self {
            Member::Trained(t) => t.sample_together(kinds, n, seed, keep),
            Member::Universal(u) => u.sample_together(kinds, n, seed, keep),
        }
    }

    /// One z_ℓ, many draws (quiz problem 2): a single z at `level` — z_L ~ N(0, I) at the top,
    /// else the forward process of one held-out digit — repeated `draws` times, then `kind` from
    /// there to z_0 with fresh noise per draw. Keeps z_ℓ, z_{ℓ−1} and z_0. The same `seed` gives
    /// the same z_ℓ to every sampler and model of a run, so their draws compare.
    pub fn draws(&self, kind: SamplerKind, level: usize, seed: u64, draws: usize) -> Result<Chain> {
        limits::SAMPLES.check(draws as f64)?;
        let schedule = self.schedule();
        if level == 0 || level > schedule.levels {
            return Err(Error::Config(format!(
                "the level must be from 1 to {}, not {level}",
                schedule.levels
            )));
        }
        let (h, w) = self.size();
        let device = self.device();
        let mut noise = Noise::new(seed);
        let z = if level == schedule.levels {
            noise.normal([1, 1, h, w], &device)
        } else {
            let held = self.held_out();
            let y = held.image((seed as usize) % held.n).to_vec();
            let y = Tensor::<4>::from_data(TensorData::new(y, [1, 1, h, w]), &device);
            schedule.q_sample(y, noise.normal([1, 1, h, w], &device), &[level])
        };
        let z = z.repeat_dim(0, draws);
        let mut keep = vec![level, level - 1, 0];
        keep.dedup();
        match self {
            Member::Trained(t) => t.sample_from(kind, z, level, &keep, &mut noise),
            Member::Universal(u) => sampler::run_from(
                Decoder::Universal(&u.universal),
                &schedule,
                kind,
                z,
                level,
                &keep,
                &mut noise,
            ),
        }
    }

    pub fn schedule(&self) -> Schedule {
        match self {
            Member::Trained(t) => t.schedule,
            Member::Universal(u) => u.universal.schedule,
        }
    }
}

/// Φ* as one of a run's models: built from a configuration's training split, the same images a
/// trained model with that configuration (same seed, same held-out count) learns from.
pub struct UniversalModel {
    /// `kind` is `ModelKind::Universal`; the architecture fields are unused.
    pub config: TrainConfig,
    pub universal: Universal,
    held_out: Dataset,
    mean_image: Vec<f32>,
    device: Device,
}

impl UniversalModel {
    pub fn new(config: TrainConfig, data: &Dataset, device: &Device) -> Result<Self> {
        if config.kind != ModelKind::Universal {
            return Err(Error::Config(format!("not the universal model: {}", config.kind.name())));
        }
        let schedule = config.schedule()?;
        limits::SEED.check(config.seed as f64)?;
        config.check_held_out()?;
        config.check_data(data)?;
        let (train, held_out) = config.split(data);
        let universal = Universal::new(&train, schedule, device)?;
        Ok(Self { mean_image: train.mean_image(), config, universal, held_out, device: device.clone() })
    }

    pub fn held_out(&self) -> &Dataset {
        &self.held_out
    }

    /// The mean training image: Φ*(z, ℓ) for z carrying no information (quiz (a)).
    pub fn mean_image(&self) -> &[f32] {
        &self.mean_image
    }

    pub fn device(&self) -> Device {
        self.device.clone()
    }

    /// Several samplers from the same z_L (as `Trainer::sample_together` does).
    pub fn sample_together(
        &self,
        kinds: &[SamplerKind],
        n: usize,
        seed: u64,
        keep: &[usize],
    ) -> Result<Vec<Chain>> {
        let u = &self.universal;
        let size = (u.height, u.width);
        sampler::run_together(Decoder::Universal(u), &u.schedule, kinds, n, seed, size, &self.device, keep)
    }

    /// Run a sampler from z_L ~ N(0, I) drawn with `seed` (as `Trainer::sample` does).
    pub fn sample(&self, kind: SamplerKind, n: usize, seed: u64, keep: &[usize]) -> Result<Chain> {
        let u = &self.universal;
        let (z_top, mut noise) = sampler::top(n, seed, (u.height, u.width), &self.device);
        sampler::run(Decoder::Universal(u), &u.schedule, kind, z_top, keep, &mut noise)
    }
}

/// A sampler as the page and the CLI name it: `[model/]sampler[:argument]`, e.g. "ddim",
/// "stochastic:0.5", "universal/deterministic". Without a model, the sampler runs on the first
/// model of the run it applies to.
pub fn parse_spec(spec: &str) -> Result<(Option<ModelKind>, SamplerKind)> {
    match spec.split_once('/') {
        Some((model, sampler)) => Ok((Some(model.parse()?), SamplerKind::parse(sampler)?)),
        None => Ok((None, SamplerKind::parse(spec)?)),
    }
}

/// The spec of `sampler` on a model of kind `model` (the inverse of `parse_spec`): a trained
/// model's samplers by name, Φ*'s as "universal/name" (its samplers share names with the
/// denoiser's).
pub fn spec(model: ModelKind, sampler: SamplerKind) -> String {
    if model.trained() { sampler.name().to_string() } else { format!("{}/{}", model.name(), sampler.name()) }
}

pub struct Session {
    /// `members[0]` is the main model, always a trained one.
    members: Vec<Member>,
    host: HostTime,
}

/// The host's own time (`Session::host_time`) for the steps queued since the last flush, and for
/// those the last flush read.
#[derive(Default)]
struct HostTime {
    queued: Duration,
    flushed: Duration,
}

impl Session {
    /// One model per configuration, all on `data` and `device`; the first must be trainable.
    pub fn new(configs: &[TrainConfig], data: &Dataset, device: &Device) -> Result<Self> {
        match configs.first() {
            None => return Err(Error::Config("a run needs at least one model".into())),
            Some(c) if !c.kind.trained() => {
                return Err(Error::Config(format!(
                    "a run's first model is the one trained, exported and resumed: not the {} model",
                    c.kind.name()
                )));
            }
            Some(_) => {}
        }
        let members = configs.iter().map(|c| Member::new(c, data, device)).collect::<Result<_>>()?;
        Ok(Self { members, host: HostTime::default() })
    }

    /// A run of one model (an imported or resumed checkpoint).
    pub fn single(trainer: Trainer) -> Self {
        Self { members: vec![Member::Trained(Box::new(trainer))], host: HostTime::default() }
    }

    /// A resumed main model with models to show beside it (`alongside`, e.g. Φ* of its data).
    pub fn resumed(trainer: Trainer, alongside: &[TrainConfig], data: &Dataset) -> Result<Self> {
        let device = trainer.device();
        let members = alongside.iter().map(|c| Member::new(c, data, &device)).collect::<Result<Vec<_>>>()?;
        Ok(Self::with_members(trainer, members))
    }

    /// A run of `trainer` with the models beside it already built (e.g. resumed from their own
    /// checkpoints).
    pub fn with_members(trainer: Trainer, alongside: Vec<Member>) -> Self {
        let mut run = Self::single(trainer);
        run.members.extend(alongside);
        run
    }

    pub fn main(&self) -> &Trainer {
        match &self.members[0] {
            Member::Trained(t) => t,
            Member::Universal(_) => unreachable!("Session::new refuses a universal main model"),
        }
    }

    /// The main model first, then the models it is compared with.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The trained models, main first.
    pub fn trainers(&self) -> impl Iterator<Item = &Trainer> {
        self.members.iter().filter_map(Member::trainer)
    }

    fn trainers_mut(&mut self) -> impl Iterator<Item = &mut Trainer> {
        self.members.iter_mut().filter_map(|m| match m {
            Member::Trained(t) => Some(t.as_mut()),
            Member::Universal(_) => None,
        })
    }

    /// The main model's step (the others train in lockstep with it).
    pub fn step(&self) -> u64 {
        self.main().step()
    }

    /// `train_steps` for a caller that may pass anything (the wasm bridge: −1 from JS arrives as
    /// 4,294,967,295): from 1 to `limits::STEPS_PER_CALL`, else an error of kind config.
    pub fn queue_steps(&mut self, n: u64) -> Result<()> {
        limits::STEPS_PER_CALL.check(n as f64)?;
        let start = Instant::now();
        self.train_steps(n as usize);
        self.host.queued += start.elapsed();
        Ok(())
    }

    /// Queue `n` steps of every trained model (no readback).
    pub fn train_steps(&mut self, n: usize) {
        for t in self.trainers_mut() {
            t.train_steps(n);
        }
    }

    /// Read every trained model's queued statistics: one report per trained model, main first.
    /// If any model diverged, every trained model goes back to its last good weights (see
    /// `Trainer::flush`), so they stay in step, and the error names the model that diverged.
    pub async fn flush(&mut self) -> Result<Vec<FlushReport>> {
        let mut read = Vec::new();
        let mut host = std::mem::take(&mut self.host.queued);
        for t in self.trainers_mut() {
            read.push(backend::timing_first_poll(t.read_pending(), &mut host).await?);
        }
        self.host.flushed = host;
        self.absorb(read)
    }

    /// The time the host itself spent on the steps of the last `flush` (call it after one):
    /// queuing them (`queue_steps`) and each readback's first poll, which runs the queued
    /// operations, records their dispatches and submits them, but not the wait for the device.
    /// On WebGPU this is what a faster GPU does not shorten: the wasm's cost per dispatch.
    pub fn host_time(&self) -> Duration {
        self.host.flushed
    }

    /// The same, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn flush_blocking(&mut self) -> Result<Vec<FlushReport>> {
        let read = self.trainers_mut().map(|t| t.read_pending_blocking()).collect::<Result<Vec<_>>>()?;
        self.absorb(read)
    }

    fn absorb(&mut self, read: Vec<ReadBack>) -> Result<Vec<FlushReport>> {
        let diverged = self
            .trainers()
            .zip(&read)
            .find_map(|(t, r)| t.first_non_finite(r).map(|(step, loss)| (t.config.kind, step, loss)));
        if let Some((kind, step, loss)) = diverged {
            self.trainers_mut().for_each(Trainer::rollback);
            return Err(Error::Diverged {
                step,
                message: format!("the {} model's loss became {loss}", kind.name()),
            });
        }
        self.trainers_mut().zip(read).map(|(t, r)| t.absorb_read(r)).collect()
    }

    /// The learning rate of every trained model.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.trainers_mut().try_for_each(|t| t.set_lr(lr))
    }

    /// The samplers this run can show, as specs (see `parse_spec`), main model's first: a trained
    /// model's by name, Φ*'s as "universal/name" (its samplers share names with the denoiser's).
    pub fn samplers(&self) -> Vec<String> {
        self.sampler_groups().concat()
    }

    /// `samplers()` by the model they run on: the specs a drawing pass can sample together
    /// (`Member::sample_together`).
    pub fn sampler_groups(&self) -> Vec<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        let mut groups = Vec::new();
        for m in &self.members {
            let mut group = Vec::new();
            for &name in SamplerKind::names_for(m.kind()) {
                let spec = spec(m.kind(), SamplerKind::parse(name).expect("names_for lists parseable names"));
                if !names.contains(&spec) {
                    names.push(spec.clone());
                    group.push(spec);
                }
            }
            if !group.is_empty() {
                groups.push(group);
            }
        }
        groups
    }

    /// The model a sampler runs on: `model` if given, else the first the sampler applies to.
    pub fn member_for(&self, model: Option<ModelKind>, kind: SamplerKind) -> Result<&Member> {
        self.members
            .iter()
            .find(|m| model.is_none_or(|k| m.kind() == k) && kind.applies_to(m.kind()))
            .ok_or_else(|| {
                Error::Config(format!(
                    "no model of this run can use the {}{} sampler (it has: {})",
                    model.map_or(String::new(), |k| format!("{}/", k.name())),
                    kind.name(),
                    self.samplers().join(", ")
                ))
            })
    }

    /// Run a sampler spec (see `parse_spec`) on its model (see `Member::sample`).
    pub fn sample(&self, spec: &str, n: usize, seed: u64, keep: &[usize]) -> Result<Chain> {
        let (model, kind) = parse_spec(spec)?;
        self.member_for(model, kind)?.sample(kind, n, seed, keep)
    }

    /// One z_ℓ, many draws with a sampler spec (see `Member::draws`).
    pub fn draws(&self, spec: &str, level: usize, seed: u64, draws: usize) -> Result<Chain> {
        let (model, kind) = parse_spec(spec)?;
        self.member_for(model, kind)?.draws(kind, level, seed, draws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;

    fn tiny(kind: ModelKind) -> TrainConfig {
        TrainConfig { kind, levels: 3, batch: 4, base_channels: 4, held_out: 8, ..TrainConfig::default() }
    }

    #[test]
    fn samplers_route_to_the_model_they_apply_to() {
        let data = Dataset::bundled().take(&(0..40).collect::<Vec<_>>());
        let device = crate::backend::cpu();
        let mut s =
            Session::new(&[tiny(ModelKind::Denoiser), tiny(ModelKind::Cvae)], &data, &device).unwrap();
        assert_eq!(s.samplers(), ["deterministic", "stochastic", "ddim", "cvae"]);
        let cvae = SamplerKind::parse("cvae").unwrap();
        assert_eq!(s.member_for(None, cvae).unwrap().kind(), ModelKind::Cvae);
        assert_eq!(s.member_for(None, SamplerKind::Ddim).unwrap().kind(), ModelKind::Denoiser);

        // Both models train in lockstep and report separately.
        s.train_steps(2);
        let reports = s.flush_blocking().unwrap();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.steps.len() == 2));
        assert_eq!(s.members()[1].step(), 2);
        assert_eq!(s.step(), 2);

        // Φ* beside the denoiser: its samplers are addressed with its name; it is not trained.
        let mut s =
            Session::new(&[tiny(ModelKind::Denoiser), tiny(ModelKind::Universal)], &data, &device).unwrap();
        assert_eq!(
            s.samplers(),
            [
                "deterministic",
                "stochastic",
                "ddim",
                "universal/deterministic",
                "universal/stochastic",
                "universal/ddim",
                "universal/exact"
            ]
        );
        assert_eq!(s.member_for(None, SamplerKind::Deterministic).unwrap().kind(), ModelKind::Denoiser);
        assert_eq!(s.member_for(None, SamplerKind::Exact).unwrap().kind(), ModelKind::Universal);
        s.train_steps(1);
        assert_eq!(s.flush_blocking().unwrap().len(), 1, "only the trained model reports");
        let chain = s.sample("universal/exact", 2, 1, &[3, 0]).unwrap();
        assert_eq!(chain.levels, [3, 0]);

        // One model diverging (the CVAE at learning rate 100, unclipped) stops both where they
        // were last known good, in step, and the error names it.
        let wild = TrainConfig { lr: 100.0, clip_norm: 0.0, ..tiny(ModelKind::Cvae) };
        let mut s = Session::new(&[tiny(ModelKind::Denoiser), wild], &data, &device).unwrap();
        let e = (0..20)
            .find_map(|_| {
                s.train_steps(5);
                s.flush_blocking().err()
            })
            .expect("the CVAE diverges");
        assert_eq!(e.kind(), "diverged");
        assert!(e.to_string().contains("the cvae model's loss became"), "{e}");
        assert_eq!(s.members()[1].step(), s.step(), "the models stay in step");
        s.train_steps(1);
        let _ = s.flush_blocking();
        assert_eq!(s.members()[1].step(), s.step(), "and train on in step");

        // What the bridge may pass (a JS −1 arrives as u32::MAX) is bounded with errors of a kind.
        let mut single = Session::new(&[tiny(ModelKind::Denoiser)], &data, &device).unwrap();
        for n in [0, u32::MAX as u64] {
            let e = single.queue_steps(n).expect_err("refused");
            assert_eq!(e.kind(), "config");
            assert!(e.to_string().contains("training steps per call must be"), "{e}");
        }
        single.queue_steps(2).unwrap();
        assert_eq!(single.flush_blocking().unwrap()[0].steps.len(), 2);
        let main = &single.members()[0];
        for n in [0, u32::MAX as usize] {
            let e = single.sample("ddim", n, 1, &[0]).err().expect("refused");
            assert!(e.to_string().contains("samples per call must be"), "{e}");
            let e = main.sample_together(&[SamplerKind::Ddim], n, 1, &[0]).err().expect("refused");
            assert_eq!(e.kind(), "config");
            let e = single.draws("ddim", 1, 1, n).err().expect("refused");
            assert_eq!(e.kind(), "config");
        }
        let err = single.sample("cvae", 2, 1, &[0]).err().expect("the denoiser has no CVAE sampler");
        assert_eq!(err.kind(), "config");
        assert!(Session::new(&[], &data, &device).is_err());
        assert!(
            Session::new(&[tiny(ModelKind::Universal)], &data, &device).is_err(),
            "Φ* cannot be the main model"
        );
    }
}
