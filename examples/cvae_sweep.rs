//! Sweep of the `few-levels` preset (quiz problem 2): train the Gaussian-step denoiser and the
//! progressive CVAE with one shared budget/architecture, then compare their Fréchet distances.
//!
//!   cargo run --locked --release --example cvae_sweep -- \
//!       --steps 600 --channels 8 --cond 32 --latent 16 --batch 32 --lr 3e-3 --seeds 3 \
//!       [--samples 256] [--sample-seed 11] [--reference 1000] [--name NAME] [--out /tmp/sweep] \
//!       [--load DIR]
//!
//! Both trained models (and Φ*) get the same config and seed; L and a stay the preset's.
//! Training saves the models under OUT/NAME-seed<k>/ (NAME defaults to the config's short form);
//! `--load DIR` measures the models saved there (one seed; DIR is the seed's folder) instead.
//! One `RESULT` line per seed, then one line per panel.
//!
//! Exploration aids:
//! `--curve K` trains each model with its own `Trainer` as `train_blocking` does (denoiser first,
//! then the CVAE, flushing every 25 steps) and measures its panel every K steps (K a multiple of
//! 25): the samplers draw their noise on the CPU, so the measurements do not change the training,
//! and the final models are those `train_blocking` gives (checked: same figures); they are saved.
//! `--only denoiser|cvae` (with --curve) trains and measures only that model (nothing is saved).
//! `--diag` also starts each sampler from a true z_l of held-out digits (l = 1..L) and prints the
//! CVAE's KL and decoder scale per level. `--png DIR` writes 12 chains per panel.

use std::path::PathBuf;

use burn::prelude::{Device, Tensor, TensorData};
use denoise_lab::backend;
use denoise_lab::data::Dataset;
use denoise_lab::metrics::classifier::Classifier;
use denoise_lab::metrics::{Reference, SampleMetrics};
use denoise_lab::model::{Cvae, LEVEL_FEATURES, Model, level_features};
use denoise_lab::sampler::Noise;
use denoise_lab::scenario::{self, Panel, RunOptions, Scenario, Trained};
use denoise_lab::session::Member;
use denoise_lab::train::Trainer;

#[derive(Clone, Debug)]
struct Args {
    steps: usize,
    channels: usize,
    cond: usize,
    latent: usize,
    batch: usize,
    lr: f64,
    seeds: Vec<u64>,
    samples: usize,
    sample_seed: u64,
    reference: usize,
    name: Option<String>,
    out: PathBuf,
    load: Option<PathBuf>,
    curve: Option<usize>,
    only: Option<String>,
    diag: bool,
    png: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        steps: 600,
        channels: 8,
        cond: 32,
        latent: 16,
        batch: 32,
        lr: 3e-3,
        seeds: vec![3],
        samples: 256,
        sample_seed: 11,
        reference: 1000,
        name: None,
        out: PathBuf::from("/tmp/sweep"),
        load: None,
        curve: None,
        only: None,
        diag: false,
        png: None,
    };
    fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
        v.trim().parse().map_err(|_| format!("{flag}: cannot parse '{v}'"))
    }
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--steps" => a.steps = num(&flag, &val()?)?,
            "--channels" | "--base-channels" => a.channels = num(&flag, &val()?)?,
            "--cond" | "--cond-dim" => a.cond = num(&flag, &val()?)?,
            "--latent" | "--latent-dim" => a.latent = num(&flag, &val()?)?,
            "--batch" => a.batch = num(&flag, &val()?)?,
            "--lr" => a.lr = num(&flag, &val()?)?,
            "--seed" | "--seeds" => {
                a.seeds = val()?.split(',').map(|s| num(&flag, s)).collect::<Result<_, _>>()?
            }
            "--samples" | "-n" => a.samples = num(&flag, &val()?)?,
            "--sample-seed" => a.sample_seed = num(&flag, &val()?)?,
            "--reference" => a.reference = num(&flag, &val()?)?,
            "--name" => a.name = Some(val()?),
            "--out" => a.out = PathBuf::from(val()?),
            "--load" => a.load = Some(PathBuf::from(val()?)),
            "--curve" => a.curve = Some(num(&flag, &val()?)?),
            "--only" => a.only = Some(val()?),
            "--diag" => a.diag = true,
            "--png" => a.png = Some(PathBuf::from(val()?)),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if a.load.is_some() && a.seeds.len() != 1 {
        return Err("--load DIR holds one seed's models: give one --seed".into());
    }
    if let Some(k) = a.curve
        && (k == 0 || k % 25 != 0)
    {
        return Err("--curve K: K must be a positive multiple of 25".into());
    }
    Ok(a)
}

impl Args {
    fn config_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "s{}-c{}-d{}-k{}-b{}-lr{}",
                self.steps, self.channels, self.cond, self.latent, self.batch, self.lr
            )
        })
    }
}

/// The `few-levels` preset with both trained models (and Φ*) given the sweep's config and seed.
fn scenario_for(a: &Args, seed: u64) -> Scenario {
    let mut sc = scenario::by_name("few-levels").expect("preset few-levels");
    for m in &mut sc.models {
        assert_eq!(m.levels, scenario::FEW_LEVELS);
        m.base_channels = a.channels;
        m.cond_dim = a.cond;
        m.latent_dim = a.latent;
        m.batch = a.batch;
        m.lr = a.lr;
        m.seed = seed;
    }
    sc.steps = a.steps;
    sc
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cvae_sweep: {e}");
            std::process::exit(2);
        }
    };
    let simd = if cfg!(feature = "simd") { "on" } else { "off" };
    let device = backend::cpu();
    let classifier = Classifier::bundled(&device);
    let data = Dataset::bundled();
    let options =
        RunOptions { steps: Some(a.steps), samples: a.samples, seed: a.sample_seed, reference: a.reference };
    let name = a.config_name();
    let log = |m: &str| eprintln!("  {m}");
    for &seed in &a.seeds {
        let sc = scenario_for(&a, seed);
        let wall = std::time::Instant::now();
        let dir = a.out.join(format!("{name}-seed{seed}"));
        let (trained, mode) = match (&a.load, a.curve) {
            (Some(dir), _) => (scenario::load_blocking(dir, &sc, &data, &device, Some(a.steps)).unwrap(), "load"),
            (None, Some(every)) => {
                let t = curve(&a, &sc, every, &data, &device, &classifier, &options);
                if a.only.is_some() {
                    continue;
                }
                (t, "curve")
            }
            (None, None) => (scenario::train_blocking(&sc, &data, &device, Some(a.steps), log).unwrap(), "train"),
        };
        if a.load.is_none() {
            for p in scenario::save_blocking(&dir, &sc, &trained).unwrap() {
                eprintln!("  saved {}", p.display());
            }
        }
        let r = scenario::measure_blocking(&sc, &trained, &data, &device, &classifier, &options, log).unwrap();
        let fd = |label: &str| {
            r.panels
                .iter()
                .find(|p| p.label == label)
                .unwrap_or_else(|| panic!("no panel '{label}'"))
                .metrics
                .frechet
        };
        let (gauss, cvae) = (fd("Gaussian step (stochastic)"), fd("CVAE step"));
        let phi = fd("Gaussian step with Φ*");
        let secs: Vec<String> = r.training.iter().map(|(k, s, _)| format!("{k}={s:.0}s")).collect();
        let losses: Vec<String> = r.training.iter().map(|(k, _, l)| format!("{k}={l:.4}")).collect();
        println!(
            "RESULT {name} mode={mode} simd={simd} seed={seed} steps={} ch={} cond={} k={} batch={} lr={} | \
             secs[{}] loss[{}] | FD gauss={gauss:.1} cvae={cvae:.1} ratio={:.3} real={:.1} phi*={phi:.1} | wall={:.0}s",
            a.steps,
            a.channels,
            a.cond,
            a.latent,
            a.batch,
            a.lr,
            secs.join(" "),
            losses.join(" "),
            cvae / gauss,
            r.real.frechet,
            wall.elapsed().as_secs_f64(),
        );
        for p in &r.panels {
            let m = &p.metrics;
            println!(
                "  panel {:<28} FD {:>7.1}  entropy {:.3}  diversity {:.2}  rms-to-mean {:.3}  histogram {:?}",
                p.label, m.frechet, m.entropy_nats, m.diversity, p.rms_to_mean, m.histogram
            );
        }
        let m = &r.real;
        println!(
            "  panel {:<28} FD {:>7.1}  entropy {:.3}  diversity {:.2}  (two real digits: rms {:.3})  histogram {:?}",
            "real digits", m.frechet, m.entropy_nats, m.diversity, r.real_rms_pair, m.histogram
        );
        if a.diag {
            diag(&sc, &trained, &classifier, &device, a.samples);
        }
        if let Some(png) = &a.png {
            write_pngs(png, &format!("{name}-seed{seed}"), &sc, &trained, a.sample_seed);
        }
    }
}

/// 12 chains (z_L .. z_0) per panel, one PNG each.
fn write_pngs(dir: &std::path::Path, stem: &str, sc: &Scenario, trained: &[Trained], seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for (j, p) in sc.panels.iter().enumerate() {
        let model = &trained[p.model].model;
        let (h, w) = model.size();
        let levels: Vec<usize> = (0..=model.levels()).rev().collect();
        let rows = 12;
        let px = model.sample(p.sampler, rows, seed, &levels).unwrap().read_blocking().unwrap();
        let path = dir.join(format!("{stem}-panel{j}.png"));
        let f = std::fs::File::create(&path).unwrap();
        denoise_lab::image::write_grid(f, &px, levels.len(), rows, h, w, 2).unwrap();
        eprintln!("  wrote {} ({})", path.display(), p.label);
    }
}

/// Train the scenario's models one after the other, measuring each one's panel every `every`
/// steps (see the file's header). Prints `CURVE` lines; returns the models as `train_blocking`.
fn curve(
    a: &Args,
    sc: &Scenario,
    every: usize,
    data: &Dataset,
    device: &Device,
    classifier: &Classifier,
    options: &RunOptions,
) -> Vec<Trained> {
    let mut out = Vec::new();
    for (i, config) in sc.models.iter().enumerate() {
        if !config.kind.trained() {
            let model = Member::new(config, data, device).unwrap();
            out.push(Trained { model, seconds: 0.0, last_loss: f32::NAN });
            continue;
        }
        if a.only.as_deref().is_some_and(|k| k != config.kind.name()) {
            continue;
        }
        let panel = sc.panels.iter().find(|p| p.model == i).cloned().expect("a panel per trained model");
        let mut one = sc.clone();
        one.models = vec![config.clone()];
        one.panels = vec![Panel { model: 0, ..panel }];
        let mut trainer = Trainer::new(config.clone(), data, device).unwrap();
        let (mut seconds, mut last_loss, mut done) = (0.0, f32::NAN, 0);
        while done < a.steps {
            let n = every.min(a.steps - done);
            let (mut kl_sum, mut kl_n) = (0.0f64, 0usize);
            let start = std::time::Instant::now();
            trainer
                .train_blocking(n, 25, |_, r| {
                    if let Some(s) = r.steps.last() {
                        last_loss = s.loss;
                    }
                    for s in &r.steps {
                        kl_sum += s.kl as f64;
                        kl_n += 1;
                    }
                })
                .unwrap();
            seconds += start.elapsed().as_secs_f64();
            done += n;
            let t = Trained { model: Member::Trained(Box::new(trainer)), seconds, last_loss };
            let r = scenario::measure_blocking(&one, std::slice::from_ref(&t), data, device, classifier, options, |_| {})
                .unwrap();
            let m = &r.panels[0].metrics;
            println!(
                "CURVE seed={} {} step={done} secs={seconds:.0} loss={last_loss:.4} mean-kl={:.2} FD={:.1} entropy={:.3} diversity={:.2}",
                config.seed,
                config.kind.name(),
                kl_sum / kl_n.max(1) as f64,
                m.frechet,
                m.entropy_nats,
                m.diversity
            );
            if a.diag && done == a.steps {
                diag(&one, std::slice::from_ref(&t), classifier, device, options.samples);
            }
            let Member::Trained(b) = t.model else { unreachable!() };
            trainer = *b;
        }
        out.push(Trained { model: Member::Trained(Box::new(trainer)), seconds, last_loss });
    }
    out
}

/// Exploration: start each trained model's sampler from a true z_l (held-out digits encoded to
/// level l) instead of z_L, for l = 1..L, and print the Fréchet distance of the resulting z_0.
fn diag(sc: &Scenario, trained: &[Trained], classifier: &Classifier, device: &Device, n: usize) {
    for p in &sc.panels {
        let Some(t) = trained[p.model].model.trainer() else { continue };
        let held = t.held_out();
        let reference = Reference::compute_blocking(classifier, &held.pixels, device).unwrap();
        let mut row = Vec::new();
        for start in 1..=t.schedule.levels {
            let z = t.forward_process(n, 77, &[start]).read_blocking().unwrap();
            let k = z.len() / (t.height * t.width);
            let z = Tensor::<4>::from_data(TensorData::new(z, [k, 1, t.height, t.width]), &t.device());
            let mut noise = Noise::new(11);
            let out = t.sample_from(p.sampler, z, start, &[0], &mut noise).unwrap().read_blocking().unwrap();
            let m = SampleMetrics::measure_blocking(classifier, &out, &reference, device).unwrap();
            row.push(format!("from z_{start}: {:.1}", m.frechet));
        }
        println!("  diag {:<28} {}", p.label, row.join(", "));
        if let Model::Cvae(c) = burn::module::Module::valid(t.model()) {
            cvae_terms(&c, t, n);
        }
    }
}

/// Exploration: the CVAE's KL and decoder (mean error, ln sigma) at each level on held-out pairs
/// (z_{l-1}, z_l), split into background (y < -0.95) and foreground pixels, with the encoder's eps
/// and with eps = 0 (the prior's mean).
fn cvae_terms(c: &Cvae, t: &Trainer, n: usize) {
    fn read<const D: usize>(x: Tensor<D>) -> Vec<f32> {
        x.try_into_data().unwrap().try_to_vec::<f32>().unwrap()
    }
    let held = t.held_out();
    let n = n.min(held.n);
    let (h, w) = (t.height, t.width);
    let dim = h * w;
    let dev = t.device();
    let big_l = t.schedule.levels;
    let y_px = held.pixels[..n * dim].to_vec();
    let y = Tensor::<4>::from_data(TensorData::new(y_px.clone(), [n, 1, h, w]), &dev);
    let mut noise = Noise::new(5);
    for l in 1..=big_l {
        let z_prev = t.schedule.q_sample(y.clone(), noise.normal([n, 1, h, w], &dev), &vec![l - 1; n]);
        let z_l = t.schedule.encode_step(z_prev.clone(), noise.normal([n, 1, h, w], &dev));
        let feats =
            Tensor::<2>::from_data(TensorData::new(level_features(&vec![l; n], big_l), [n, LEVEL_FEATURES]), &dev);
        let (mu, logvar) = c.encode(z_prev.clone(), z_l.clone(), feats.clone());
        let (muv, lv) = (read(mu.clone()), read(logvar));
        let kl: f64 = muv
            .iter()
            .zip(&lv)
            .map(|(&m, &v)| 0.5 * ((m * m) as f64 + (v as f64).exp() - v as f64 - 1.0))
            .sum::<f64>()
            / n as f64;
        let target = read(z_prev);
        let mut line = format!("    cvae l={l}: KL {kl:.2} nats");
        for (label, eps) in [("posterior eps", mu), ("eps = 0", Tensor::<2>::zeros([n, c.latent_dim()], &dev))] {
            let (mean, log_sigma) = c.decode(eps, z_l.clone(), feats.clone());
            let (mean, ls) = (read(mean), read(log_sigma));
            let mut acc = [[0.0f64; 3]; 2]; // [bg, fg] x [sq err, ln sigma, count]
            for i in 0..n * dim {
                let s = &mut acc[usize::from(y_px[i] >= -0.95)];
                s[0] += ((mean[i] - target[i]) as f64).powi(2);
                s[1] += ls[i] as f64;
                s[2] += 1.0;
            }
            let [bg, fg] = acc;
            line += &format!(
                " | {label}: rms err bg {:.3} fg {:.3}, ln sigma bg {:.2} fg {:.2}",
                (bg[0] / bg[2]).sqrt(),
                (fg[0] / fg[2]).sqrt(),
                bg[1] / bg[2],
                fg[1] / fg[2]
            );
        }
        println!("{line}");
    }
}
