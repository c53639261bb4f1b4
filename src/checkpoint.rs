//! Checkpoints: model weights + Adam moments + configuration + training position, as bytes that
//! the browser and the CLI exchange.
//!
//! Layout: `MAGIC` | burnpack | CRC-32 of the burnpack (little endian). The burnpack (burn's own
//! tensor format) holds tensors named `model/<path>` (paths as burn's `ModuleRecord` names
//! them), `adam_m/<path>`, `adam_v/<path>`, and JSON metadata. The model is restored through
//! burn's recorder (`ModuleRecord::from_bytes` + `try_load_record`), which checks every shape.
//! Every tensor is read back in one batched (async on wasm) read, so export works in a browser.

use std::collections::HashMap;

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{ArchConfig, Model};
use crate::optim::{Adam, AdamConfig, Moments, NamedParams};
use crate::train::{StepStats, TrainConfig, Trainer};

pub const MAGIC: &[u8; 8] = b"DNLAB\x00\x01\x00";
const META_KEY: &str = "denoise_lab";
/// Loss history kept in a checkpoint (the most recent points).
pub const HISTORY_KEPT: usize = 5000;
/// The largest step count a checkpoint may carry (see `import`).
const MAX_STEP: u64 = 1 << 53;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub config: TrainConfig,
    pub step: u64,
    pub adam_t: u64,
    pub height: usize,
    pub width: usize,
    pub history: Vec<StepStats>,
}

/// The tensors to save, flattened, and how to name them.
struct Plan {
    names: Vec<(String, Option<u64>, Vec<usize>)>,
    all: Option<Tensor<1>>,
    meta: Meta,
}

fn plan(trainer: &Trainer) -> Plan {
    let params = NamedParams::of(trainer.model());
    let moments = trainer.optim().moments();
    let mut names = Vec::new();
    let mut tensors = Vec::new();
    for (path, id, value, shape) in params.entries {
        names.push((format!("model/{path}"), Some(id.val()), shape.clone()));
        tensors.push(value);
        if let Some(Moments { m, v }) = moments.get(&id) {
            names.push((format!("adam_m/{path}"), None, vec![shape.iter().product()]));
            tensors.push(m.clone());
            names.push((format!("adam_v/{path}"), None, vec![shape.iter().product()]));
            tensors.push(v.clone());
        }
    }
    let history = trainer.history.iter().rev().take(HISTORY_KEPT).rev().copied().collect();
    Plan {
        names,
        all: (!tensors.is_empty()).then(|| Tensor::cat(tensors, 0)),
        meta: Meta {
            format: 1,
            config: trainer.config.clone(),
            step: trainer.step(),
            adam_t: trainer.optim().t,
            height: trainer.height,
            width: trainer.width,
            history,
        },
    }
}

fn encode(plan: Plan, values: Vec<f32>) -> Result<Vec<u8>> {
    let mut offset = 0;
    let mut tensors = Vec::with_capacity(plan.names.len());
    for (name, id, shape) in plan.names {
        let n: usize = shape.iter().product();
        let slice = &values[offset..offset + n];
        offset += n;
        let bytes: Vec<u8> = slice.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push(burn_pack::Tensor::new(name, DType::F32, shape, id, Bytes::from_bytes_vec(bytes)));
    }
    let meta = serde_json::to_string(&plan.meta).map_err(|e| Error::Checkpoint(e.to_string()))?;
    let pack = burn_pack::Writer::new(tensors)
        .with_metadata(META_KEY, &meta)
        .into_bytes()
        .map_err(|e| Error::Checkpoint(format!("cannot write: {e}")))?;
    let mut out = Vec::with_capacity(pack.len() + 12);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&pack);
    out.extend_from_slice(&crc32fast::hash(&pack).to_le_bytes());
    Ok(out)
}

/// Serialise a trainer (one async readback of every tensor).
pub async fn export(trainer: &Trainer) -> Result<Vec<u8>> {
    let mut plan = plan(trainer);
    let values = match plan.all.take() {
        Some(all) => crate::backend::read(all).await?,
        None => Vec::new(),
    };
    encode(plan, values)
}

#[cfg(not(target_arch = "wasm32"))]
pub fn export_blocking(trainer: &Trainer) -> Result<Vec<u8>> {
    let mut plan = plan(trainer);
    let values = match plan.all.take() {
        Some(all) => crate::backend::read_blocking(all)?,
        None => Vec::new(),
    };
    encode(plan, values)
}

/// Read only the metadata (what model, which L...), e.g. to reject a checkpoint early.
pub fn read_meta(bytes: &[u8]) -> Result<Meta> {
    let (_, meta) = open(bytes)?;
    Ok(meta)
}

/// A checkpoint whose checksum and metadata have been read, its tensors not yet: the page reads
/// the metadata (to refuse a run too large for it) and then imports from the same bytes, which
/// are never copied (`Opened::from_vec`).
pub struct Opened {
    reader: burn_pack::Reader,
    pub meta: Meta,
}

impl Opened {
    /// Open the file's bytes in place: the header and checksum are cut off the vector itself, so
    /// the file is in memory once (an import also holds the model's tensors, and the record burn
    /// builds them from).
    pub fn from_vec(mut bytes: Vec<u8>) -> Result<Opened> {
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::Checkpoint("not a denoise-lab checkpoint (wrong header)".into()));
        }
        let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap());
        bytes.truncate(bytes.len() - 4);
        bytes.drain(..MAGIC.len());
        if crc32fast::hash(&bytes) != crc {
            return Err(Error::Checkpoint("the file is truncated or corrupt (checksum mismatch)".into()));
        }
        let (reader, meta) = read_pack(bytes)?;
        Ok(Opened { reader, meta })
    }
}

/// A checkpoint opened from borrowed bytes (the CLI's and the tests' files): a copy of them, opened
/// in place.
fn open(bytes: &[u8]) -> Result<(burn_pack::Reader, Meta)> {
    let Opened { reader, meta } = Opened::from_vec(bytes.to_vec())?;
    Ok((reader, meta))
}

/// The tensor pack's reader and the metadata it carries (checked, its history capped).
fn read_pack(pack: Vec<u8>) -> Result<(burn_pack::Reader, Meta)> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(pack))
        .map_err(|e| Error::Checkpoint(format!("unreadable tensor pack: {e}")))?;
    let meta_json =
        reader.metadata().get(META_KEY).ok_or_else(|| Error::Checkpoint("no denoise-lab metadata".into()))?;
    let mut meta: Meta =
        serde_json::from_str(meta_json).map_err(|e| Error::Checkpoint(format!("bad metadata: {e}")))?;
    if meta.format != 1 {
        return Err(Error::Checkpoint(format!("unsupported checkpoint format {}", meta.format)));
    }
    // A file written elsewhere may carry any history: an import keeps what an export would.
    let extra = meta.history.len().saturating_sub(HISTORY_KEPT);
    meta.history.drain(..extra);
    Ok((reader, meta))
}

/// The model of `arch` on `device` with the weights `tensors` (named by record path); burn's
/// recorder checks every shape.
fn build_model(tensors: Vec<burn_pack::Tensor>, arch: &ArchConfig, device: &Device) -> Result<Model> {
    let pack = burn_pack::Writer::new(tensors).into_bytes().map_err(|e| Error::Checkpoint(e.to_string()))?;
    let record = ModuleRecord::from_bytes(pack).map_err(|e| Error::Checkpoint(e.to_string()))?;
    arch.init(device)
        .try_load_record(record)
        .map_err(|e| Error::Checkpoint(format!("weights do not fit the model: {e}")))
}

/// Only the model of a checkpoint, for inference on `device` (its plain, non-autodiff side),
/// with the metadata: no data set and no optimizer state needed (e.g. to export the weights).
pub fn load_model(bytes: &[u8], device: &Device) -> Result<(Model, Meta)> {
    let (reader, meta) = open(bytes)?;
    meta.config.validate()?;
    let tensors = reader.into_tensors().map_err(|e| Error::Checkpoint(format!("unreadable tensors: {e}")))?;
    let mut model_tensors = Vec::new();
    for t in tensors {
        let (name, dtype, shape, id, bytes) = t.into_parts().map_err(|e| Error::Checkpoint(e.to_string()))?;
        if let Some(path) = name.strip_prefix("model/") {
            model_tensors.push(burn_pack::Tensor::new(path.to_string(), dtype, shape, id, bytes));
        }
    }
    let model = build_model(model_tensors, &meta.config.arch(), &device.clone().inner())?;
    Ok((model, meta))
}

/// An Adam moment as a flat f32 tensor of `n` values, whatever shape, dtype or byte count the
/// file claims (a damaged file must give an error here, not a panic in `Tensor::from_data`).
fn moment_values(data: TensorData, n: usize, path: &str) -> Result<TensorData> {
    let wrong = || Error::Checkpoint(format!("optimizer state of '{path}' has the wrong size or type"));
    if data.dtype() != DType::F32 || data.num_elements() != n || data.as_bytes().len() != n * 4 {
        return Err(wrong());
    }
    let values = data.try_to_vec::<f32>().map_err(|_| wrong())?;
    Ok(TensorData::new(values, [n]))
}

/// Rebuild a trainer from a checkpoint, on `device`, with `data` (which must have the same image
/// size as the checkpoint's). `expect`: when given, the checkpoint must match this model kind and
/// L, and the error says what differs.
pub fn import(
    bytes: &[u8],
    data: &Dataset,
    device: &Device,
    expect: Option<(crate::model::ModelKind, usize)>,
) -> Result<Trainer> {
    let (reader, meta) = open(bytes)?;
    import_opened(Opened { reader, meta }, data, device, expect)
}

/// `import` of a checkpoint already opened (`Opened::from_vec`).
pub fn import_opened(
    opened: Opened,
    data: &Dataset,
    device: &Device,
    expect: Option<(crate::model::ModelKind, usize)>,
) -> Result<Trainer> {
    let Opened { reader, meta } = opened;
    if let Some((kind, levels)) = expect
        && (kind != meta.config.kind || levels != meta.config.levels)
    {
        return Err(Error::Checkpoint(format!(
            "this checkpoint is a {} with L = {}, but the page is set to a {} with L = {}",
            meta.config.kind.name(),
            meta.config.levels,
            kind.name(),
            levels
        )));
    }
    if (meta.height, meta.width) != (data.h, data.w) {
        return Err(Error::Checkpoint(format!(
            "this checkpoint was trained on {}x{} images, the data is {}x{}",
            meta.height, meta.width, data.h, data.w
        )));
    }
    meta.config.validate()?;
    // Step counters keep counting after the import: a hostile or damaged value near u64::MAX
    // would overflow them. 2^53 steps is far beyond any real run (and exact in JS numbers).
    if meta.step > MAX_STEP || meta.adam_t > MAX_STEP {
        return Err(Error::Checkpoint(format!(
            "step counters out of range (step {}, optimizer step {})",
            meta.step, meta.adam_t
        )));
    }
    let tensors = reader.into_tensors().map_err(|e| Error::Checkpoint(format!("unreadable tensors: {e}")))?;
    let mut model_tensors = Vec::new();
    let mut m_by_path = HashMap::new();
    let mut v_by_path = HashMap::new();
    for t in tensors {
        let (name, dtype, shape, id, bytes) = t.into_parts().map_err(|e| Error::Checkpoint(e.to_string()))?;
        if let Some(path) = name.strip_prefix("model/") {
            model_tensors.push(burn_pack::Tensor::new(path.to_string(), dtype, shape, id, bytes));
        } else if let Some(path) = name.strip_prefix("adam_m/") {
            m_by_path.insert(path.to_string(), TensorData::from_bytes(bytes, shape, dtype));
        } else if let Some(path) = name.strip_prefix("adam_v/") {
            v_by_path.insert(path.to_string(), TensorData::from_bytes(bytes, shape, dtype));
        } else {
            return Err(Error::Checkpoint(format!("unexpected tensor '{name}'")));
        }
    }
    let plain = device.clone().inner();
    let model = build_model(model_tensors, &meta.config.arch(), &plain.clone().autodiff())?;

    let mut optim = Adam::new(AdamConfig {
        clip_norm: (meta.config.clip_norm > 0.0).then_some(meta.config.clip_norm),
        ..AdamConfig::default()
    });
    optim.t = meta.adam_t;
    for (path, id, _, shape) in NamedParams::of(&model).entries {
        let n: usize = shape.iter().product();
        if let (Some(m), Some(v)) = (m_by_path.remove(&path), v_by_path.remove(&path)) {
            let (m, v) = (moment_values(m, n, &path)?, moment_values(v, n, &path)?);
            optim.insert_moments(
                id,
                Moments { m: Tensor::from_data(m, &plain), v: Tensor::from_data(v, &plain) },
            );
        }
    }
    Trainer::from_parts(meta.config, data, device, model, optim, meta.step, meta.history)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny untrained run on the CPU backend, with its data and device.
    fn tiny_run() -> (Trainer, Dataset, Device) {
        let data = Dataset::bundled().take(&(0..64).collect::<Vec<_>>());
        let config =
            TrainConfig { levels: 4, batch: 4, base_channels: 4, held_out: 16, ..TrainConfig::default() };
        let device = crate::backend::cpu();
        (Trainer::new(config, &data, &device).unwrap(), data, device)
    }

    #[test]
    fn an_import_keeps_the_most_recent_history_an_export_would() {
        let (trainer, data, device) = tiny_run();
        // A file with more history than any export writes (a tool other than this one made it).
        let mut p = plan(&trainer);
        let last = HISTORY_KEPT as u64 + 1000;
        p.meta.history = (1..=last).map(|step| StepStats { step, loss: 1.0, kl: 0.0, nll: 0.0 }).collect();
        let values = crate::backend::read_blocking(p.all.take().unwrap()).unwrap();
        let bytes = encode(p, values).unwrap();
        let back = import(&bytes, &data, &device, None).unwrap();
        assert_eq!(back.history.len(), HISTORY_KEPT);
        assert_eq!((back.history[0].step, back.history.last().unwrap().step), (1001, last));
    }

    #[test]
    fn a_file_opened_in_place_imports_as_from_a_slice_and_damage_is_refused() {
        let (mut trainer, data, device) = tiny_run();
        trainer.train_steps(2);
        let bytes = export_blocking(&trainer).unwrap();
        let opened = Opened::from_vec(bytes.clone()).unwrap();
        assert_eq!(opened.meta.step, 2);
        let a = import_opened(opened, &data, &device, None).unwrap();
        let b = import(&bytes, &data, &device, None).unwrap();
        assert_eq!(export_blocking(&a).unwrap(), export_blocking(&b).unwrap());
        let mut damaged = bytes.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0xff;
        assert!(matches!(Opened::from_vec(damaged), Err(Error::Checkpoint(_))));
        assert!(matches!(Opened::from_vec(bytes[..10].to_vec()), Err(Error::Checkpoint(_))));
    }
}
