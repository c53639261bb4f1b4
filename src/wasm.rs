//! The browser API (wasm-bindgen), used from the Web Worker in `www/worker/worker.js`.
//!
//! Nothing here blocks: WebGPU is initialised with `init_async` before the first tensor op, and
//! every readback is async and batched (`flush` reads all queued steps' statistics at once,
//! `sample` reads a whole chain at once). Calls must not overlap: the worker serialises them.
//!
//! One marshalling style: plain data crosses as JS objects made by serde (`to_js`, `from_js`),
//! pixels as `Float32Array`s, errors as JS `Error`s with a `kind` (`js_err`). The bridge converts;
//! the core computes.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::{Device, Tensor};
use js_sys::{Float32Array, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::backend;
use crate::checkpoint;
use crate::data::Dataset;
use crate::error::Error;
use crate::metrics::{self, Baseline};
use crate::model::ModelKind;
use crate::sampler::{Chain, SamplerKind, display_levels};
use crate::session;
use crate::train::{StepStats, TrainConfig};

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
    crate::backend::configure_fusion();
}

thread_local! {
    /// The WebGPU runtime can be initialised once per worker; later sessions reuse its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
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

/// Plain data as a JS object (maps as objects, `None` as `null`).
fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    let ser =
        serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true).serialize_maps_as_objects(true);
    value.serialize(&ser).map_err(|e| js_err(Error::Config(format!("not representable in JS: {e}"))))
}

/// Plain data from a JS object; a value of the wrong shape is an error of kind "config".
fn from_js<T: serde::de::DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(value).map_err(|e| js_err(Error::Config(format!("bad {what}: {e}"))))
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

#[derive(Serialize)]
struct DataShape {
    n: usize,
    h: usize,
    w: usize,
}

/// Parse IDX bytes into a dataset (exposed so the page can validate a file before using it):
/// `{n, h, w}`.
#[wasm_bindgen(js_name = parseDataset)]
pub fn parse_dataset(images: &[u8], labels: Option<Vec<u8>>) -> Result<JsValue, JsValue> {
    let d = Dataset::from_idx(images, labels.as_deref()).map_err(js_err)?;
    to_js(&DataShape { n: d.n, h: d.h, w: d.w })
}

#[derive(Serialize)]
struct CheckpointInfo<'a> {
    config: &'a TrainConfig,
    step: u64,
    height: usize,
    width: usize,
    history: &'a [StepStats],
}

/// Checkpoint metadata `{config, step, height, width, history}` (the saved loss history
/// `[{step, loss, kl, nll}]`, so the page can redraw the loss curve of a resumed run), without
/// building anything.
#[wasm_bindgen(js_name = checkpointInfo)]
pub fn checkpoint_info(bytes: &[u8]) -> Result<JsValue, JsValue> {
    let meta = checkpoint::read_meta(bytes).map_err(js_err)?;
    to_js(&CheckpointInfo {
        config: &meta.config,
        step: meta.step,
        height: meta.height,
        width: meta.width,
        history: &meta.history,
    })
}

/// A run the page may start on `data`: a step's work within `limits::STEP_WORK` and its memory
/// within `limits::STEP_MEMORY` (kind "config" if not; Φ* takes no training steps).
fn page_sized(c: &TrainConfig, data: &Dataset) -> Result<(), JsValue> {
    crate::limits::STEP_WORK.check(crate::limits::step_work(c.batch, c.base_channels)).map_err(js_err)?;
    if c.kind == ModelKind::Universal {
        return Ok(());
    }
    let units = crate::limits::memory_units(c.batch, c.base_channels, (data.h, data.w));
    crate::limits::STEP_MEMORY.check(units).map_err(js_err)
}

/// `chains` drawn together on model `m` within `limits::SAMPLE_MEMORY` (kind "config" if not).
fn chains_fit(m: &session::Member, chains: usize) -> Result<(), JsValue> {
    if m.kind() == ModelKind::Universal {
        return Ok(());
    }
    let units = crate::limits::memory_units(chains, m.config().base_channels, m.size());
    crate::limits::SAMPLE_MEMORY.check(units).map_err(js_err)
}

/// The JS `Session` class: a run of one or more models (`crate::session::Session`; a scenario's
/// comparison trains two). `Session.create(configs, images, labels, backend)` (async: WebGPU
/// initialises asynchronously), `step(n)`, `flush()`, `sample(...)`, `export()`, and
/// `Session.fromCheckpoint(bytes, ...)` (import).
#[wasm_bindgen]
pub struct Session {
    inner: Rc<RefCell<session::Session>>,
    data: Rc<Dataset>,
    backend: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChainMeta {
    levels: Vec<usize>,
    n: usize,
    h: usize,
    w: usize,
    /// Mean pairwise distance per kept level: how the spread grows along the chain.
    diversity: Vec<f64>,
    /// Mean RMS distance of the final images to the mean training image (sample chains only).
    rms_to_mean: Option<f64>,
}

/// Read a chain back (one async read): `{levels, n, h, w, diversity, rmsToMean, pixels}` with
/// `pixels` a level-major `Float32Array`.
async fn chain_to_js(
    chain: Chain,
    h: usize,
    w: usize,
    mean_image: Option<&[f32]>,
) -> Result<JsValue, JsValue> {
    let n = chain.batch;
    let levels = chain.levels.clone();
    let pixels = chain.read().await.map_err(js_err)?;
    chain_object(levels, n, h, w, &pixels, mean_image)
}

/// `{levels, n, h, w, diversity, rmsToMean, pixels}` of a chain read back (`pixels` level-major).
fn chain_object(
    levels: Vec<usize>,
    n: usize,
    h: usize,
    w: usize,
    pixels: &[f32],
    mean_image: Option<&[f32]>,
) -> Result<JsValue, JsValue> {
    let dim = h * w;
    let last = &pixels[(levels.len() - 1) * n * dim..];
    let meta = ChainMeta {
        diversity: metrics::spread_per_level(pixels, n, dim),
        rms_to_mean: mean_image.map(|m| metrics::mean_rms_to(last, m)),
        levels,
        n,
        h,
        w,
    };
    let obj = to_js(&meta)?;
    // Setting a property on a fresh object cannot fail.
    let _ = Reflect::set(&obj, &JsValue::from_str("pixels"), &Float32Array::from(pixels));
    Ok(obj)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info<'a> {
    /// The main model's configuration.
    config: &'a TrainConfig,
    /// Every model's configuration, main first.
    models: Vec<&'a TrainConfig>,
    /// The sampler specs the run can show (`Session::samplers`).
    samplers: Vec<String>,
    /// The same by the model they run on (`Session::sampler_groups`): what `sampleMany` draws together.
    sampler_groups: Vec<Vec<String>>,
    a: f64,
    levels: usize,
    step: u64,
    height: usize,
    width: usize,
    n_data: usize,
    n_held_out: usize,
    backend: &'a str,
}

#[derive(Serialize)]
struct ModelSteps<'a> {
    model: &'static str,
    steps: &'a [StepStats],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Flushed<'a> {
    step: u64,
    /// The main model's flushed steps.
    steps: &'a [StepStats],
    /// The main model's running loss per level (index l - 1).
    level_loss: &'a [Option<f64>],
    /// The compared models' flushed steps.
    others: Vec<ModelSteps<'a>>,
    /// The wasm's own time for these steps, in ms (`Session::host_time`).
    host_ms: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Memory {
    allocations: Option<u64>,
    bytes_in_use: Option<u64>,
    bytes_reserved: Option<u64>,
    wasm_bytes: Option<u32>,
}

#[wasm_bindgen]
impl Session {
    /// Build a run. `configs`: an array of `TrainConfig` objects (missing fields take defaults),
    /// the main model first; `images`/`labels`: IDX bytes (gzipped or not); `backend`: "webgpu"
    /// or "cpu".
    pub async fn create(
        configs: JsValue,
        images: Vec<u8>,
        labels: Option<Vec<u8>>,
        backend: String,
    ) -> Result<Session, JsValue> {
        let configs: Vec<TrainConfig> = from_js(configs, "configuration")?;
        let data = Dataset::from_idx(&images, labels.as_deref()).map_err(js_err)?;
        for c in &configs {
            page_sized(c, &data)?;
        }
        let device = device_for(&backend).await?;
        let run = session::Session::new(&configs, &data, &device).map_err(js_err)?;
        Ok(Session { inner: Rc::new(RefCell::new(run)), data: Rc::new(data), backend })
    }

    /// Rebuild a run from checkpoint bytes (its main model), with the models of `alongside` (an
    /// array of `TrainConfig`s, e.g. Φ*; null for none) beside it. With `expect_model`/
    /// `expect_levels` set, a checkpoint for another model or L is refused with a message saying
    /// so. `alongside_checkpoints` (null, or an array by the index of `alongside` of checkpoint
    /// bytes or null): a model beside the main one that resumes from its own checkpoint, which
    /// must be for that model and L (a lesson's second trained model).
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = fromCheckpoint)]
    pub async fn from_checkpoint(
        bytes: Vec<u8>,
        images: Vec<u8>,
        labels: Option<Vec<u8>>,
        backend: String,
        expect_model: Option<String>,
        expect_levels: Option<u32>,
        alongside: JsValue,
        alongside_checkpoints: JsValue,
    ) -> Result<Session, JsValue> {
        let alongside: Vec<TrainConfig> = if alongside.is_null() || alongside.is_undefined() {
            Vec::new()
        } else {
            from_js(alongside, "configuration")?
        };
        let mut alongside_bytes: Vec<Option<Vec<u8>>> =
            if alongside_checkpoints.is_null() || alongside_checkpoints.is_undefined() {
                Vec::new()
            } else {
                js_sys::Array::from(&alongside_checkpoints)
                    .iter()
                    .map(|b| (!b.is_null() && !b.is_undefined()).then(|| Uint8Array::new(&b).to_vec()))
                    .collect()
            };
        let data = Dataset::from_idx(&images, labels.as_deref()).map_err(js_err)?;
        let expect = match (expect_model, expect_levels) {
            (Some(m), Some(l)) => Some((m.parse::<ModelKind>().map_err(js_err)?, l as usize)),
            _ => None,
        };
        // The file is held once: opened in place, its metadata checked, then imported.
        let opened = checkpoint::Opened::from_vec(bytes).map_err(js_err)?;
        page_sized(&opened.meta.config, &data)?;
        for c in &alongside {
            page_sized(c, &data)?;
        }
        let device = device_for(&backend).await?;
        let trainer = checkpoint::import_opened(opened, &data, &device, expect).map_err(js_err)?;
        let mut members = Vec::new();
        for (i, c) in alongside.iter().enumerate() {
            members.push(match alongside_bytes.get_mut(i).and_then(Option::take) {
                Some(b) => {
                    let opened = checkpoint::Opened::from_vec(b).map_err(js_err)?;
                    page_sized(&opened.meta.config, &data)?;
                    let t = checkpoint::import_opened(opened, &data, &device, Some((c.kind, c.levels)))
                        .map_err(js_err)?;
                    session::Member::Trained(Box::new(t))
                }
                None => session::Member::new(c, &data, &device).map_err(js_err)?,
            });
        }
        let run = session::Session::with_members(trainer, members);
        Ok(Session { inner: Rc::new(RefCell::new(run)), data: Rc::new(data), backend })
    }

    /// Training steps taken so far (exact in a JS number: the core keeps it below 2^53).
    #[wasm_bindgen(getter, js_name = currentStep)]
    pub fn current_step(&self) -> f64 {
        self.inner.borrow().step() as f64
    }

    /// The samplers this run can show (names, main model's first).
    #[wasm_bindgen(getter)]
    pub fn samplers(&self) -> Vec<String> {
        self.inner.borrow().samplers()
    }

    /// `samplers` by the model they run on (arrays of specs): what `sampleMany` draws together.
    #[wasm_bindgen(getter, js_name = samplerGroups)]
    pub fn sampler_groups(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.borrow().sampler_groups())
    }

    /// `{config, models, samplers, samplerGroups, a, levels, step, height, width, nData, nHeldOut, backend}`.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let run = self.inner.borrow();
        let t = run.main();
        to_js(&Info {
            config: &t.config,
            models: run.members().iter().map(|m| m.config()).collect(),
            samplers: run.samplers(),
            sampler_groups: run.sampler_groups(),
            a: t.schedule.a,
            levels: t.schedule.levels,
            step: t.step(),
            height: t.height,
            width: t.width,
            n_data: self.data.n,
            n_held_out: t.held_out().n,
            backend: &self.backend,
        })
    }

    /// `{allocations, bytesInUse, bytesReserved, wasmBytes}`, for the soak benchmark and the
    /// page's status line: the device allocator's live allocations and bytes (burn's memory-pool
    /// usage: GPU buffers on WebGPU; null on the CPU backend, which has no pool) and the wasm
    /// linear memory in bytes.
    pub fn memory(&self) -> Result<JsValue, JsValue> {
        let usage = self.inner.borrow().main().device().memory_pool_usage();
        let wasm_bytes = wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .ok()
            .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
            .map(|b| b.byte_length());
        to_js(&Memory {
            allocations: usage.as_ref().map(|u| u.number_allocs),
            bytes_in_use: usage.as_ref().map(|u| u.bytes_in_use),
            bytes_reserved: usage.as_ref().map(|u| u.bytes_reserved),
            wasm_bytes,
        })
    }

    /// Queue `n` training steps of every model (no readback: `flush` reads their statistics); `n`
    /// from 1 to `limits::STEPS_PER_CALL`, else an error of kind "config".
    pub fn step(&self, n: u32) -> Result<(), JsValue> {
        self.inner.borrow_mut().queue_steps(n as u64).map_err(js_err)
    }

    /// The learning rate of every model.
    #[wasm_bindgen(js_name = setLearningRate)]
    pub fn set_learning_rate(&self, lr: f64) -> Result<(), JsValue> {
        self.inner.borrow_mut().set_lr(lr).map_err(js_err)
    }

    /// Read the queued steps' statistics (one readback per model): `{step, steps: [{step, loss,
    /// kl, nll}], levelLoss: [...], others: [{model, steps}]}`. Rejects with kind "diverged" if
    /// training diverged (the last good weights are then restored).
    // The borrow is held across the await: safe only because the worker sends every call into
    // the wasm through its scheduler's queue (www/worker/scheduler.js `serial`), one at a time (a
    // second call during this one would panic on the RefCell). The bridge should not rely on its
    // caller for this.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn flush(&self) -> Result<JsValue, JsValue> {
        let inner = self.inner.clone();
        let mut run = inner.borrow_mut();
        let reports = run.flush().await.map_err(js_err)?;
        let main = run.main();
        to_js(&Flushed {
            step: main.step(),
            steps: &reports[0].steps,
            level_loss: &main.level_loss,
            others: run
                .trainers()
                .zip(&reports)
                .skip(1)
                .map(|(t, r)| ModelSteps { model: t.config.kind.name(), steps: &r.steps })
                .collect(),
            host_ms: run.host_time().as_secs_f64() * 1e3,
        })
    }

    /// Sample `n` chains with a sampler spec (`[model/]sampler[:arg]`: "deterministic",
    /// "stochastic:0.5", "ddim", "cvae", "universal/exact", ...; see `session::parse_spec`) on its
    /// model, from z_L drawn with `seed`, keeping at most `columns` levels. See `chain_to_js` for
    /// what it returns.
    pub async fn sample(&self, spec: String, n: u32, seed: u32, columns: u32) -> Result<JsValue, JsValue> {
        let (chain, (h, w), mean) = {
            let run = self.inner.borrow();
            let (model, kind) = session::parse_spec(&spec).map_err(js_err)?;
            let m = run.member_for(model, kind).map_err(js_err)?;
            chains_fit(m, n as usize)?;
            let keep = display_levels(m.levels(), columns as usize);
            let chain = m.sample(kind, n as usize, seed as u64, &keep).map_err(js_err)?;
            (chain, m.size(), m.mean_image().to_vec())
        };
        chain_to_js(chain, h, w, Some(&mean)).await
    }

    /// Several sampler specs at once, each from the same z_L (drawn with `seed`): the samplers of
    /// one model that step from its denoiser run in lockstep, one forward per level for all of
    /// them (`sampler::run_together`), and every chain is read back in one read. Returns an object
    /// `{[spec]: chain}` (see `chain_to_js` for a chain).
    #[wasm_bindgen(js_name = sampleMany)]
    pub async fn sample_many(
        &self,
        specs: Vec<String>,
        n: u32,
        seed: u32,
        columns: u32,
    ) -> Result<JsValue, JsValue> {
        let (images, parts, (h, w)) = {
            let run = self.inner.borrow();
            // The specs by model, in the order they were given within each model.
            let mut groups: Vec<(usize, Vec<(usize, SamplerKind)>)> = Vec::new();
            for (i, spec) in specs.iter().enumerate() {
                let (model, kind) = session::parse_spec(spec).map_err(js_err)?;
                let m = run.member_for(model, kind).map_err(js_err)?;
                let at = run.members().iter().position(|x| std::ptr::eq(x, m)).expect("a member of this run");
                match groups.iter_mut().find(|(g, _)| *g == at) {
                    Some((_, list)) => list.push((i, kind)),
                    None => groups.push((at, vec![(i, kind)])),
                }
            }
            let mut images = Vec::new();
            let mut parts = Vec::new(); // (spec index, levels, member index)
            for (at, list) in groups {
                let m = &run.members()[at];
                let keep = display_levels(m.levels(), columns as usize);
                let kinds: Vec<SamplerKind> = list.iter().map(|(_, k)| *k).collect();
                chains_fit(m, kinds.len() * n as usize)?;
                let chains = m.sample_together(&kinds, n as usize, seed as u64, &keep).map_err(js_err)?;
                for ((i, _), chain) in list.into_iter().zip(chains) {
                    parts.push((i, chain.levels.clone(), at));
                    images.push(chain.images);
                }
            }
            (images, parts, run.members()[0].size())
        };
        let out = js_sys::Object::new();
        if images.is_empty() {
            return Ok(out.into());
        }
        // One readback for every chain.
        let all = Chain { levels: Vec::new(), batch: n as usize, images: Tensor::cat(images, 0) };
        let pixels = all.read().await.map_err(js_err)?;
        let run = self.inner.borrow();
        let mut offset = 0;
        for (i, levels, at) in parts {
            let len = levels.len() * n as usize * h * w;
            let mean = run.members()[at].mean_image().to_vec();
            let chain = chain_object(levels, n as usize, h, w, &pixels[offset..offset + len], Some(&mean))?;
            offset += len;
            let _ = Reflect::set(&out, &JsValue::from_str(&specs[i]), &chain);
        }
        Ok(out.into())
    }

    /// One z_ℓ, many draws (quiz problem 2): `draws` chains with a sampler spec from one z at
    /// `level` (z_L ~ N(0, I) at the top, else a held-out digit's forward process, chosen by
    /// `seed`), keeping z_ℓ, z_{ℓ−1} and z_0. See `chain_to_js` for what it returns.
    pub async fn draws(&self, spec: String, level: u32, seed: u32, draws: u32) -> Result<JsValue, JsValue> {
        let (chain, (h, w)) = {
            let run = self.inner.borrow();
            let (model, kind) = session::parse_spec(&spec).map_err(js_err)?;
            let m = run.member_for(model, kind).map_err(js_err)?;
            chains_fit(m, draws as usize)?;
            (m.draws(kind, level as usize, seed as u64, draws as usize).map_err(js_err)?, m.size())
        };
        chain_to_js(chain, h, w, None).await
    }

    /// The forward process on held-out digits: y = z_0, ..., z_L (at most `columns` levels).
    #[wasm_bindgen(js_name = forwardProcess)]
    pub async fn forward_process(&self, n: u32, seed: u32, columns: u32) -> Result<JsValue, JsValue> {
        let (chain, h, w) = {
            let run = self.inner.borrow();
            let t = run.main();
            let mut keep = display_levels(t.schedule.levels, columns as usize);
            keep.reverse();
            (t.forward_process(n as usize, seed as u64, &keep), t.height, t.width)
        };
        chain_to_js(chain, h, w, None).await
    }

    /// The mean training image (quiz (a): what yhat(z_L, L) converges to).
    #[wasm_bindgen(js_name = meanImage)]
    pub fn mean_image(&self) -> Float32Array {
        Float32Array::from(self.inner.borrow().main().mean_image())
    }

    /// Mean pairwise distance of `n` held-out real digits: the diversity samplers compare with.
    #[wasm_bindgen(js_name = realDiversity)]
    pub fn real_diversity(&self, n: u32) -> f64 {
        let run = self.inner.borrow();
        let held = run.main().held_out();
        let n = (n as usize).min(held.n);
        metrics::mean_pairwise_distance(&held.pixels[..n * held.image_len()], held.image_len())
    }

    /// The main model's checkpoint bytes (one async readback of every weight and optimizer
    /// moment).
    // The borrow is held across the await: see `flush`.
    #[allow(clippy::await_holding_refcell_ref)]
    pub async fn export(&self) -> Result<Uint8Array, JsValue> {
        let inner = self.inner.clone();
        let run = inner.borrow();
        let bytes = checkpoint::export(run.main()).await.map_err(js_err)?;
        Ok(Uint8Array::from(&bytes[..]))
    }

    /// Every model's checkpoint bytes, main first, null for a computed model (Φ*): what the
    /// drawing worker rebuilds the run from (`fromCheckpoint` with the others as `alongside`).
    // The borrow is held across the await: see `flush`.
    #[allow(clippy::await_holding_refcell_ref)]
    #[wasm_bindgen(js_name = exportMembers)]
    pub async fn export_members(&self) -> Result<js_sys::Array, JsValue> {
        let inner = self.inner.clone();
        let run = inner.borrow();
        let out = js_sys::Array::new();
        for member in run.members() {
            match member.trainer() {
                Some(t) => out.push(&Uint8Array::from(&checkpoint::export(t).await.map_err(js_err)?[..])),
                None => out.push(&JsValue::NULL),
            };
        }
        Ok(out)
    }
}

/// The JS `Metrics` class: the digit classifier and the statistics of held-out real digits, so
/// the page can measure any sample set while training. One instance serves a session (all of its
/// models: they share the data).
///
/// `Metrics.create(classifierBytes, session, referenceN)` loads the weights on the session's
/// device and embeds `referenceN` of its held-out digits (async, one read). `measure(session,
/// sampler, n, seed)` samples `n` final images and returns their `SampleMetrics`;
/// `measureReal(session, n)` does the same for `n` real training digits (the floor of each figure
/// at this sample size); `reference()` gives the held-out set's own figures.
#[wasm_bindgen]
pub struct Metrics {
    classifier: crate::metrics::Classifier,
    /// The session's reference (held-out digits) and training images.
    baseline: Baseline,
    /// Held-out accuracy recorded in the classifier file when it was trained.
    accuracy: f64,
    device: Device,
}

#[derive(Serialize)]
struct ReferenceFigures<'a> {
    n: usize,
    histogram: &'a [usize],
    entropy_nats: f64,
    diversity: f64,
    classifier_accuracy: f64,
}

#[wasm_bindgen]
impl Metrics {
    pub async fn create(
        classifier_bytes: Vec<u8>,
        session: &Session,
        reference_n: u32,
    ) -> Result<Metrics, JsValue> {
        // The split and the device out of the borrow (it must not live across an await).
        let (device, schedule, split) = {
            let run = session.inner.borrow();
            let t = run.main();
            let held = t.held_out();
            let side = crate::metrics::classifier::SIDE;
            if held.h != side || held.w != side {
                return Err(js_err(Error::Config(format!(
                    "the digit classifier needs {side}x{side} images; these are {}x{}, so there are no sample metrics",
                    held.h, held.w
                ))));
            }
            (t.device(), t.schedule, t.config.split(&session.data))
        };
        let (train, held) = split;
        let (classifier, meta) =
            crate::metrics::Classifier::from_bytes_with_meta(&classifier_bytes, &device).map_err(js_err)?;
        let baseline =
            Baseline::compute_async(&classifier, (&train, &held), reference_n as usize, schedule, &device)
                .await
                .map_err(js_err)?;
        Ok(Metrics { classifier, baseline, accuracy: meta.held_out_accuracy, device })
    }

    /// The reference (held-out real digits) figures: `{n, histogram, entropy_nats, diversity,
    /// classifier_accuracy}`.
    pub fn reference(&self) -> Result<JsValue, JsValue> {
        let r = &self.baseline.reference;
        to_js(&ReferenceFigures {
            n: r.n,
            histogram: &r.histogram,
            entropy_nats: r.entropy_nats,
            diversity: r.diversity,
            classifier_accuracy: self.accuracy,
        })
    }

    /// Sample `n` final images with a sampler spec (see `Session.sample`; z_L drawn with `seed`)
    /// and measure them: `SampleMetrics` {n, frechet, histogram, entropy_nats, diversity}.
    /// With `first_step`: the chains' first step z_{L−1} (`metrics::FirstStep`, for the lessons).
    /// In one call: the worker measures in chunks (`startMeasure`, `MeasureJob.advance`,
    /// `finishMeasure`), which give the same figures.
    pub async fn measure(
        &self,
        session: &Session,
        spec: String,
        n: u32,
        seed: u32,
    ) -> Result<JsValue, JsValue> {
        let mut job = self.start_measure(session, spec, n, seed)?;
        while !job.advance(session, u32::MAX)? {}
        self.finish_measure(job).await
    }

    /// A measurement of `n` samples of a sampler spec (as `measure`), whose chains the worker
    /// steps down a few levels at a time (`MeasureJob.advance`), letting its messages in between.
    #[wasm_bindgen(js_name = startMeasure)]
    pub fn start_measure(
        &self,
        session: &Session,
        spec: String,
        n: u32,
        seed: u32,
    ) -> Result<MeasureJob, JsValue> {
        let run = session.inner.borrow();
        let (model, kind) = session::parse_spec(&spec).map_err(js_err)?;
        let m = run.member_for(model, kind).map_err(js_err)?;
        chains_fit(m, n as usize)?;
        let keep: Vec<usize> = if m.levels() > 1 { vec![m.levels() - 1, 0] } else { vec![0] };
        let walk = m.walk(kind, n as usize, seed as u64, &keep).map_err(js_err)?;
        Ok(MeasureJob { walk, model, n: n as usize, mean: m.mean_image().to_vec() })
    }

    /// The figures of a finished `MeasureJob` (one readback of its chains): as `measure`.
    #[wasm_bindgen(js_name = finishMeasure)]
    pub async fn finish_measure(&self, job: MeasureJob) -> Result<JsValue, JsValue> {
        if job.walk.level() != 0 {
            return Err(js_err(Error::Config("the measurement's chains are not finished".into())));
        }
        let (n, mean) = (job.n, job.mean);
        let pixels = job.walk.finish().read().await.map_err(js_err)?;
        // Levels are kept top-down: z_{L−1}, then z_0 (one level when L = 1).
        let last = &pixels[pixels.len() - n * mean.len()..];
        let first = &pixels[..n * mean.len()];
        let metrics =
            self.baseline.measure_async(&self.classifier, last, &self.device).await.map_err(js_err)?;
        to_js(&Measured { metrics, first_step: metrics::FirstStep::of(first, &mean) })
    }

    /// The classifier's class counts (digits 0..9) of `pixels` (flattened 28x28 images).
    pub async fn classes(&self, pixels: Vec<f32>) -> Result<Vec<u32>, JsValue> {
        let e = self.classifier.features_async(&pixels, &self.device).await.map_err(js_err)?;
        Ok(metrics::classes::histogram_of(&e.predictions(), 10).into_iter().map(|c| c as u32).collect())
    }

    /// `n` real digits measured like a sample set (`Baseline::real_async`: training digits, with
    /// the memorisation figure of held-out ones).
    #[wasm_bindgen(js_name = measureReal)]
    pub async fn measure_real(&self, session: &Session, n: u32) -> Result<JsValue, JsValue> {
        let (train, held) = session.inner.borrow().main().config.split(&session.data);
        let m = self
            .baseline
            .real_async(&self.classifier, (&train, &held), n as usize, &self.device)
            .await
            .map_err(js_err)?;
        to_js(&m)
    }
}

/// A measurement under way (`Metrics.startMeasure`): its sampler's chains, stepped down by
/// `advance`, then measured by `Metrics.finishMeasure`.
#[wasm_bindgen]
pub struct MeasureJob {
    walk: crate::sampler::Walk,
    model: Option<ModelKind>,
    n: usize,
    mean: Vec<f32>,
}

#[wasm_bindgen]
impl MeasureJob {
    /// Step the chains down at most `levels` levels on the session's model (the one the job
    /// started on); true once they are at z_0. On the CPU backend the work runs in this call, so
    /// a few levels keep it short; on WebGPU it is queued.
    pub fn advance(&mut self, session: &Session, levels: u32) -> Result<bool, JsValue> {
        let run = session.inner.borrow();
        let m = run.member_for(self.model, self.walk.kind()).map_err(js_err)?;
        m.advance(&mut self.walk, levels as usize).map_err(js_err)
    }

    /// The level the chains are at (L at the start, 0 when finished).
    #[wasm_bindgen(getter)]
    pub fn level(&self) -> u32 {
        self.walk.level() as u32
    }
}

/// A sampler's measured figures: its `SampleMetrics` and its first step.
#[derive(Serialize)]
struct Measured {
    #[serde(flatten)]
    metrics: metrics::SampleMetrics,
    first_step: metrics::FirstStep,
}

/// One quiz scenario by name or number (1.., in the order of `scenarios`; any letter case); an error of kind "config" naming
/// the known ones otherwise.
#[wasm_bindgen(js_name = scenario)]
pub fn scenario(name: &str) -> Result<JsValue, JsValue> {
    let sc = crate::scenario::by_name(name).map_err(js_err)?;
    to_js(&sc)
}

/// The quiz scenarios (name, title, caption, models, panels, ...), for the page's presets.
#[wasm_bindgen(js_name = scenarios)]
pub fn scenarios() -> Result<JsValue, JsValue> {
    to_js(&crate::scenario::all())
}

/// The lessons (`lesson::all`: question, choices, scenario, bundled checkpoints, ...), for the page.
#[wasm_bindgen(js_name = lessons)]
pub fn lessons() -> Result<JsValue, JsValue> {
    to_js(&crate::lesson::all())
}

/// A lesson's verdict (`lesson::judge`: `{choice, text}`) on a run's measured figures
/// (`lesson::Figures`: `{step, panels: [{label, ...SampleMetrics, first_step}], real}`).
#[wasm_bindgen(js_name = judgeLesson)]
pub fn judge_lesson(name: &str, figures: JsValue) -> Result<JsValue, JsValue> {
    let lesson = crate::lesson::by_name(name).map_err(js_err)?;
    let figures: crate::lesson::Figures = from_js(figures, "lesson figures")?;
    to_js(&crate::lesson::judge(&lesson, &figures).map_err(js_err)?)
}
