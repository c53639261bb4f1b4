//! The data layer: MNIST-scale single-channel image sets, pure Rust (no tensors).
//!
//! * [`idx`]: parsing of IDX files (raw or gzipped) into bytes, with errors
//!   meant for humans ([`DataError`]).
//! * [`Dataset`]: images scaled to `[-1, 1]` with optional labels, plus
//!   deterministic subsets and splits.
//! * [`BatchSampler`]: endless shuffled mini-batches, reproducible by seed.
//!
//! All randomness here (split, batch order) comes from the crate's portable PRNG
//! ([`crate::rng::SplitMix64`]) with an explicit seed rather than `rand::rngs::SmallRng`,
//! whose algorithm differs between 64-bit targets and wasm32: the same seed
//! gives the same split and the same batches natively and in the browser.

pub mod idx;

use crate::rng::SplitMix64;

pub use idx::{
    DataError, IdxImages, MAX_IMAGES, MAX_SIDE, MAX_TOTAL_PIXELS, parse_idx_images, parse_idx_labels,
};

/// The bundled 10,000 MNIST digits, gzipped IDX (see `www/data/ATTRIBUTION.md`).
#[cfg(not(target_arch = "wasm32"))]
pub const BUNDLED_IMAGES_GZ: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/mnist-10k-images-idx3-ubyte.gz"));
/// Labels of [`BUNDLED_IMAGES_GZ`], gzipped IDX.
#[cfg(not(target_arch = "wasm32"))]
pub const BUNDLED_LABELS_GZ: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/mnist-10k-labels-idx1-ubyte.gz"));

/// A dataset of single-channel images scaled to `[-1, 1]` (`pixel / 255 * 2 - 1`,
/// so 0 maps to exactly -1 and 255 to exactly 1), with optional labels.
///
/// `pixels` holds `n * h * w` values, image after image, each row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub pixels: Vec<f32>,
    pub labels: Option<Vec<u8>>,
}

impl Dataset {
    /// Builds a dataset from an IDX image file and, optionally, an IDX label
    /// file (each raw or gzipped). The two must hold the same number of items.
    pub fn from_idx(images: &[u8], labels: Option<&[u8]>) -> Result<Self, DataError> {
        let images = parse_idx_images(images)?;
        let labels = labels.map(parse_idx_labels).transpose()?;
        if let Some(labels) = &labels
            && labels.len() != images.n
        {
            return Err(DataError::CountMismatch { images: images.n, labels: labels.len() });
        }
        let scale: [f32; 256] = std::array::from_fn(|b| b as f32 / 255.0 * 2.0 - 1.0);
        let pixels = images.pixels.iter().map(|&b| scale[b as usize]).collect();
        Ok(Dataset { n: images.n, h: images.h, w: images.w, pixels, labels })
    }

    /// The bundled 10,000 MNIST digits (28×28, labelled, all ten classes
    /// interleaved so that any prefix is balanced). Decompresses ~1.6 MB on
    /// every call. Native builds only: the web page fetches the same files
    /// from `www/data/` instead of embedding them in the wasm binary.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn bundled() -> Self {
        Self::from_idx(BUNDLED_IMAGES_GZ, Some(BUNDLED_LABELS_GZ))
            .expect("the bundled MNIST asset in www/data is valid")
    }

    /// Number of pixels in one image (`h * w`).
    pub fn image_len(&self) -> usize {
        self.h * self.w
    }

    /// Image `i` as a row-major `h * w` slice.
    ///
    /// # Panics
    /// If `i >= n`.
    pub fn image(&self, i: usize) -> &[f32] {
        assert!(i < self.n, "image index {i} out of range for a dataset of {} images", self.n);
        let len = self.image_len();
        &self.pixels[i * len..(i + 1) * len]
    }

    /// The images (and labels) at `indices`, in that order; repeats allowed.
    ///
    /// # Panics
    /// If an index is `>= n`.
    pub fn take(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect());
        Dataset { n: indices.len(), h: self.h, w: self.w, pixels, labels }
    }

    /// Deterministic split into `(train, held_out)`: the indices are shuffled
    /// with `seed` and the last `held_out` of them form the held-out set.
    /// Within each part images keep their original relative order.
    ///
    /// `held_out` is clamped to `n - 1` so that the training part is never
    /// empty (for a dataset with `n >= 1`); `held_out == 0` gives an empty
    /// held-out set. The same `(n, held_out, seed)` always gives the same
    /// split, on every platform.
    pub fn split(&self, held_out: usize, seed: u64) -> (Dataset, Dataset) {
        let held_out = held_out.min(self.n.saturating_sub(1));
        let mut order: Vec<usize> = (0..self.n).collect();
        shuffle(&mut order, &mut SplitMix64::new(seed));
        let (train, held) = order.split_at_mut(self.n - held_out);
        train.sort_unstable();
        held.sort_unstable();
        (self.take(train), self.take(held))
    }

    /// Per-pixel mean over all images (`h * w` values; all zeros if `n == 0`).
    pub fn mean_image(&self) -> Vec<f32> {
        let len = self.image_len();
        let mut sum = vec![0.0f64; len];
        for image in self.pixels.chunks_exact(len.max(1)).take(self.n) {
            for (s, &p) in sum.iter_mut().zip(image) {
                *s += f64::from(p);
            }
        }
        let n = self.n.max(1) as f64;
        sum.into_iter().map(|s| (s / n) as f32).collect()
    }
}

/// Shuffled mini-batches of indices into a dataset of `n` items, forever.
///
/// Each epoch is a fresh permutation of `0..n`; batches are taken from it in
/// order and a batch that runs past the end of an epoch continues into the
/// next one (so the concatenation of all batches is permutation after
/// permutation, and a batch spanning two epochs may repeat an index).
/// Reproducible: the same `(n, batch, seed)` gives the same batches on every
/// platform.
#[derive(Clone, Debug)]
pub struct BatchSampler {
    n: usize,
    batch: usize,
    order: Vec<usize>,
    pos: usize,
    rng: SplitMix64,
}

impl BatchSampler {
    /// # Panics
    /// If `n == 0` or `batch == 0`.
    pub fn new(n: usize, batch: usize, seed: u64) -> Self {
        assert!(n > 0, "BatchSampler needs a non-empty dataset");
        assert!(batch > 0, "BatchSampler needs a batch size of at least 1");
        let mut rng = SplitMix64::new(seed);
        let mut order: Vec<usize> = (0..n).collect();
        shuffle(&mut order, &mut rng);
        BatchSampler { n, batch, order, pos: 0, rng }
    }

    /// The next `batch` indices (always exactly `batch`, even if `batch > n`).
    pub fn next_indices(&mut self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.batch);
        while out.len() < self.batch {
            if self.pos == self.n {
                shuffle(&mut self.order, &mut self.rng);
                self.pos = 0;
            }
            let k = (self.batch - out.len()).min(self.n - self.pos);
            out.extend_from_slice(&self.order[self.pos..self.pos + k]);
            self.pos += k;
        }
        out
    }
}

/// Fisher–Yates shuffle.
fn shuffle(v: &mut [usize], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        let j = rng.below_unbiased(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::idx::tests::{gzip, idx_images, idx_labels};
    use super::*;
    use std::collections::HashSet;

    fn small() -> Dataset {
        // 6 images of 2x3; image i has all pixels equal to 50 * i.
        let pixels: Vec<u8> = (0..6).flat_map(|i| [50 * i as u8; 6]).collect();
        Dataset::from_idx(&idx_images(6, 2, 3, &pixels), Some(&idx_labels(&[5, 4, 3, 2, 1, 0]))).unwrap()
    }

    #[test]
    fn from_idx_scales_to_minus_one_one() {
        let raw = idx_images(1, 1, 4, &[0, 255, 51, 204]);
        let d = Dataset::from_idx(&gzip(&raw), None).unwrap();
        assert_eq!((d.n, d.h, d.w, d.image_len()), (1, 1, 4, 4));
        assert_eq!(d.pixels[0], -1.0);
        assert_eq!(d.pixels[1], 1.0);
        assert!((d.pixels[2] - (-0.6)).abs() < 1e-6);
        assert!((d.pixels[3] - 0.6).abs() < 1e-6);
        assert_eq!(d.labels, None);
    }

    #[test]
    fn from_idx_errors() {
        let images = idx_images(2, 1, 1, &[0, 1]);
        assert_eq!(
            Dataset::from_idx(&images, Some(&idx_labels(&[1, 2, 3]))),
            Err(DataError::CountMismatch { images: 2, labels: 3 })
        );
        assert_eq!(
            Dataset::from_idx(&images, Some(&idx_labels(&[1, 12]))),
            Err(DataError::BadLabel { index: 1, value: 12 })
        );
        assert!(matches!(
            Dataset::from_idx(&idx_labels(&[1, 2]), Some(&images)),
            Err(DataError::WrongKind { .. })
        ));
        let msg = DataError::CountMismatch { images: 60_000, labels: 10_000 }.to_string();
        assert!(msg.contains("60,000") && msg.contains("10,000"), "{msg}");
    }

    #[test]
    fn image_take_mean() {
        let d = small();
        assert_eq!(d.image(2), &[50.0 * 2.0 / 255.0 * 2.0 - 1.0; 6][..]);
        let t = d.take(&[5, 0, 5]);
        assert_eq!((t.n, t.h, t.w), (3, 2, 3));
        assert_eq!(t.labels, Some(vec![0, 5, 0]));
        assert_eq!(t.image(0), d.image(5));
        assert_eq!(t.image(1), d.image(0));
        let mean = d.take(&[0, 5]).mean_image();
        assert_eq!(mean.len(), 6);
        for m in mean {
            assert!((m - (250.0 / 255.0 - 1.0)).abs() < 1e-6, "{m}");
        }
        let empty = d.take(&[]);
        assert_eq!(empty.n, 0);
        assert_eq!(empty.mean_image(), vec![0.0; 6]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn image_out_of_range_panics() {
        small().image(6);
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let d = Dataset::from_idx(
            &idx_images(100, 1, 1, &(0..100).collect::<Vec<u8>>()),
            Some(&idx_labels(&(0..100).map(|i| i % 10).collect::<Vec<u8>>())),
        )
        .unwrap();
        let id = |x: f32| ((x + 1.0) / 2.0 * 255.0).round() as u8;
        let ids = |d: &Dataset| d.pixels.iter().map(|&p| id(p)).collect::<Vec<u8>>();

        let (train, held) = d.split(20, 42);
        assert_eq!((train.n, held.n), (80, 20));
        let (train2, held2) = d.split(20, 42);
        assert_eq!((&train, &held), (&train2, &held2));
        let (a, b) = (ids(&train), ids(&held));
        let all: HashSet<u8> = a.iter().chain(&b).copied().collect();
        assert_eq!(all.len(), 100, "parts overlap or miss images");
        assert!(a.is_sorted() && b.is_sorted(), "parts keep the original order");
        for (i, &k) in b.iter().enumerate() {
            assert_eq!(held.labels.as_ref().unwrap()[i], k % 10, "labels follow images");
        }
        // Another seed gives another split.
        assert_ne!(ids(&d.split(20, 43).1), b);
        // Clamping.
        let (t, h) = d.split(1000, 1);
        assert_eq!((t.n, h.n), (1, 99));
        let (t, h) = d.split(0, 1);
        assert_eq!((t.n, h.n), (100, 0));
    }

    #[test]
    fn split_and_batches_are_pinned() {
        // Pinned values: only u64/u128 integer arithmetic is involved, so these
        // hold on every target (native and wasm32) and must not change silently.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let d = Dataset::from_idx(&idx_images(10, 1, 1, &(0..10).collect::<Vec<u8>>()), None).unwrap();
        let held = d.split(4, 2022).1;
        let ids: Vec<u8> = held.pixels.iter().map(|p| ((p + 1.0) / 2.0 * 255.0).round() as u8).collect();
        assert_eq!(ids, [0, 1, 5, 6]);
        let mut s = BatchSampler::new(10, 4, 2022);
        assert_eq!(s.next_indices(), [9, 3, 8, 4]);
        assert_eq!(s.next_indices(), [7, 2, 5, 6]);
    }

    #[test]
    fn batch_sampler_covers_each_index_once_per_epoch() {
        for (n, batch) in [(10, 3), (10, 10), (7, 1), (5, 12)] {
            let mut s = BatchSampler::new(n, batch, 9);
            let mut stream = Vec::new();
            for _ in 0..n * 4 {
                let b = s.next_indices();
                assert_eq!(b.len(), batch);
                stream.extend(b);
            }
            for epoch in stream.chunks_exact(n) {
                let mut e = epoch.to_vec();
                e.sort_unstable();
                assert_eq!(e, (0..n).collect::<Vec<_>>(), "n={n} batch={batch}");
            }
            // Epochs are reshuffled.
            if n >= 7 {
                assert_ne!(stream[..n], stream[n..2 * n]);
            }
        }
    }

    #[test]
    fn batch_sampler_is_reproducible_by_seed() {
        let draw = |seed| {
            let mut s = BatchSampler::new(1000, 64, seed);
            (0..40).flat_map(|_| s.next_indices()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = SplitMix64::new(5);
        let mut hist = [0usize; 7];
        for _ in 0..70_000 {
            hist[rng.below_unbiased(7) as usize] += 1;
        }
        for h in hist {
            assert!((9_000..11_000).contains(&h), "{hist:?}");
        }
        assert_eq!(rng.below_unbiased(1), 0);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn bundled_mnist() {
        let d = Dataset::bundled();
        assert_eq!((d.n, d.h, d.w), (10_000, 28, 28));
        assert_eq!(d.pixels.len(), 10_000 * 784);
        let labels = d.labels.as_ref().unwrap();
        let mut counts = [0usize; 10];
        for &l in labels {
            counts[l as usize] += 1;
        }
        // As recorded in www/data/ATTRIBUTION.md.
        assert_eq!(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
        // Interleaved: the first 10 images are one of each class.
        assert_eq!(labels[..10].iter().collect::<HashSet<_>>().len(), 10);
        let min = d.pixels.iter().copied().fold(f32::INFINITY, f32::min);
        let max = d.pixels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!((min, max), (-1.0, 1.0));
        // MNIST digits are dark backgrounds with bright strokes, centred.
        let mean = d.mean_image();
        assert!(mean[0] < -0.99 && mean[14 * 28 + 14] > -0.5, "{} {}", mean[0], mean[406]);

        let (train, held) = d.split(1000, 1);
        assert_eq!((train.n, held.n), (9000, 1000));
        let held_classes: HashSet<u8> = held.labels.unwrap().into_iter().collect();
        assert_eq!(held_classes.len(), 10);
    }
}
