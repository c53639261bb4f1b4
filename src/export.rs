//! `denoise-lab export-torch`: a checkpoint's model for a PyTorch notebook. A folder with
//!
//! - `model.safetensors`: the weights with PyTorch `state_dict` names and layouts (convolution
//!   weights [out, in, kh, kw] as burn's; linear weights [out, in], where burn stores [in, out]);
//! - `denoise_lab_model.py`: the same architecture as a short PyTorch module with the samplers
//!   (`src/export/denoise_lab_model.py`, copied as is);
//! - `config.json`: the architecture, the schedule (L, a) and the image size;
//! - `check.safetensors`: a few fixed inputs and this model's outputs on them, so the notebook
//!   (and `scripts/test-torch-export.sh`) can check that PyTorch computes the same function.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::{Dtype, tensor::TensorView};
use serde::Serialize;

use crate::backend::read_blocking;
use crate::checkpoint::{self, Meta};
use crate::error::{Error, Result, write_file};
use crate::model::{LEVEL_FEATURES, Model, ModelKind, level_features};
use crate::optim::NamedParams;
use crate::rng::Noise;

/// The PyTorch module file written beside the weights.
pub const TORCH_MODULE: &str = include_str!("export/denoise_lab_model.py");
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const MODULE_FILE: &str = "denoise_lab_model.py";
pub const CONFIG_FILE: &str = "config.json";
pub const CHECK_FILE: &str = "check.safetensors";
/// Images in the check file (levels spread over 1..=L).
const CHECK_IMAGES: usize = 8;

/// One tensor as PyTorch sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// What the notebook needs besides the weights (`config.json`).
#[derive(Clone, Debug, Serialize)]
pub struct TorchConfig {
    pub format: u32,
    pub model: ModelKind,
    pub levels: usize,
    /// The per-step signal factor (resolved: never the default's `null`).
    pub a: f64,
    pub height: usize,
    pub width: usize,
    pub base_channels: usize,
    pub cond_dim: usize,
    pub latent_dim: usize,
    pub level_features: usize,
    /// The training step of the checkpoint.
    pub step: u64,
}

impl TorchConfig {
    pub fn of(meta: &Meta) -> Result<Self> {
        let c = &meta.config;
        Ok(Self {
            format: 1,
            model: c.kind,
            levels: c.levels,
            a: c.schedule()?.a,
            height: meta.height,
            width: meta.width,
            base_channels: c.base_channels,
            cond_dim: c.cond_dim,
            latent_dim: c.latent_dim,
            level_features: LEVEL_FEATURES,
            step: meta.step,
        })
    }
}

/// The PyTorch name of a parameter from its burn record path: the same field names, without
/// the model enum's variant (`Denoiser.unet.conv_in.weight` -> `unet.conv_in.weight`).
pub fn torch_name(path: &str) -> &str {
    match path.split_once('.') {
        Some(("Denoiser" | "Cvae", rest)) => rest,
        _ => path,
    }
}

/// Every parameter of `model` with its PyTorch `state_dict` name, shape and values (one
/// blocking readback). Rank-2 parameters are the `Linear` weights: transposed to [out, in].
pub fn torch_tensors(model: &Model) -> Result<Vec<TorchTensor>> {
    let params = NamedParams::of(model);
    let values =
        read_blocking(Tensor::cat(params.entries.iter().map(|(_, _, v, _)| v.clone()).collect(), 0))?;
    let mut offset = 0;
    let mut out = Vec::with_capacity(params.entries.len());
    for (path, _, _, shape) in params.entries {
        let n: usize = shape.iter().product();
        let flat = &values[offset..offset + n];
        offset += n;
        let (shape, values) = match shape[..] {
            [rows, cols] => {
                // burn's Linear weight is [in, out]: row-major [i][o] -> [o][i].
                let t = (0..cols).flat_map(|o| (0..rows).map(move |i| flat[i * cols + o])).collect();
                (vec![cols, rows], t)
            }
            _ => (shape, flat.to_vec()),
        };
        out.push(TorchTensor { name: torch_name(&path).to_string(), shape, values });
    }
    Ok(out)
}

/// A tensor to write: name, shape, dtype and little-endian bytes.
type Entry = (String, Vec<usize>, Dtype, Vec<u8>);

/// Tensors (f32 or i64) as the bytes of a .safetensors file.
fn safetensors_bytes(tensors: &[Entry], meta: &str) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Io(format!("cannot build tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = HashMap::from([("denoise_lab".to_string(), meta.to_string())]);
    safetensors::serialize(views, Some(info)).map_err(|e| Error::Io(format!("cannot write safetensors: {e}")))
}

fn f32_entry(name: &str, shape: Vec<usize>, values: &[f32]) -> Entry {
    (name.to_string(), shape, Dtype::F32, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// The check inputs and the model's outputs on them: `levels` (i64) and, for the denoiser,
/// `z` -> `yhat`; for the CVAE, `z_prev`, `z_l`, `eps` -> `mu`, `logvar` (encoder) and `mean`
/// (decoder: z_Phi = m(z_l, yhat_Phi); its variance is fixed by the schedule, not an output).
fn check_tensors(model: &Model, cfg: &TorchConfig, device: &Device) -> Result<Vec<Entry>> {
    let (n, h, w, big_l) = (CHECK_IMAGES, cfg.height, cfg.width, cfg.levels);
    let levels: Vec<usize> = (0..n).map(|i| 1 + i * big_l / n).collect();
    let feats =
        Tensor::<2>::from_data(TensorData::new(level_features(&levels, big_l), [n, LEVEL_FEATURES]), device);
    let mut noise = Noise::new(0xC4EC);
    let image = [n, 1, h, w];
    let mut out = vec![(
        "levels".to_string(),
        vec![n],
        Dtype::I64,
        levels.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect(),
    )];
    match model {
        Model::Denoiser(m) => {
            let z = noise.normal(image, device);
            let yhat = m.forward(z.clone(), feats);
            out.push(f32_entry("z", image.to_vec(), &read_blocking(z)?));
            out.push(f32_entry("yhat", image.to_vec(), &read_blocking(yhat)?));
        }
        Model::Cvae(m) => {
            let k = m.latent_dim();
            let (z_prev, z_l) = (noise.normal(image, device), noise.normal(image, device));
            let eps = noise.normal([n, k], device);
            let (mu, logvar) = m.encode(z_prev.clone(), z_l.clone(), feats.clone());
            let schedule = crate::schedule::Schedule::new(cfg.a, big_l)?;
            let coefs = crate::model::cvae::StepCoefs::new(&schedule, &levels, device);
            let mean = m.decode(eps.clone(), z_l.clone(), feats, &coefs);
            out.push(f32_entry("z_prev", image.to_vec(), &read_blocking(z_prev)?));
            out.push(f32_entry("z_l", image.to_vec(), &read_blocking(z_l)?));
            out.push(f32_entry("eps", vec![n, k], &read_blocking(eps)?));
            out.push(f32_entry("mu", vec![n, k], &read_blocking(mu)?));
            out.push(f32_entry("logvar", vec![n, k], &read_blocking(logvar)?));
            out.push(f32_entry("mean", image.to_vec(), &read_blocking(mean)?));
        }
    }
    Ok(out)
}

/// Write the export of a checkpoint (`bytes`) into `dir`, computing on `device`. Returns the
/// paths written.
///
/// The folder is replaced as a whole, never file by file: the four files are written into a new
/// hidden sibling folder, which is then renamed to `dir`, so an interruption never leaves new
/// weights beside an old `config.json`. `dir` may be new, empty, or a previous export (only
/// files of an export in it), which is replaced; any other folder is refused, so an export
/// never overwrites or mixes with files it did not write.
pub fn export_torch(bytes: &[u8], dir: &Path, device: &Device) -> Result<Vec<PathBuf>> {
    let device = device.clone().inner();
    let (model, meta) = checkpoint::load_model(bytes, &device)?;
    let cfg = TorchConfig::of(&meta)?;
    let cfg_json = serde_json::to_string_pretty(&cfg).map_err(|e| Error::Io(e.to_string()))?;
    let weights: Vec<_> =
        torch_tensors(&model)?.iter().map(|t| f32_entry(&t.name, t.shape.clone(), &t.values)).collect();
    let files = [
        (WEIGHTS_FILE, safetensors_bytes(&weights, &cfg_json)?),
        (CHECK_FILE, safetensors_bytes(&check_tensors(&model, &cfg, &device)?, &cfg_json)?),
        (CONFIG_FILE, format!("{cfg_json}\n").into_bytes()),
        (MODULE_FILE, TORCH_MODULE.as_bytes().to_vec()),
    ];
    let replaces = check_export_folder(dir)?;
    let (parent, name) = folder_parts(dir)?;
    std::fs::create_dir_all(parent)
        .map_err(|e| Error::Io(format!("cannot create {}: {e}", parent.display())))?;
    let staging = sibling(parent, name, "new", |p| std::fs::create_dir(p))?;
    let written = (|| {
        for (file, bytes) in &files {
            write_file(&staging.join(file), bytes)?;
        }
        put_in_place(&staging, dir, parent, name, replaces)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written?;
    Ok(files.iter().map(|(file, _)| dir.join(file)).collect())
}

/// Whether `dir` holds a previous export to replace (`Ok(false)`: it is missing or empty); an
/// error if it is a file or holds anything an export does not write.
fn check_export_folder(dir: &Path) -> Result<bool> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::Io(format!("cannot use {} as the export folder: {e}", dir.display()))),
    };
    let mut any = false;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io(format!("cannot read {}: {e}", dir.display())))?;
        let name = entry.file_name();
        let ours = [WEIGHTS_FILE, MODULE_FILE, CONFIG_FILE, CHECK_FILE].iter().any(|f| name == *f)
            || name == "__pycache__";
        if !ours {
            return Err(Error::Io(format!(
                "{} holds {}, which an export does not write: export into a new or empty folder, or \
                 one holding a previous export (which is replaced)",
                dir.display(),
                Path::new(&name).display()
            )));
        }
        any = true;
    }
    Ok(any)
}

/// The folder `dir` is in, and its name.
fn folder_parts(dir: &Path) -> Result<(&Path, &std::ffi::OsStr)> {
    let name =
        dir.file_name().ok_or_else(|| Error::Io(format!("{} does not name a folder", dir.display())))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((parent, name))
}

/// A new hidden sibling `.NAME.export-WHAT-PID-N` made by `make` (which must fail if the path
/// exists), trying further numbers while one exists.
fn sibling(
    parent: &Path,
    name: &std::ffi::OsStr,
    what: &str,
    make: impl Fn(&Path) -> std::io::Result<()>,
) -> Result<PathBuf> {
    for n in 0..1000 {
        let mut s = std::ffi::OsString::from(".");
        s.push(name);
        s.push(format!(".export-{what}-{}-{n}", std::process::id()));
        let path = parent.join(s);
        match make(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Io(format!("cannot create {}: {e}", path.display()))),
        }
    }
    Err(Error::Io(format!("no free temporary name beside {}", parent.join(name).display())))
}

/// Rename the finished `staging` folder to `dir`. A previous export (`replaces`) is first moved
/// aside, then removed: an interruption between the two renames leaves the old and the new
/// export whole, each in its hidden folder, never a mix.
fn put_in_place(
    staging: &Path,
    dir: &Path,
    parent: &Path,
    name: &std::ffi::OsStr,
    replaces: bool,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("cannot move the export to {}: {e}", dir.display()));
    if !replaces {
        // A missing folder, or an empty one (a rename replaces an empty folder).
        return std::fs::rename(staging, dir).map_err(io);
    }
    let old = sibling(parent, name, "old", |p| match std::fs::symlink_metadata(p) {
        Ok(_) => Err(std::io::ErrorKind::AlreadyExists.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    })?;
    std::fs::rename(dir, &old).map_err(io)?;
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(&old, dir);
        return Err(io(e));
    }
    let _ = std::fs::remove_dir_all(&old);
    if let Ok(d) = std::fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampler::SamplerKind;

    /// A sampler added to the core (`SamplerKind::names_for`) and forgotten in the PyTorch module
    /// fails here: every sampler of an exportable (trained) model is a branch of its `sample`.
    #[test]
    fn the_torch_module_has_every_sampler_of_the_trained_models() {
        let trained = ModelKind::ALL.into_iter().filter(|m| m.trained());
        for name in trained.flat_map(SamplerKind::names_for) {
            let branch = format!("sampler == \"{name}\"");
            assert!(
                TORCH_MODULE.contains(&branch),
                "src/export/denoise_lab_model.py has no `{branch}` branch in `sample`"
            );
        }
    }
}
