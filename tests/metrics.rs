//! The sample metrics and the quiz scenarios, measured on the CPU backend (Flex) with the
//! bundled digits and the shipped classifier (`www/data/classifier.bin`).
//!
//! The scenario tests measure models trained by the presets themselves and committed as small
//! checkpoints in `tests/fixtures/` (`bash scripts/make-fixtures.sh` retrains them; loading checks
//! that each file holds exactly its preset's configuration and step count). Training itself is
//! tested in `tests/core.rs` (the loss falls, at every level).
//! The margins in the assertions were measured on these fixtures (docs/scenarios.md has the figures,
//! written by `node scripts/scenario-table.mjs`).

use denoise_lab::backend;
use denoise_lab::data::Dataset;
use denoise_lab::metrics::classifier::{BUNDLED_CLASSIFIER, Classifier, FEATURES, accuracy};
use denoise_lab::metrics::frechet::frechet_distance;
use denoise_lab::metrics::{FeatureStats, Reference, SampleMetrics, mean_rms_to, rms_distance};
use denoise_lab::model::ModelKind;
use denoise_lab::rng::SplitMix64;
use denoise_lab::sampler::SamplerKind;
use denoise_lab::scenario::{self, Panel, RunOptions, Trained};

/// The presets' trained models (see the file's header).
fn fixture(sc: &scenario::Scenario, data: &Dataset) -> Vec<Trained> {
    fixture_in("tests/fixtures", sc, data)
}

fn fixture_in(dir: &str, sc: &scenario::Scenario, data: &Dataset) -> Vec<Trained> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    scenario::load_blocking(&dir, sc, data, &backend::cpu(), None).unwrap()
}

/// The classifier's own held-out digits (the split recorded in its file).
fn classifier_held_out() -> Dataset {
    let (_, meta) = Classifier::from_bytes_with_meta(BUNDLED_CLASSIFIER, &backend::cpu()).unwrap();
    Dataset::bundled().split(meta.config.held_out, meta.config.seed).1
}

#[test]
fn shipped_classifier_is_accurate_small_and_checked() {
    let device = backend::cpu();
    assert!(BUNDLED_CLASSIFIER.len() < 300 * 1024, "asset is {} bytes", BUNDLED_CLASSIFIER.len());
    let (c, meta) = Classifier::from_bytes_with_meta(BUNDLED_CLASSIFIER, &device).unwrap();
    let held = classifier_held_out();
    assert!(held.n >= 1000, "{} held-out digits", held.n);
    let e = c.features_blocking(&held.pixels, &device).unwrap();
    assert_eq!((e.n, e.features.len(), e.logits.len()), (held.n, held.n * FEATURES, held.n * 10));
    let acc = accuracy(&e.predictions(), held.labels.as_ref().unwrap());
    eprintln!(
        "shipped classifier: {:.2}% on {} held-out digits (recorded at training: {:.2}%)",
        100.0 * acc,
        held.n,
        100.0 * meta.held_out_accuracy
    );
    assert!(acc >= 0.97, "held-out accuracy {acc}");

    // The async read gives the same numbers as the blocking one.
    let few = &held.pixels[..7 * 784];
    let a = futures_lite_block_on(c.features_async(few, &device)).unwrap();
    assert_eq!(a, c.features_blocking(few, &device).unwrap());

    // Damaged files are refused with a message, not a panic.
    for cut in [0, 8, 20, BUNDLED_CLASSIFIER.len() / 2, BUNDLED_CLASSIFIER.len() - 1] {
        let Err(err) = Classifier::from_bytes(&BUNDLED_CLASSIFIER[..cut], &device) else {
            panic!("a file cut at {cut} bytes is refused");
        };
        assert!(err.to_string().contains("classifier"), "{err}");
    }
    let mut bad = BUNDLED_CLASSIFIER.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x04;
    let err = Classifier::from_bytes(&bad, &device).err().unwrap();
    assert!(err.to_string().contains("corrupt"), "{err}");
    // Not 28x28 images: a clear error.
    assert!(c.features_blocking(&[0.0; 785], &device).is_err());
}

/// A minimal executor for a future that completes without waking (burn's CPU readback).
fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    fn noop(_: *const ()) {}
    fn clone(p: *const ()) -> RawWaker {
        RawWaker::new(p, &VTABLE)
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

fn add_noise(pixels: &[f32], sigma: f32, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    pixels.iter().map(|&p| p + sigma * rng.normal() as f32).collect()
}

/// Box blur of (2 r + 1)^2 pixels, background -1 outside the image.
fn blur(pixels: &[f32], r: usize) -> Vec<f32> {
    let (h, w) = (28isize, 28isize);
    let r = r as isize;
    let mut out = Vec::with_capacity(pixels.len());
    for img in pixels.chunks_exact(784) {
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (yy, xx) = (y + dy, x + dx);
                        s += if (0..h).contains(&yy) && (0..w).contains(&xx) {
                            img[(yy * w + xx) as usize]
                        } else {
                            -1.0
                        };
                    }
                }
                out.push(s / ((2 * r + 1) * (2 * r + 1)) as f32);
            }
        }
    }
    out
}

#[test]
fn frechet_distance_is_near_zero_for_real_halves_and_grows_with_corruption() {
    let device = backend::cpu();
    let c = Classifier::bundled(&device);
    let held = classifier_held_out();
    let half = held.n / 2;
    let (a, b) = held.pixels.split_at(half * 784);
    let b = &b[..half * 784];
    let stats = |px: &[f32]| {
        FeatureStats::from_features(&c.features_blocking(px, &device).unwrap().features, FEATURES)
    };
    let sa = stats(a);
    let fd = |px: &[f32]| frechet_distance(&sa, &stats(px));
    let clean = fd(b);
    let spread = sa.cov.iter().step_by(FEATURES + 1).sum::<f64>();
    let noise: Vec<f64> = [0.25, 0.5, 1.0].iter().map(|&s| fd(&add_noise(b, s, 5))).collect();
    let blurred: Vec<f64> = [1, 2, 3].iter().map(|&r| fd(&blur(b, r))).collect();
    eprintln!(
        "Fréchet distance, two halves of {} held-out digits: {clean:.3} (total feature variance {spread:.1})",
        held.n
    );
    eprintln!("  + noise sigma 0.25/0.5/1.0: {noise:.2?}");
    eprintln!("  + box blur 3x3/5x5/7x7: {blurred:.2?}");
    assert!(clean < 0.02 * spread, "near zero relative to the feature variance: {clean} vs {spread}");
    let mut prev = clean;
    for (name, series) in [("noise", &noise), ("blur", &blurred)] {
        prev = clean;
        for &v in series.iter() {
            assert!(v > prev * 1.2 && v > prev + 0.5, "{name}: not growing: {series:?} (clean {clean})");
            prev = v;
        }
        assert!(
            series[0] > 3.0 * clean,
            "{name}: the mildest corruption is already well above the floor: {series:?} vs {clean}"
        );
    }
    let _ = prev;
}

#[test]
fn scenario_1_eq2_collapses_in_entropy_and_diversity() {
    let device = backend::cpu();
    let c = Classifier::bundled(&device);
    let mut sc = scenario::by_name("collapse").unwrap();
    // Scenario 3 ("noise") is the same model with the noisy samplers: run them next to eq. (2).
    let noise = scenario::by_name("noise").unwrap();
    assert_eq!(sc.models, noise.models, "scenarios 1 and 3 share their model");
    sc.panels.push(Panel {
        label: "stochastic".into(),
        model: 0,
        sampler: SamplerKind::Stochastic { sigma: None },
        spec: "stochastic".into(),
    });
    sc.panels.push(Panel { label: "DDIM".into(), model: 0, sampler: SamplerKind::Ddim, spec: "ddim".into() });
    let options = RunOptions { steps: None, samples: 96, seed: 11, reference: 500 };
    let data = Dataset::bundled();
    let trained = fixture(&sc, &data);

    // Quiz (a): the first step of eq. (2), z_{L−1} = ŷ(z_L, L), lands near the mean training image
    // from any z_L: far nearer than two real digits are to each other.
    let model = &trained[0].model;
    let n = 64;
    let first = model.sample(SamplerKind::Deterministic, n, 5, &[model.levels() - 1]).unwrap();
    let px = first.read_blocking().unwrap();
    let to_mean = mean_rms_to(&px, model.mean_image());
    let yardstick =
        (0..200).map(|i| rms_distance(data.image(2 * i), data.image(2 * i + 1))).sum::<f64>() / 200.0;
    eprintln!("quiz (a): RMS of ŷ(z_L, L) to the mean image {to_mean:.4}; two random digits {yardstick:.4}");
    assert!(to_mean < 0.25 * yardstick, "ŷ(z_L, L) ≈ E[y]: {to_mean} vs {yardstick}");

    let r = scenario::measure_blocking(&sc, &trained, &data, &device, &c, &options, |m| eprintln!("{m}"))
        .unwrap();
    let m = |label: &str| r.panels.iter().find(|p| p.label == label).unwrap().metrics.clone();
    let (eq2, sto, ddim) = (m("eq. (2)"), m("stochastic"), m("DDIM"));
    for (name, x) in [("eq. (2)", &eq2), ("stochastic", &sto), ("DDIM", &ddim), ("real", &r.real)] {
        eprintln!(
            "{name:<11} entropy {:.3} nats, diversity {:.2}, Fréchet {:.1}, histogram {:?}",
            x.entropy_nats, x.diversity, x.frechet, x.histogram
        );
    }
    assert!(
        eq2.entropy_nats < sto.entropy_nats - 0.8,
        "entropy: eq. (2) {} vs stochastic {}",
        eq2.entropy_nats,
        sto.entropy_nats
    );
    assert!(
        eq2.entropy_nats < ddim.entropy_nats - 0.8,
        "entropy: eq. (2) {} vs DDIM {}",
        eq2.entropy_nats,
        ddim.entropy_nats
    );
    assert!(
        eq2.diversity < 0.25 * sto.diversity,
        "diversity: eq. (2) {} vs stochastic {}",
        eq2.diversity,
        sto.diversity
    );
    assert!(
        eq2.diversity < 0.25 * ddim.diversity,
        "diversity: eq. (2) {} vs DDIM {}",
        eq2.diversity,
        ddim.diversity
    );
    // Where the collapsed chain ends: after the first step, which lands on the mean image, eq. (2)
    // keeps denoising and settles on one digit-like fixed point, nearer the mean image than two
    // real digits are to each other (docs/scenarios.md, scenario 1, has both at 256 samples).
    let (rms, pair) = (r.panels[0].rms_to_mean, r.real_rms_pair);
    eprintln!("eq. (2) RMS to the mean image {rms:.3}; two real digits {pair:.3}");
    assert!(rms < 0.75 * pair, "eq. (2)'s samples end near the mean image: {rms} vs {pair}");
}

/// Quiz problem 2 on trained models: at L = 4, with the same steps and batch, the CVAE step's
/// samples are clearly nearer real digits than the Gaussian step's, on the preset's seed and two
/// more (each trained by `scripts/make-fixtures.sh`; the same seeds trained without Flex's SIMD
/// kernels: `bash scripts/make-fixtures.sh --no-simd`; docs/scenarios.md, scenario 4).
#[test]
fn scenario_4_cvae_beats_the_gaussian_step_at_four_levels_on_three_seeds() {
    let device = backend::cpu();
    let c = Classifier::bundled(&device);
    let data = Dataset::bundled();
    let options = RunOptions { steps: None, samples: 128, seed: 11, reference: 500 };
    let mut preset = scenario::by_name("few-levels").unwrap();
    assert_eq!(preset.models.len(), 3);
    assert_eq!(preset.models[0].kind, ModelKind::Denoiser);
    assert_eq!(preset.models[1].kind, ModelKind::Cvae);
    assert_eq!(preset.models[2].kind, ModelKind::Universal, "Φ* of the same training images");
    assert!(preset.models.iter().all(|m| m.levels == 4 && m.batch == preset.models[0].batch));
    assert_eq!(preset.models[0].seed, 3, "the preset's seed");
    // The two trained panels only (Φ*'s are tests/ideal.rs's).
    preset.panels.truncate(2);
    let mut ratios = Vec::new();
    for (seed, dir) in [(3, "tests/fixtures"), (4, "tests/fixtures/seed-4"), (5, "tests/fixtures/seed-5")] {
        let mut sc = preset.clone();
        for m in &mut sc.models {
            m.seed = seed;
        }
        let trained = fixture_in(dir, &sc, &data);
        let r = scenario::measure_blocking(&sc, &trained, &data, &device, &c, &options, |_| {}).unwrap();
        let (den, cvae) = (&r.panels[0].metrics, &r.panels[1].metrics);
        assert_eq!(r.steps, sc.steps, "measured after the preset's budget");
        let ratio = cvae.frechet / den.frechet;
        eprintln!(
            "seed {seed}: Fréchet Gaussian step {:.1}, CVAE {:.1} (ratio {ratio:.2}), real digits {:.1}; \
             entropy {:.3} / {:.3}",
            den.frechet, cvae.frechet, r.real.frechet, den.entropy_nats, cvae.entropy_nats
        );
        assert!(
            r.real.frechet < cvae.frechet,
            "real digits are the floor: {} vs {}",
            r.real.frechet,
            cvae.frechet
        );
        ratios.push(ratio);
    }
    // The aim: 0.7 on every seed. Measured on these fixtures (the CVAE's training pairs half
    // at the last step, cvae::LAST_STEP_SHARE): docs/scenarios.md, scenario 4, has each seed's ratio.
    let worst = ratios.iter().cloned().fold(0.0, f64::max);
    assert!(worst <= 0.7, "CVAE / Gaussian step Fréchet ratios {ratios:.2?}: worst {worst:.2}");
}

#[test]
fn metrics_summary_of_real_digits() {
    // A sample set of real digits measured against other real digits: high entropy, the
    // histogram covers every class, FD small.
    let device = backend::cpu();
    let c = Classifier::bundled(&device);
    let held = classifier_held_out();
    let reference = Reference::compute_blocking(&c, &held.pixels[..500 * 784], &device).unwrap();
    let m = SampleMetrics::measure_blocking(&c, &held.pixels[500 * 784..1000 * 784], &reference, &device)
        .unwrap();
    assert_eq!(m.histogram.iter().sum::<usize>(), 500);
    assert!(m.histogram.iter().all(|&k| k > 20), "{:?}", m.histogram);
    assert!(m.entropy_nats > 2.2 && m.entropy_nats <= 10f64.ln() + 1e-12, "{}", m.entropy_nats);
    // All one image: one tall bar, zero entropy, zero diversity.
    let same: Vec<f32> = held.image(0).iter().copied().cycle().take(50 * 784).collect();
    let one = SampleMetrics::measure_blocking(&c, &same, &reference, &device).unwrap();
    assert_eq!(one.entropy_nats, 0.0);
    assert_eq!(one.diversity, 0.0);
    assert!(one.frechet > 10.0 * m.frechet, "{} vs {}", one.frechet, m.frechet);
}
