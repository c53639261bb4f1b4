//! Native command line: train, sample (PNG grid), measure (eval, scenario), train the metrics'
//! classifier, and benchmark, on the CPU or wgpu.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::Device;
use clap::{Args, Parser, Subcommand};
use denoise_lab::backend::{self, BackendKind};
use denoise_lab::checkpoint;
use denoise_lab::data::Dataset;
use denoise_lab::error::{read_file, write_atomic_with, write_file};
use denoise_lab::lesson;
use denoise_lab::metrics::classifier::{
    CLASSES, ClassifierMeta, ClassifierTrainConfig, FEATURES, train_classifier,
};
use denoise_lab::metrics::{self, Classifier, SampleMetrics};
use denoise_lab::model::ModelKind;
use denoise_lab::sampler::{SamplerKind, display_levels};
use denoise_lab::scenario;
use denoise_lab::session::Member;
use denoise_lab::train::{TrainConfig, Trainer};
use denoise_lab::{Error, image};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "denoise-lab",
    version,
    about = "Train, sample and measure diffusion denoisers and progressive CVAEs on MNIST"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// IDX image file (`*-idx3-ubyte`, gzipped or not). Default: the bundled 10,000 digits.
    #[arg(long)]
    data: Option<PathBuf>,
    /// IDX label file (optional).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// cpu (alias ndarray, flex) or wgpu.
    #[arg(long, default_value = "cpu")]
    backend: String,
}

/// What to sample from: a trained checkpoint, or the universal denoiser Φ* of the training set.
#[derive(Args, Clone)]
struct ModelArgs {
    /// A checkpoint written by `train`.
    #[arg(long, short, required_unless_present = "universal", conflicts_with = "universal")]
    checkpoint: Option<PathBuf>,
    /// The universal denoiser Φ*: the exact minimiser of the training loss on the training
    /// images (computed, not trained), with `-L` and `--a`.
    #[arg(long)]
    universal: bool,
    /// Levels L of Φ*.
    #[arg(long, short = 'L', default_value_t = TrainConfig::default().levels, requires = "universal")]
    levels: usize,
    /// Per-step signal factor a of Φ* (default: a^L = 0.01).
    #[arg(long, requires = "universal")]
    a: Option<f64>,
}

impl ModelArgs {
    fn open(&self, data: &Dataset, device: &Device) -> Result<Member, Error> {
        match &self.checkpoint {
            Some(path) => {
                Ok(Member::Trained(Box::new(checkpoint::import(&read_file(path)?, data, device, None)?)))
            }
            None => {
                let config = TrainConfig {
                    kind: ModelKind::Universal,
                    levels: self.levels,
                    a: self.a,
                    ..TrainConfig::default()
                };
                Member::new(&config, data, device)
            }
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a model and save a checkpoint.
    Train {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, help = with_default("denoiser or cvae", TrainConfig::default().kind.name()))]
        model: Option<String>,
        #[arg(long, short = 'L', help = with_default("Number of levels L", TrainConfig::default().levels))]
        levels: Option<usize>,
        /// Per-step signal factor a (default: a^L = 0.01).
        #[arg(long)]
        a: Option<f64>,
        #[arg(long, default_value_t = 500)]
        steps: usize,
        #[arg(long, help = with_default("Images per step", TrainConfig::default().batch))]
        batch: Option<usize>,
        #[arg(long, help = with_default("Learning rate (with --resume: replaces the checkpoint's)", TrainConfig::default().lr))]
        lr: Option<f64>,
        #[arg(long, help = with_default("Seed of the weights, batches and levels", TrainConfig::default().seed))]
        seed: Option<u64>,
        #[arg(long, help = with_default("Channels of the U-Net at full resolution", TrainConfig::default().base_channels))]
        channels: Option<usize>,
        #[arg(long, help = with_default("Latent size k of the CVAE step", TrainConfig::default().latent_dim))]
        latent: Option<usize>,
        #[arg(long, help = with_default("Size of the level (and latent) embedding the U-Net's blocks read", TrainConfig::default().cond_dim))]
        cond_dim: Option<usize>,
        #[arg(long, help = with_default("Clip the global gradient norm to this value, 0: no clipping (with --resume: replaces the checkpoint's)", TrainConfig::default().clip_norm))]
        clip: Option<f64>,
        /// Continue from this checkpoint instead of starting fresh. Its model, L, a, sizes, batch
        /// and seed go on; giving one of those flags with another value is an error. --lr and
        /// --clip replace the checkpoint's.
        #[arg(long)]
        resume: Option<PathBuf>,
        /// The checkpoint, written at the end, every --checkpoint-every steps and every
        /// --checkpoint-minutes minutes, on Ctrl-C (exit code 130) and, with the last good
        /// weights, when training diverges. Always written atomically (a temporary file, then a
        /// rename): a crash leaves the previous checkpoint whole.
        #[arg(long, short, default_value = "denoise-lab.ckpt")]
        out: PathBuf,
        /// Save the checkpoint every N steps (0: only at the end).
        #[arg(long, default_value_t = 500)]
        checkpoint_every: u64,
        /// Save the checkpoint at least every M minutes of training (0: off).
        #[arg(long, default_value_t = 10.0)]
        checkpoint_minutes: f64,
    },
    /// Write a checkpoint's model for PyTorch: model.safetensors (state_dict names and layouts),
    /// denoise_lab_model.py (the architecture and the samplers), config.json (L, a, sizes) and
    /// check.safetensors (inputs and this model's outputs, for `python denoise_lab_model.py --check`).
    ExportTorch {
        /// A checkpoint written by `train` (or exported from the page).
        #[arg(long, short)]
        checkpoint: PathBuf,
        /// The folder to write: new, empty, or a previous export (replaced as a whole); a
        /// folder holding other files is refused.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Draw samples from a checkpoint as a PNG grid (rows = samples, columns = levels z_L..z_0).
    Sample {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// deterministic (quiz eq. 2), stochastic[:sigma], ddim, cvae[:noisy], exact (Φ* only)
        #[arg(long, default_value = "ddim")]
        sampler: String,
        #[arg(long, short, default_value_t = 8)]
        n: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Columns (levels shown, evenly spaced from L to 0).
        #[arg(long, default_value_t = 11)]
        columns: usize,
        #[arg(long, short, default_value = "samples.png")]
        out: PathBuf,
    },
    /// Metrics of a checkpoint's samples: Fréchet distance, class histogram and entropy,
    /// diversity, with the same figures for real digits.
    Eval {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        model: ModelArgs,
        /// deterministic (quiz eq. 2), stochastic[:sigma], ddim, cvae[:noisy], exact (Φ* only);
        /// default: every sampler of the model. Several: comma-separated.
        #[arg(long)]
        sampler: Option<String>,
        #[arg(long, short, default_value_t = scenario::RunOptions::default().samples)]
        n: usize,
        #[arg(long, default_value_t = scenario::RunOptions::default().seed)]
        seed: u64,
        /// Held-out real digits forming the Fréchet reference.
        #[arg(long, default_value_t = scenario::RunOptions::default().reference)]
        reference: usize,
        /// Classifier weights (default: the bundled www/data/classifier.bin).
        #[arg(long)]
        classifier: Option<PathBuf>,
    },
    /// Run a lesson (its scenario's models, from the bundled checkpoints with --load) and print
    /// the verdict its measured figures give (`lesson list` names the lessons).
    Lesson {
        /// A lesson's name; `list` lists them.
        name: String,
        #[command(flatten)]
        data: DataArgs,
        /// Samples per panel.
        #[arg(long, short, default_value_t = scenario::RunOptions::default().samples)]
        n: usize,
        #[arg(long, default_value_t = scenario::RunOptions::default().seed)]
        seed: u64,
        /// Load the lesson's checkpoints from this folder (tests/fixtures holds them; the page
        /// bundles the same files) instead of training its models.
        #[arg(long)]
        load: Option<PathBuf>,
        /// Print the verdict and the figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Train a quiz scenario's models and print its figures (`scenario list` names them).
    Scenario {
        /// A scenario's name or number (1.., in the order of `list`); `list` lists them.
        name: String,
        #[command(flatten)]
        data: DataArgs,
        /// Training steps per model (default: the preset's).
        #[arg(long)]
        steps: Option<usize>,
        /// Samples per panel.
        #[arg(long, short, default_value_t = scenario::RunOptions::default().samples)]
        n: usize,
        #[arg(long, default_value_t = scenario::RunOptions::default().seed)]
        seed: u64,
        /// Train every model with this seed (TrainConfig.seed: initial weights, batches, levels,
        /// train/held-out split) instead of the preset's.
        #[arg(long)]
        train_seed: Option<u64>,
        /// Print the report as JSON too.
        #[arg(long)]
        json: bool,
        /// Save the trained models as checkpoints in this folder (the test fixtures are made so).
        #[arg(long, conflicts_with = "load")]
        save: Option<PathBuf>,
        /// Measure models saved with --save instead of training them.
        #[arg(long)]
        load: Option<PathBuf>,
    },
    /// Print the ranges every setting accepts and the samplers of each model.
    Limits {
        /// As the ES module the page imports (www/shared/limits.js).
        #[arg(long)]
        js: bool,
    },
    /// Train the digit classifier used by the sample metrics and save its weights.
    TrainClassifier {
        /// cpu (alias ndarray, flex) or wgpu.
        #[arg(long, default_value = "cpu")]
        backend: String,
        #[arg(long, default_value_t = ClassifierTrainConfig::default().steps)]
        steps: usize,
        #[arg(long, default_value_t = ClassifierTrainConfig::default().batch)]
        batch: usize,
        #[arg(long, default_value_t = ClassifierTrainConfig::default().lr)]
        lr: f64,
        #[arg(long, default_value_t = ClassifierTrainConfig::default().seed)]
        seed: u64,
        /// Bundled digits kept out of training (and used for the accuracy).
        #[arg(long, default_value_t = ClassifierTrainConfig::default().held_out)]
        held_out: usize,
        #[arg(long, short, default_value = "www/data/classifier.bin")]
        out: PathBuf,
    },
    /// Median milliseconds per training step and peak memory.
    Bench {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value_t = TrainConfig::default().kind.name().to_string())]
        model: String,
        #[arg(long, short = 'L', default_value_t = TrainConfig::default().levels)]
        levels: usize,
        #[arg(long, default_value_t = TrainConfig::default().batch)]
        batch: usize,
        #[arg(long, default_value_t = TrainConfig::default().base_channels)]
        channels: usize,
        /// Timed blocks (after 3 warm-up steps).
        #[arg(long, default_value_t = 10)]
        blocks: usize,
        /// Training steps per timed block; each block ends with one readback of its statistics,
        /// as a page frame does (the protocol of bench/run's peers).
        #[arg(long, default_value_t = 5)]
        steps_per_block: usize,
        /// Print one JSON line instead of a sentence.
        #[arg(long)]
        json: bool,
    },
}

fn load_data(args: &DataArgs) -> Result<Dataset, Error> {
    match &args.data {
        None => Ok(Dataset::bundled()),
        Some(path) => {
            let images = read_file(path)?;
            let labels = match &args.labels {
                Some(p) => Some(read_file(p)?),
                None => None,
            };
            Ok(Dataset::from_idx(&images, labels.as_deref())?)
        }
    }
}

/// The flags of `train` that a checkpoint fixes: its model, schedule, sizes, batch and seed.
struct FixedFlags {
    model: Option<String>,
    levels: Option<usize>,
    a: Option<f64>,
    batch: Option<usize>,
    seed: Option<u64>,
    channels: Option<usize>,
    latent: Option<usize>,
    cond_dim: Option<usize>,
}

impl FixedFlags {
    /// `Ok` if every flag given agrees with the resumed checkpoint's `config`; else an error
    /// naming the first that does not (it would otherwise be dropped without a word).
    fn check_resume(&self, config: &TrainConfig) -> Result<(), Error> {
        let differs = |flag: &str, given: String, kept: String| {
            Err(Error::Config(format!(
                "{flag} {given} differs from the resumed checkpoint's {kept}; a resumed run keeps its \
                 model, L, a, sizes, batch and seed (only --lr and --clip change on resume)"
            )))
        };
        if let Some(m) = &self.model
            && m.parse::<ModelKind>()? != config.kind
        {
            return differs("--model", m.clone(), config.kind.name().to_string());
        }
        let schedule_a = config.schedule()?.a;
        if let Some(a) = self.a
            && (a - schedule_a).abs() > 1e-12 * schedule_a.abs().max(1.0)
        {
            return differs("--a", a.to_string(), schedule_a.to_string());
        }
        let sizes = [
            ("-L", self.levels, config.levels),
            ("--batch", self.batch, config.batch),
            ("--channels", self.channels, config.base_channels),
            ("--latent", self.latent, config.latent_dim),
            ("--cond-dim", self.cond_dim, config.cond_dim),
        ];
        for (flag, given, kept) in sizes {
            if let Some(v) = given
                && v != kept
            {
                return differs(flag, v.to_string(), kept.to_string());
            }
        }
        if let Some(seed) = self.seed
            && seed != config.seed
        {
            return differs("--seed", seed.to_string(), config.seed.to_string());
        }
        Ok(())
    }
}

/// Set by Ctrl-C (SIGINT), SIGTERM or SIGHUP (ctrlc's `termination` feature): `train` finishes
/// its current step, saves and exits with 130.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn install_ctrlc_handler() -> Result<(), Error> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: quit now. The checkpoint on disk stays whole (atomic writes).
            eprintln!("\ninterrupted again: exiting without saving");
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the current step and saving (Ctrl-C again quits at once)");
    })
    .map_err(|e| Error::Io(format!("cannot install the Ctrl-C handler: {e}")))
}

/// When `train` saves its checkpoint besides the end.
struct Saving {
    /// Every this many steps (0: never).
    steps: u64,
    /// At least every this many minutes (0: never).
    minutes: f64,
}

/// Why the training loop stopped.
enum Stop {
    Finished,
    Interrupted,
    /// Training diverged; the trainer holds the last good weights.
    Diverged(Error),
}

/// `Ok` if a file can be written at `out` as far as can be told before writing: its folder
/// exists and `out` itself is not a folder.
fn check_out(out: &Path) -> Result<(), Error> {
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(Error::Io(format!(
            "cannot write {}: the folder {} does not exist",
            out.display(),
            folder.display()
        )));
    }
    if out.is_dir() {
        return Err(Error::Io(format!("cannot write {}: it is a folder", out.display())));
    }
    Ok(())
}

/// Serialise the trainer and write it atomically to `out`.
fn save(trainer: &Trainer, out: &Path) -> Result<(), Error> {
    let bytes = checkpoint::export_blocking(trainer)?;
    write_file(out, &bytes)?;
    eprintln!("saved {} at step {} ({} KiB)", out.display(), trainer.step(), bytes.len() / 1024);
    Ok(())
}

/// Train `steps` steps, one readback every 10 steps, saving to `out` as `every` says; stops early
/// (after the step under way) on Ctrl-C or when the loss is no longer finite.
fn train_saving(trainer: &mut Trainer, steps: usize, every: &Saving, out: &Path) -> Result<Stop, Error> {
    const CHUNK: u64 = 10;
    let pb = bar(steps as u64);
    let first = trainer.step();
    let end = first + steps as u64;
    let (mut saved_step, mut saved_at) = (first, Instant::now());
    while trainer.step() < end {
        let step = trainer.step();
        let mut n = CHUNK.min(end - step);
        if every.steps > 0 {
            n = n.min(every.steps - (step - saved_step) % every.steps);
        }
        for _ in 0..n {
            if INTERRUPTED.load(Ordering::SeqCst) {
                break;
            }
            trainer.train_steps(1);
        }
        let report = match trainer.flush_blocking() {
            Ok(report) => report,
            Err(e @ Error::Diverged { .. }) => {
                pb.abandon();
                return Ok(Stop::Diverged(e));
            }
            Err(e) => return Err(e),
        };
        pb.set_position(trainer.step() - first);
        if let Some(last) = report.steps.last() {
            let extra = if trainer.config.kind == ModelKind::Cvae {
                format!(" (kl {:.2}, nll {:.2})", last.kl, last.nll)
            } else {
                String::new()
            };
            pb.set_message(format!("loss {:.4}{extra}", last.loss));
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            pb.abandon();
            return Ok(Stop::Interrupted);
        }
        let step = trainer.step();
        let due_steps = every.steps > 0 && step - saved_step >= every.steps;
        let due_time = every.minutes > 0.0 && saved_at.elapsed().as_secs_f64() >= 60.0 * every.minutes;
        if (due_steps || due_time) && step < end {
            // A periodic save that fails (a full disk, a network folder gone for a moment) does
            // not end the run: the previous checkpoint is still whole, the next save is tried
            // on schedule, and the final save must succeed or the run fails.
            if let Err(e) = pb.suspend(|| save(trainer, out)) {
                pb.suspend(|| {
                    eprintln!("warning: the checkpoint at step {step} was not saved ({e}); training goes on")
                });
            }
            (saved_step, saved_at) = (step, Instant::now());
        }
    }
    pb.finish();
    Ok(Stop::Finished)
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    pb
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn load_classifier(path: Option<&PathBuf>, device: &Device) -> Result<Classifier, Error> {
    match path {
        None => Ok(Classifier::bundled(device)),
        Some(p) => {
            let bytes = read_file(p)?;
            Classifier::from_bytes(&bytes, device)
        }
    }
}

fn print_metrics_header() {
    println!(
        "{:<28} {:>9} {:>12} {:>10} {:>8} {:>7}  class histogram 0..9",
        "samples", "Fréchet", "entropy/nat", "diversity", "NN rms", "copies"
    );
}

fn print_metrics_row(label: &str, m: &SampleMetrics) {
    let hist: Vec<String> = m.histogram.iter().map(|c| c.to_string()).collect();
    let (nn, copies) = m.memorisation.as_ref().map_or(("–".to_string(), "–".to_string()), |mem| {
        (format!("{:.3}", mem.median_nn_rms), format!("{:.0}%", 100.0 * mem.copies))
    });
    println!(
        "{:<28} {:>9.2} {:>12.3} {:>10.2} {:>8} {:>7}  [{}]",
        label,
        m.frechet,
        m.entropy_nats,
        m.diversity,
        nn,
        copies,
        hist.join(" ")
    );
}

fn print_memorisation_note() {
    println!(
        "NN rms: median RMS distance to the nearest training image (real digits: held-out ones); copies: share within {} of one",
        metrics::memorisation::COPY_RMS
    );
}

/// A flag's help with its default from `TrainConfig::default()` (the flag itself has none, so that
/// `--resume` can tell a flag given from one left out).
fn with_default(text: &str, default: impl std::fmt::Display) -> String {
    format!("{text} [default: {default}]")
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Limits { js } => {
            if js {
                print!("{}", denoise_lab::page::limits_js());
            } else {
                for (name, l) in denoise_lab::limits::all() {
                    println!("{name:<14} {} ({})", l.describe(), l.label);
                }
                for m in ModelKind::ALL {
                    println!("samplers of the {}: {}", m.name(), SamplerKind::names_for(m).join(", "));
                }
            }
        }
        Command::Train {
            data,
            model,
            levels,
            a,
            steps,
            batch,
            lr,
            seed,
            channels,
            latent,
            cond_dim,
            clip,
            resume,
            out,
            checkpoint_every,
            checkpoint_minutes,
        } => {
            // First, so that a Ctrl-C from here on saves instead of killing the run.
            install_ctrlc_handler()?;
            // A missing folder is found now, not at the first save after minutes of training.
            check_out(&out)?;
            let dataset = load_data(&data)?;
            let device = backend::device(data.backend.parse::<BackendKind>()?)?;
            let fixed = FixedFlags { model, levels, a, batch, seed, channels, latent, cond_dim };
            let mut trainer = match resume {
                Some(path) => {
                    let bytes = read_file(&path)?;
                    let mut trainer = checkpoint::import(&bytes, &dataset, &device, None)?;
                    fixed.check_resume(&trainer.config)?;
                    if let Some(lr) = lr {
                        eprintln!("resuming with --lr {lr} (the checkpoint's was {})", trainer.config.lr);
                        trainer.set_lr(lr)?;
                    }
                    if let Some(clip) = clip {
                        eprintln!(
                            "resuming with --clip {clip} (the checkpoint's was {})",
                            trainer.config.clip_norm
                        );
                        trainer.set_clip_norm(clip)?;
                    }
                    trainer
                }
                None => {
                    let d = TrainConfig::default();
                    let config = TrainConfig {
                        kind: fixed.model.as_deref().map_or(Ok(d.kind), str::parse::<ModelKind>)?,
                        levels: fixed.levels.unwrap_or(d.levels),
                        a: fixed.a,
                        batch: fixed.batch.unwrap_or(d.batch),
                        lr: lr.unwrap_or(d.lr),
                        seed: fixed.seed.unwrap_or(d.seed),
                        base_channels: fixed.channels.unwrap_or(d.base_channels),
                        latent_dim: fixed.latent.unwrap_or(d.latent_dim),
                        cond_dim: fixed.cond_dim.unwrap_or(d.cond_dim),
                        clip_norm: clip.unwrap_or(d.clip_norm),
                        ..d
                    };
                    Trainer::new(config, &dataset, &device)?
                }
            };
            eprintln!(
                "training a {} with L = {}, a = {:.4} on {} ({}x{} images)",
                trainer.config.kind.name(),
                trainer.schedule.levels,
                trainer.schedule.a,
                backend::describe(&device),
                trainer.height,
                trainer.width
            );
            let start = Instant::now();
            let every = Saving { steps: checkpoint_every, minutes: checkpoint_minutes };
            match train_saving(&mut trainer, steps, &every, &out)? {
                Stop::Finished => {
                    let secs = start.elapsed().as_secs_f64();
                    eprintln!(
                        "{steps} steps in {secs:.1} s ({:.1} ms/step)",
                        1000.0 * secs / steps.max(1) as f64
                    );
                    save(&trainer, &out)?;
                }
                Stop::Interrupted => {
                    save(&trainer, &out)?;
                    eprintln!(
                        "interrupted at step {}; continue with `denoise-lab train --resume {}`",
                        trainer.step(),
                        out.display()
                    );
                    std::process::exit(130);
                }
                Stop::Diverged(e) => {
                    eprintln!("error: {e}");
                    // The trainer went back to the last weights known good: keep those, and no
                    // loss history past them.
                    let step = trainer.step();
                    trainer.history.retain(|s| s.step <= step);
                    save(&trainer, &out)?;
                    eprintln!(
                        "the last good weights (step {step}) are saved; resume with `--resume {}` and a \
                         lower --lr (or --clip 1)",
                        out.display()
                    );
                    std::process::exit(1);
                }
            }
        }
        Command::ExportTorch { checkpoint, out } => {
            let bytes = read_file(&checkpoint)?;
            for path in denoise_lab::export::export_torch(&bytes, &out, &backend::cpu())? {
                eprintln!("wrote {}", path.display());
            }
        }
        Command::Sample { data, model, sampler, n, seed, columns, out } => {
            check_out(&out)?;
            let dataset = load_data(&data)?;
            let device = backend::device(data.backend.parse::<BackendKind>()?)?;
            let model = model.open(&dataset, &device)?;
            let kind = SamplerKind::parse(&sampler)?;
            let keep = display_levels(model.levels(), columns);
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!("sampling {} levels", model.levels()));
            let chain = model.sample(kind, n, seed, &keep)?;
            let levels = chain.levels.clone();
            let pixels = chain.read_blocking()?;
            pb.finish_and_clear();
            let (h, w) = model.size();
            write_atomic_with(&out, |file| {
                let mut buffered = std::io::BufWriter::new(file);
                image::write_grid(&mut buffered, &pixels, levels.len(), n, h, w, 2)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                std::io::Write::flush(&mut buffered)
            })?;
            let last = &pixels[(levels.len() - 1) * n * h * w..];
            eprintln!(
                "wrote {} (levels {:?}); diversity of z_0 (mean pairwise L2): {:.3}",
                out.display(),
                levels,
                metrics::mean_pairwise_distance(last, h * w)
            );
        }
        Command::Eval { data, model, sampler, n, seed, reference, classifier } => {
            let dataset = load_data(&data)?;
            let device = backend::device(data.backend.parse::<BackendKind>()?)?;
            let model = model.open(&dataset, &device)?;
            let classifier = load_classifier(classifier.as_ref(), &device)?;
            let samplers = sampler.unwrap_or_else(|| SamplerKind::names_for(model.kind()).join(","));
            let (baseline, real, _) =
                scenario::real_baseline_blocking(&model, &dataset, &classifier, reference, n, &device)?;
            println!(
                "{} with L = {}, step {}; {} samples (seed {}) against {} held-out digits",
                model.kind().name(),
                model.levels(),
                model.step(),
                n,
                seed,
                baseline.reference.n
            );
            print_metrics_header();
            for name in samplers.split(',') {
                let kind = SamplerKind::parse(name.trim())?;
                let px = model.sample(kind, n, seed, &[0])?.read_blocking()?;
                print_metrics_row(name.trim(), &baseline.measure_blocking(&classifier, &px, &device)?);
            }
            print_metrics_row(&format!("real digits ({})", real.n), &real);
            print_memorisation_note();
        }
        Command::Lesson { name, data, n, seed, load, json } => {
            if name == "list" {
                for l in lesson::all() {
                    println!("{:<13} {} ({}; scenario {})", l.name, l.title, l.quiz, l.scenario);
                }
                return Ok(());
            }
            let lesson = lesson::by_name(&name)?;
            let sc = scenario::by_name(lesson.scenario)?;
            let dataset = load_data(&data)?;
            let device = backend::device(data.backend.parse::<BackendKind>()?)?;
            let classifier = Classifier::bundled(&device);
            let options = scenario::RunOptions { samples: n, seed, ..scenario::RunOptions::default() };
            let log = |m: &str| eprintln!("{m}");
            // A lesson's checkpoints where it has them; a model without one is trained (or computed).
            let trained = match &load {
                Some(dir) if lesson.checkpoints.iter().any(Option::is_some) => {
                    let paths: Vec<PathBuf> =
                        lesson.checkpoints.iter().map(|c| dir.join(c.unwrap_or("(computed)"))).collect();
                    scenario::load_files_blocking(&paths, &sc, &dataset, &device, None)?
                }
                _ => scenario::train_blocking(&sc, &dataset, &device, None, log)?,
            };
            let report =
                scenario::measure_blocking(&sc, &trained, &dataset, &device, &classifier, &options, log)?;
            let figures = lesson::Figures::of_report(&report);
            let verdict = lesson::judge(&lesson, &figures)?;
            let said = lesson.choices.iter().find(|c| c.id == verdict.choice).map_or("", |c| c.text);
            println!("lesson {} ({}): {}", lesson.name, lesson.quiz, lesson.title);
            println!("  measured: {}", verdict.text);
            println!("  outcome: {} ({said})", verdict.choice);
            if json {
                let out =
                    serde_json::json!({ "lesson": lesson.name, "verdict": verdict, "figures": figures });
                println!("{}", serde_json::to_string_pretty(&out).map_err(|e| Error::Config(e.to_string()))?);
            }
        }
        Command::Scenario { name, data, steps, n, seed, train_seed, json, save, load } => {
            if name == "list" {
                for s in scenario::all() {
                    println!("{:<11} {} ({} steps)\n            {}", s.name, s.title, s.steps, s.caption);
                }
                return Ok(());
            }
            let mut sc = scenario::by_name(&name)?;
            if let Some(s) = train_seed {
                for m in &mut sc.models {
                    m.seed = s;
                }
            }
            let dataset = load_data(&data)?;
            let device = backend::device(data.backend.parse::<BackendKind>()?)?;
            let classifier = Classifier::bundled(&device);
            let options = scenario::RunOptions { steps, samples: n, seed, ..scenario::RunOptions::default() };
            let log = |m: &str| eprintln!("{m}");
            let trained = match &load {
                Some(dir) => scenario::load_blocking(dir, &sc, &dataset, &device, steps)?,
                None => scenario::train_blocking(&sc, &dataset, &device, steps, log)?,
            };
            if let Some(dir) = &save {
                for path in scenario::save_blocking(dir, &sc, &trained)? {
                    eprintln!("saved {}", path.display());
                }
            }
            let report =
                scenario::measure_blocking(&sc, &trained, &dataset, &device, &classifier, &options, log)?;
            println!("scenario {}: {}", sc.name, sc.title);
            for (kind, secs, loss) in &report.training {
                println!("  {kind}: {} steps in {secs:.0} s, last loss {loss:.4}", report.steps);
            }
            print_metrics_header();
            for p in &report.panels {
                print_metrics_row(&p.label, &p.metrics);
            }
            print_metrics_row(&format!("real digits ({})", report.real.n), &report.real);
            print_memorisation_note();
            if sc.show_mean_image {
                for p in &report.panels {
                    println!(
                        "RMS distance of {} samples to the mean training image: {:.3} (two random real digits: {:.3})",
                        p.label, p.rms_to_mean, report.real_rms_pair
                    );
                }
            }
            for p in report.panels.iter().filter(|p| !p.chain.is_empty()) {
                let row: Vec<String> = p.chain.iter().map(|(l, d)| format!("z_{l}: {d:.2}")).collect();
                println!("spread along the {} chain (mean pairwise L2): {}", p.label, row.join(", "));
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| Error::Config(e.to_string()))?
                );
            }
        }
        Command::TrainClassifier { backend: b, steps, batch, lr, seed, held_out, out } => {
            let device = backend::device(b.parse::<BackendKind>()?)?;
            let config = ClassifierTrainConfig {
                steps,
                batch,
                lr,
                seed,
                held_out,
                ..ClassifierTrainConfig::default()
            };
            let (train, held) = Dataset::bundled().split(config.held_out, config.seed);
            eprintln!(
                "training the digit classifier on {} digits ({} held out), {} steps",
                train.n, held.n, steps
            );
            let pb = bar(steps as u64);
            let start = Instant::now();
            let model = train_classifier(&train, &config, &device, |step, loss| {
                pb.set_position(step as u64);
                pb.set_message(format!("loss {loss:.4}"));
            })?;
            pb.finish();
            let acc = model.accuracy_blocking(&held, &device)?;
            let meta = ClassifierMeta {
                format: 1,
                features: FEATURES,
                classes: CLASSES,
                config,
                held_out_accuracy: acc,
            };
            let bytes = model.to_bytes_blocking(&meta)?;
            write_file(&out, &bytes)?;
            println!(
                "held-out accuracy {:.2}% on {} digits; {:.0} s; saved {} ({} KiB)",
                100.0 * acc,
                held.n,
                start.elapsed().as_secs_f64(),
                out.display(),
                bytes.len() / 1024
            );
        }
        Command::Bench { data, model, levels, batch, channels, blocks, steps_per_block, json } => {
            let dataset = load_data(&data)?;
            let backend_kind = data.backend.parse::<BackendKind>()?;
            let device = backend::device(backend_kind)?;
            let config = TrainConfig {
                kind: model.parse::<ModelKind>()?,
                levels,
                batch,
                base_channels: channels,
                ..TrainConfig::default()
            };
            let mut trainer = Trainer::new(config, &dataset, &device)?;
            let t0 = Instant::now();
            trainer.train_steps(1);
            trainer.flush_blocking()?;
            let first_ms = t0.elapsed().as_secs_f64() * 1000.0;
            for _ in 0..2 {
                trainer.train_steps(1);
                trainer.flush_blocking()?;
            }
            let k = steps_per_block.max(1);
            let mut per_step = Vec::with_capacity(blocks);
            for _ in 0..blocks.max(1) {
                let t = Instant::now();
                trainer.train_steps(k);
                trainer.flush_blocking()?;
                per_step.push(t.elapsed().as_secs_f64() * 1000.0 / k as f64);
            }
            let mut sorted = per_step.clone();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let median = sorted[sorted.len() / 2];
            let rss = peak_rss_mib();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "peer": format!("burn-{}", if backend_kind == BackendKind::Cpu { "flex" } else { "wgpu" }),
                        "device": backend::describe(&device),
                        "model": model,
                        "channels": channels,
                        "batch": batch,
                        "levels": levels,
                        "ms_per_step_median": median,
                        "ms_per_step_all": per_step,
                        "first_step_ms": first_ms,
                        "peak_rss_mib": rss,
                    })
                );
            } else {
                println!(
                    "bench model={} backend={} batch={} channels={} L={}: median {:.1} ms/step \
                     (min {:.1}, max {:.1}, {} blocks of {} steps), first step {:.0} ms, peak RSS {:.0} MiB",
                    model,
                    data.backend,
                    batch,
                    channels,
                    levels,
                    median,
                    sorted[0],
                    sorted[sorted.len() - 1],
                    sorted.len(),
                    k,
                    first_ms,
                    rss.unwrap_or(f64::NAN)
                );
            }
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
