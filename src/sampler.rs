//! The samplers of docs/math.md, each returning the whole chain z_L, ..., z_0 (or the levels asked
//! for) so the page can draw every level:
//! 1. quiz eq. (2), deterministic: z_{l-1} = yhat(z_l, l)
//! 2. stochastic: z_{l-1} = m(z_l, yhat) + sigma * delta, sigma = sqrt(v) by default
//! 3. DDIM (eta = 0): deterministic, but keeps the noise direction epshat
//! 4. the progressive CVAE: z_{l-1} = z_Phi(eps, z_l, l) + sigma_Phi * delta, eps ~ N(0, I)
//! 5. exact: the true reverse conditional p(z_{l-1} | z_l) of the training set (src/ideal.rs)
//!
//! 1-3 need a denoiser yhat(z_l, l): the trained network or the universal one, Φ* (src/ideal.rs).

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ideal::Universal;
use crate::limits;
use crate::model::cvae::StepCoefs;
use crate::model::{Model, ModelKind, level_features_tensor};
use crate::rng::Noise;
use crate::schedule::Schedule;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SamplerKind {
    /// Quiz eq. (2).
    Deterministic,
    /// Posterior mean plus noise; `sigma: None` is sqrt(v), a number is used as is at every level.
    Stochastic { sigma: Option<f64> },
    /// DDIM with eta = 0.
    Ddim,
    /// Ancestral sampling through the CVAE steps; `noise_free_last` uses the mean at l = 1.
    Cvae { noise_free_last: bool },
    /// Ancestral sampling through the true reverse conditional (the universal model only).
    Exact,
}

impl SamplerKind {
    /// The samplers that apply to a model, in the order the page and the CLI show them: the one
    /// place this rule is written (`run` checks it; the page gets it through `www/shared/limits.js`).
    pub fn names_for(model: ModelKind) -> &'static [&'static str] {
        match model {
            ModelKind::Denoiser => &["deterministic", "stochastic", "ddim"],
            ModelKind::Cvae => &["cvae"],
            ModelKind::Universal => &["deterministic", "stochastic", "ddim", "exact"],
        }
    }

    pub fn applies_to(&self, model: ModelKind) -> bool {
        Self::names_for(model).contains(&self.name())
    }

    pub fn name(&self) -> &'static str {
        match self {
            SamplerKind::Deterministic => "deterministic",
            SamplerKind::Stochastic { .. } => "stochastic",
            SamplerKind::Ddim => "ddim",
            SamplerKind::Cvae { .. } => "cvae",
            SamplerKind::Exact => "exact",
        }
    }

    /// Parse "deterministic", "stochastic", "stochastic:0.5", "ddim", "cvae", "cvae:noisy", "exact".
    pub fn parse(s: &str) -> Result<Self> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        match (name.to_ascii_lowercase().as_str(), arg) {
            ("deterministic" | "eq2" | "det", None) => Ok(SamplerKind::Deterministic),
            ("stochastic" | "sto", None) => Ok(SamplerKind::Stochastic { sigma: None }),
            ("stochastic" | "sto", Some(v)) => {
                let sigma: f64 =
                    v.parse().map_err(|_| Error::Config(format!("sigma must be a number, got '{v}'")))?;
                limits::SIGMA.check(sigma)?;
                Ok(SamplerKind::Stochastic { sigma: Some(sigma) })
            }
            ("ddim", None) => Ok(SamplerKind::Ddim),
            ("cvae", None) => Ok(SamplerKind::Cvae { noise_free_last: true }),
            ("cvae", Some("noisy")) => Ok(SamplerKind::Cvae { noise_free_last: false }),
            ("exact" | "true", None) => Ok(SamplerKind::Exact),
            _ => Err(Error::Config(format!(
                "unknown sampler '{s}' (deterministic, stochastic[:sigma], ddim, cvae[:noisy], exact)"
            ))),
        }
    }
}

/// Some levels of a chain, level-major: images[i * batch .. (i+1) * batch] is level levels[i].
pub struct Chain {
    pub levels: Vec<usize>,
    pub batch: usize,
    /// [levels.len() * batch, 1, H, W]
    pub images: Tensor<4>,
}

impl Chain {
    fn from_kept(kept: Vec<(usize, Tensor<4>)>, batch: usize) -> Self {
        let levels = kept.iter().map(|(l, _)| *l).collect();
        let images = Tensor::cat(kept.into_iter().map(|(_, t)| t).collect(), 0);
        Chain { levels, batch, images }
    }

    /// One async readback of the whole chain.
    pub async fn read(self) -> Result<Vec<f32>> {
        crate::backend::read(self.images).await
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_blocking(self) -> Result<Vec<f32>> {
        crate::backend::read_blocking(self.images)
    }
}

/// Which levels to keep: all of them when `keep` is empty.
fn keeps(keep: &[usize], level: usize) -> bool {
    keep.is_empty() || keep.contains(&level)
}

/// Evenly spaced levels L, ..., 0 with at most `columns` entries (always includes L and 0).
pub fn display_levels(levels: usize, columns: usize) -> Vec<usize> {
    let columns = columns.max(2).min(levels + 1);
    let mut out: Vec<usize> = (0..columns)
        .map(|i| levels - ((i as f64) * levels as f64 / (columns - 1) as f64).round() as usize)
        .collect();
    out.dedup();
    out
}

fn features(level: usize, batch: usize, max_level: usize, device: &Device) -> Tensor<2> {
    level_features_tensor(&vec![level; batch], max_level, device)
}

/// What a sampler runs on: a trained model (plain, non-autodiff) or the universal denoiser Φ*.
#[derive(Clone, Copy)]
pub enum Decoder<'a> {
    Trained(&'a Model),
    Universal(&'a Universal),
}

impl Decoder<'_> {
    pub fn kind(&self) -> ModelKind {
        match self {
            Decoder::Trained(m) => m.kind(),
            Decoder::Universal(_) => ModelKind::Universal,
        }
    }
}

/// yhat(z_l, l) of the trained denoiser or of Φ* for a batch of `batch` chains at level `l`.
fn denoise(decoder: Decoder, z: Tensor<4>, l: usize, max_level: usize) -> Tensor<4> {
    match decoder {
        Decoder::Trained(Model::Denoiser(m)) => {
            let batch = z.dims()[0];
            let device = z.device();
            m.forward(z, features(l, batch, max_level, &device))
        }
        Decoder::Universal(u) => u.yhat(z, l),
        Decoder::Trained(other) => unreachable!("the {} model has no denoiser", other.kind().name()),
    }
}

/// Whether `kind` steps from the denoiser's yhat(z_l, l) (samplers 1-3): several of those can
/// share one forward per level (`run_together`).
fn uses_denoiser(kind: SamplerKind) -> bool {
    matches!(kind, SamplerKind::Deterministic | SamplerKind::Stochastic { .. } | SamplerKind::Ddim)
}

/// One step z_l -> z_{l-1} of a denoiser sampler (1-3), given yhat = yhat(z_l, l).
fn denoiser_step(
    kind: SamplerKind,
    schedule: &Schedule,
    l: usize,
    z: Tensor<4>,
    yhat: Tensor<4>,
    noise: &mut Noise,
) -> Tensor<4> {
    match kind {
        SamplerKind::Deterministic => yhat,
        SamplerKind::Stochastic { sigma } => {
            let p = schedule.posterior(l);
            let dims = z.dims();
            let device = z.device();
            let mean = yhat * p.coef_y + z * p.coef_z;
            let sigma = sigma.unwrap_or(p.var.sqrt());
            if l > 1 && sigma > 0.0 { mean + noise.normal(dims, &device) * sigma } else { mean }
        }
        SamplerKind::Ddim => {
            let (s_l, n_l) = (schedule.signal(l), schedule.noise_std(l));
            let (s_prev, n_prev) = (schedule.signal(l - 1), schedule.noise_std(l - 1));
            let epshat = (z - yhat.clone() * s_l) / n_l;
            yhat * s_prev + epshat * n_prev
        }
        other => unreachable!("sampler '{}' does not step from a denoiser", other.name()),
    }
}

/// `Ok` if `kind` applies to the decoder's model, else a configuration error listing its samplers.
fn check_applies(decoder: Decoder, kind: SamplerKind) -> Result<()> {
    let model_kind = decoder.kind();
    if kind.applies_to(model_kind) {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "sampler '{}' does not apply to the {} model (its samplers: {})",
            kind.name(),
            model_kind.name(),
            SamplerKind::names_for(model_kind).join(", ")
        )))
    }
}

/// Several samplers on one decoder, each from z_L ~ N(0, I) drawn with `seed` (the same z_L for
/// all) and with its own noise stream, so each chain is the one `run` gives for that seed. Those
/// that step from the denoiser (1-3) run in lockstep: at each level one forward of the decoder on
/// all their chains stacked (samplers × rows), instead of one forward per sampler, which is what
/// a drawing pass costs on a GPU (docs/performance.md, "GPU commands per training step"). The
/// others run on their own.
#[allow(clippy::too_many_arguments)]
pub fn run_together(
    decoder: Decoder,
    schedule: &Schedule,
    kinds: &[SamplerKind],
    n: usize,
    seed: u64,
    (h, w): (usize, usize),
    device: &Device,
    keep: &[usize],
) -> Result<Vec<Chain>> {
    for &kind in kinds {
        check_applies(decoder, kind)?;
    }
    let (tops, mut noises): (Vec<Tensor<4>>, Vec<Noise>) =
        kinds.iter().map(|_| top(n, seed, (h, w), device)).unzip();
    let mut out: Vec<Option<Chain>> = (0..kinds.len()).map(|_| None).collect();
    let shared: Vec<usize> = (0..kinds.len()).filter(|&i| uses_denoiser(kinds[i])).collect();
    for i in (0..kinds.len()).filter(|&i| !uses_denoiser(kinds[i])) {
        out[i] = Some(run(decoder, schedule, kinds[i], tops[i].clone(), keep, &mut noises[i])?);
    }
    if !shared.is_empty() {
        let big_l = schedule.levels;
        let m = shared.len();
        let mut z: Vec<Tensor<4>> = shared.iter().map(|&i| tops[i].clone()).collect();
        let mut kept: Vec<Vec<(usize, Tensor<4>)>> = (0..m).map(|_| Vec::new()).collect();
        if keeps(keep, big_l) {
            for (k, zj) in kept.iter_mut().zip(&z) {
                k.push((big_l, zj.clone()));
            }
        }
        for l in (1..=big_l).rev() {
            let stacked = if m == 1 { z[0].clone() } else { Tensor::cat(z.clone(), 0) };
            let yhat = denoise(decoder, stacked, l, big_l);
            for (j, &i) in shared.iter().enumerate() {
                let yhat_j = if m == 1 { yhat.clone() } else { yhat.clone().narrow(0, j * n, n) };
                z[j] = denoiser_step(kinds[i], schedule, l, z[j].clone(), yhat_j, &mut noises[i]);
                if keeps(keep, l - 1) {
                    kept[j].push((l - 1, z[j].clone()));
                }
            }
        }
        for (j, &i) in shared.iter().enumerate() {
            out[i] = Some(Chain::from_kept(std::mem::take(&mut kept[j]), n));
        }
    }
    Ok(out.into_iter().map(|c| c.expect("every sampler ran")).collect())
}

/// Runs `kind` on `decoder` from `z_top` (= z_L) down to z_0, keeping the levels in `keep`.
pub fn run(
    decoder: Decoder,
    schedule: &Schedule,
    kind: SamplerKind,
    z_top: Tensor<4>,
    keep: &[usize],
    noise: &mut Noise,
) -> Result<Chain> {
    run_from(decoder, schedule, kind, z_top, schedule.levels, keep, noise)
}

/// Runs `kind` on `decoder` from `z_start` at level `start` (1..=L) down to z_0, keeping the
/// levels in `keep`.
pub fn run_from(
    decoder: Decoder,
    schedule: &Schedule,
    kind: SamplerKind,
    z_start: Tensor<4>,
    start: usize,
    keep: &[usize],
    noise: &mut Noise,
) -> Result<Chain> {
    if start == 0 || start > schedule.levels {
        return Err(Error::Config(format!(
            "a chain starts at a level from 1 to {}, not {start}",
            schedule.levels
        )));
    }
    let mut walk = Walk::from_level(kind, z_start, start, keep, noise.clone());
    walk.advance(decoder, schedule, start)?;
    *noise = walk.noise.clone();
    Ok(walk.finish())
}

/// One step z_l -> z_{l-1} of `kind` on `decoder` (the chain's batch is z's first dimension).
fn step(
    decoder: Decoder,
    schedule: &Schedule,
    kind: SamplerKind,
    z: Tensor<4>,
    l: usize,
    noise: &mut Noise,
) -> Tensor<4> {
    let dims = z.dims();
    let batch = dims[0];
    let device = z.device();
    let big_l = schedule.levels;
    match (decoder, kind) {
        (_, kind) if uses_denoiser(kind) => {
            let yhat = denoise(decoder, z.clone(), l, big_l);
            denoiser_step(kind, schedule, l, z, yhat, noise)
        }
        (Decoder::Trained(Model::Cvae(m)), SamplerKind::Cvae { noise_free_last }) => {
            let eps = noise.normal([batch, m.latent_dim()], &device);
            let delta = (!(noise_free_last && l == 1)).then(|| noise.normal(dims, &device));
            let coefs = StepCoefs::new(schedule, &vec![l; batch], &device);
            m.sample_step(z, features(l, batch, big_l, &device), &coefs, eps, delta)
        }
        (Decoder::Universal(u), SamplerKind::Exact) => {
            let gumbel = noise.gumbel([batch, u.len()], &device);
            let delta = (l > 1).then(|| noise.normal(dims, &device));
            u.exact_step(z, l, gumbel, delta)
        }
        (decoder, kind) => unreachable!(
            "names_for lists sampler '{}' for the {} model but run has no case for it",
            kind.name(),
            decoder.kind().name()
        ),
    }
}

/// A chain under way, stepped down a few levels at a time: a measurement of many samples runs in
/// chunks that let the page's messages in between them (www/worker/metrics.js), and gives the
/// chain `run` gives for the same z_L and noise (the same steps in the same order).
pub struct Walk {
    kind: SamplerKind,
    /// z at `level`.
    z: Tensor<4>,
    level: usize,
    keep: Vec<usize>,
    kept: Vec<(usize, Tensor<4>)>,
    noise: Noise,
    batch: usize,
}

/// z_L ~ N(0, I) for `n` chains of images of `size`, drawn with `seed`, and the noise the chains
/// go on drawing from: every sampler starts here, so one seed gives each sampler the same z_L.
pub fn top(n: usize, seed: u64, (h, w): (usize, usize), device: &Device) -> (Tensor<4>, Noise) {
    let mut noise = Noise::new(seed);
    let z_top = noise.normal([n, 1, h, w], device);
    (z_top, noise)
}

impl Walk {
    /// A chain of `kind` from z_L drawn with `seed` (`top`) at level `levels` = L, not yet stepped.
    pub fn from_seed(
        kind: SamplerKind,
        n: usize,
        seed: u64,
        size: (usize, usize),
        levels: usize,
        keep: &[usize],
        device: &Device,
    ) -> Self {
        let (z_top, noise) = top(n, seed, size, device);
        Walk::from_level(kind, z_top, levels, keep, noise)
    }

    /// A chain of `kind` at z_`start` = `z`, drawing its noise from `noise`.
    pub fn from_level(kind: SamplerKind, z: Tensor<4>, start: usize, keep: &[usize], noise: Noise) -> Self {
        let batch = z.dims()[0];
        let kept = if keeps(keep, start) { vec![(start, z.clone())] } else { Vec::new() };
        Walk { kind, z, level: start, keep: keep.to_vec(), kept, noise, batch }
    }

    /// The level the chain is at (0: done).
    pub fn level(&self) -> usize {
        self.level
    }

    pub fn kind(&self) -> SamplerKind {
        self.kind
    }

    /// Step down at most `levels` levels on `decoder` (whose sampler `kind` must apply); true
    /// once the chain is at z_0.
    pub fn advance(&mut self, decoder: Decoder, schedule: &Schedule, levels: usize) -> Result<bool> {
        check_applies(decoder, self.kind)?;
        if self.level > schedule.levels {
            return Err(Error::Config(format!(
                "a chain starts at a level from 1 to {}, not {}",
                schedule.levels, self.level
            )));
        }
        let end = self.level.saturating_sub(levels.max(1));
        for l in ((end + 1)..=self.level).rev() {
            self.z = step(decoder, schedule, self.kind, self.z.clone(), l, &mut self.noise);
            if keeps(&self.keep, l - 1) {
                self.kept.push((l - 1, self.z.clone()));
            }
        }
        self.level = end;
        Ok(end == 0)
    }

    /// The kept levels of the finished chain.
    pub fn finish(self) -> Chain {
        debug_assert_eq!(self.level, 0, "a chain is finished at z_0");
        Chain::from_kept(self.kept, self.batch)
    }
}

/// The encoder itself, from real images y = z_0 up to z_L.
pub fn forward_chain(schedule: &Schedule, y: Tensor<4>, keep: &[usize], noise: &mut Noise) -> Chain {
    let dims = y.dims();
    let batch = dims[0];
    let device = y.device();
    let mut kept = Vec::new();
    let mut z = y;
    if keeps(keep, 0) {
        kept.push((0, z.clone()));
    }
    for l in 1..=schedule.levels {
        let eps = noise.normal(dims, &device);
        z = schedule.encode_step(z, eps);
        if keeps(keep, l) {
            kept.push((l, z.clone()));
        }
    }
    Chain::from_kept(kept, batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn display_levels_are_spaced_and_bounded() {
        assert_eq!(display_levels(4, 10), vec![4, 3, 2, 1, 0]);
        let d = display_levels(100, 11);
        assert_eq!(d.len(), 11);
        assert_eq!(d[0], 100);
        assert_eq!(*d.last().unwrap(), 0);
        assert_eq!(display_levels(1, 8), vec![1, 0]);
    }

    #[test]
    fn sampler_names_parse() {
        assert_eq!(SamplerKind::parse("eq2").unwrap(), SamplerKind::Deterministic);
        assert_eq!(
            SamplerKind::parse("stochastic:0.5").unwrap(),
            SamplerKind::Stochastic { sigma: Some(0.5) }
        );
        assert!(SamplerKind::parse("stochastic:-1").is_err());
        assert!(SamplerKind::parse("bogus").is_err());
    }

    /// `names_for` (the page's and the CLI's rule) and `run` (what is implemented) agree: every
    /// listed sampler runs on its model, every other one is refused with an error, not a panic.
    #[test]
    fn the_samplers_of_each_model_run_and_no_others() {
        let device = crate::backend::cpu();
        let schedule = Schedule::new(0.5, 2).unwrap();
        let images = crate::data::Dataset { n: 3, h: 8, w: 8, pixels: vec![0.5; 3 * 64], labels: None };
        let universal = Universal::new(&images, schedule, &device).unwrap();
        let models: Vec<Model> = [ModelKind::Denoiser, ModelKind::Cvae]
            .map(|kind| {
                crate::model::ArchConfig { kind, base_channels: 4, cond_dim: 8, latent_dim: 2 }.init(&device)
            })
            .into();
        let decoders =
            models.iter().map(Decoder::Trained).chain([Decoder::Universal(&universal)]).collect::<Vec<_>>();
        for decoder in decoders {
            let kind = decoder.kind();
            for name in ["deterministic", "stochastic", "ddim", "cvae", "exact"] {
                let sampler = SamplerKind::parse(name).unwrap();
                let z = Tensor::<4>::zeros([1, 1, 8, 8], &device);
                let r = run(decoder, &schedule, sampler, z, &[0], &mut Noise::new(1));
                let listed = SamplerKind::names_for(kind).contains(&name);
                assert_eq!(r.is_ok(), listed, "{name} on the {}", kind.name());
                assert_eq!(sampler.applies_to(kind), listed);
            }
        }
    }

    /// Φ* of twelve 8x8 images of uniform noise drawn with `seed`: a small model for any sampler.
    fn universal_of_noise(seed: u64, schedule: Schedule, device: &Device) -> Universal {
        let mut rng = SplitMix64::new(seed);
        let pixels = (0..12 * 64).map(|_| (rng.next_f64() * 2.0 - 1.0) as f32).collect();
        let images = crate::data::Dataset { n: 12, h: 8, w: 8, pixels, labels: None };
        Universal::new(&images, schedule, device).unwrap()
    }

    /// Samplers run together (one forward per level for samplers 1-3) give the chains each gives
    /// alone for the same seed: on a trained denoiser, and on Φ* with the exact sampler among them.
    #[test]
    fn samplers_run_together_give_the_chains_they_give_alone() {
        let device = crate::backend::cpu();
        let schedule = Schedule::new(0.6, 4).unwrap();
        let universal = universal_of_noise(5, schedule, &device);
        let denoiser = crate::model::ArchConfig {
            kind: ModelKind::Denoiser,
            base_channels: 4,
            cond_dim: 8,
            latent_dim: 2,
        }
        .init(&device);
        let sto = SamplerKind::Stochastic { sigma: None };
        let cases = [
            (Decoder::Trained(&denoiser), vec![SamplerKind::Deterministic, sto, SamplerKind::Ddim]),
            (Decoder::Universal(&universal), vec![SamplerKind::Exact, sto, SamplerKind::Deterministic]),
        ];
        let (n, seed, keep) = (3, 17, [4, 2, 0]);
        for (decoder, kinds) in cases {
            let together = run_together(decoder, &schedule, &kinds, n, seed, (8, 8), &device, &keep).unwrap();
            for (kind, chain) in kinds.iter().zip(together) {
                let mut noise = Noise::new(seed);
                let z_top = noise.normal([n, 1, 8, 8], &device);
                let alone = run(decoder, &schedule, *kind, z_top, &keep, &mut noise).unwrap();
                assert_eq!(chain.levels, alone.levels);
                let (a, b) = (chain.read_blocking().unwrap(), alone.read_blocking().unwrap());
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                assert!(worst < 1e-4, "{} on the {}: differs by {worst}", kind.name(), decoder.kind().name());
            }
        }
        // A sampler that does not apply is refused before anything runs.
        let bad = run_together(
            Decoder::Trained(&denoiser),
            &schedule,
            &[SamplerKind::Exact],
            1,
            1,
            (8, 8),
            &device,
            &[],
        );
        assert!(bad.is_err());
    }

    /// A chain stepped a few levels at a time (a measurement in chunks) is the chain `run`
    /// gives for the same z_L and noise, for every sampler with noise (stochastic, exact).
    #[test]
    fn a_walk_in_chunks_gives_the_chain_run_gives() {
        let device = crate::backend::cpu();
        let schedule = Schedule::new(0.6, 7).unwrap();
        let universal = universal_of_noise(9, schedule, &device);
        let keep = [7, 6, 3, 0];
        for kind in [SamplerKind::Stochastic { sigma: None }, SamplerKind::Exact] {
            let decoder = Decoder::Universal(&universal);
            let mut noise = Noise::new(21);
            let z_top = noise.normal([3, 1, 8, 8], &device);
            let mut walk = Walk::from_level(kind, z_top.clone(), 7, &keep, noise.clone());
            let chunks: Vec<bool> =
                [2, 3, 1, 5].iter().map(|&k| walk.advance(decoder, &schedule, k).unwrap()).collect();
            assert_eq!(chunks, [false, false, false, true], "7 levels: 2 + 3 + 1, then the last one");
            let chunked = walk.finish();
            let whole = run(decoder, &schedule, kind, z_top, &keep, &mut noise).unwrap();
            assert_eq!(chunked.levels, whole.levels);
            assert_eq!(chunked.read_blocking().unwrap(), whole.read_blocking().unwrap(), "{}", kind.name());
        }
    }
}
