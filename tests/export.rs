//! `export-torch`: the safetensors file holds every parameter of the model under its PyTorch
//! `state_dict` name, in PyTorch's layout (Linear weights [out, in]), and the folder has the
//! module, the config and the check file. (The PyTorch round trip itself, which needs Python, is
//! `scripts/test-torch-export.sh`.)

use std::collections::BTreeMap;
use std::path::Path;

use denoise_lab::backend;
use denoise_lab::checkpoint;
use denoise_lab::data::Dataset;
use denoise_lab::export::{self, TORCH_MODULE, torch_name};
use denoise_lab::model::ModelKind;
use denoise_lab::optim::NamedParams;
use denoise_lab::train::{TrainConfig, Trainer};
use safetensors::{Dtype, SafeTensors};

/// Export a tiny model of `kind` trained for 2 steps; returns the trainer and the export folder.
fn exported(kind: ModelKind) -> (Trainer, std::path::PathBuf) {
    let data = Dataset::bundled().take(&(0..400).collect::<Vec<_>>());
    let config = TrainConfig {
        kind,
        levels: 6,
        batch: 8,
        base_channels: 4,
        cond_dim: 16,
        latent_dim: 8,
        held_out: 50,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, &data, &backend::cpu()).unwrap();
    trainer.train_blocking(2, 2, |_, _| {}).unwrap();
    let bytes = checkpoint::export_blocking(&trainer).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{}", kind.name()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = export::export_torch(&bytes, &dir, &backend::cpu()).unwrap();
    assert_eq!(written.len(), 4);
    (trainer, dir)
}

/// name -> (shape, values) of a .safetensors file (every tensor f32).
fn read_f32(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let values =
                view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// Every parameter of the trainer's model is in model.safetensors under its PyTorch name with
/// PyTorch's shape, and nothing else is.
fn check_weights(trainer: &Trainer, dir: &Path) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let file = read_f32(&dir.join(export::WEIGHTS_FILE));
    let params = NamedParams::of(trainer.model());
    assert_eq!(file.len(), params.entries.len(), "one tensor per parameter");
    for (path, _, value, shape) in params.entries {
        let name = torch_name(&path);
        assert!(!name.starts_with("Denoiser") && !name.starts_with("Cvae"), "{name}");
        let (got_shape, got) = file.get(name).unwrap_or_else(|| panic!("{name} ({path}) missing"));
        let burn: Vec<f32> = value.try_into_data().unwrap().try_to_vec().unwrap();
        if let [rows, cols] = shape[..] {
            // burn's Linear weight is [in, out]; PyTorch's is [out, in].
            assert_eq!(got_shape, &[cols, rows], "{name}");
            for (i, o) in [(0, 0), (rows - 1, 0), (0, cols - 1), (rows / 2, cols / 3)] {
                assert_eq!(got[o * rows + i], burn[i * cols + o], "{name}[{o}, {i}]");
            }
        } else {
            assert_eq!(got_shape, &shape, "{name}");
            assert_eq!(got, &burn, "{name}");
        }
    }
    file
}

fn shape<'a>(file: &'a BTreeMap<String, (Vec<usize>, Vec<f32>)>, name: &str) -> &'a [usize] {
    &file.get(name).unwrap_or_else(|| panic!("{name} missing")).0
}

#[test]
fn the_denoiser_exports_with_pytorch_names_and_layouts() {
    let (trainer, dir) = exported(ModelKind::Denoiser);
    let file = check_weights(&trainer, &dir);
    // PyTorch's names and shapes for this size (c = 4, cond 16), as the module file builds them.
    assert_eq!(shape(&file, "embed.fc1.weight"), [16, 32]);
    assert_eq!(shape(&file, "embed.fc1.bias"), [16]);
    assert_eq!(shape(&file, "unet.conv_in.weight"), [4, 1, 3, 3]);
    assert_eq!(shape(&file, "unet.res_full.cond.weight"), [4, 16]);
    assert_eq!(shape(&file, "unet.down_half.weight"), [8, 4, 3, 3]);
    assert_eq!(shape(&file, "unet.up_full.weight"), [4, 12, 3, 3]);
    assert_eq!(shape(&file, "unet.conv_out.bias"), [1]);
    // 2 Linear in the embedding; 6 convolutions and 5 ResBlocks of 3 layers in the U-Net.
    assert_eq!(file.len(), 2 * (2 + 6 + 5 * 3));

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(export::CONFIG_FILE)).unwrap()).unwrap();
    assert_eq!(config["model"], "denoiser");
    assert_eq!(config["levels"], 6);
    assert!((config["a"].as_f64().unwrap() - trainer.schedule.a).abs() < 1e-15);
    assert_eq!((config["height"].as_u64(), config["width"].as_u64()), (Some(28), Some(28)));
    assert_eq!(config["step"], 2);
    assert_eq!(std::fs::read_to_string(dir.join(export::MODULE_FILE)).unwrap(), TORCH_MODULE);

    let bytes = std::fs::read(dir.join(export::CHECK_FILE)).unwrap();
    let check = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(check.tensor("z").unwrap().shape(), [8, 1, 28, 28]);
    assert_eq!(check.tensor("yhat").unwrap().shape(), [8, 1, 28, 28]);
    assert_eq!(check.tensor("levels").unwrap().dtype(), Dtype::I64);
}

#[test]
fn the_cvae_exports_with_pytorch_names_and_layouts() {
    let (trainer, dir) = exported(ModelKind::Cvae);
    let file = check_weights(&trainer, &dir);
    assert_eq!(shape(&file, "enc.conv1.weight"), [4, 2, 3, 3]);
    assert_eq!(shape(&file, "enc.head.weight"), [16, 8 * 16]);
    // The prior network reads z_l alone.
    assert_eq!(shape(&file, "prior.conv1.weight"), [4, 1, 3, 3]);
    assert_eq!(shape(&file, "prior.head.weight"), [16, 8 * 16]);
    assert_eq!(shape(&file, "dec_latent.weight"), [16, 8]);
    // The decoder predicts yhat (one channel); its variance is the schedule's, floored as in the
    // module file.
    assert_eq!(shape(&file, "dec.conv_out.weight"), [1, 4, 3, 3]);
    let floor = format!("SIGMA_FLOOR = {}", denoise_lab::model::cvae::SIGMA_FLOOR);
    assert!(TORCH_MODULE.contains(&floor), "the module file's {floor}");
    let bytes = std::fs::read(dir.join(export::CHECK_FILE)).unwrap();
    let check = SafeTensors::deserialize(&bytes).unwrap();
    for (name, dims) in [("eps", vec![8, 8]), ("mu", vec![8, 8]), ("mean", vec![8, 1, 28, 28])] {
        assert_eq!(check.tensor(name).unwrap().shape(), dims, "{name}");
    }
    assert!(check.tensor("log_sigma").is_err(), "no learned variance to compare");
}

/// The export replaces its folder as a whole: a new folder, an empty one or a previous export
/// (with the `__pycache__` a notebook leaves) takes the new export and nothing else; a folder
/// holding anything else is refused and left as it was; no temporary folder is left behind.
#[test]
fn the_export_replaces_a_previous_export_and_refuses_any_other_folder() {
    let data = Dataset::bundled().take(&(0..40).collect::<Vec<_>>());
    let config = TrainConfig { levels: 3, batch: 4, base_channels: 4, held_out: 8, ..TrainConfig::default() };
    let trainer = Trainer::new(config, &data, &backend::cpu()).unwrap();
    let bytes = checkpoint::export_blocking(&trainer).unwrap();
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export-folders");
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let listing = |dir: &Path| {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    };
    let export_files = ["check.safetensors", "config.json", "denoise_lab_model.py", "model.safetensors"];

    // A new folder, then the same one again (a previous export, used from Python meanwhile).
    let out = parent.join("torch");
    export::export_torch(&bytes, &out, &backend::cpu()).unwrap();
    assert_eq!(listing(&out), export_files);
    std::fs::create_dir(out.join("__pycache__")).unwrap();
    std::fs::write(out.join("config.json"), b"{\"the old\": \"config\"}").unwrap();
    export::export_torch(&bytes, &out, &backend::cpu()).unwrap();
    assert_eq!(listing(&out), export_files, "the previous export is replaced as a whole");
    assert!(std::fs::read_to_string(out.join("config.json")).unwrap().contains("\"levels\": 3"));

    // An empty folder takes the export.
    let empty = parent.join("empty");
    std::fs::create_dir(&empty).unwrap();
    export::export_torch(&bytes, &empty, &backend::cpu()).unwrap();
    assert_eq!(listing(&empty), export_files);

    // A folder with other files is refused, untouched.
    let notes = parent.join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("config.json"), b"mine").unwrap();
    std::fs::write(notes.join("analysis.ipynb"), b"mine too").unwrap();
    let e = export::export_torch(&bytes, &notes, &backend::cpu()).expect_err("refused");
    assert_eq!(e.kind(), "io");
    assert!(e.to_string().contains("analysis.ipynb, which an export does not write"), "{e}");
    assert_eq!(listing(&notes), ["analysis.ipynb", "config.json"]);
    assert_eq!(std::fs::read(notes.join("config.json")).unwrap(), b"mine");
    // So is a file.
    let file = parent.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(export::export_torch(&bytes, &file, &backend::cpu()).is_err());

    assert_eq!(listing(&parent), ["a-file", "empty", "notes", "torch"], "no temporary folder left");
}
