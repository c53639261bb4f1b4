//! Which device the tensors live on. The core is the same for all of them: burn 0.22 tensors are
//! device-dispatched, so choosing a backend is choosing a `Device` value.

use burn::prelude::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's pure-Rust CPU backend (Flex). The CLI calls it `ndarray` too, for the wording.
    Cpu,
    /// wgpu: Vulkan/Metal/DX12 natively (lavapipe on a machine without GPU), WebGPU in a browser.
    Gpu,
}

impl std::str::FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" | "flex" | "ndarray" => Ok(BackendKind::Cpu),
            "gpu" | "wgpu" | "webgpu" => Ok(BackendKind::Gpu),
            other => Err(Error::Config(format!("unknown backend '{other}' (use cpu/ndarray/flex or wgpu)"))),
        }
    }
}

/// The pure-Rust CPU device.
pub fn cpu() -> Device {
    Device::flex()
}

/// The native wgpu device (synchronously: native only). The runtime can be registered once per
/// process, so the first call initialises it and later calls (other threads too) share it.
#[cfg(not(target_arch = "wasm32"))]
pub fn wgpu() -> Result<Device> {
    static WGPU: std::sync::OnceLock<Result<Device>> = std::sync::OnceLock::new();
    WGPU.get_or_init(|| {
        Device::wgpu_options().init().map_err(|e| Error::Backend(format!("no wgpu adapter: {e}")))
    })
    .clone()
}

/// Dispatches recorded into one command buffer before cubecl submits it (its default is 32):
/// more than a training step issues, so a full queue never splits a step. cubecl also submits
/// before every upload, which is why a step flushes the previous one's work, then uploads its
/// inputs before any kernel (`Trainer::train_step`): one submit per step (bench/gpu-count.mjs).
/// Training steps are queued without any readback, so batching more of them delays nothing.
pub const TASKS_PER_SUBMIT: usize = 1024;

/// Initialise the browser's WebGPU runtime. Must be awaited before the first tensor op: a lazy
/// initialisation would block, which wasm cannot do.
pub async fn wgpu_async() -> Result<Device> {
    Device::wgpu_options()
        .tasks_max(TASKS_PER_SUBMIT)
        .init_async()
        .await
        .map_err(|e| Error::Backend(format!("no WebGPU adapter: {e}")))
}

/// A device of the requested kind (native).
#[cfg(not(target_arch = "wasm32"))]
pub fn device(kind: BackendKind) -> Result<Device> {
    match kind {
        BackendKind::Cpu => Ok(cpu()),
        BackendKind::Gpu => wgpu(),
    }
}

/// A float tensor's values, read back from its device in one asynchronous read (the browser's
/// way; natively it waits).
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data_async().await.map_err(Error::backend)?.try_to_vec::<f32>().map_err(Error::backend)
}

/// The same, blocking (native only: a browser cannot block).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_blocking<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_data().map_err(Error::backend)?.try_to_vec::<f32>().map_err(Error::backend)
}

/// A short human-readable description of a device ("cpu (flex)", "wgpu: llvmpipe ...").
pub fn describe(device: &Device) -> String {
    format!("{device:?}")
}

/// burn's fusion settings for the browser: set when the wasm module starts, before any tensor
/// operation reads burn's configuration (a later call keeps what was set first).
///
/// The fusion search follows at most [`FUSION_MAX_BLOCKS`] independent blocks of operations.
/// Counted with `bench/gpu-count.mjs` (L = 10, batch 16, 8 channels; dispatches per denoiser
/// step / CVAE step): 2 -> 284 / 376, 3 -> 280 / 373, 4 -> 464 / 554, burn's default 5 -> 281 /
/// 554, 20 -> 497 / 582. With 5 the CVAE's backward left its decoder's element-wise chains
/// unfused (~180 single-operation kernels per step).
#[cfg(target_arch = "wasm32")]
pub fn configure_fusion() {
    use burn_std::config::{BurnConfig, RuntimeConfig};
    let config: BurnConfig = serde_json::from_value(
        serde_json::json!({ "fusion": { "beam_search": { "max_blocks": FUSION_MAX_BLOCKS } } }),
    )
    .expect("a valid burn configuration");
    let _ = BurnConfig::try_set(config);
}

/// Independent blocks of operations burn's fusion search follows at once (its default is 5).
pub const FUSION_MAX_BLOCKS: usize = 3;

/// Await `f`, adding the time of its first poll to `spent`. For a readback that first poll does
/// the host's part of the work queued before it (running the queued operations, recording their
/// dispatches, submitting them); the later polls only find the device's result ready.
pub async fn timing_first_poll<F: std::future::Future>(f: F, spent: &mut web_time::Duration) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut first = true;
    std::future::poll_fn(|cx| {
        let start = web_time::Instant::now();
        let polled = f.as_mut().poll(cx);
        if std::mem::take(&mut first) {
            *spent += start.elapsed();
        }
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    /// A future busy for `first` in its first poll and for `later` in its second, then ready.
    struct Busy {
        polls: u32,
        first: web_time::Duration,
        later: web_time::Duration,
    }

    impl std::future::Future for Busy {
        type Output = u32;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls += 1;
            std::thread::sleep(if self.polls == 1 { self.first } else { self.later });
            if self.polls == 2 {
                Poll::Ready(7)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn timing_first_poll_counts_only_the_first_poll() {
        let ms = web_time::Duration::from_millis;
        let busy = Busy { polls: 0, first: ms(30), later: ms(200) };
        let mut spent = ms(5);
        let out = {
            let mut timed = std::pin::pin!(timing_first_poll(busy, &mut spent));
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(v) = timed.as_mut().poll(&mut cx) {
                    break v;
                }
            }
        };
        assert_eq!(out, 7);
        assert!(spent >= ms(35) && spent < ms(200), "{spent:?}: 5 ms before, 30 ms in the first poll");
    }
}
