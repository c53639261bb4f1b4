//! Bad-input fuzzing with proptest: the IDX reader and the checkpoint loader get
//! random, structured and damaged inputs and must answer `Ok` or `Err`, never panic. A panic
//! fails the test and proptest shrinks it to a small input.
//!
//! Bounded: the number of cases per property is `DENOISE_LAB_FUZZ_CASES` (defaults below: about
//! half a minute for the file on 2 cores); raise it for a longer hunt, e.g.
//! `DENOISE_LAB_FUZZ_CASES=100000 cargo test --test fuzz`. Hunts of 20,000 cases per property
//! found two panics, both fixed in `checkpoint::import`: step counters near u64::MAX overflowing
//! on the next step, and Adam moments stored with another shape reaching `Tensor::from_data`.
//! An accepted checkpoint is then used as the page uses it (`use_imported`: the forward process,
//! a sampler, the draws of one z_ℓ, the metrics); that found a configuration holding out no
//! digits, now refused by `TrainConfig::validate`.
//!
//! Where a checkpoint's checksum would stop damaged bytes at the door, the properties recompute
//! it, so the damage reaches burn's tensor-pack reader, the metadata parser and the model loader.

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;

use burn::prelude::*;
use burn::tensor::{Bytes, DType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use denoise_lab::checkpoint::{self, MAGIC};
use denoise_lab::data::Dataset;
use denoise_lab::data::idx::{parse_idx_images, parse_idx_labels};
use denoise_lab::export::torch_tensors;
use denoise_lab::metrics::{Baseline, Classifier};
use denoise_lab::model::ModelKind;
use denoise_lab::rng::Noise;
use denoise_lab::sampler::SamplerKind;
use denoise_lab::session::Member;
use denoise_lab::train::{TrainConfig, Trainer};

fn cases(default: u32) -> u32 {
    std::env::var("DENOISE_LAB_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config { cases: cases(default_cases), failure_persistence: None, ..Config::default() })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An IDX header with a chosen type code, dimension count and dimensions, then a body.
fn idx_file(type_code: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Structured IDX inputs: plausible headers (right or wrong type/rank, small or absurd sizes)
/// followed by a body of about the announced length, raw or gzipped, sometimes cut.
fn idx_inputs() -> impl Strategy<Value = Vec<u8>> {
    let dim = prop_oneof![4 => 0u32..12, 1 => any::<u32>()];
    (
        prop_oneof![Just(8u8), Just(9u8), any::<u8>()],
        prop::collection::vec(dim, 0..5),
        -3i64..3,
        any::<bool>(),
        any::<u8>(),
        prop::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(code, dims, slack, gz, fill, cut)| {
            let want = dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64)).min(4096);
            let len = (want as i64 + slack).clamp(0, 4096) as usize;
            let body: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8) % 13).collect();
            let raw = idx_file(code, &dims, &body);
            let mut bytes = if gz { gzip(&raw) } else { raw };
            if let Some(at) = cut {
                bytes.truncate(at.index(bytes.len() + 1));
            }
            bytes
        })
}

fn check_idx(bytes: &[u8]) {
    if let Ok(images) = parse_idx_images(bytes) {
        assert_eq!(images.pixels.len(), images.n * images.h * images.w, "accepted images are whole");
        assert!(images.n >= 1 && images.h >= 1 && images.w >= 1);
    }
    if let Ok(labels) = parse_idx_labels(bytes) {
        assert!(!labels.is_empty() && labels.iter().all(|&l| l <= 9), "accepted labels are digits");
    }
    // The dataset constructor (what the page and the CLI call) on the same bytes.
    let _ = Dataset::from_idx(bytes, None);
    let _ = Dataset::from_idx(bytes, Some(bytes));
}

#[test]
fn idx_reader_never_panics_on_random_bytes() {
    runner(10_000)
        .run(&prop::collection::vec(any::<u8>(), 0..256), |bytes| {
            check_idx(&bytes);
            // The same bytes behind a gzip header and behind an IDX magic.
            check_idx(&gzip(&bytes));
            let mut with_magic = vec![0, 0, 8, 3];
            with_magic.extend_from_slice(&bytes);
            check_idx(&with_magic);
            Ok(())
        })
        .unwrap();
}

#[test]
fn idx_reader_never_panics_on_structured_inputs() {
    runner(10_000)
        .run(&idx_inputs(), |bytes| {
            check_idx(&bytes);
            Ok(())
        })
        .unwrap();
}

// ---- checkpoints ----

/// The digit classifier's side: the metrics measure the samples of every accepted checkpoint.
const H: usize = 28;

fn tiny_data() -> Dataset {
    let n = 40;
    let pixels = (0..n * H * H).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
    Dataset { n, h: H, w: H, pixels, labels: None }
}

fn tiny_config() -> TrainConfig {
    TrainConfig {
        kind: ModelKind::Cvae,
        levels: 3,
        // One image a step: a step at the classifier's 28x28 costs what four did at 10x10.
        batch: 1,
        base_channels: 4,
        cond_dim: 8,
        latent_dim: 2,
        held_out: 8,
        ..TrainConfig::default()
    }
}

/// A valid checkpoint of a CVAE trained for 2 steps (so it has Adam moments too).
fn valid_checkpoint() -> Vec<u8> {
    let device = Device::flex();
    let mut t = Trainer::new(tiny_config(), &tiny_data(), &device).unwrap();
    t.train_steps(2);
    t.flush_blocking().unwrap();
    checkpoint::export_blocking(&t).unwrap()
}

/// MAGIC | pack | CRC-32(pack): a file whose checksum is right whatever the pack holds.
fn seal(pack: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(pack);
    out.extend_from_slice(&crc32fast::hash(pack).to_le_bytes());
    out
}

fn pack_of(file: &[u8]) -> &[u8] {
    &file[MAGIC.len()..file.len() - 4]
}

/// What an imported checkpoint is loaded and used with.
struct Lab {
    data: Dataset,
    device: Device,
    classifier: Classifier,
    /// The models already used (`check_import`), by configuration and weights.
    used: RefCell<HashSet<(String, u64)>>,
}

fn lab() -> Lab {
    let device = Device::flex();
    Lab { data: tiny_data(), classifier: Classifier::bundled(&device), device, used: RefCell::default() }
}

/// Import must answer, not panic. An accepted file must give a model that draws and is measured
/// as the page does after an import (`use_imported`), then trains one step. Many accepted files
/// differ only where the model does not read (the loss history, another metadata number): a
/// model whose configuration and weights were already used is only trained.
fn check_import(bytes: &[u8], lab: &Lab) {
    let _ = checkpoint::read_meta(bytes);
    let _ = checkpoint::import(bytes, &lab.data, &lab.device, Some((ModelKind::Cvae, 3)));
    let Ok(t) = checkpoint::import(bytes, &lab.data, &lab.device, None) else { return };
    let mut weights = DefaultHasher::new();
    for tensor in torch_tensors(t.model()).expect("the weights read back") {
        tensor.values.iter().for_each(|v| v.to_bits().hash(&mut weights));
    }
    let key = (serde_json::to_string(&t.config).unwrap(), weights.finish());
    let member = Member::Trained(Box::new(t));
    if lab.used.borrow_mut().insert(key) {
        use_imported(&member, lab);
    }
    let Member::Trained(mut t) = member else { unreachable!() };
    t.train_steps(1);
    let _ = t.flush_blocking();
}

/// The forward process, a sampler, one z_ℓ with many draws (`Member::draws`) and the metrics
/// of an accepted checkpoint: each must answer, not panic, and the metrics must compare with
/// held-out digits that exist. The weights may be anything, finite or not, so the figures
/// themselves are not checked. The sampler starts at most 3 levels up (a hostile L may be 1000).
fn use_imported(member: &Member, lab: &Lab) {
    let t = member.trainer().unwrap();
    let levels = t.schedule.levels;
    let forward = t.forward_process(2, 1, &[levels, 0]);
    assert_eq!(forward.read_blocking().expect("the forward process reads back").len(), 2 * 2 * H * H);
    let kind = SamplerKind::parse(SamplerKind::names_for(t.config.kind)[0]).unwrap();
    let start = levels.min(3);
    let mut noise = Noise::new(1);
    let z = noise.normal([2, 1, H, H], &t.device());
    let chain = t.sample_from(kind, z, start, &[0], &mut noise).expect("a sampler runs");
    let pixels = chain.read_blocking().unwrap();
    assert_eq!(pixels.len(), 2 * H * H);
    let (train, held) = t.config.split(&lab.data);
    let baseline =
        Baseline::compute_blocking(&lab.classifier, (&train, &held), 4, t.schedule, &lab.device).unwrap();
    assert!(baseline.reference.n > 0, "the Fréchet reference has held-out digits");
    let m = baseline.measure_blocking(&lab.classifier, &pixels, &lab.device).unwrap();
    assert_eq!(m.memorisation.map(|m| m.n), Some(2), "every sample has a nearest training image");
    let draws = member.draws(kind, 1, 3, 2).expect("one z_1, two draws");
    let kept = draws.levels.len();
    assert_eq!(draws.read_blocking().unwrap().len(), kept * 2 * H * H);
}

#[derive(Clone, Debug)]
enum Damage {
    Flip { at: prop::sample::Index, bit: u8 },
    Set { at: prop::sample::Index, value: u8 },
    Delete { at: prop::sample::Index, len: usize },
    Insert { at: prop::sample::Index, bytes: Vec<u8> },
    Truncate { at: prop::sample::Index },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, value)| Damage::Set { at, value }),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(at, len)| Damage::Delete { at, len }),
        (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
        any::<prop::sample::Index>().prop_map(|at| Damage::Truncate { at }),
    ]
}

fn apply(pack: &mut Vec<u8>, d: &Damage) {
    if pack.is_empty() {
        return;
    }
    match d {
        Damage::Flip { at, bit } => {
            let i = at.index(pack.len());
            pack[i] ^= 1 << bit;
        }
        Damage::Set { at, value } => {
            let i = at.index(pack.len());
            pack[i] = *value;
        }
        Damage::Delete { at, len } => {
            let i = at.index(pack.len());
            let end = (i + len).min(pack.len());
            pack.drain(i..end);
        }
        Damage::Insert { at, bytes } => {
            let i = at.index(pack.len() + 1);
            pack.splice(i..i, bytes.iter().copied());
        }
        Damage::Truncate { at } => pack.truncate(at.index(pack.len())),
    }
}

#[test]
fn checkpoint_loader_never_panics_on_damaged_packs() {
    let lab = lab();
    let valid = valid_checkpoint();
    assert!(checkpoint::import(&valid, &lab.data, &lab.device, None).is_ok(), "the undamaged file loads");
    let pack = pack_of(&valid).to_vec();
    runner(2000)
        .run(&(prop::collection::vec(damage(), 1..4), any::<bool>()), |(damages, reseal)| {
            let mut p = pack.clone();
            for d in &damages {
                apply(&mut p, d);
            }
            let file = if reseal {
                seal(&p)
            } else {
                // Without a fresh checksum, damage must be caught by it.
                let mut f = MAGIC.to_vec();
                f.extend_from_slice(&p);
                f.extend_from_slice(&valid[valid.len() - 4..]);
                if p != pack {
                    prop_assert!(
                        checkpoint::import(&f, &lab.data, &lab.device, None).is_err(),
                        "damage without a new checksum was accepted"
                    );
                }
                f
            };
            check_import(&file, &lab);
            Ok(())
        })
        .unwrap();
}

#[test]
fn checkpoint_loader_never_panics_on_random_packs() {
    let lab = lab();
    runner(5000)
        .run(&prop::collection::vec(any::<u8>(), 0..512), |pack| {
            check_import(&seal(&pack), &lab);
            // Raw bytes too (no magic, or a magic and nothing else).
            check_import(&pack, &lab);
            Ok(())
        })
        .unwrap();
}

/// Well-formed tensor packs with hostile contents: metadata JSON with numbers replaced by
/// random (often absurd) values, and tensors renamed, reshaped or given another dtype.
#[test]
fn checkpoint_loader_never_panics_on_hostile_contents() {
    let lab = lab();
    let valid = valid_checkpoint();
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(pack_of(&valid).to_vec())).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(reader.metadata().get("denoise_lab").unwrap()).unwrap();
    let tensors: Vec<_> =
        reader.into_tensors().unwrap().into_iter().map(|t| t.into_parts().unwrap()).collect();

    // Every numeric leaf of the metadata, by JSON pointer.
    fn numeric_paths(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Number(_) | serde_json::Value::Null => out.push(at),
            serde_json::Value::Object(m) => {
                m.iter().for_each(|(k, v)| numeric_paths(v, format!("{at}/{k}"), out))
            }
            serde_json::Value::Array(a) => {
                a.iter().take(3).enumerate().for_each(|(i, v)| numeric_paths(v, format!("{at}/{i}"), out))
            }
            _ => {}
        }
    }
    let mut paths = Vec::new();
    numeric_paths(&meta, String::new(), &mut paths);
    assert!(paths.len() > 10, "metadata has numbers to damage: {paths:?}");

    let number = prop_oneof![
        Just(serde_json::json!(0)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1e300)),
        Just(serde_json::json!(null)),
        Just(serde_json::json!("text")),
        (0u64..2000).prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
    ];
    #[derive(Clone, Debug)]
    enum TensorEdit {
        Rename(prop::sample::Index),
        Reshape(prop::sample::Index, Vec<usize>),
        Dtype(prop::sample::Index),
        Drop(prop::sample::Index),
        Cut(prop::sample::Index, prop::sample::Index),
    }
    let edit = prop_oneof![
        any::<prop::sample::Index>().prop_map(TensorEdit::Rename),
        (any::<prop::sample::Index>(), prop::collection::vec(0usize..40, 0..4))
            .prop_map(|(i, s)| TensorEdit::Reshape(i, s)),
        any::<prop::sample::Index>().prop_map(TensorEdit::Dtype),
        any::<prop::sample::Index>().prop_map(TensorEdit::Drop),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(|(i, j)| TensorEdit::Cut(i, j)),
    ];
    let strategy = (
        prop::collection::vec((any::<prop::sample::Index>(), number), 0..3),
        prop::collection::vec(edit, 0..3),
    );
    runner(3000)
        .run(&strategy, |(meta_edits, tensor_edits)| {
            let mut m = meta.clone();
            for (which, value) in meta_edits {
                if let Some(slot) = m.pointer_mut(&paths[which.index(paths.len())]) {
                    *slot = value;
                }
            }
            let mut ts: Vec<_> = tensors.clone();
            for e in &tensor_edits {
                if ts.is_empty() {
                    break;
                }
                match e {
                    TensorEdit::Rename(i) => {
                        let k = i.index(ts.len());
                        ts[k].0 = format!("model/{}x", ts[k].0);
                    }
                    TensorEdit::Reshape(i, s) => {
                        let k = i.index(ts.len());
                        ts[k].2 = s.clone().into();
                    }
                    TensorEdit::Dtype(i) => {
                        let k = i.index(ts.len());
                        ts[k].1 = if ts[k].1 == DType::F32 { DType::F64 } else { DType::I64 };
                    }
                    TensorEdit::Drop(i) => {
                        let k = i.index(ts.len());
                        ts.remove(k);
                    }
                    TensorEdit::Cut(i, j) => {
                        let k = i.index(ts.len());
                        let b = ts[k].4.to_vec();
                        let keep = j.index(b.len() + 1);
                        ts[k].4 = Bytes::from_bytes_vec(b[..keep].to_vec());
                    }
                }
            }
            let rebuilt: Vec<_> = ts
                .into_iter()
                .map(|(name, dtype, shape, id, bytes)| burn_pack::Tensor::new(name, dtype, shape, id, bytes))
                .collect();
            // The writer may refuse what it cannot describe: that is not the loader's concern.
            let Ok(pack) =
                burn_pack::Writer::new(rebuilt).with_metadata("denoise_lab", &m.to_string()).into_bytes()
            else {
                return Ok(());
            };
            check_import(&seal(&pack), &lab);
            Ok(())
        })
        .unwrap();
}
