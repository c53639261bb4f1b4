//! The course quiz as named presets (its four problems, then two about the ideal objects): what to
//! train, which samplers to show, how long, and a caption saying what to look for. The page lists them (`all()` is serde
//! serialisable); the CLI's `scenario NAME` trains them natively (`train_blocking`, or
//! `load_blocking` for saved models) and measures them (`measure_blocking`), as the tests do.
//!
//! Sizes are small on purpose (8 base channels, batch 32): the presets must train in minutes on
//! a 2-core CPU, which is also the page's fallback when WebGPU is missing.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::ModelKind;
use crate::sampler::SamplerKind;
use crate::train::TrainConfig;

/// One picture/metrics column of a scenario: a sampler run on one of the scenario's models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub label: String,
    /// Index into `Scenario::models`.
    pub model: usize,
    pub sampler: SamplerKind,
    /// How a session names this sampler on that model (`session::spec`), e.g. "universal/exact".
    pub spec: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Short name for URLs and the CLI: collapse, imperfect, noise, few-levels, perfect, memorisation.
    pub name: String,
    pub title: String,
    /// What to look for (shown under the pictures).
    pub caption: String,
    /// The models: the first is trained (and shown as the run's); every trained model gets the
    /// same budget, `steps` steps of `batch` images; a universal one (Φ*) is computed.
    pub models: Vec<TrainConfig>,
    pub steps: usize,
    /// How the models' budgets compare (scenario 4: "same steps").
    pub budget: String,
    pub panels: Vec<Panel>,
    /// Show the mean training image beside the samples (and their RMS distance to it).
    pub show_mean_image: bool,
    /// Show the spread (diversity) at every level of the chain, not only of the final images.
    pub chain_spread: bool,
}

/// The small denoiser shared by scenarios 1 and 3.
fn small(kind: ModelKind, levels: usize) -> TrainConfig {
    TrainConfig {
        kind,
        levels,
        batch: 32,
        lr: 3e-3,
        seed: 3,
        base_channels: 8,
        cond_dim: 32,
        latent_dim: 16,
        held_out: 1000,
        ..TrainConfig::default()
    }
}

/// Levels of scenarios 1-3 ("many levels").
pub const MANY_LEVELS: usize = 40;
/// Levels of scenario 4 (docs/math.md: few levels, 2..8).
pub const FEW_LEVELS: usize = 4;

/// Φ* for the same training images as `trained` (same split seed and held-out count).
fn universal_like(trained: &TrainConfig) -> TrainConfig {
    TrainConfig { kind: ModelKind::Universal, ..trained.clone() }
}

/// The scenarios, in quiz order, then the ones about the ideal objects.
pub fn all() -> Vec<Scenario> {
    let mut all = presets();
    for sc in &mut all {
        for p in &mut sc.panels {
            p.spec = crate::session::spec(sc.models[p.model].kind, p.sampler);
        }
    }
    all
}

fn presets() -> Vec<Scenario> {
    let det = SamplerKind::Deterministic;
    let sto = SamplerKind::Stochastic { sigma: None };
    let panel = |label: &str, model: usize, sampler| Panel {
        label: label.into(),
        model,
        sampler,
        spec: String::new(),
    };
    let collapse_model = small(ModelKind::Denoiser, MANY_LEVELS);
    let few_denoiser = small(ModelKind::Denoiser, FEW_LEVELS);
    vec![
        Scenario {
            name: "collapse".into(),
            title: "Deterministic decoding collapses".into(),
            caption: "Quiz problem 1 (a, b). The denoiser is trained to predict y from z_l; at the top level it can only \
                      predict the mean training image, and sampler eq. (2), z_{l-1} = yhat(z_l, l), starts from there. \
                      Every z_L ends up at (almost) the same image: compare the samples with the mean image, and the \
                      class entropy and diversity with those of real digits."
                .into(),
            models: vec![collapse_model.clone()],
            steps: 600,
            budget: "one model".into(),
            panels: vec![panel("eq. (2)", 0, det)],
            show_mean_image: true,
            chain_spread: false,
        },
        Scenario {
            name: "imperfect".into(),
            title: "Why it is diverse in practice".into(),
            caption: "Quiz problem 1 (c). A tiny, under-trained network is not the ideal denoiser: yhat(z_L, L) still \
                      depends a little on z_L. Eq. (2) passes that difference down the chain, and the spread of the \
                      samples (mean pairwise distance at each level) grows again after the first step, so some \
                      diversity survives."
                .into(),
            models: vec![TrainConfig { base_channels: 4, cond_dim: 8, lr: 2e-3, ..small(ModelKind::Denoiser, MANY_LEVELS) }],
            steps: 60,
            budget: "one model, stopped early".into(),
            panels: vec![panel("eq. (2)", 0, det)],
            show_mean_image: true,
            chain_spread: true,
        },
        Scenario {
            name: "noise".into(),
            title: "Noise restores diversity".into(),
            caption: "The same model as 'collapse', three samplers from the same z_L. The stochastic sampler adds fresh \
                      noise at every step (z_{l-1} = m + sigma delta); DDIM is deterministic but keeps the noise \
                      direction epshat. Both give varied digits of every class (high entropy, diversity near that of \
                      real digits), where eq. (2) collapses."
                .into(),
            models: vec![collapse_model.clone()],
            steps: 600,
            budget: "one model".into(),
            panels: vec![panel("stochastic", 0, sto), panel("DDIM", 0, SamplerKind::Ddim), panel("eq. (2)", 0, det)],
            show_mean_image: false,
            chain_spread: false,
        },
        Scenario {
            name: "few-levels".into(),
            title: "Few levels need a non-Gaussian step".into(),
            caption: "Quiz problem 2. With L = 4 each step removes a lot of noise and the true p(z_{l-1} | z_l) is far \
                      from Gaussian. The denoiser's stochastic sampler can only add Gaussian noise around a blurry \
                      mean; the progressive CVAE draws a latent eps at each step and gives sharper, more digit-like \
                      samples: a lower Fréchet distance to real digits. Both are trained for the same number of steps \
                      with the same batch size."
                .into(),
            models: vec![few_denoiser.clone(), small(ModelKind::Cvae, FEW_LEVELS), universal_like(&few_denoiser)],
            steps: 2000,
            budget: "same number of steps and batch size for both trained models".into(),
            panels: vec![
                panel("Gaussian step (stochastic)", 0, sto),
                panel("CVAE step", 1, SamplerKind::Cvae { noise_free_last: true }),
                panel("Gaussian step with Φ*", 2, sto),
                panel("true conditional", 2, SamplerKind::Exact),
            ],
            show_mean_image: false,
            chain_spread: false,
        },
        Scenario {
            name: "perfect".into(),
            title: "What a perfect denoiser does".into(),
            caption: "Quiz problem 1 (a, b) with the ideal denoiser Φ*, computed exactly from the training images: \
                      Φ*(z_L, L) is the mean training image (up to the signal a^L left in z_L), so eq. (2)'s first \
                      step lands next to it from every z_L, and every chain ends on the same image: a training \
                      digit, since Φ* knows nothing else (its distance to the nearest training image is 0). The \
                      trained network beside it collapses too, onto an image of its own; scenario 'imperfect' shows \
                      a network far enough from universal to keep some spread (problem 1 (c))."
                .into(),
            models: vec![collapse_model.clone(), universal_like(&collapse_model)],
            steps: 600,
            budget: "one trained model; Φ* needs no training".into(),
            panels: vec![panel("eq. (2) with Φ*", 1, det), panel("eq. (2), trained", 0, det)],
            show_mean_image: true,
            chain_spread: true,
        },
        Scenario {
            name: "memorisation".into(),
            title: "Memorisation vs generalisation".into(),
            caption: "Φ* is the best possible denoiser of the training set, and with noise in the sampler (or the \
                      exact reverse step) it reproduces training images: their distance to the nearest training \
                      image is near 0. The trained network makes new digits, as far from the training set as \
                      held-out real digits are."
                .into(),
            models: vec![collapse_model.clone(), universal_like(&collapse_model)],
            steps: 600,
            budget: "one trained model; Φ* needs no training".into(),
            panels: vec![
                panel("stochastic, trained", 0, sto),
                panel("stochastic with Φ*", 1, sto),
                panel("true conditional", 1, SamplerKind::Exact),
            ],
            show_mean_image: false,
            chain_spread: false,
        },
    ]
}

/// The scenario names, in order.
pub fn names() -> Vec<String> {
    all().into_iter().map(|s| s.name).collect()
}

/// A scenario by name (also accepts its number, 1..).
pub fn by_name(name: &str) -> Result<Scenario> {
    let all = all();
    let idx = match name.parse::<usize>() {
        Ok(i) if (1..=all.len()).contains(&i) => Some(i - 1),
        _ => all.iter().position(|s| s.name.eq_ignore_ascii_case(name)),
    };
    idx.map(|i| all[i].clone()).ok_or_else(|| {
        Error::Config(format!("unknown scenario '{name}' (use one of: {})", names().join(", ")))
    })
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::*;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use burn::prelude::Device;
    use serde::Serialize;

    use super::Scenario;
    use crate::data::Dataset;
    use std::path::{Path, PathBuf};

    use crate::error::{Error, Result, read_file, write_file};
    use crate::metrics::Classifier;
    use crate::metrics::{Baseline, FirstStep, SampleMetrics, mean_rms_to, spread_per_level};
    use crate::sampler::display_levels;
    use crate::session::Member;
    use crate::train::Trainer;

    /// How to run a scenario natively.
    #[derive(Clone, Debug)]
    pub struct RunOptions {
        /// Override the preset's training steps.
        pub steps: Option<usize>,
        /// Samples per panel.
        pub samples: usize,
        /// Seed of z_L and the sampling noise (the same for every panel).
        pub seed: u64,
        /// Real held-out digits forming the Fréchet reference.
        pub reference: usize,
    }

    impl Default for RunOptions {
        fn default() -> Self {
            Self { steps: None, samples: 256, seed: 11, reference: 1000 }
        }
    }

    #[derive(Clone, Debug, Serialize)]
    pub struct PanelReport {
        pub label: String,
        pub sampler: String,
        pub metrics: SampleMetrics,
        /// Mean RMS distance of the final samples to the mean training image.
        pub rms_to_mean: f64,
        /// Eq. (2)'s first step (z_{L−1}) of the same chains: for the lessons (`lesson::judge`).
        pub first_step: FirstStep,
        /// (level, mean pairwise distance of the samples at that level), L..0 (chain_spread only).
        pub chain: Vec<(usize, f64)>,
    }

    #[derive(Clone, Debug, Serialize)]
    pub struct ScenarioReport {
        pub name: String,
        pub steps: usize,
        /// Per model: (kind, seconds of training, last flushed loss).
        pub training: Vec<(String, f64, f32)>,
        /// Real digits (training digits, as many as the samples) measured like a sample set.
        pub real: SampleMetrics,
        /// RMS distance between two random real digits (the yardstick of rms_to_mean).
        pub real_rms_pair: f64,
        pub panels: Vec<PanelReport>,
    }

    /// The yardsticks of a model's samples: its `Baseline` (the Fréchet reference of `reference`
    /// held-out digits, the training images) and its real digits measured like `samples` samples
    /// (`Baseline::real_blocking`). Also returns the training digits.
    pub fn real_baseline_blocking(
        m: &Member,
        data: &Dataset,
        classifier: &Classifier,
        reference: usize,
        samples: usize,
        device: &Device,
    ) -> Result<(Baseline, SampleMetrics, Dataset)> {
        let (train, held) = m.config().split(data);
        let baseline =
            Baseline::compute_blocking(classifier, (&train, &held), reference, m.schedule(), device)?;
        let real = baseline.real_blocking(classifier, (&train, &held), samples, device)?;
        Ok((baseline, real, train))
    }

    /// One of a scenario's models after training (or loaded from a checkpoint of that training;
    /// Φ* is computed).
    pub struct Trained {
        pub model: Member,
        /// Seconds the training took (0 when loaded).
        pub seconds: f64,
        /// Last flushed training loss (NaN when loaded).
        pub last_loss: f32,
    }

    /// Train the scenario's models on `data` for `steps` (default: the preset's) steps each.
    pub fn train_blocking(
        scenario: &Scenario,
        data: &Dataset,
        device: &Device,
        steps: Option<usize>,
        mut log: impl FnMut(&str),
    ) -> Result<Vec<Trained>> {
        let steps = steps.unwrap_or(scenario.steps);
        let mut trained = Vec::new();
        for config in &scenario.models {
            if !config.kind.trained() {
                let model = Member::new(config, data, device)?;
                trained.push(Trained { model, seconds: 0.0, last_loss: f32::NAN });
                continue;
            }
            let mut trainer = Trainer::new(config.clone(), data, device)?;
            log(&format!(
                "training {} (L = {}, {} channels) for {steps} steps",
                config.kind.name(),
                config.levels,
                config.base_channels
            ));
            let start = web_time::Instant::now();
            let mut last_loss = f32::NAN;
            trainer.train_blocking(steps, 25, |_, report| {
                if let Some(s) = report.steps.last() {
                    last_loss = s.loss;
                }
            })?;
            trained.push(Trained {
                model: Member::Trained(Box::new(trainer)),
                seconds: start.elapsed().as_secs_f64(),
                last_loss,
            });
        }
        Ok(trained)
    }

    /// The checkpoint file of a scenario's model `index` in a folder of saved trainings.
    pub fn checkpoint_path(dir: &Path, scenario: &Scenario, index: usize) -> PathBuf {
        dir.join(format!("{}-{index}-{}.ckpt", scenario.name, scenario.models[index].kind.name()))
    }

    /// Save trained models as checkpoints (`checkpoint_path`), for `load_blocking` (Φ* is not
    /// saved: it is computed again from the data).
    pub fn save_blocking(dir: &Path, scenario: &Scenario, trained: &[Trained]) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io(format!("cannot create {}: {e}", dir.display())))?;
        let mut paths = Vec::new();
        for (i, t) in trained.iter().enumerate() {
            let Some(trainer) = t.model.trainer() else { continue };
            let path = checkpoint_path(dir, scenario, i);
            let bytes = crate::checkpoint::export_blocking(trainer)?;
            write_file(&path, &bytes)?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Load a scenario's models saved by `save_blocking`. Each checkpoint must hold exactly the
    /// preset's configuration trained for `steps` (default: the preset's) steps: a preset changed
    /// since the files were written is an error, not a silently different model.
    pub fn load_blocking(
        dir: &Path,
        scenario: &Scenario,
        data: &Dataset,
        device: &Device,
        steps: Option<usize>,
    ) -> Result<Vec<Trained>> {
        let paths: Vec<PathBuf> =
            (0..scenario.models.len()).map(|i| checkpoint_path(dir, scenario, i)).collect();
        load_files_blocking(&paths, scenario, data, device, steps)
    }

    /// `load_blocking` from the given files, one per model (a computed model's is not read).
    pub fn load_files_blocking(
        paths: &[PathBuf],
        scenario: &Scenario,
        data: &Dataset,
        device: &Device,
        steps: Option<usize>,
    ) -> Result<Vec<Trained>> {
        let dir = paths.first().and_then(|p| p.parent()).unwrap_or(Path::new("."));
        let steps = steps.unwrap_or(scenario.steps) as u64;
        let mut trained = Vec::new();
        for (i, config) in scenario.models.iter().enumerate() {
            if !config.kind.trained() {
                trained.push(Trained {
                    model: Member::new(config, data, device)?,
                    seconds: 0.0,
                    last_loss: f32::NAN,
                });
                continue;
            }
            let path = &paths[i];
            let bytes = read_file(path)?;
            let trainer = crate::checkpoint::import(&bytes, data, device, None)?;
            if trainer.config != *config || trainer.step() != steps {
                return Err(Error::Checkpoint(format!(
                    "{} is not scenario {}'s model {i} after {steps} steps (step {}, config {:?}): \
                     retrain it with `denoise-lab scenario {} --save {}`",
                    path.display(),
                    scenario.name,
                    trainer.step(),
                    trainer.config,
                    scenario.name,
                    dir.display()
                )));
            }
            trained.push(Trained {
                model: Member::Trained(Box::new(trainer)),
                seconds: 0.0,
                last_loss: f32::NAN,
            });
        }
        Ok(trained)
    }

    /// Measure every panel of a scenario on its trained models against held-out digits.
    pub fn measure_blocking(
        scenario: &Scenario,
        trained: &[Trained],
        data: &Dataset,
        device: &Device,
        classifier: &Classifier,
        options: &RunOptions,
        mut log: impl FnMut(&str),
    ) -> Result<ScenarioReport> {
        let models: Vec<&Member> = trained.iter().map(|t| &t.model).collect();
        let training = trained
            .iter()
            .filter(|t| t.model.kind().trained())
            .map(|t| (t.model.kind().name().to_string(), t.seconds, t.last_loss))
            .collect();
        let steps = models[0].step() as usize;
        let first = models[0];
        let (h, w) = first.size();
        let dim = h * w;
        let (baseline, real, train_part) =
            real_baseline_blocking(first, data, classifier, options.reference, options.samples, device)?;
        let pairs = (real.n / 2).max(1);
        let real_rms_pair = (0..pairs)
            .map(|i| crate::metrics::rms_distance(train_part.image(2 * i), train_part.image(2 * i + 1)))
            .sum::<f64>()
            / pairs as f64;

        let mut panels = Vec::new();
        for p in &scenario.panels {
            let t = models[p.model];
            log(&format!("sampling {} x {}", options.samples, p.label));
            // The first step z_{L−1} is kept for the lessons' figures, beside the levels shown.
            let first = t.levels() - 1;
            let shown = display_levels(t.levels(), 11);
            let mut keep = if scenario.chain_spread { shown.clone() } else { vec![0] };
            keep.push(first);
            let chain = t.sample(p.sampler, options.samples, options.seed, &keep)?;
            let levels = chain.levels.clone();
            let px = chain.read_blocking()?;
            let n = options.samples;
            let level_px = |l: usize| {
                let at = levels.iter().position(|&x| x == l).expect("a kept level");
                &px[at * n * dim..(at + 1) * n * dim]
            };
            let final_px = level_px(0);
            let metrics = baseline.measure_blocking(classifier, final_px, device)?;
            let first_step = FirstStep::of(level_px(first), t.mean_image());
            let chain_spread = if scenario.chain_spread {
                levels
                    .iter()
                    .copied()
                    .zip(spread_per_level(&px, n, dim))
                    .filter(|(l, _)| shown.contains(l))
                    .collect()
            } else {
                Vec::new()
            };
            panels.push(PanelReport {
                label: p.label.clone(),
                sampler: p.sampler.name().to_string(),
                rms_to_mean: mean_rms_to(final_px, t.mean_image()),
                metrics,
                first_step,
                chain: chain_spread,
            });
        }
        Ok(ScenarioReport { name: scenario.name.clone(), steps, training, real, real_rms_pair, panels })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captions are prose shown under the pictures and printed by the CLI: one space between
    /// words (a string literal continued without `\` keeps the next line's indentation).
    #[test]
    fn captions_are_single_spaced_prose() {
        for sc in all() {
            for text in [&sc.title, &sc.caption, &sc.budget] {
                assert!(!text.contains("  ") && !text.contains('\n'), "{}: {text:?}", sc.name);
            }
        }
    }
}
