//! The browser API (wasm-bindgen), used from the Web Worker in `www/worker.js`.
//!
//! Nothing here blocks: WebGPU is initialised with `init_async` before the first tensor op, and
//! every readback is async and batched (`flush` reads all queued steps' statistics at once,
//! `sample` reads a whole chain at once). Calls must not overlap: the worker serialises them.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::Device;
use js_sys::{Float32Array, Object, Reflect, Uint8Array, Uint32Array};
use wasm_bindgen::prelude::*;

use crate::backend;
use crate::checkpoint;
use crate::data::Dataset;
use crate::error::Error;
use crate::metrics;
use crate::model::ModelKind;
use crate::sampler::{Chain, SamplerKind, display_levels};
use crate::train::{TrainConfig, Trainer};

unsafe extern "C" {
    /// The static constructors wasm-ld synthesises (here: `inventory` registrations in cubecl's
    /// IR dialects).
    fn __wasm_call_ctors();
}

/// Runs once, when the module is instantiated.
///
/// Calling `__wasm_call_ctors` from an export matters for speed: a module whose exports never
/// call it is linked "command-style", and wasm-ld then wraps EVERY export (including the
/// `__externref_table_alloc` the JS glue calls for each object passed in) in a call to all
/// constructors. That made queuing one training step take ~20 s in the browser. See the `inventory` crate's
/// "WebAssembly and constructors" notes.
#[wasm_bindgen(start)]
pub fn start() {
    // SAFETY: called once, before any other export (wasm-bindgen runs the start function right
    // after instantiation); the constructors are idempotent `inventory` submissions.
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

thread_local! {
    /// The WebGPU runtime can be initialised once per worker; later sessions reuse its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// A value as a JSON string for the page (plain data: serialising it does not fail in practice).
fn to_json(value: &impl serde::Serialize) -> Result<String, JsValue> {
    serde_json::to_string(value).map_err(|e| js_err(Error::Config(format!("not serialisable: {e}"))))
}

/// A core error as a JS `Error` whose `kind` field is `Error::kind()` (config, data, checkpoint,
/// diverged, backend, io): the worker switches on the kind, never on the message text.
fn js_err(e: impl Into<Error>) -> JsValue {
    let e: Error = e.into();
    let js = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&js, &JsValue::from_str("kind"), &JsValue::from_str(e.kind()));
    js.into()
}

async fn device_for(backend_name: &str) -> Result<Device, JsValue> {
    match backend_name {
        "cpu" => Ok(backend::cpu()),
        "webgpu" => {
            if let Some(d) = WEBGPU.with(|w| w.borrow().clone()) {
                return Ok(d);
            }
            let d = backend::wgpu_async().await.map_err(js_err)?;
            WEBGPU.with(|w| *w.borrow_mut() = Some(d.clone()));
            Ok(d)
        }
        other => Err(js_err(Error::Config(format!("unknown backend '{other}' (webgpu or cpu)")))),
    }
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Parse IDX bytes into a dataset (exposed so the page can validate a file before using it).
#[wasm_bindgen(js_name = parseDataset)]
pub fn parse_dataset(images: &[u8], labels: Option<Vec<u8>>) -> Result<JsValue, JsValue> {
    let d = Dataset::from_idx(images, labels.as_deref()).map_err(js_err)?;
    let obj = Object::new();
    set(&obj, "n", d.n as u32);
    set(&obj, "h", d.h as u32);
    set(&obj, "w", d.w as u32);
    Ok(obj.into())
}

/// Checkpoint metadata as JSON (model, L, step, and the saved loss history `[{step, loss, kl,
/// nll}]` so the page can redraw the loss curve of a resumed run), without building anything.
#[wasm_bindgen(js_name = checkpointInfo)]
pub fn checkpoint_info(bytes: &[u8]) -> Result<String, JsValue> {
    let meta = checkpoint::read_meta(bytes).map_err(js_err)?;
    let v = serde_json::json!({
        "config": meta.config,
        "step": meta.step,
        "height": meta.height,
        "width": meta.width,
        "history": meta.history,
    });
    Ok(v.to_string())
}

/// Default `a` for L levels (a^L = 0.01), for the page's controls.
#[wasm_bindgen(js_name = defaultA)]
pub fn default_a(levels: u32) -> f64 {
    crate::Schedule::default_a(levels as usize)
}

/// The JS `Trainer` class: `Trainer.create(config, images, labels, backend)` (async: WebGPU
/// initialises asynchronously), `step(n)`, `flush()`, `sample(...)`, `lossHistory()`,
/// `export()`, and `Trainer.fromCheckpoint(bytes, ...)` (import).
#[wasm_bindgen(js_name = Trainer)]
pub struct Session {
    inner: Rc<RefCell<Trainer>>,
    data: Rc<Dataset>,
    backend: String,
}

/// Read a chain back (one async read) and package it for the page.
async fn chain_to_js(chain: Chain, h: usize, w: usize, mean_image: &[f32]) -> Result<JsValue, JsValue> {
    let obj = Object::new();
    let n = chain.batch;
    let levels: Vec<u32> = chain.levels.iter().map(|&l| l as u32).collect();
    let pixels = chain.read().await.map_err(js_err)?;
    // Per-level diversity, so the page can show how the spread grows along the chain.
    let dim = h * w;
    let diversity: Vec<f32> =
        metrics::spread_per_level(&pixels, n, dim).into_iter().map(|d| d as f32).collect();
    let last = &pixels[(levels.len() - 1) * n * dim..];
    set(&obj, "levels", Uint32Array::from(&levels[..]));
    set(&obj, "n", n as u32);
    set(&obj, "h", h as u32);
    set(&obj, "w", w as u32);
    set(&obj, "pixels", Float32Array::from(&pixels[..]));
    set(&obj, "diversity", Float32Array::from(&diversity[..]));
    if mean_image.len() == dim {
        set(&obj, "rmsToMean", metrics::mean_rms_to(last, mean_image));
    }
    Ok(obj.into())
}

#[wasm_bindgen(js_class = Trainer)]
impl Session {
    /// Build a trainer. `config_json`: a `TrainConfig` (missing fields take defaults);
    /// `images`/`labels`: IDX bytes (gzipped or not); `backend`: "webgpu" or "cpu".
    pub async fn create(
        config_json: String,
        images: Vec<u8>,
        labels: Option<Vec<u8>>,
        backend: String,
    ) -> Result<Session, JsValue> {
        let config: TrainConfig = serde_json::from_str(&config_json)
            .map_err(|e| js_err(Error::Config(format!("bad configuration: {e}"))))?;
        let data = Dataset::from_idx(&images, labels.as_deref()).map_err(js_err)?;
        let device = device_for(&backend).await?;
        let trainer = Trainer::new(config, &data, &device).map_err(js_err)?;
        Ok(Session { inner: Rc::new(RefCell::new(trainer)), data: Rc::new(data), backend })
    }

    /// Rebuild a session from checkpoint bytes. With `expect_model`/`expect_levels` set, a
    /// checkpoint for another model or L is refused with a message saying so.
    #[wasm_bindgen(js_name = fromCheckpoint)]
    pub async fn from_checkpoint(
        bytes: Vec<u8>,
        images: Vec<u8>,
        labels: Option<Vec<u8>>,
        backend: String,
        expect_model: Option<String>,
        expect_levels: Option<u32>,
    ) -> Result<Session, JsValue> {
        let data = Dataset::from_idx(&images, labels.as_deref()).map_err(js_err)?;
        let expect = match (expect_model, expect_levels) {
            (Some(m), Some(l)) => Some((m.parse::<ModelKind>().map_err(js_err)?, l as usize)),
            _ => None,
        };
        let device = device_for(&backend).await?;
        let trainer = checkpoint::import(&bytes, &data, &device, expect).map_err(js_err)?;
        Ok(Session { inner: Rc::new(RefCell::new(trainer)), data: Rc::new(data), backend })
    }

    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Training steps taken so far (exact in a JS number: the core keeps it below 2^53).
    #[wasm_bindgen(getter, js_name = currentStep)]
    pub fn current_step(&self) -> f64 {
        self.inner.borrow().step() as f64
    }

    /// "denoiser" or "cvae".
    #[wasm_bindgen(getter)]
    pub fn model(&self) -> String {
        self.inner.borrow().config.kind.name().to_string()
    }

    /// Configuration, schedule and sizes as JSON.
    pub fn info(&self) -> String {
        let t = self.inner.borrow();
        serde_json::json!({
            "config": t.config,
            "a": t.schedule.a,
            "levels": t.schedule.levels,
            "step": t.step(),
            "height": t.height,
            "width": t.width,
            "nData": self.data.n,
            "nHeldOut": t.held_out().n,
            "backend": self.backend,
        })
        .to_string()
    }

    /// Memory as JSON, for the soak benchmark and the page's status line: the device allocator's
    /// live allocations and bytes (burn's memory-pool usage: GPU buffers on WebGPU; null on the
    /// CPU backend, which has no pool) and the wasm linear memory in bytes.
    pub fn memory(&self) -> String {
        let usage = self.inner.borrow().device().memory_pool_usage();
        let wasm_bytes = wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .ok()
            .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
            .map(|b| b.byte_length());
        serde_json::json!({
            "allocations": usage.map(|u| u.number_allocs),
            "bytesInUse": usage.map(|u| u.bytes_in_use),
            "bytesReserved": usage.map(|u| u.bytes_reserved),
            "wasmBytes": wasm_bytes,
        })
        .to_string()
    }

    /// Queue `n` training steps (no readback: `flush` reads their statistics).
    pub fn step(&self, n: u32) {
        self.inner.borrow_mut().train_steps(n as usize);
    }

    /// Every flushed step's statistics so far, as JSON `[{step, loss, kl, nll}, ...]` (restored
    /// from a checkpoint too).
    #[wasm_bindgen(js_name = lossHistory)]
    pub fn loss_history(&self) -> String {
        serde_json::to_string(&self.inner.borrow().history).unwrap_or_else(|_| "[]".into())
    }

    #[wasm_bindgen(js_name = setLearningRate)]
    pub fn set_learning_rate(&self, lr: f64) -> Result<(), JsValue> {
        self.inner.borrow_mut().set_lr(lr).map_err(js_err)
    }

    /// Read the queued steps' statistics (one readback). JSON: {step, steps: [{step, loss, kl,
    /// nll}], levelLoss: [...]}. Rejects with a clear message if training diverged (the last
    /// good weights are then restored).
    // The borrow is held across the await: safe only because www/worker.js sends every call
    // into the wasm through `serial()`, one at a time (a second call during this one would
    // panic on the RefCell). The bridge should not rely on its caller for this; see README.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn flush(&self) -> Result<String, JsValue> {
        let inner = self.inner.clone();
        let mut t = inner.borrow_mut();
        let report = t.flush().await.map_err(js_err)?;
        Ok(serde_json::json!({
            "step": t.step(),
            "steps": report.steps,
            "levelLoss": t.level_loss,
        })
        .to_string())
    }

    /// Sample `n` chains with a sampler ("deterministic", "stochastic[:sigma]", "ddim",
    /// "cvae[:noisy]"), from z_L drawn with `seed`, keeping at most `columns` levels.
    /// Returns {levels, n, h, w, pixels (level-major), diversity (per level), rmsToMean}.
    pub async fn sample(&self, sampler: String, n: u32, seed: u32, columns: u32) -> Result<JsValue, JsValue> {
        let kind = SamplerKind::parse(&sampler).map_err(js_err)?;
        let (chain, h, w, mean) = {
            let t = self.inner.borrow();
            let keep = display_levels(t.schedule.levels, columns as usize);
            let chain = t.sample(kind, n as usize, seed as u64, &keep).map_err(js_err)?;
            (chain, t.height, t.width, t.mean_image().to_vec())
        };
        chain_to_js(chain, h, w, &mean).await
    }

    /// The forward process on held-out digits: y = z_0, ..., z_L (at most `columns` levels).
    #[wasm_bindgen(js_name = forwardProcess)]
    pub async fn forward_process(&self, n: u32, seed: u32, columns: u32) -> Result<JsValue, JsValue> {
        let (chain, h, w) = {
            let t = self.inner.borrow();
            let mut keep = display_levels(t.schedule.levels, columns as usize);
            keep.reverse();
            (t.forward_process(n as usize, seed as u64, &keep), t.height, t.width)
        };
        chain_to_js(chain, h, w, &[]).await
    }

    /// The mean training image (quiz (a): what yhat(z_L, L) converges to).
    #[wasm_bindgen(js_name = meanImage)]
    pub fn mean_image(&self) -> Float32Array {
        Float32Array::from(self.inner.borrow().mean_image())
    }

    /// Mean pairwise distance of `n` held-out real digits: the diversity samplers compare with.
    #[wasm_bindgen(js_name = realDiversity)]
    pub fn real_diversity(&self, n: u32) -> f64 {
        let t = self.inner.borrow();
        let held = t.held_out();
        let n = (n as usize).min(held.n);
        metrics::mean_pairwise_distance(&held.pixels[..n * held.image_len()], held.image_len())
    }

    /// Checkpoint bytes (one async readback of every weight and optimizer moment).
    // The borrow is held across the await: safe only because www/worker.js sends every call
    // into the wasm through `serial()`, one at a time (a second call during this one would
    // panic on the RefCell). The bridge should not rely on its caller for this; see README.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn export(&self) -> Result<Uint8Array, JsValue> {
        let inner = self.inner.clone();
        let t = inner.borrow();
        let bytes = checkpoint::export(&t).await.map_err(js_err)?;
        Ok(Uint8Array::from(&bytes[..]))
    }
}

/// The JS `Metrics` class: the digit classifier and the statistics of held-out real
/// digits, so the page can measure any sample set while training. One instance serves every
/// trainer of the worker (scenario 4 trains two).
///
/// `Metrics.create(classifierBytes, trainer, referenceN)` loads the weights on the trainer's
/// device and embeds `referenceN` of its held-out digits (async, one read). `measure(trainer,
/// sampler, n, seed)` samples `n` final images and returns their `SampleMetrics` as JSON;
/// `measureReal(trainer, n)` does the same for `n` real training digits (the floor of each
/// figure at this sample size); `reference()` gives the held-out set's own figures.
#[wasm_bindgen]
pub struct Metrics {
    classifier: crate::metrics::Classifier,
    reference: metrics::Reference,
    /// Held-out accuracy recorded in the classifier file when it was trained.
    accuracy: f64,
    device: Device,
}

#[wasm_bindgen]
impl Metrics {
    pub async fn create(
        classifier_bytes: Vec<u8>,
        trainer: &Session,
        reference_n: u32,
    ) -> Result<Metrics, JsValue> {
        // Copy only the reference digits out of the borrow (it must not live across an await).
        let (device, reference_px) = {
            let t = trainer.inner.borrow();
            let held = t.held_out();
            let side = crate::metrics::classifier::SIDE;
            if held.h != side || held.w != side {
                return Err(js_err(Error::Config(format!(
                    "the digit classifier needs {side}x{side} images; these are {}x{}, so there are no sample metrics",
                    held.h, held.w
                ))));
            }
            let r = (reference_n as usize).min(held.n);
            (t.device(), held.pixels[..r * held.image_len()].to_vec())
        };
        let (classifier, meta) =
            crate::metrics::Classifier::from_bytes_with_meta(&classifier_bytes, &device).map_err(js_err)?;
        let reference =
            metrics::Reference::compute_async(&classifier, &reference_px, &device).await.map_err(js_err)?;
        Ok(Metrics { classifier, reference, accuracy: meta.held_out_accuracy, device })
    }

    /// The reference (held-out real digits) figures as JSON: {n, histogram, entropy_nats,
    /// diversity, classifier_accuracy}.
    pub fn reference(&self) -> String {
        let r = &self.reference;
        serde_json::json!({
            "n": r.n,
            "histogram": r.histogram,
            "entropy_nats": r.entropy_nats,
            "diversity": r.diversity,
            "classifier_accuracy": self.accuracy,
        })
        .to_string()
    }

    /// Sample `n` final images with `sampler` from `trainer` (z_L drawn with `seed`) and measure
    /// them: JSON `SampleMetrics` {n, frechet, histogram, entropy_nats, diversity}.
    pub async fn measure(
        &self,
        trainer: &Session,
        sampler: String,
        n: u32,
        seed: u32,
    ) -> Result<String, JsValue> {
        let kind = SamplerKind::parse(&sampler).map_err(js_err)?;
        let chain = trainer.inner.borrow().sample(kind, n as usize, seed as u64, &[0]).map_err(js_err)?;
        let pixels = chain.read().await.map_err(js_err)?;
        self.measure_pixels(&pixels).await
    }

    /// `n` real training digits (never in the reference) measured like a sample set.
    #[wasm_bindgen(js_name = measureReal)]
    pub async fn measure_real(&self, trainer: &Session, n: u32) -> Result<String, JsValue> {
        let pixels = {
            let t = trainer.inner.borrow();
            let (train, _) = t.config.split(&trainer.data);
            let k = (n as usize).min(train.n);
            train.pixels[..k * train.image_len()].to_vec()
        };
        self.measure_pixels(&pixels).await
    }
}

impl Metrics {
    /// The sample metrics of `pixels` (final images) against the reference, as JSON.
    async fn measure_pixels(&self, pixels: &[f32]) -> Result<String, JsValue> {
        let m =
            metrics::SampleMetrics::measure_async(&self.classifier, pixels, &self.reference, &self.device)
                .await
                .map_err(js_err)?;
        to_json(&m)
    }
}

/// One quiz scenario by name or number (1..4, any letter case) as JSON; an error of kind "config"
/// naming the known ones otherwise.
#[wasm_bindgen(js_name = scenario)]
pub fn scenario(name: &str) -> Result<String, JsValue> {
    let sc = crate::scenario::by_name(name).map_err(js_err)?;
    to_json(&sc)
}

/// The quiz scenarios (name, title, caption, models, panels, ...) as JSON, for the page's presets.
#[wasm_bindgen(js_name = scenarios)]
pub fn scenarios() -> String {
    serde_json::to_string(&crate::scenario::all()).unwrap_or_else(|_| "[]".into())
}
