//! The core's guarantees, on the CPU backend (Flex) with the bundled digits: training lowers the
//! loss (both models), checkpoints round-trip and refuse damage, divergence keeps the last good
//! weights, configuration errors are clear. The quiz's claims on trained models are in
//! `tests/metrics.rs`. Sizes are small so the whole file runs in about a minute on 2 cores.

use denoise_lab::Error;
use denoise_lab::backend;
use denoise_lab::checkpoint;
use denoise_lab::data::Dataset;
use denoise_lab::model::ModelKind;
use denoise_lab::optim::NamedParams;
use denoise_lab::sampler::SamplerKind;
use denoise_lab::train::{TrainConfig, Trainer};

fn config(kind: ModelKind, levels: usize) -> TrainConfig {
    TrainConfig {
        kind,
        levels,
        batch: 32,
        lr: 3e-3,
        seed: 3,
        base_channels: 8,
        cond_dim: 32,
        latent_dim: 16,
        held_out: 500,
        ..TrainConfig::default()
    }
}

/// 4,000 of the bundled digits: enough for these tests, and quicker to split and upload.
fn data() -> Dataset {
    let all = Dataset::bundled();
    all.take(&(0..4000).collect::<Vec<_>>())
}

fn train(t: &mut Trainer, steps: usize) {
    t.train_blocking(steps, 25, |_, _| {}).expect("training stays finite");
}

/// Training from scratch lowers the held-out loss, and the per-level loss is measured at every
/// level. What the trained denoiser then shows (quiz (a): ŷ(z_L, L) is the mean image; (b)/(c):
/// eq. (2) collapses where the noisy samplers do not) is checked in `tests/metrics.rs` on the
/// collapse preset's model, trained by this code for its full budget (`scripts/make-fixtures.sh`):
/// after 80 to 100 steps here, the first claim sat within 10% of its bound either way.
#[test]
fn denoiser_training_lowers_the_held_out_loss_at_every_level() {
    let data = data();
    let levels = 20;
    let mut t = Trainer::new(config(ModelKind::Denoiser, levels), &data, &backend::cpu()).unwrap();
    let eval = t.eval_inputs(128, 99);
    let before = t.eval_loss_blocking(&eval).unwrap();
    train(&mut t, 50);
    let after = t.eval_loss_blocking(&eval).unwrap();
    eprintln!("held-out loss: {before:.4} -> {after:.4}");
    assert!(after < 0.6 * before, "training lowers the loss: {before} -> {after}");

    // Per-level loss: defined at every level after 50 x 32 draws, and larger at high noise.
    let per_level: Vec<f64> = t.level_loss.iter().map(|v| v.expect("every level seen")).collect();
    eprintln!("per-level loss: {per_level:.3?}");
    assert!(per_level[levels - 1] > per_level[0], "loss grows with noise: {per_level:?}");
}

#[test]
fn cvae_terms_are_finite_and_the_total_decreases() {
    let data = data();
    let mut t = Trainer::new(config(ModelKind::Cvae, 4), &data, &backend::cpu()).unwrap();
    let eval = t.eval_inputs(128, 7);
    let before = t.eval_loss_blocking(&eval).unwrap();
    // 60 steps: the loss falls by thousands of nats per image (10226 -> 2569 in 80 steps measured).
    t.train_steps(60);
    let report = t.flush_blocking().unwrap();
    let after = t.eval_loss_blocking(&eval).unwrap();
    for s in &report.steps {
        assert!(s.kl.is_finite() && s.nll.is_finite(), "step {}: kl {} nll {}", s.step, s.kl, s.nll);
        assert!(s.kl >= 0.0, "KL is non-negative: {}", s.kl);
        assert!((s.loss - (s.kl + s.nll)).abs() <= 1e-3 * s.loss.abs().max(1.0), "loss = kl + nll");
    }
    let last = report.steps.last().unwrap();
    eprintln!(
        "CVAE held-out loss (nats/image): {before:.1} -> {after:.1}; last step kl {:.2} nll {:.1}",
        last.kl, last.nll
    );
    assert!(after < before - 100.0, "the CVAE's total loss decreases: {before} -> {after}");

    // Ancestral sampling runs through every level and gives finite images.
    let px =
        t.sample(SamplerKind::Cvae { noise_free_last: true }, 8, 1, &[]).unwrap().read_blocking().unwrap();
    assert_eq!(px.len(), 5 * 8 * t.height * t.width);
    assert!(px.iter().all(|v| v.is_finite()));
    // And the denoiser's samplers are refused for it, with a message.
    let err = t.sample(SamplerKind::Ddim, 2, 1, &[]).err().unwrap();
    assert!(err.to_string().contains("does not apply"), "{err}");
}

#[test]
fn checkpoints_round_trip_and_reject_damage() {
    let data = data();
    let device = backend::cpu();
    let mut t = Trainer::new(config(ModelKind::Denoiser, 8), &data, &device).unwrap();
    train(&mut t, 10);
    let bytes = checkpoint::export_blocking(&t).unwrap();
    let loaded = checkpoint::import(&bytes, &data, &device, Some((ModelKind::Denoiser, 8))).unwrap();
    assert_eq!(loaded.step(), t.step());
    assert_eq!(loaded.history.len(), t.history.len());
    assert_eq!(loaded.optim().t, t.optim().t);
    assert_eq!(loaded.optim().moments().len(), t.optim().moments().len());

    // Same seed, same samples, bit for bit.
    let a = t.sample(SamplerKind::Stochastic { sigma: None }, 6, 42, &[]).unwrap().read_blocking().unwrap();
    let b =
        loaded.sample(SamplerKind::Stochastic { sigma: None }, 6, 42, &[]).unwrap().read_blocking().unwrap();
    let d = 28 * 28 * 6;
    let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
    assert_eq!(
        first_diff,
        None,
        "identical outputs after save/load (z_L equal: {}; first difference at {:?} of {})",
        a[..d] == b[..d],
        first_diff,
        a.len()
    );
    let eval = t.eval_inputs(32, 1);
    assert_eq!(t.eval_loss_blocking(&eval).unwrap(), loaded.eval_loss_blocking(&eval).unwrap());

    // The optimizer state came back too: every parameter's Adam moments, bit for bit.
    let moments = |t: &Trainer| -> Vec<(String, Vec<f32>, Vec<f32>)> {
        NamedParams::of(t.model())
            .entries
            .into_iter()
            .map(|(path, id, _, _)| {
                let m = &t.optim().moments()[&id];
                (path, m.m.to_data().try_to_vec::<f32>().unwrap(), m.v.to_data().try_to_vec::<f32>().unwrap())
            })
            .collect()
    };
    let (before, after) = (moments(&t), moments(&loaded));
    assert!(!before.is_empty());
    assert!(before.iter().any(|(_, m, _)| m.iter().any(|x| *x != 0.0)), "moments are non-trivial");
    assert_eq!(before, after, "Adam moments restored");
    // And training continues from the loaded state.
    let mut l2 = loaded;
    l2.train_steps(2);
    let r = l2.flush_blocking().unwrap();
    assert_eq!(r.steps.iter().map(|s| s.step).collect::<Vec<_>>(), vec![11, 12]);

    // Truncated anywhere: rejected with a message, no panic.
    for cut in [0, 4, 8, 100, bytes.len() / 2, bytes.len() - 5, bytes.len() - 1] {
        let err =
            checkpoint::import(&bytes[..cut], &data, &device, None).err().expect("truncated is refused");
        assert!(matches!(err, Error::Checkpoint(_)), "cut {cut}: {err}");
    }
    // One flipped bit in the weights: caught by the checksum.
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    let err = checkpoint::import(&bad, &data, &device, None).err().unwrap();
    assert!(err.to_string().contains("corrupt"), "{err}");
    // Another model or L: a clear message.
    let err = checkpoint::import(&bytes, &data, &device, Some((ModelKind::Cvae, 8))).err().unwrap();
    assert!(err.to_string().contains("denoiser with L = 8"), "{err}");
    // Images of another size.
    let small = Dataset { n: 100, h: 14, w: 14, pixels: vec![0.0; 100 * 196], labels: None };
    let err = checkpoint::import(&bytes, &small, &device, None).err().unwrap();
    assert!(err.to_string().contains("28x28"), "{err}");
}

#[test]
fn divergence_is_detected_and_the_last_good_weights_are_kept() {
    let data = data();
    let mut cfg = config(ModelKind::Denoiser, 8);
    cfg.lr = 50.0;
    cfg.clip_norm = 0.0;
    let mut t = Trainer::new(cfg, &data, &backend::cpu()).unwrap();
    let mut diverged = None;
    for _ in 0..20 {
        t.train_steps(3);
        if let Err(e) = t.flush_blocking() {
            diverged = Some(e);
            break;
        }
    }
    let err = diverged.expect("lr = 50 without clipping diverges within 60 steps");
    assert!(matches!(err, Error::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("known good"), "{err}");
    let eval = t.eval_inputs(16, 1);
    let loss = t.eval_loss_blocking(&eval).unwrap();
    assert!(loss.is_finite(), "restored weights give a finite loss, got {loss}");
    assert!(t.history.iter().all(|s| s.loss.is_finite()));
    // And they train on at a sane rate (weights kept from the flush that blew up would not).
    t.set_lr(1e-3).unwrap();
    t.train_steps(3);
    let report = t.flush_blocking().expect("training resumes after the rollback");
    assert!(report.steps.iter().all(|s| s.loss.is_finite()));
}

#[test]
fn configuration_errors_are_clear() {
    let data = data();
    let bad = |f: &dyn Fn(&mut TrainConfig)| {
        let mut c = config(ModelKind::Denoiser, 10);
        f(&mut c);
        Trainer::new(c, &data, &backend::cpu()).err().expect("refused").to_string()
    };
    assert!(bad(&|c| c.levels = 0).contains("L (levels)"));
    assert!(bad(&|c| c.a = Some(1.5)).contains("a must"));
    assert!(bad(&|c| c.batch = 0).contains("batch"));
    assert!(bad(&|c| c.lr = f64::NAN).contains("learning rate"));
    assert!(bad(&|c| c.latent_dim = 0).contains("latent"));
    // A 4-image file with batch 4: refused with a message, for the trained models and for Φ*,
    // instead of a run with no held-out images (which failed later, at every restart on the page).
    let four = Dataset { n: 4, h: 28, w: 28, pixels: data.pixels[..4 * 784].to_vec(), labels: None };
    let refused = |e: denoise_lab::Error| {
        let e = e.to_string();
        assert!(e.contains("the data has 4 images; a run needs at least 10"), "{e}");
    };
    let c = TrainConfig { batch: 4, ..config(ModelKind::Denoiser, 10) };
    refused(Trainer::new(c.clone(), &four, &backend::cpu()).err().expect("refused"));
    let phi = TrainConfig { kind: ModelKind::Universal, ..c };
    refused(denoise_lab::session::UniversalModel::new(phi, &four, &backend::cpu()).err().expect("refused"));
    // No held-out digits: the forward process, the draws and the metrics would have nothing to
    // compare with (a checkpoint saying so crashed the page's worker at its first drawing).
    let e =
        Trainer::new(TrainConfig { held_out: 0, ..config(ModelKind::Denoiser, 10) }, &data, &backend::cpu())
            .err()
            .expect("held_out 0 is refused");
    assert_eq!(e.kind(), "config");
    assert!(e.to_string().contains("held_out must be at least 1"), "{e}");
    let phi = TrainConfig { kind: ModelKind::Universal, held_out: 0, ..config(ModelKind::Denoiser, 10) };
    let e = denoise_lab::session::UniversalModel::new(phi, &data, &backend::cpu()).err().expect("refused");
    assert!(e.to_string().contains("held_out must be at least 1"), "{e}");
}
