//! A run: one or more models trained step for step on the same data and shown side by side.
//!
//! Free play has one model. A scenario may compare two (problem 2 trains the denoiser and the
//! CVAE at L = 4 on the same batches' worth of steps). The first model is the run's *main* model:
//! the one exported, autosaved, resumed and whose step the page shows. Every sampler belongs to
//! the first model it applies to (`SamplerKind::applies_to`), so callers ask for a sampler by name
//! and never pick a model themselves.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::sampler::{Chain, SamplerKind};
use crate::train::{FlushReport, TrainConfig, Trainer};
use burn::prelude::Device;

pub struct Session {
    /// `models[0]` is the main model; never empty.
    models: Vec<Trainer>,
}

impl Session {
    /// One model per configuration, all on `data` and `device`.
    pub fn new(configs: &[TrainConfig], data: &Dataset, device: &Device) -> Result<Self> {
        if configs.is_empty() {
            return Err(Error::Config("a run needs at least one model".into()));
        }
        let models = configs.iter().map(|c| Trainer::new(c.clone(), data, device)).collect::<Result<_>>()?;
        Ok(Self { models })
    }

    /// A run of one model (an imported or resumed checkpoint).
    pub fn single(trainer: Trainer) -> Self {
        Self { models: vec![trainer] }
    }

    pub fn main(&self) -> &Trainer {
        &self.models[0]
    }

    pub fn main_mut(&mut self) -> &mut Trainer {
        &mut self.models[0]
    }

    /// The main model first, then the models it is compared with.
    pub fn models(&self) -> &[Trainer] {
        &self.models
    }

    /// The main model's step (the others train in lockstep with it).
    pub fn step(&self) -> u64 {
        self.main().step()
    }

    /// Queue `n` steps of every model (no readback).
    pub fn train_steps(&mut self, n: usize) {
        for t in &mut self.models {
            t.train_steps(n);
        }
    }

    /// Read every model's queued statistics: one report per model, main first. A diverged model
    /// is an error (its last good weights are restored, see `Trainer::flush`).
    pub async fn flush(&mut self) -> Result<Vec<FlushReport>> {
        let mut reports = Vec::with_capacity(self.models.len());
        for t in &mut self.models {
            reports.push(t.flush().await?);
        }
        Ok(reports)
    }

    /// The same, blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn flush_blocking(&mut self) -> Result<Vec<FlushReport>> {
        self.models.iter_mut().map(|t| t.flush_blocking()).collect()
    }

    /// The learning rate of every model.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.models.iter_mut().try_for_each(|t| t.set_lr(lr))
    }

    /// The names of the samplers this run can show, in order (main model's first), each once.
    pub fn samplers(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for t in &self.models {
            for &name in SamplerKind::names_for(t.config.kind) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// The model a sampler runs on: the first it applies to.
    pub fn model_for(&self, kind: SamplerKind) -> Result<&Trainer> {
        self.models.iter().find(|t| kind.applies_to(t.config.kind)).ok_or_else(|| {
            Error::Config(format!(
                "no model of this run can use the {} sampler (it has: {})",
                kind.name(),
                self.samplers().join(", ")
            ))
        })
    }

    /// Run a sampler on its model (see `Trainer::sample`).
    pub fn sample(&self, kind: SamplerKind, n: usize, seed: u64, keep: &[usize]) -> Result<Chain> {
        self.model_for(kind)?.sample(kind, n, seed, keep)
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
        assert_eq!(s.model_for(cvae).unwrap().config.kind, ModelKind::Cvae);
        assert_eq!(s.model_for(SamplerKind::Ddim).unwrap().config.kind, ModelKind::Denoiser);

        // Both models train in lockstep and report separately.
        s.train_steps(2);
        let reports = s.flush_blocking().unwrap();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.steps.len() == 2));
        assert_eq!(s.models()[1].step(), 2);
        assert_eq!(s.step(), 2);

        let single = Session::new(&[tiny(ModelKind::Denoiser)], &data, &device).unwrap();
        let err = single.sample(cvae, 2, 1, &[0]).err().expect("the denoiser has no CVAE sampler");
        assert_eq!(err.kind(), "config");
        assert!(Session::new(&[], &data, &device).is_err());
    }
}
