//! The same core on the wgpu backend (Vulkan; on a machine without GPU, Mesa's lavapipe).
//! scripts/test.sh installs mesa-vulkan-drivers and sets DENOISE_LAB_REQUIRE_WGPU=1, so in CI a
//! missing adapter is a failure, not a skip.

use denoise_lab::backend;
use denoise_lab::checkpoint;
use denoise_lab::data::Dataset;
use denoise_lab::model::ModelKind;
use denoise_lab::sampler::SamplerKind;
use denoise_lab::train::{TrainConfig, Trainer};

fn wgpu_device() -> Option<burn::prelude::Device> {
    match backend::wgpu() {
        Ok(d) => Some(d),
        Err(e) if std::env::var("DENOISE_LAB_REQUIRE_WGPU").as_deref() == Ok("1") => {
            panic!("DENOISE_LAB_REQUIRE_WGPU=1 but {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: {e} (install mesa-vulkan-drivers; CI requires it)");
            None
        }
    }
}

/// Same weights on both backends (a CPU checkpoint loaded on wgpu), same fixed-noise inputs:
/// the held-out loss agrees. Then the same number of steps on each (their random noise
/// differs): both lower the loss by a similar amount (the denoiser; the CVAE's forward pass only).
#[test]
fn wgpu_matches_the_cpu_backend() {
    let Some(gpu) = wgpu_device() else { return };
    let data = Dataset::bundled().take(&(0..3000).collect::<Vec<_>>());
    for (kind, levels) in [(ModelKind::Denoiser, 10), (ModelKind::Cvae, 4)] {
        let config = TrainConfig {
            kind,
            levels,
            batch: 32,
            lr: 3e-3,
            seed: 11,
            base_channels: 8,
            cond_dim: 32,
            latent_dim: 16,
            held_out: 500,
            ..TrainConfig::default()
        };
        let cpu = backend::cpu();
        let mut on_cpu = Trainer::new(config, &data, &cpu).unwrap();
        let bytes = checkpoint::export_blocking(&on_cpu).unwrap();
        let mut on_gpu = checkpoint::import(&bytes, &data, &gpu, None).unwrap();
        let eval = on_cpu.eval_inputs(64, 5);
        let (l_cpu, l_gpu) =
            (on_cpu.eval_loss_blocking(&eval).unwrap(), on_gpu.eval_loss_blocking(&eval).unwrap());
        eprintln!("{kind:?}: initial held-out loss cpu {l_cpu:.5} wgpu {l_gpu:.5}");
        assert!(
            (l_cpu - l_gpu).abs() <= 1e-3 * l_cpu.abs().max(1.0),
            "{kind:?}: same weights, same loss: {l_cpu} vs {l_gpu}"
        );

        if kind == ModelKind::Cvae {
            // Training the CVAE on lavapipe takes minutes per few steps on these 2-core machines
            // (see README, open problems): its forward pass is checked above, training is not.
            continue;
        }
        let steps = 60;
        on_cpu.train_steps(steps);
        on_cpu.flush_blocking().unwrap();
        on_gpu.train_steps(steps);
        let report = on_gpu.flush_blocking().unwrap();
        assert_eq!(report.steps.len(), steps);
        let (a_cpu, a_gpu) =
            (on_cpu.eval_loss_blocking(&eval).unwrap(), on_gpu.eval_loss_blocking(&eval).unwrap());
        eprintln!("{kind:?}: after {steps} steps cpu {a_cpu:.5} wgpu {a_gpu:.5}");
        let (drop_cpu, drop_gpu) = (l_cpu - a_cpu, l_gpu - a_gpu);
        assert!(drop_cpu > 0.0 && drop_gpu > 0.0, "{kind:?}: both learn: {drop_cpu} {drop_gpu}");
        assert!(
            (a_cpu - a_gpu).abs() <= 0.25 * (drop_cpu.max(drop_gpu)) + 0.02 * a_cpu.abs(),
            "{kind:?}: close losses: cpu {a_cpu} wgpu {a_gpu}"
        );

        // Sampling runs on wgpu and gives finite images.
        let sampler = if kind == ModelKind::Cvae {
            SamplerKind::Cvae { noise_free_last: true }
        } else {
            SamplerKind::Ddim
        };
        let px = on_gpu.sample(sampler, 4, 3, &[]).unwrap().read_blocking().unwrap();
        assert!(px.iter().all(|v| v.is_finite()));
    }
}
