//! The same core on the wgpu backend (Vulkan; on a machine without GPU, Mesa's lavapipe, which
//! scripts/setup.sh installs). A missing adapter fails this test: it never skips.

use denoise_lab::backend;
use denoise_lab::checkpoint;
use denoise_lab::data::Dataset;
use denoise_lab::model::ModelKind;
use denoise_lab::sampler::SamplerKind;
use denoise_lab::train::{TrainConfig, Trainer};

/// Training steps and batch on each backend (tiny: see the test's note on lavapipe).
const STEPS: usize = 10;
const BATCH: usize = 16;

fn wgpu_device() -> burn::prelude::Device {
    backend::wgpu().unwrap_or_else(|e| {
        panic!("{e}: install a Vulkan driver (Debian: mesa-vulkan-drivers; scripts/setup.sh does)")
    })
}

/// Each of `got`'s values within 1e-5 of the largest of `want`'s (the same number of each).
fn assert_close(what: &str, want: &[Vec<f32>], got: &[Vec<f32>]) {
    assert_eq!(want.len(), got.len(), "{what}: the same values");
    for (k, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.len(), g.len(), "{what}: value {k} size");
        let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let err = w.iter().zip(g).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{what}, value {k}: max error {err:.2e} of {scale:.2e}");
        assert!(err <= 1e-5 * scale, "{what}: value {k} differs by {err} (largest {scale})");
    }
}

/// `n` values spread evenly over [-half, half), from a seeded linear congruential generator.
fn spread(n: usize, seed: u64, half: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * (2.0 * half) - half
        })
        .collect()
}

/// Same weights on both backends (a CPU checkpoint loaded on wgpu), same fixed-noise inputs:
/// the held-out loss agrees. Then the same number of steps on each (their random noise
/// differs): both lower the loss by a similar amount, and sampling on wgpu gives finite images.
/// Sizes are tiny: lavapipe emulates the GPU on the CPU and takes a second or more per step.
#[test]
fn wgpu_matches_the_cpu_backend() {
    let gpu = wgpu_device();
    let data = Dataset::bundled().take(&(0..3000).collect::<Vec<_>>());
    let cases = [
        (ModelKind::Denoiser, 10, SamplerKind::Ddim),
        (ModelKind::Cvae, 4, SamplerKind::Cvae { noise_free_last: true }),
    ];
    for (kind, levels, sampler) in cases {
        let config = TrainConfig {
            kind,
            levels,
            batch: BATCH,
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

        on_cpu.train_steps(STEPS);
        on_cpu.flush_blocking().unwrap();
        on_gpu.train_steps(STEPS);
        let report = on_gpu.flush_blocking().unwrap();
        assert_eq!(report.steps.len(), STEPS);
        let (a_cpu, a_gpu) =
            (on_cpu.eval_loss_blocking(&eval).unwrap(), on_gpu.eval_loss_blocking(&eval).unwrap());
        eprintln!("{kind:?}: after {STEPS} steps cpu {a_cpu:.5} wgpu {a_gpu:.5}");
        let (drop_cpu, drop_gpu) = (l_cpu - a_cpu, l_gpu - a_gpu);
        assert!(drop_cpu > 0.0 && drop_gpu > 0.0, "{kind:?}: both learn: {drop_cpu} {drop_gpu}");
        // Every random draw of a step comes from the trainer's CPU generator, so both backends
        // train on the same batches and noise: the same run, up to float rounding.
        assert!(
            (a_cpu - a_gpu).abs() <= 1e-3 * a_cpu.abs(),
            "{kind:?}: the same run on both backends: cpu {a_cpu} wgpu {a_gpu}"
        );

        // Sampling runs on wgpu and gives finite images.
        let px = on_gpu.sample(sampler, 4, 3, &[]).unwrap().read_blocking().unwrap();
        assert!(px.iter().all(|v| v.is_finite()));
    }
}

/// The universal denoiser Φ* (one matrix product and a softmax over the training images) gives
/// the same ŷ on wgpu as on the CPU, and its exact sampler runs there.
#[test]
fn universal_denoiser_on_wgpu_matches_the_cpu_backend() {
    use burn::prelude::{Tensor, TensorData};
    use denoise_lab::ideal::Universal;
    use denoise_lab::schedule::Schedule;

    let gpu = wgpu_device();
    let cpu = backend::cpu();
    let data = Dataset::bundled().take(&(0..2000).collect::<Vec<_>>());
    let schedule = Schedule::from_options(None, 10).unwrap();
    let (u_cpu, u_gpu) =
        (Universal::new(&data, schedule, &cpu).unwrap(), Universal::new(&data, schedule, &gpu).unwrap());
    let mut rng = denoise_lab::rng::SplitMix64::new(5);
    let z: Vec<f32> = (0..4 * 784).map(|_| rng.normal() as f32).collect();
    for level in [1, 5, 10] {
        let on = |u: &Universal, d| {
            let z = Tensor::<4>::from_data(TensorData::new(z.clone(), [4, 1, 28, 28]), d);
            u.yhat(z, level).into_data().try_to_vec::<f32>().unwrap()
        };
        let (a, b) = (on(&u_cpu, &cpu), on(&u_gpu, &gpu));
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        eprintln!("Φ* at level {level}: largest |cpu - wgpu| {diff:.2e}");
        assert!(diff < 1e-3, "level {level}: {diff}");
    }
    let config = TrainConfig { kind: ModelKind::Universal, levels: 4, ..TrainConfig::default() };
    let m = denoise_lab::session::UniversalModel::new(config, &data, &gpu).unwrap();
    let px = m.sample(SamplerKind::Exact, 4, 3, &[0]).unwrap().read_blocking().unwrap();
    assert!(px.iter().all(|v| v.is_finite()));
}

/// The U-Net's convolution with its bias gradient from our GPU kernel (src/model/conv.rs) gives
/// the output and the gradients burn's own convolution gives on the CPU backend, to 1e-5 relative
/// to the largest: the input's, the weight's and the bias's, at stride 1 and 2, on odd sizes and
/// with an input whose memory is not in NCHW order.
#[test]
fn the_convolutions_gradients_on_wgpu_match_the_cpu_backend() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::prelude::*;
    use denoise_lab::model::conv;

    let gpu = wgpu_device();
    let cpu = backend::cpu();
    let values = |n: usize, seed: u64| spread(n, seed, 1.0);
    for (stride, [b, cin, cout, h, w]) in
        [(1, [2, 3, 5, 9, 7]), (2, [3, 4, 6, 11, 8]), (1, [1, 1, 8, 28, 28])]
    {
        let run = |device: &Device, ours: bool| -> [Vec<f32>; 4] {
            let mut c = Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device);
            c.weight = c.weight.map(|_| {
                Tensor::from_data(TensorData::new(values(cout * cin * 9, 1), [cout, cin, 3, 3]), device)
                    .require_grad()
            });
            c.bias = c.bias.map(|p| {
                p.map(|_| Tensor::from_data(TensorData::new(values(cout, 2), [cout]), device).require_grad())
            });
            // Stored NHWC, used as NCHW: a permuted view, as burn's GPU activations are.
            let x =
                Tensor::<4>::from_data(TensorData::new(values(b * h * w * cin, 3), [b, h, w, cin]), device)
                    .permute([0, 3, 1, 2])
                    .require_grad();
            let out = if ours { conv::forward(&c, x.clone()) } else { c.forward(x.clone()) };
            let [_, _, ho, wo] = out.dims();
            let r = Tensor::<4>::from_data(
                TensorData::new(values(b * cout * ho * wo, 4), [b, cout, ho, wo]),
                device,
            );
            let grads = (out.clone() * r).sum().backward();
            let read = |t: Tensor<4>| backend::read_blocking(t).unwrap();
            [
                read(out),
                read(x.grad(&grads).unwrap()),
                read(c.weight.val().grad(&grads).unwrap()),
                backend::read_blocking(c.bias.as_ref().unwrap().val().grad(&grads).unwrap()).unwrap(),
            ]
        };
        let want = run(&cpu.clone().autodiff(), false);
        for (got, what) in [
            (run(&gpu.clone().autodiff(), true), "wgpu, ours"),
            (run(&cpu.clone().autodiff(), true), "cpu, ours"),
        ] {
            for (k, name) in ["output", "dX", "dW", "dBias"].iter().enumerate() {
                let scale = want[k].iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let err = want[k].iter().zip(&got[k]).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                eprintln!(
                    "stride {stride} {b}x{cin}->{cout} {h}x{w} {what}: {name} max error {:.2e} of {scale:.2e}",
                    err
                );
                assert_eq!(want[k].len(), got[k].len(), "{what}: {name} size");
                assert!(
                    err <= 1e-5 * scale,
                    "{what}, stride {stride}: {name} differs by {err} (largest {scale})"
                );
            }
        }
    }
}

/// The U-Net's convolution blocks (src/model/conv.rs: one convolution with the element-wise work
/// around it: the upsampling and concatenation of the way up, the conditioning, the residual add,
/// the SiLU of the output) give on wgpu, where each is one kernel of ours, what their definition
/// gives on the CPU backend, to 1e-5 relative to the largest value: stride 1 and 2, odd sizes and
/// upsampling ratios, output channels that leave 1, 2, 4 and 8 per thread, an input whose memory
/// is not in NCHW order.
#[test]
fn the_convolution_blocks_on_wgpu_match_their_definition() {
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
    use burn::prelude::*;
    use denoise_lab::model::conv;

    let gpu = wgpu_device();
    let cpu = backend::cpu();
    let values = |n: usize, seed: u64| spread(n, seed, 2.0);
    let tensor = |shape: [usize; 4], seed: u64, device: &Device| {
        Tensor::<4>::from_data(TensorData::new(values(shape.iter().product(), seed), shape), device)
    };
    // Stored NHWC, used as NCHW: a permuted view, as burn's GPU activations are.
    let nhwc = |[b, c, h, w]: [usize; 4], seed: u64, device: &Device| {
        tensor([b, h, w, c], seed, device).permute([0, 3, 1, 2])
    };
    let conv = |cin: usize, cout: usize, stride: usize, seed: u64, device: &Device| -> Conv2d {
        let mut c = Conv2dConfig::new([cin, cout], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(device);
        c.weight = c.weight.map(|_| tensor([cout, cin, 3, 3], seed, device).mul_scalar(0.3));
        c.bias = c
            .bias
            .map(|p| p.map(|_| Tensor::from_data(TensorData::new(values(cout, seed + 1), [cout]), device)));
        c
    };
    type Case<'a> = (&'static str, Box<dyn Fn(&Device) -> Vec<Tensor<4>> + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "the first convolution (1 -> 8): y, silu(y)",
            Box::new(move |d| {
                let (y, a) = conv::block(&conv(1, 8, 1, 1, d), tensor([2, 1, 28, 28], 2, d));
                vec![y, a]
            }),
        ),
        (
            "down (stride 2, odd sizes, 6 -> 12)",
            Box::new(move |d| {
                let (y, a) = conv::block(&conv(6, 12, 2, 3, d), nhwc([3, 6, 11, 8], 4, d));
                vec![y, a]
            }),
        ),
        (
            "the last convolution (8 -> 1)",
            Box::new(move |d| vec![conv::out_block(&conv(8, 1, 1, 5, d), nhwc([2, 8, 7, 9], 6, d))]),
        ),
        (
            "a residual block's second (6 -> 6)",
            Box::new(move |d| {
                vec![conv::res_block(
                    &conv(6, 6, 1, 7, d),
                    nhwc([2, 6, 9, 7], 8, d),
                    tensor([2, 6, 9, 7], 9, d),
                )]
            }),
        ),
        (
            "up (4x3 upsampled to 7x5 beside a skip, 6 + 3 -> 16)",
            Box::new(move |d| {
                let (y, a) = conv::up_block(
                    &conv(9, 16, 1, 10, d),
                    nhwc([2, 6, 4, 3], 11, d),
                    tensor([2, 3, 7, 5], 12, d),
                );
                vec![y, a]
            }),
        ),
        (
            "a residual block's first, conditioned (16 -> 16, d = 5)",
            Box::new(move |d| {
                let mut layer: Linear = LinearConfig::new(5, 16).init(d);
                layer.weight =
                    layer.weight.map(|_| Tensor::from_data(TensorData::new(values(5 * 16, 13), [5, 16]), d));
                layer.bias = layer
                    .bias
                    .map(|p| p.map(|_| Tensor::from_data(TensorData::new(values(16, 17), [16]), d)));
                let cond = Tensor::<2>::from_data(TensorData::new(values(3 * 5, 14), [3, 5]), d);
                vec![conv::cond_block(&conv(16, 16, 1, 15, d), nhwc([3, 16, 6, 5], 16, d), &layer, cond)]
            }),
        ),
    ];
    for (what, run) in &cases {
        for (k, (want, got)) in run(&cpu).into_iter().zip(run(&gpu)).enumerate() {
            let (want, got) = (backend::read_blocking(want).unwrap(), backend::read_blocking(got).unwrap());
            assert_eq!(want.len(), got.len(), "{what}, output {k}: size");
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let err = want.iter().zip(&got).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            eprintln!("{what}, output {k}: max error {err:.2e} of {scale:.2e}");
            assert!(err <= 1e-5 * scale, "{what}, output {k}: differs by {err} (largest {scale})");
        }
    }
}

/// Training through the blocks (their own backward, src/model/conv.rs) gives the outputs and the
/// gradients burn's autodiff gives through the same computation written with burn's operations,
/// on the CPU backend and on wgpu (where each block but the way up runs its kernel forward), to
/// 1e-5 relative to the largest value: every input's, the convolution's weight and bias, the
/// conditioning Linear's weight and bias.
#[test]
fn the_convolution_blocks_train_as_their_definition() {
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
    use burn::prelude::*;
    use burn::tensor::activation::silu;
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    use denoise_lab::model::conv;

    let values = |n: usize, seed: u64| spread(n, seed, 2.0);
    let tensor = |shape: [usize; 4], seed: u64, d: &Device| {
        Tensor::<4>::from_data(TensorData::new(values(shape.iter().product(), seed), shape), d).require_grad()
    };
    let conv = |cin: usize, cout: usize, stride: usize, d: &Device| -> Conv2d {
        let mut c = Conv2dConfig::new([cin, cout], [3, 3])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(d);
        c.weight = c.weight.map(|_| {
            Tensor::from_data(TensorData::new(values(cout * cin * 9, 21), [cout, cin, 3, 3]), d)
                .mul_scalar(0.3)
                .require_grad()
        });
        c.bias = c.bias.map(|p| {
            p.map(|_| Tensor::from_data(TensorData::new(values(cout, 22), [cout]), d).require_grad())
        });
        c
    };
    let linear = |din: usize, dout: usize, d: &Device| -> Linear {
        let mut l: Linear = LinearConfig::new(din, dout).init(d);
        l.weight = l.weight.map(|_| {
            Tensor::from_data(TensorData::new(values(din * dout, 23), [din, dout]), d).require_grad()
        });
        l.bias = l.bias.map(|p| {
            p.map(|_| Tensor::from_data(TensorData::new(values(dout, 24), [dout]), d).require_grad())
        });
        l
    };
    // sum(out_k * r_k) over the outputs, and the gradients of the inputs and the parameters.
    let read = |t: Tensor<4>| backend::read_blocking(t).unwrap();
    let read1 = |t: Tensor<1>| backend::read_blocking(t).unwrap();
    let read2 = |t: Tensor<2>| backend::read_blocking(t).unwrap();
    let run = |d: &Device, kind: &str, ours: bool| -> Vec<Vec<f32>> {
        let x = tensor([2, 6, 9, 7], 31, d);
        let (c, outs, extra, layer, cond): (
            Conv2d,
            Vec<Tensor<4>>,
            Option<Tensor<4>>,
            Option<Linear>,
            Option<Tensor<2>>,
        ) = match kind {
            "block" => {
                let c = conv(6, 8, 2, d);
                let (y, a) = if ours {
                    conv::block(&c, x.clone())
                } else {
                    let y = c.forward(x.clone());
                    (y.clone(), silu(y))
                };
                (c, vec![y, a], None, None, None)
            }
            "out" => {
                let c = conv(6, 1, 1, d);
                let y = if ours { conv::out_block(&c, x.clone()) } else { c.forward(x.clone()) };
                (c, vec![y], None, None, None)
            }
            "res" => {
                let c = conv(6, 6, 1, d);
                let r = tensor([2, 6, 9, 7], 32, d);
                let a = if ours {
                    conv::res_block(&c, x.clone(), r.clone())
                } else {
                    silu(r.clone() + c.forward(x.clone()))
                };
                (c, vec![a], Some(r), None, None)
            }
            "cond" => {
                let c = conv(6, 6, 1, d);
                let l = linear(5, 6, d);
                let cond = Tensor::<2>::from_data(TensorData::new(values(10, 33), [2, 5]), d).require_grad();
                let a = if ours {
                    conv::cond_block(&c, x.clone(), &l, cond.clone())
                } else {
                    silu(c.forward(x.clone()) + l.forward(silu(cond.clone())).reshape([2, 6, 1, 1]))
                };
                (c, vec![a], None, Some(l), Some(cond))
            }
            // Two conditioned blocks on one conditioning vector: its gradient is summed over
            // both (the second block's kernel adds the first's).
            "cond twice" => {
                let c = conv(6, 6, 1, d);
                let l = linear(5, 6, d);
                let cond = Tensor::<2>::from_data(TensorData::new(values(10, 33), [2, 5]), d).require_grad();
                let x2 = x.clone().mul_scalar(0.5).flip([2]);
                let outs = if ours {
                    vec![
                        conv::cond_block(&c, x.clone(), &l, cond.clone()),
                        conv::cond_block(&c, x2, &l, cond.clone()),
                    ]
                } else {
                    let shift = || l.forward(silu(cond.clone())).reshape([2, 6, 1, 1]);
                    vec![silu(c.forward(x.clone()) + shift()), silu(c.forward(x2) + shift())]
                };
                (c, outs, None, Some(l), Some(cond))
            }
            _ => {
                let c = conv(6 + 3, 8, 1, d);
                let skip = tensor([2, 3, 17, 13], 34, d);
                let (y, a) = if ours {
                    conv::up_block(&c, x.clone(), skip.clone())
                } else {
                    let opts = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([17, 13]);
                    let y = c.forward(Tensor::cat(vec![interpolate(x.clone(), opts), skip.clone()], 1));
                    (y.clone(), silu(y))
                };
                (c, vec![y, a], Some(skip), None, None)
            }
        };
        let mut loss = None;
        let mut got = Vec::new();
        for (k, out) in outs.into_iter().enumerate() {
            let r = Tensor::<4>::from_data(
                TensorData::new(values(out.shape().num_elements(), 40 + k as u64), out.dims()),
                d,
            );
            got.push(read(out.clone()));
            let term = (out * r).sum();
            loss = Some(match loss {
                Some(l) => l + term,
                None => term,
            });
        }
        let grads = loss.unwrap().backward();
        got.push(read(x.grad(&grads).unwrap()));
        got.push(read(c.weight.val().grad(&grads).unwrap()));
        got.push(read1(c.bias.as_ref().unwrap().val().grad(&grads).unwrap()));
        if let Some(e) = extra {
            got.push(read(e.grad(&grads).unwrap()));
        }
        if let Some(l) = layer {
            got.push(read2(l.weight.val().grad(&grads).unwrap()));
            got.push(read1(l.bias.as_ref().unwrap().val().grad(&grads).unwrap()));
            got.push(read2(cond.unwrap().grad(&grads).unwrap()));
        }
        got
    };
    let (cpu, gpu) = (backend::cpu().autodiff(), wgpu_device().autodiff());
    for kind in ["block", "out", "res", "cond", "cond twice", "up"] {
        let want = run(&cpu, kind, false);
        for (device, what) in [(&cpu, "cpu"), (&gpu, "wgpu")] {
            assert_close(&format!("{kind} on {what}"), &want, &run(device, kind, true));
        }
    }
}

/// Pieces of a flat tensor copied out several per dispatch (src/unpack.rs, how the optimiser hands
/// the biases back) are those pieces: 10 ranges (two dispatches, the second with unused slots), of
/// lengths from 1 to 200 (more than one workgroup), unaligned starts, on wgpu and on the CPU.
#[test]
fn unpacked_pieces_are_the_slices() {
    use burn::prelude::*;
    let flat: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 3.0).collect();
    let ranges = [3..11, 11..12, 64..128, 130..330, 500..501, 7..70, 999..1000, 0..5, 640..705, 300..365];
    for device in [wgpu_device(), backend::cpu()] {
        let t = Tensor::<1>::from_data(TensorData::new(flat.clone(), [flat.len()]), &device);
        let pieces = denoise_lab::unpack::unpack(&t, &ranges);
        assert_eq!(pieces.len(), ranges.len());
        for (piece, r) in pieces.into_iter().zip(&ranges) {
            assert_eq!(
                backend::read_blocking(piece).unwrap(),
                flat[r.clone()].to_vec(),
                "{device:?}: range {r:?}"
            );
        }
    }
}

/// The level embedding (src/model/embedding.rs: one kernel forward, two backward on a GPU, a node
/// of its own in training) gives the values and the gradients of its definition, two Linears with
/// a SiLU between, on the CPU backend and on wgpu, within 1e-5 relative to the largest value: e
/// and the gradients of both weights and both biases. d = 70 is more than a workgroup's threads.
#[test]
fn the_level_embedding_trains_as_its_definition() {
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::*;
    use burn::tensor::activation::silu;
    use denoise_lab::model::embedding;

    let (batch, n, d) = (5, 7, 70);
    let linear = |din: usize, dout: usize, seed: u64, device: &Device| -> Linear {
        let mut l: Linear = LinearConfig::new(din, dout).init(device);
        l.weight = l.weight.map(|_| {
            Tensor::from_data(TensorData::new(spread(din * dout, seed, 0.5), [din, dout]), device)
                .require_grad()
        });
        l.bias = l.bias.map(|p| {
            p.map(|_| {
                Tensor::from_data(TensorData::new(spread(dout, seed + 1, 0.5), [dout]), device).require_grad()
            })
        });
        l
    };
    let run = |device: &Device, ours: bool| -> Vec<Vec<f32>> {
        let (fc1, fc2) = (linear(n, d, 51, device), linear(d, d, 53, device));
        let f = Tensor::<2>::from_data(TensorData::new(spread(batch * n, 55, 1.0), [batch, n]), device);
        let e = if ours { embedding::forward(&fc1, &fc2, f) } else { fc2.forward(silu(fc1.forward(f))) };
        let r = Tensor::<2>::from_data(TensorData::new(spread(batch * d, 57, 1.0), [batch, d]), device);
        let grads = (e.clone() * r).sum().backward();
        let mut got = vec![backend::read_blocking(e).unwrap()];
        for l in [&fc1, &fc2] {
            got.push(backend::read_blocking(l.weight.val().grad(&grads).unwrap()).unwrap());
            got.push(backend::read_blocking(l.bias.as_ref().unwrap().val().grad(&grads).unwrap()).unwrap());
        }
        got
    };
    let (cpu, gpu) = (backend::cpu().autodiff(), wgpu_device().autodiff());
    let want = run(&cpu, false);
    for (device, what) in [(&cpu, "cpu"), (&gpu, "wgpu")] {
        assert_close(&format!("embedding on {what}"), &want, &run(device, true));
    }
}

/// The per-sample squared error (src/model/squared_error.rs: one kernel forward on a GPU, a node
/// of its own in training) gives the values and gradients of its definition, on the CPU backend
/// and on wgpu, within 1e-5 relative: the losses and both inputs' gradients. yhat is a permuted
/// view (channels-last memory, as the U-Net's blocks write theirs) and a sample has more values
/// than a workgroup's threads.
#[test]
fn the_squared_error_trains_as_its_definition() {
    use burn::prelude::*;
    use denoise_lab::model::squared_error;

    let (b, c, h, w) = (3, 2, 9, 7);
    let run = |device: &Device, ours: bool| -> Vec<Vec<f32>> {
        let n = b * c * h * w;
        let y =
            Tensor::<4>::from_data(TensorData::new(spread(n, 61, 1.0), [b, c, h, w]), device).require_grad();
        let yhat =
            Tensor::<4>::from_data(TensorData::new(spread(n, 63, 1.0), [b, h, w, c]), device).require_grad();
        let yhat_nchw = yhat.clone().permute([0, 3, 1, 2]);
        let loss = if ours {
            squared_error::per_sample(y.clone(), yhat_nchw)
        } else {
            (y.clone() - yhat_nchw).powi_scalar(2).flatten::<2>(1, 3).mean_dim(1).flatten(0, 1)
        };
        let r = Tensor::<1>::from_data(TensorData::new(spread(b, 65, 1.0), [b]), device);
        // A weighted sum, and a mean (whose gradient is a broadcast, as in training).
        let grads = ((loss.clone() * r).sum() + loss.clone().mean().mul_scalar(3.0)).backward();
        vec![
            backend::read_blocking(loss).unwrap(),
            backend::read_blocking(y.grad(&grads).unwrap()).unwrap(),
            backend::read_blocking(yhat.grad(&grads).unwrap()).unwrap(),
        ]
    };
    let (cpu, gpu) = (backend::cpu().autodiff(), wgpu_device().autodiff());
    let want = run(&cpu, false);
    for (device, what) in [(&cpu, "cpu"), (&gpu, "wgpu")] {
        assert_close(&format!("squared error on {what}"), &want, &run(device, true));
    }
}
